#pragma once

#include <map>
#include <string>
#include <vector>

#include "../model/interpreter.h"
#include "calibration.h"
#include "range_tracker.h"
#include "uniform_quantizer.h"

namespace dfq::quant {

// How the student is quantized (docs/methods.md, "The quantizer and the KD student"); by default
// as the reference code: every conv and linear, first and last included, asymmetric
// per-output-channel weights; per-tensor activations after every ReLU/ReLU6.
struct QuantConfig {
    int weightBits = 4;
    int activationBits = 4;
    bool perChannelWeights = true;
    bool symmetric = false;
    enum class FirstLast { Quantized, EightBit, FullPrecision };
    FirstLast firstLast = FirstLast::Quantized;
    // Module path -> weight bits for that layer (0 keeps it in full precision): mixed precision.
    std::map<std::string, int> weightBitsOverride;
    // The reference's EMA range inflation (see RangeTracker).
    bool referenceEmaInflation = false;
    // Weight ranges shrunk per channel to the least squared quantization error (mseShrinkRange)
    // instead of the plain min and max (the reference).
    bool mseWeightRange = false;
    // EMA momentum of the activation ranges (the reference: 0.9).
    double activationMomentum = 0.9;
};

// The student's quantizers as interpreter hooks: weights through fake-quant with a fresh
// min/max every forward, activations after ReLU/ReLU6 through fake-quant with an EMA range that
// updates while calibrating and is frozen afterwards. Straight-through gradients.
class StudentQuantizer : public model::LayerHooks {
  public:
    StudentQuantizer(const model::Graph& graph, const QuantConfig& config);

    at::Tensor weight(const model::Layer& layer, const at::Tensor& w) override;
    at::Tensor output(const model::Layer& layer, const at::Tensor& y) override;

    // While on, each forward updates the activation ranges.
    void setCalibrating(bool on);
    bool calibrating() const { return calibrating_; }

    // Weight bits of a conv/linear layer (0 = full precision), -1 for other layers.
    int weightBits(const model::Layer& layer) const { return weightBits_.at(layer.index); }
    bool quantizesActivation(const model::Layer& layer) const {
        return actTracker_.at(layer.index) >= 0;
    }
    // The integer codes of every quantized weight, in layer order (for rounding statistics).
    std::vector<at::Tensor> weightCodes(const model::ParamStore& params) const;
    // Layer indices of the quantized conv/linear layers, in the order weightCodes() uses.
    const QuantConfig& config() const { return config_; }
    const std::vector<int>& quantizedWeightLayers() const { return quantizedWeightLayers_; }

    // While set, each forward records the inputs of the activation quantizers into `stats` (one
    // per tracker, in tracker order) and passes activations through unquantized.
    void setCollector(std::vector<ActivationStats>* stats, at::Generator* generator);

    std::vector<RangeTracker>& activationRanges() { return trackers_; }
    const std::vector<RangeTracker>& activationRanges() const { return trackers_; }

    // The grid a weight of `bits` bits is quantized on (per channel or per tensor).
    QuantGrid weightGrid(const at::Tensor& w, int bits) const;
    // The grid of a quantized activation at its current range (undefined tensors before the
    // first calibration batch).
    QuantGrid activationGrid(const model::Layer& layer, const at::TensorOptions& options) const;

  private:
    const model::Graph& graph_;
    QuantConfig config_;
    std::vector<int> weightBits_;  // per layer index
    std::vector<int> actTracker_;  // per layer index: tracker index or -1
    std::vector<int> quantizedWeightLayers_;
    std::vector<RangeTracker> trackers_;
    bool calibrating_ = false;
    // Without gradients (evaluations, calibration, probes) the same weights are quantized batch
    // after batch: each layer's result is kept until its weight tensor changes, which moves the
    // tensor's version counter (an optimizer step, a copy) or replaces it. The source is held,
    // so that its address cannot be taken by another tensor.
    struct QuantizedWeight {
        at::Tensor source, value;
        int64_t version = -1;
    };
    std::vector<QuantizedWeight> quantizedWeights_;  // per layer index
    std::vector<ActivationStats>* collector_ = nullptr;
    at::Generator* collectorGenerator_ = nullptr;
};

}  // namespace dfq::quant
