#pragma once

#include <ATen/core/Tensor.h>

namespace dfq::quant {

// The asymmetric uniform quantizer of the reference code (ZeroQ / GDFQ), for k bits over
// [lo, hi] (tensors broadcastable against x: scalars per tensor, [C, 1, ...] per channel):
//   s = (2^k - 1) / max(hi - lo, 1e-8)      (inverse step)
//   z = round(s * lo) + 2^(k-1)
//   q = clamp(round(s * x - z), -2^(k-1), 2^(k-1) - 1)
//   x^ = (q + z) / s
// Rounding is half to even, like torch.round.
struct QuantGrid {
    at::Tensor scale;  // s
    at::Tensor zero;   // z
    int bits = 8;
};

QuantGrid makeGrid(const at::Tensor& lo, const at::Tensor& hi, int bits);
// The signed integer codes q (as float tensors holding integers).
at::Tensor quantizeCodes(const at::Tensor& x, const QuantGrid& grid);
at::Tensor dequantize(const at::Tensor& codes, const QuantGrid& grid);
// x^ in the forward pass, identity gradient in the backward pass (straight-through; no mask for
// clamped values, as the reference). lo/hi get no gradient.
at::Tensor fakeQuantize(const at::Tensor& x, const QuantGrid& grid);

// Per-output-channel range of a conv/linear weight: min and max over every dim but the first,
// shaped [C, 1, ...] to broadcast against the weight.
std::pair<at::Tensor, at::Tensor> perChannelRange(const at::Tensor& weight);
std::pair<at::Tensor, at::Tensor> perTensorRange(const at::Tensor& x);
// [-m, m] with m = max(|lo|, |hi|): the symmetric variant of a range.
std::pair<at::Tensor, at::Tensor> symmetricRange(const at::Tensor& lo, const at::Tensor& hi);

// The range [f*lo, f*hi] with f in {1, 0.98, ..., 1 - 0.02*(candidates-1)} chosen separately
// for each entry of lo/hi (per channel when they are [C, 1, ...], else per tensor) to minimize
// the mean squared quantization error of x at `bits` bits. Ties keep the wider range.
std::pair<at::Tensor, at::Tensor> mseShrinkRange(const at::Tensor& x, const at::Tensor& lo,
                                                 const at::Tensor& hi, int bits,
                                                 int candidates = 36);

}  // namespace dfq::quant
