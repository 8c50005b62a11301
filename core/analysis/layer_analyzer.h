#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../model/model.h"
#include "../quant/calibration.h"
#include "../quant/student_quantizer.h"
#include "layer_report.h"

namespace dfq::analysis {

struct AnalysisOptions {
    std::vector<int> bits = {2, 3, 4, 8};
    // Weight ranges (per channel, symmetric, MSE-shrunk) and the activation bits of plans; the
    // bit-widths themselves come from `bits`, and every conv/linear and ReLU/ReLU6 is analyzed
    // whatever the configuration's first/last and per-layer settings.
    quant::QuantConfig quant;
    // Activation ranges from the analysis batches (`ema` has no batches to follow here and
    // counts as `minmax`).
    quant::Calibration calibration = quant::Calibration::Mse;
    bool cumulative = true;
    int histogramBins = 64;
    uint64_t seed = 1;  // the activation samples of the calibration
    c10::Device device = c10::kCPU;
    // Each setting continues the FP pass from its first quantized layer (false: runs the whole
    // forward pass; the same figures, slower; for checks and benchmarks).
    bool resume = true;
};

// Inputs as the model takes them (normalized), with labels when they are real images.
struct InputBatch {
    at::Tensor images;
    at::Tensor labels;  // undefined for synthetic batches
};

// Called with the forward passes done and due; returning false cancels (analyze() then throws
// dfq::Error).
using AnalysisProgress = std::function<bool(int64_t done, int64_t total)>;

// Per-layer quantization sensitivity of a teacher (docs/analysis.md): for every quantizer (each
// conv/linear weight, each activation after a ReLU/ReLU6) and bit-width, the figures with only
// that quantizer on (isolated) and with every quantizer up to it on (cumulative), the weights'
// channel ranges and histograms of the layer outputs. The FP forward pass of each batch is
// computed once and paused before every quantized layer; each setting re-runs only the layers
// from its quantizer on.
namespace detail {
class AnalysisPass;
}

class LayerAnalyzer {
  public:
    LayerAnalyzer(const model::Model& teacher, AnalysisOptions options);
    ~LayerAnalyzer();
    LayerAnalyzer(const LayerAnalyzer&) = delete;
    LayerAnalyzer& operator=(const LayerAnalyzer&) = delete;

    // `batches`: what SQNR, KL and agreement are measured on (and top-1, when labelled);
    // `real`: labelled images measured for top-1 only. Calibrates the activation ranges on
    // `batches`. Throws dfq::Error for empty or misshapen inputs.
    void setInputs(std::vector<InputBatch> batches, std::vector<InputBatch> real = {});

    LayerReport analyze(const AnalysisProgress& progress = {});

    // One whole configuration on the inputs: weights of the named layers at their bits (absent
    // or 0: full precision), every activation at `activationBits` (0: full precision).
    Figures evaluate(const std::map<std::string, int>& weightBits, int activationBits);
    // The same configuration as a forward function for other data (data::evaluate); valid until
    // the next call on this analyzer.
    std::function<at::Tensor(const at::Tensor&)> forwardFn(
        const std::map<std::string, int>& weightBits, int activationBits);

    // The quantizers in network order: names and kinds.
    std::vector<std::pair<std::string, QuantizerKind>> quantizers() const;

  private:
    friend class detail::AnalysisPass;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// 10·log10(Σ reference² / Σ (test − reference)²); +inf when they are equal.
double sqnrDb(double signalEnergy, double noiseEnergy);
// Σ over samples of KL(softmax(reference) ‖ softmax(test)) (rows are samples), in nats.
double klSum(const at::Tensor& referenceLogits, const at::Tensor& testLogits);

}  // namespace dfq::analysis
