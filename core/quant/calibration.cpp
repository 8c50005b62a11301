#include "calibration.h"

#include <ATen/ATen.h>

#include <limits>
#include <numeric>

#include "../error.h"
#include "uniform_quantizer.h"

namespace dfq::quant {

Calibration parseCalibration(const std::string& name) {
    if (name == "ema")
        return Calibration::Ema;
    if (name == "minmax")
        return Calibration::MinMax;
    if (name == "mse")
        return Calibration::Mse;
    throw Error("unknown calibration '" + name + "'; allowed are ema, minmax, mse");
}

void ActivationStats::add(const at::Tensor& x, at::Generator& generator) {
    const at::Tensor flat = x.detach().reshape({-1});
    auto [mn, mx] = at::aminmax(flat);
    mins_.push_back(mn.item<double>());
    maxs_.push_back(mx.item<double>());
    const int64_t n = flat.numel();
    if (n <= perBatch_) {
        samples_.push_back(flat.to(at::kCPU, at::kFloat).clone());
        return;
    }
    const at::Tensor idx = at::randint(0, n, {perBatch_}, generator, at::kLong);
    samples_.push_back(flat.index_select(0, idx.to(flat.device())).to(at::kCPU, at::kFloat));
}

namespace {

double mean(const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

std::pair<double, double> ActivationStats::range(Calibration method, int bits) const {
    if (mins_.empty())
        throw Error("calibration: no batch was observed");
    const double lo = mean(mins_);
    if (method != Calibration::Mse)
        return {lo, mean(maxs_)};
    const double hiMax = *std::max_element(maxs_.begin(), maxs_.end());
    return {lo, mseClip(at::cat(samples_), lo, hiMax, bits)};
}

double mseClip(const at::Tensor& values, double lo, double hiMax, int bits, int candidates) {
    if (!(hiMax > lo))
        return hiMax;
    const at::Tensor v = values.to(at::kFloat);
    const at::Tensor loT = at::scalar_tensor(lo, v.options());
    double best = hiMax, bestErr = std::numeric_limits<double>::infinity();
    for (int c = 1; c <= candidates; ++c) {
        const double hi = lo + (hiMax - lo) * c / candidates;
        const QuantGrid g = makeGrid(loT, at::scalar_tensor(hi, v.options()), bits);
        const double err = (dequantize(quantizeCodes(v, g), g) - v).square().mean().item<double>();
        // Ties go to the wider range, so a range that quantizes every value exactly is kept.
        if (err <= bestErr) {
            bestErr = err;
            best = hi;
        }
    }
    return best;
}

}  // namespace dfq::quant
