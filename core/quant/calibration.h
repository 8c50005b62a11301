#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace dfq::quant {

// How the activation ranges are set before they are frozen.
//   Ema:    the reference: an EMA of each training batch's min and max during the calibration
//           epochs (RangeTracker), so the frozen range depends on the last ~1/(1-momentum)
//           batches of a generator that is still moving.
//   MinMax: from a fixed calibration set of generator batches: the mean over the batches of
//           each batch's min and max.
//   Mse:    from the same calibration set: lo as MinMax, hi the clipping point that minimizes the
//           mean squared quantization error of the pooled activations.
enum class Calibration { Ema, MinMax, Mse };

Calibration parseCalibration(const std::string& name);  // "ema" | "minmax" | "mse"

// Gathers one activation tensor's statistics over calibration batches: each batch's min and
// max, and a uniform random sample of its values (drawn with `generator`, on the CPU).
class ActivationStats {
  public:
    explicit ActivationStats(int64_t samplesPerBatch = 8192) : perBatch_(samplesPerBatch) {}

    void add(const at::Tensor& x, at::Generator& generator);
    int64_t batches() const { return static_cast<int64_t>(mins_.size()); }

    // The range to freeze, for `bits`-bit activations. Requires at least one batch.
    std::pair<double, double> range(Calibration method, int bits) const;

  private:
    int64_t perBatch_;
    std::vector<double> mins_, maxs_;
    std::vector<at::Tensor> samples_;
};

// The hi in (lo, hiMax] that minimizes mean((x^ - x)^2) over `values` for the asymmetric
// `bits`-bit grid over [lo, hi], searched over `candidates` evenly spaced points.
double mseClip(const at::Tensor& values, double lo, double hiMax, int bits, int candidates = 128);

}  // namespace dfq::quant
