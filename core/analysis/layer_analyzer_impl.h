#pragma once

// The layer analyzer's internals, shared by layer_analyzer.cpp (set-up, calibration,
// evaluation) and layer_analysis_pass.cpp (the per-quantizer analysis). Not a public header.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "../error.h"
#include "../quant/uniform_quantizer.h"
#include "layer_analyzer.h"
#include "layer_probe.h"

namespace dfq::analysis {

using model::Layer;
using model::LayerRole;

namespace detail {

struct Quantizer {
    int layer = -1;
    QuantizerKind kind = QuantizerKind::Weight;
    std::string name;
    int position = 0;  // the interpreter's top-level instruction that runs the layer
    int64_t params = 0;
};

// The hooks of every analysis forward pass: per layer index, the quantized weight to use and
// the grid of the activation, or none; captures layer outputs on request.
struct AnalysisHooks : model::LayerHooks {
    std::vector<const at::Tensor*> weights;
    std::vector<const quant::QuantGrid*> activations;
    std::vector<char> captured;  // per layer index: record its output in `outputs`
    std::vector<at::Tensor> outputs;
    int watch = -1;
    at::Tensor watched;

    void reset(size_t layers) {
        weights.assign(layers, nullptr);
        activations.assign(layers, nullptr);
        captured.assign(layers, 0);
        outputs.assign(layers, at::Tensor());
        watch = -1;
        watched = at::Tensor();
    }
    void clearQuantizers() {
        std::fill(weights.begin(), weights.end(), nullptr);
        std::fill(activations.begin(), activations.end(), nullptr);
    }
    at::Tensor weight(const Layer& l, const at::Tensor& w) override {
        const at::Tensor* q = weights[static_cast<size_t>(l.index)];
        return q ? *q : w;
    }
    at::Tensor output(const Layer& l, const at::Tensor& y) override {
        const auto i = static_cast<size_t>(l.index);
        at::Tensor out = y;
        if (const quant::QuantGrid* g = activations[i])
            out = quant::dequantize(quant::quantizeCodes(y, *g), *g);
        if (l.index == watch)
            watched = out;
        if (captured[i])
            outputs[i] = out;
        return out;
    }
};

// The calibration pass: samples of every quantized activation, and the range of every
// quantizer's output (for the histograms); with `weights`, of the network with those weights
// quantized (as a run calibrates its student).
struct CalibrationHooks : model::LayerHooks {
    std::vector<int> statsOf;  // per layer index: ActivationStats slot or -1
    std::vector<int> rangeOf;  // per layer index: quantizer index or -1
    std::vector<quant::ActivationStats>* stats = nullptr;
    std::vector<std::pair<double, double>>* ranges = nullptr;
    const std::vector<const at::Tensor*>* weights = nullptr;
    at::Generator* rng = nullptr;
    at::Tensor weight(const Layer& l, const at::Tensor& w) override {
        const at::Tensor* q = weights ? (*weights)[static_cast<size_t>(l.index)] : nullptr;
        return q ? *q : w;
    }
    at::Tensor output(const Layer& l, const at::Tensor& y) override {
        const auto i = static_cast<size_t>(l.index);
        if (statsOf[i] >= 0)
            (*stats)[static_cast<size_t>(statsOf[i])].add(y, *rng);
        if (ranges && rangeOf[i] >= 0) {
            auto [lo, hi] = at::aminmax(y);
            auto& r = (*ranges)[static_cast<size_t>(rangeOf[i])];
            r.first = std::min(r.first, lo.item<double>());
            r.second = std::max(r.second, hi.item<double>());
        }
        return y;
    }
};

// Running sums behind one Figures.
struct Sums {
    double signal = 0, noise = 0, kl = 0, agree = 0, samples = 0, correct = 0, labelled = 0,
           realKl = 0;
    Figures figures() const {
        Figures f;
        if (signal > 0 || noise > 0)
            f.sqnrDb = sqnrDb(signal, noise);
        if (samples > 0) {
            f.kl = kl / samples;
            f.agreement = 100.0 * agree / samples;
        }
        if (labelled > 0) {
            f.realTop1 = 100.0 * correct / labelled;
            f.realKl = realKl / labelled;
        }
        return f;
    }
};

inline model::ParamStore onDevice(const model::ParamStore& params, c10::Device device) {
    model::ParamStore out;
    for (size_t i = 0; i < params.size(); ++i)
        out.add(params.name(i), params.tensor(i).detach().to(device), params.isBuffer(i));
    return out;
}

}  // namespace detail

using namespace detail;

struct LayerAnalyzer::Impl {
    const model::Model& teacher;
    AnalysisOptions options;
    model::ParamStore params;
    model::Interpreter net;
    quant::StudentQuantizer reference;  // the weight grids of the configuration
    std::vector<Quantizer> quantizers;
    std::vector<int> positions;  // ascending, unique: where snapshots are taken
    AnalysisHooks hooks;

    std::vector<InputBatch> batches, real;
    std::vector<at::Tensor> fpLogits, fpRealLogits;
    std::vector<quant::ActivationStats> actStats;  // per activation quantizer
    std::vector<int> actSlot;                      // per quantizer: its ActivationStats, or -1
    std::vector<std::pair<double, double>> outputRange;  // per quantizer

    // Per configuration evaluated through evaluate()/forwardFn().
    std::vector<at::Tensor> configWeights;
    std::vector<quant::QuantGrid> configGrids;

