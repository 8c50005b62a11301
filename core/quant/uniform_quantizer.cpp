#include "uniform_quantizer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "../error.h"

namespace dfq::quant {

QuantGrid makeGrid(const at::Tensor& lo, const at::Tensor& hi, int bits) {
    if (bits < 1 || bits > 16)
        throw Error("quantizer: bit width " + std::to_string(bits) + " is outside 1..16");
    const double levels = static_cast<double>((int64_t{1} << bits) - 1);
    QuantGrid g;
    g.bits = bits;
    g.scale = at::reciprocal((hi - lo).clamp_min(1e-8)).mul(levels).detach();
    g.zero = at::round(g.scale * lo.detach()).add(static_cast<double>(int64_t{1} << (bits - 1)));
    return g;
}

at::Tensor quantizeCodes(const at::Tensor& x, const QuantGrid& g) {
    const double half = static_cast<double>(int64_t{1} << (g.bits - 1));
    return at::round(x * g.scale - g.zero).clamp(-half, half - 1);
}

at::Tensor dequantize(const at::Tensor& codes, const QuantGrid& g) {
    return (codes + g.zero) / g.scale;
}

at::Tensor fakeQuantize(const at::Tensor& x, const QuantGrid& g) {
    at::Tensor xhat = dequantize(quantizeCodes(x.detach(), g), g);
    return x + (xhat - x).detach();
}

std::pair<at::Tensor, at::Tensor> perChannelRange(const at::Tensor& weight) {
    at::Tensor flat = weight.detach().reshape({weight.size(0), -1});
    std::vector<int64_t> shape(weight.dim(), 1);
    shape[0] = weight.size(0);
    auto [lo, hi] = at::aminmax(flat, 1);
    return {lo.view(shape), hi.view(shape)};
}

std::pair<at::Tensor, at::Tensor> perTensorRange(const at::Tensor& x) {
    auto [lo, hi] = at::aminmax(x.detach());
    return {lo, hi};
}

std::pair<at::Tensor, at::Tensor> symmetricRange(const at::Tensor& lo, const at::Tensor& hi) {
    at::Tensor m = at::maximum(lo.abs(), hi.abs());
    return {-m, m};
}

std::pair<at::Tensor, at::Tensor> mseShrinkRange(const at::Tensor& x, const at::Tensor& lo,
                                                 const at::Tensor& hi, int bits, int candidates) {
    at::NoGradGuard noGrad;
    const at::Tensor xd = x.detach();
    // Dims the error is averaged over: all but those where the range has its own entries.
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < xd.dim(); ++d)
        if (d >= lo.dim() || lo.size(d) == 1)
            dims.push_back(d);
    at::Tensor bestLo = lo.detach(), bestHi = hi.detach(), bestErr;
    for (int c = 0; c < candidates; ++c) {
        const double f = 1.0 - 0.02 * c;
        if (f <= 0)
            break;
        const at::Tensor l = lo.detach() * f, h = hi.detach() * f;
        const QuantGrid g = makeGrid(l, h, bits);
        at::Tensor err = (dequantize(quantizeCodes(xd, g), g) - xd).square();
        err = lo.dim() == 0 ? err.mean() : err.mean(dims, /*keepdim=*/true);
        if (c == 0) {
            bestErr = err;
            continue;
        }
        const at::Tensor better = err < bestErr;
        bestErr = at::where(better, err, bestErr);
        bestLo = at::where(better, l, bestLo);
        bestHi = at::where(better, h, bestHi);
    }
    return {bestLo, bestHi};
}

}  // namespace dfq::quant
