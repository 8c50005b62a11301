#include "student_quantizer.h"

#include <ATen/ATen.h>

#include "../error.h"
#include "../precision.h"
#include "uniform_quantizer.h"

namespace dfq::quant {

using model::ActivationKind;
using model::Layer;
using model::LayerRole;

StudentQuantizer::StudentQuantizer(const model::Graph& graph, const QuantConfig& config)
    : graph_(graph), config_(config) {
    const auto& layers = graph.layers();
    weightBits_.assign(layers.size(), -1);
    actTracker_.assign(layers.size(), -1);
    int first = -1, last = -1;
    for (const auto& l : layers) {
        if ((l.role == LayerRole::Conv || l.role == LayerRole::Linear) && l.weightParam >= 0) {
            if (first < 0)
                first = l.index;
            last = l.index;
        }
    }
    for (const auto& l : layers) {
        if ((l.role == LayerRole::Conv || l.role == LayerRole::Linear) && l.weightParam >= 0) {
            int bits = config.weightBits;
            if (l.index == first || l.index == last) {
                if (config.firstLast == QuantConfig::FirstLast::EightBit)
                    bits = 8;
                if (config.firstLast == QuantConfig::FirstLast::FullPrecision)
                    bits = 0;
            }
            if (auto it = config.weightBitsOverride.find(l.path);
                it != config.weightBitsOverride.end())
                bits = it->second;
            if (bits < 0 || bits > 16)
                throw Error("quantization: " + std::to_string(bits) + " weight bits for layer '" +
                            l.path + "'; allowed are 1..16, or 0 for full precision");
            weightBits_[l.index] = bits;
            if (bits > 0)
                quantizedWeightLayers_.push_back(l.index);
        }
        const bool relu =
            l.activation == ActivationKind::ReLU || l.activation == ActivationKind::ReLU6;
        if (l.role == LayerRole::Activation && relu && config.activationBits > 0) {
            actTracker_[l.index] = static_cast<int>(trackers_.size());
            trackers_.emplace_back(config.activationMomentum, config.referenceEmaInflation);
        }
    }
    for (const auto& [path, bits] : config.weightBitsOverride) {
        (void)bits;
        bool found = false;
        for (const auto& l : layers)
            found = found || (l.path == path && weightBits_[l.index] >= 0);
        if (!found)
            throw Error("quantization: no conv or linear layer '" + path +
                        "' for the per-layer bit override");
    }
}

QuantGrid StudentQuantizer::weightGrid(const at::Tensor& w, int bits) const {
    auto [lo, hi] = config_.perChannelWeights ? perChannelRange(w) : perTensorRange(w);
    if (config_.symmetric)
        std::tie(lo, hi) = symmetricRange(lo, hi);
    if (config_.mseWeightRange)
        std::tie(lo, hi) = mseShrinkRange(w, lo, hi, bits);
    return makeGrid(lo, hi, bits);
}

at::Tensor StudentQuantizer::weight(const Layer& layer, const at::Tensor& w) {
    const int bits = weightBits_[layer.index];
    if (bits <= 0)
        return w;
    if (at::GradMode::is_enabled())
        return fakeQuantize(w, weightGrid(w, bits));
    // The same arithmetic, done once per version of the weights (an evaluation of 10,000 images
    // with weight_range: mse searched every layer's 36 candidate ranges in every batch).
    if (quantizedWeights_.size() <= static_cast<size_t>(layer.index))
        quantizedWeights_.resize(weightBits_.size());
    QuantizedWeight& q = quantizedWeights_[static_cast<size_t>(layer.index)];
    if (!q.value.defined() || !q.source.is_same(w) ||
        q.version != static_cast<int64_t>(w._version())) {
        q.value = fakeQuantize(w, weightGrid(w, bits));
        q.source = w;
        q.version = static_cast<int64_t>(w._version());
    }
    return q.value;
}

at::Tensor StudentQuantizer::output(const Layer& layer, const at::Tensor& activation) {
    const int t = actTracker_[layer.index];
    if (t < 0)
        return activation;
    // Ranges, codes and their statistics in fp32, also under autocast.
    const at::Tensor y = asFloat(activation);
    if (collector_) {
        (*collector_)[t].add(y, *collectorGenerator_);
        return y;
    }
    if (calibrating_)
        trackers_[t].update(y);
    if (!trackers_[t].calibrated())
        return y;
    return fakeQuantize(y, activationGrid(layer, y.options().requires_grad(false)));
}

QuantGrid StudentQuantizer::activationGrid(const Layer& layer,
                                           const at::TensorOptions& options) const {
    const int t = actTracker_.at(layer.index);
    if (t < 0 || !trackers_[t].calibrated())
        return {};
    double lo = trackers_[t].lo(), hi = trackers_[t].hi();
    if (config_.symmetric) {
        const double m = std::max(std::abs(lo), std::abs(hi));
        lo = -m;
        hi = m;
    }
    return makeGrid(at::scalar_tensor(lo, options), at::scalar_tensor(hi, options),
                    config_.activationBits);
}

void StudentQuantizer::setCollector(std::vector<ActivationStats>* stats, at::Generator* generator) {
    if (stats && (stats->size() != trackers_.size() || !generator))
        throw Error("calibration: one statistics slot per activation quantizer is needed");
    collector_ = stats;
    collectorGenerator_ = generator;
}

void StudentQuantizer::setCalibrating(bool on) {
    calibrating_ = on;
    for (auto& t : trackers_)
        t.setFrozen(!on);
}

std::vector<at::Tensor> StudentQuantizer::weightCodes(const model::ParamStore& params) const {
    std::vector<at::Tensor> codes;
    codes.reserve(quantizedWeightLayers_.size());
    for (int idx : quantizedWeightLayers_) {
        const at::Tensor& w = params.tensor(graph_.layers()[idx].weightParam);
        codes.push_back(quantizeCodes(w.detach(), weightGrid(w, weightBits_[idx])));
    }
    return codes;
}

}  // namespace dfq::quant