    Impl(const model::Model& t, AnalysisOptions o)
        : teacher(t),
          options(std::move(o)),
          params(onDevice(t.params(), options.device)),
          net(t.graph(), &params),
          reference(*t.graph(), referenceConfig(options.quant)) {
        if (options.bits.empty())
            throw Error("analysis: give at least one bit-width");
        std::sort(options.bits.begin(), options.bits.end());
        options.bits.erase(std::unique(options.bits.begin(), options.bits.end()),
                           options.bits.end());
        for (int b : options.bits)
            if (b < 1 || b > 16)
                throw Error("analysis: " + std::to_string(b) +
                            " bits is outside 1..16 for the layer analysis");
        for (const QuantizerRef& ref : listQuantizers(*t.graph())) {
            const Layer& l = t.graph()->layers()[static_cast<size_t>(ref.layer)];
            Quantizer q;
            q.layer = ref.layer;
            q.kind = ref.kind;
            q.name = ref.name;
            q.position = net.resumable() && options.resume ? net.positionOf(l.index) : 0;
            if (ref.kind == QuantizerKind::Weight)
                q.params = params.tensor(static_cast<size_t>(l.weightParam)).numel();
            quantizers.push_back(q);
        }
        if (quantizers.empty())
            throw Error(t.path() + ": the model has no conv/linear layer or ReLU to quantize");
        std::stable_sort(
            quantizers.begin(), quantizers.end(),
            [](const Quantizer& a, const Quantizer& b) { return a.position < b.position; });
        // One ActivationStats slot per activation, in the quantizers' order.
        int slot = 0;
        for (const auto& q : quantizers) {
            const bool activation = q.kind == QuantizerKind::Activation;
            actSlot.push_back(activation ? slot++ : -1);
            if (activation)
                actStats.emplace_back();
        }
        for (const auto& q : quantizers)
            positions.push_back(q.position);
        positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
        hooks.reset(t.graph()->layers().size());
        net.setHooks(&hooks);
    }

    // Every conv/linear at the configuration's weight grid (bits set per use) and every
    // ReLU/ReLU6 quantized, whatever the configuration's first/last and per-layer settings.
    static quant::QuantConfig referenceConfig(quant::QuantConfig c) {
        c.weightBits = 8;
        c.activationBits = 8;
        c.firstLast = quant::QuantConfig::FirstLast::Quantized;
        c.weightBitsOverride.clear();
        return c;
    }

    const at::Tensor& weightOf(const Quantizer& q) const {
        return params.tensor(static_cast<size_t>(
            teacher.graph()->layers()[static_cast<size_t>(q.layer)].weightParam));
    }

    quant::QuantGrid activationGrid(size_t q, int bits) const {
        return activationGrid(actStats, q, bits);
    }
    quant::QuantGrid activationGrid(const std::vector<quant::ActivationStats>& stats, size_t q,
                                    int bits) const {
        const auto [lo, hi] = stats[static_cast<size_t>(actSlot[q])].range(
            options.calibration == quant::Calibration::Ema ? quant::Calibration::MinMax
                                                           : options.calibration,
            bits);
        double l = lo, h = hi;
        if (options.quant.symmetric) {
            const double m = std::max(std::abs(l), std::abs(h));
            l = -m;
            h = m;
        }
        const auto opts = at::TensorOptions().dtype(at::kFloat).device(options.device);
        return quant::makeGrid(at::scalar_tensor(l, opts), at::scalar_tensor(h, opts), bits);
    }

    at::Tensor quantizedWeight(const Quantizer& q, int bits) const {
        const at::Tensor& w = weightOf(q);
        const quant::QuantGrid g = reference.weightGrid(w, bits);
        return quant::dequantize(quant::quantizeCodes(w, g), g);
    }

    // Samples of every quantized activation over the input batches, of the FP network or with
    // `weights` (per layer index) quantized; the FP pass also keeps its logits and the range of
    // every quantizer's output.
    std::vector<quant::ActivationStats> collect(const std::vector<const at::Tensor*>* weights) {
        at::NoGradGuard noGrad;
        at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(options.seed);
        CalibrationHooks cal;
        const size_t nLayers = teacher.graph()->layers().size();
        cal.statsOf.assign(nLayers, -1);
        cal.rangeOf.assign(nLayers, -1);
        for (size_t q = 0; q < quantizers.size(); ++q) {
            cal.rangeOf[static_cast<size_t>(quantizers[q].layer)] = static_cast<int>(q);
            cal.statsOf[static_cast<size_t>(quantizers[q].layer)] = actSlot[q];
        }
        int activations = 0;
        for (int slot : actSlot)
            activations += slot >= 0;
        std::vector<quant::ActivationStats> stats(static_cast<size_t>(activations));
        cal.stats = &stats;
        cal.weights = weights;
        cal.rng = &rng;
        if (!weights) {
            outputRange.assign(quantizers.size(), {std::numeric_limits<double>::infinity(),
                                                   -std::numeric_limits<double>::infinity()});
            cal.ranges = &outputRange;
            fpLogits.clear();
        }
        net.setHooks(&cal);
        try {
            for (const auto& b : batches) {
                at::Tensor logits = net.forward(b.images);
                if (!weights)
                    fpLogits.push_back(logits);
            }
            if (!weights) {
                net.setHooks(nullptr);
                fpRealLogits.clear();
                for (const auto& b : real)
                    fpRealLogits.push_back(net.forward(b.images));
            }
        } catch (...) {
            net.setHooks(&hooks);
            throw;
        }
        net.setHooks(&hooks);
        return stats;
    }

    void calibrate() { actStats = collect(nullptr); }
};

}  // namespace dfq::analysis
