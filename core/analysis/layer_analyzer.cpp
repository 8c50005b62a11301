#include "layer_analyzer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "../error.h"
#include "../quant/uniform_quantizer.h"
#include "layer_probe.h"

namespace dfq::analysis {

using model::Layer;
using model::LayerRole;

double sqnrDb(double signalEnergy, double noiseEnergy) {
    if (noiseEnergy <= 0)
        return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(std::max(signalEnergy, 1e-300) / noiseEnergy);
}

double klSum(const at::Tensor& referenceLogits, const at::Tensor& testLogits) {
    const at::Tensor lr = at::log_softmax(referenceLogits.to(at::kDouble), 1);
    const at::Tensor lt = at::log_softmax(testLogits.to(at::kDouble), 1);
    return (lr.exp() * (lr - lt)).sum().item<double>();
}

namespace {

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
    double signal = 0, noise = 0, kl = 0, agree = 0, samples = 0, correct = 0, labelled = 0;
    Figures figures() const {
        Figures f;
        if (signal > 0 || noise > 0)
            f.sqnrDb = sqnrDb(signal, noise);
        if (samples > 0) {
            f.kl = kl / samples;
            f.agreement = 100.0 * agree / samples;
        }
        if (labelled > 0)
            f.realTop1 = 100.0 * correct / labelled;
        return f;
    }
};

model::ParamStore onDevice(const model::ParamStore& params, c10::Device device) {
    model::ParamStore out;
    for (size_t i = 0; i < params.size(); ++i)
        out.add(params.name(i), params.tensor(i).detach().to(device), params.isBuffer(i));
    return out;
}

}  // namespace

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

LayerAnalyzer::LayerAnalyzer(const model::Model& teacher, AnalysisOptions options)
    : impl_(std::make_unique<Impl>(teacher, std::move(options))) {}

LayerAnalyzer::~LayerAnalyzer() = default;

std::vector<std::pair<std::string, QuantizerKind>> LayerAnalyzer::quantizers() const {
    std::vector<std::pair<std::string, QuantizerKind>> out;
    for (const auto& q : impl_->quantizers)
        out.emplace_back(q.name, q.kind);
    return out;
}

void LayerAnalyzer::setInputs(std::vector<InputBatch> batches, std::vector<InputBatch> real) {
    Impl& m = *impl_;
    if (batches.empty())
        throw Error("analysis: no input batches");
    auto check = [&](std::vector<InputBatch>& list, bool needLabels) {
        for (auto& b : list) {
            if (!b.images.defined() || b.images.dim() < 2 || b.images.size(0) == 0)
                throw Error("analysis: an input batch is empty");
            std::vector<int64_t> shape(b.images.sizes().begin(), b.images.sizes().end());
            m.teacher.checkInputShape(shape);
            if (needLabels && !b.labels.defined())
                throw Error("analysis: real batches need labels");
            if (b.labels.defined() && b.labels.size(0) != b.images.size(0))
                throw Error("analysis: a batch has " + std::to_string(b.images.size(0)) +
                            " images but " + std::to_string(b.labels.size(0)) + " labels");
            b.images = b.images.detach().to(m.options.device, at::kFloat);
            if (b.labels.defined())
                b.labels = b.labels.to(m.options.device, at::kLong);
        }
    };
    check(batches, false);
    check(real, true);
    m.batches = std::move(batches);
    m.real = std::move(real);
    m.calibrate();
}

LayerReport LayerAnalyzer::analyze(const AnalysisProgress& progress) {
    Impl& m = *impl_;
    if (m.batches.empty())
        throw Error("analysis: setInputs() first");
    at::NoGradGuard noGrad;
    const auto start = std::chrono::steady_clock::now();
    const auto& bits = m.options.bits;
    const size_t nQ = m.quantizers.size(), nB = bits.size();
    const int bins = std::max(2, m.options.histogramBins);

    LayerReport report;
    report.bits = bits;
    report.activationBits = m.options.quant.activationBits;
    report.calibration = m.options.calibration == quant::Calibration::Mse ? "mse" : "minmax";
    report.weightRange = m.options.quant.mseWeightRange ? "mse" : "minmax";
    {
        int64_t quantized = 0;
        for (const auto& q : m.quantizers)
            quantized += q.params;
        report.otherParams = m.teacher.parameterCount() - quantized;
    }

    // Quantized weights and activation grids, per quantizer and bit-width.
    std::vector<std::vector<at::Tensor>> qWeights(nQ);
    std::vector<std::vector<quant::QuantGrid>> grids(nQ);
    report.layers.resize(nQ);
    for (size_t q = 0; q < nQ; ++q) {
        const Quantizer& qz = m.quantizers[q];
        LayerRow& row = report.layers[q];
        row.name = qz.name;
        row.kind = qz.kind;
        row.params = qz.params;
        row.isolated.resize(nB);
        row.cumulative.resize(nB);
        row.histLo = m.outputRange[q].first;
        row.histHi = m.outputRange[q].second;
        if (!(row.histHi > row.histLo))
            row.histHi = row.histLo + 1e-6;
        row.histFp.assign(static_cast<size_t>(bins), 0.0);
        row.histQuant.assign(nB, std::vector<double>(static_cast<size_t>(bins), 0.0));
        if (qz.kind == QuantizerKind::Weight) {
            const at::Tensor w = m.weightOf(qz).detach();
            const at::Tensor flat = w.reshape({w.size(0), -1}).to(at::kCPU, at::kDouble);
            auto [lo, hi] = at::aminmax(flat, 1);
            row.channelMin.assign(lo.data_ptr<double>(), lo.data_ptr<double>() + lo.numel());
            row.channelMax.assign(hi.data_ptr<double>(), hi.data_ptr<double>() + hi.numel());
            for (int b : bits) {
                const quant::QuantGrid g = m.reference.weightGrid(w, b);
                qWeights[q].push_back(quant::dequantize(quant::quantizeCodes(w, g), g));
                const double half = static_cast<double>(int64_t{1} << (b - 1));
                const at::Tensor raw = at::round(w * g.scale - g.zero);
                const at::Tensor clip =
                    ((raw < -half) | (raw > half - 1)).reshape({w.size(0), -1}).to(at::kDouble);
                const at::Tensor share = clip.mean(1).cpu().contiguous();
                at::Tensor stepC = g.scale.reciprocal().reshape({-1});
                if (stepC.numel() == 1)
                    stepC = stepC.expand({w.size(0)});
                stepC = stepC.to(at::kCPU, at::kDouble).contiguous();
                row.channelStep.emplace_back(stepC.data_ptr<double>(),
                                             stepC.data_ptr<double>() + stepC.numel());
                row.channelClipped.emplace_back(share.data_ptr<double>(),
                                                share.data_ptr<double>() + share.numel());
                const at::Tensor gl = (g.zero - half) / g.scale;
                const at::Tensor gh = (g.zero + half - 1) / g.scale;
                row.rangeLo.push_back(gl.mean().item<double>());
                row.rangeHi.push_back(gh.mean().item<double>());
                row.step.push_back(stepC.mean().item<double>());
                row.clipped.push_back(clip.mean().item<double>());
            }
        } else {
            for (int b : bits) {
                grids[q].push_back(m.activationGrid(q, b));
                const quant::QuantGrid& g = grids[q].back();
                const double half = static_cast<double>(int64_t{1} << (b - 1));
                row.rangeLo.push_back(((g.zero - half) / g.scale).item<double>());
                row.rangeHi.push_back(((g.zero + half - 1) / g.scale).item<double>());
                row.step.push_back(g.scale.reciprocal().item<double>());
                row.clipped.push_back(0.0);
            }
        }
    }
    std::vector<std::vector<Sums>> iso(nQ, std::vector<Sums>(nB)), cum(nQ, std::vector<Sums>(nB));
    std::vector<std::vector<double>> clippedCount(nQ, std::vector<double>(nB, 0.0));

    const bool withCumulative = m.options.cumulative;
    const size_t chunks = m.batches.size() + m.real.size();
    const auto units = static_cast<int64_t>(chunks * (1 + nQ * nB * (withCumulative ? 2 : 1)));
    int64_t done = 0;
    auto tick = [&] {
        if (progress && !progress(++done, units))
            throw Error("the analysis was cancelled");
    };
    auto snapshotIndex = [&](int position) {
        return static_cast<size_t>(
            std::lower_bound(m.positions.begin(), m.positions.end(), position) -
            m.positions.begin());
    };
    // Histograms for display bin a strided sample of at most 65,536 values of each output.
    auto sample = [](const at::Tensor& y) {
        const at::Tensor flat = y.detach().reshape({-1});
        const int64_t stride = std::max<int64_t>(1, (flat.numel() + 65535) / 65536);
        return stride == 1 ? flat : flat.slice(0, 0, flat.numel(), stride);
    };
    auto histogram = [&](const at::Tensor& y, const LayerRow& row, std::vector<double>& into) {
        const at::Tensor h = at::histc(sample(y).to(at::kFloat).clamp(row.histLo, row.histHi), bins,
                                       row.histLo, row.histHi)
                                 .to(at::kCPU, at::kDouble)
                                 .contiguous();
        for (int i = 0; i < bins; ++i)
            into[static_cast<size_t>(i)] += h.data_ptr<double>()[i];
    };
    // The figures of one forward pass: the watched layer against its FP output (whose energy is
    // `signal`), the logits against the FP logits, top-1 against the labels.
    auto accumulate = [&](Sums& s, const at::Tensor& logits, const at::Tensor& fpLogits,
                          const at::Tensor& labels, const at::Tensor* fpOut, double signal,
                          const at::Tensor& out, bool figures) {
        if (figures) {
            if (fpOut && out.defined()) {
                s.signal += signal;
                s.noise += (out - *fpOut).square().sum().item<double>();
            }
            s.kl += klSum(fpLogits, logits);
            s.agree += (logits.argmax(1) == fpLogits.argmax(1)).sum().item<double>();
            s.samples += static_cast<double>(logits.size(0));
        }
        if (labels.defined()) {
            s.correct += (logits.argmax(1) == labels).sum().item<double>();
            s.labelled += static_cast<double>(labels.size(0));
        }
    };

    AnalysisHooks& h = m.hooks;
    for (size_t c = 0; c < chunks; ++c) {
        const bool figures = c < m.batches.size();
        const InputBatch& in = figures ? m.batches[c] : m.real[c - m.batches.size()];
        if (figures)
            report.images += in.images.size(0);
        if (in.labels.defined())
            report.realImages += in.labels.size(0);
        // The FP pass, paused before every quantized layer.
        h.clearQuantizers();
        std::fill(h.captured.begin(), h.captured.end(), 0);
        for (const auto& q : m.quantizers)
            h.captured[static_cast<size_t>(q.layer)] = figures ? 1 : 0;
        std::vector<model::Interpreter::Snapshot> fpSnaps;
        const at::Tensor fpLogits = m.net.forward(in.images, m.positions, fpSnaps);
        std::vector<at::Tensor> fpOut(nQ);
        std::vector<double> signal(nQ, 0.0);
        for (size_t q = 0; q < nQ; ++q) {
            fpOut[q] = h.outputs[static_cast<size_t>(m.quantizers[q].layer)];
            if (figures)
                signal[q] = fpOut[q].square().sum().item<double>();
        }
        std::fill(h.captured.begin(), h.captured.end(), 0);
        std::fill(h.outputs.begin(), h.outputs.end(), at::Tensor());
        if (figures) {
            for (size_t q = 0; q < nQ; ++q)
                histogram(fpOut[q], report.layers[q], report.layers[q].histFp);
        }
        tick();

        // Isolated: one quantizer on.
        for (size_t q = 0; q < nQ; ++q) {
            const Quantizer& qz = m.quantizers[q];
            const auto li = static_cast<size_t>(qz.layer);
            for (size_t k = 0; k < nB; ++k) {
                h.clearQuantizers();
                if (qz.kind == QuantizerKind::Weight)
                    h.weights[li] = &qWeights[q][k];
                else
                    h.activations[li] = &grids[q][k];
                h.watch = qz.layer;
                const at::Tensor logits = m.net.resume(fpSnaps[snapshotIndex(qz.position)]);
                accumulate(iso[q][k], logits, fpLogits, in.labels, figures ? &fpOut[q] : nullptr,
                           signal[q], h.watched, figures);
                if (figures) {
                    histogram(h.watched, report.layers[q], report.layers[q].histQuant[k]);
                    if (qz.kind == QuantizerKind::Activation) {
                        const LayerRow& row = report.layers[q];
                        const double halfStep = row.step[k] / 2;
                        clippedCount[q][k] += ((fpOut[q] < row.rangeLo[k] - halfStep) |
                                               (fpOut[q] > row.rangeHi[k] + halfStep))
                                                  .sum()
                                                  .item<double>();
                    }
                }
                h.watched = at::Tensor();
                tick();
            }
        }

        // Cumulative: quantizers switched on in network order, each pass continuing the
        // previous one from the next quantizer's position.
        for (size_t k = 0; withCumulative && k < nB; ++k) {
            h.clearQuantizers();
            model::Interpreter::Snapshot from = fpSnaps[snapshotIndex(m.quantizers[0].position)];
            for (size_t q = 0; q < nQ; ++q) {
                const Quantizer& qz = m.quantizers[q];
                const auto li = static_cast<size_t>(qz.layer);
                if (qz.kind == QuantizerKind::Weight)
                    h.weights[li] = &qWeights[q][k];
                else
                    h.activations[li] = &grids[q][k];
                h.watch = qz.layer;
                std::vector<model::Interpreter::Snapshot> next;
                const bool more = q + 1 < nQ;
                const at::Tensor logits =
                    more ? m.net.resume(from, {m.quantizers[q + 1].position}, &next)
                         : m.net.resume(from);
                accumulate(cum[q][k], logits, fpLogits, in.labels, figures ? &fpOut[q] : nullptr,
                           signal[q], h.watched, figures);
                h.watched = at::Tensor();
                if (more) {
                    if (next.empty())
                        throw Error("analysis: the forward pass did not reach " +
                                    m.quantizers[q + 1].name);
                    from = std::move(next.front());
                }
                tick();
            }
        }
        h.watch = -1;
    }
    h.clearQuantizers();

    // Activation clipping is counted per value of each activation's own tensor.
    for (size_t q = 0; q < nQ; ++q) {
        LayerRow& row = report.layers[q];
        for (size_t k = 0; k < nB; ++k) {
            row.isolated[k] = iso[q][k].figures();
            row.cumulative[k] = cum[q][k].figures();
        }
        if (m.quantizers[q].kind == QuantizerKind::Activation) {
            double values = 0;
            for (const double v : row.histFp)
                values += v;
            for (size_t k = 0; k < nB; ++k)
                row.clipped[k] = values > 0 ? clippedCount[q][k] / values : 0.0;
        }
    }
    if (!m.real.empty() || (m.batches.front().labels.defined())) {
        Sums fp;
        for (size_t c = 0; c < m.batches.size(); ++c)
            if (m.batches[c].labels.defined())
                accumulate(fp, m.fpLogits[c], m.fpLogits[c], m.batches[c].labels, nullptr, 0, {},
                           false);
        for (size_t c = 0; c < m.real.size(); ++c)
            accumulate(fp, m.fpRealLogits[c], m.fpRealLogits[c], m.real[c].labels, nullptr, 0, {},
                       false);
        report.fpRealTop1 = fp.figures().realTop1;
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

std::function<at::Tensor(const at::Tensor&)> LayerAnalyzer::forwardFn(
    const std::map<std::string, int>& weightBits, int activationBits) {
    Impl& m = *impl_;
    if (m.batches.empty())
        throw Error("analysis: setInputs() first");
    AnalysisHooks& h = m.hooks;
    h.clearQuantizers();
    h.watch = -1;
    std::fill(h.captured.begin(), h.captured.end(), 0);
    m.configWeights.assign(m.quantizers.size(), at::Tensor());
    m.configGrids.assign(m.quantizers.size(), quant::QuantGrid());
    for (const auto& entry : weightBits) {
        const std::string& name = entry.first;
        const int b = entry.second;
        const auto it = std::find_if(m.quantizers.begin(), m.quantizers.end(), [&](const auto& q) {
            return q.kind == QuantizerKind::Weight && q.name == name;
        });
        if (it == m.quantizers.end())
            throw Error("analysis: no conv or linear layer '" + name + "'");
        if (b < 0 || b > 16)
            throw Error("analysis: " + std::to_string(b) + " bits for '" + name + "'");
    }
    bool anyWeight = false;
    for (size_t q = 0; q < m.quantizers.size(); ++q) {
        const Quantizer& qz = m.quantizers[q];
        const auto it = weightBits.find(qz.name);
        if (qz.kind != QuantizerKind::Weight || it == weightBits.end() || it->second == 0)
            continue;
        m.configWeights[q] = m.quantizedWeight(qz, it->second);
        h.weights[static_cast<size_t>(qz.layer)] = &m.configWeights[q];
        anyWeight = true;
    }
    // Activation ranges of the network with these weights, as a run calibrates its student.
    std::vector<quant::ActivationStats> stats;
    if (activationBits > 0 && anyWeight) {
        const std::vector<const at::Tensor*> weights = h.weights;
        stats = m.collect(&weights);
    }
    for (size_t q = 0; q < m.quantizers.size() && activationBits > 0; ++q) {
        if (m.quantizers[q].kind != QuantizerKind::Activation)
            continue;
        m.configGrids[q] = m.activationGrid(anyWeight ? stats : m.actStats, q, activationBits);
        h.activations[static_cast<size_t>(m.quantizers[q].layer)] = &m.configGrids[q];
    }
    return [&m](const at::Tensor& x) {
        at::NoGradGuard noGrad;
        return m.net.forward(x.to(m.options.device, at::kFloat)).cpu();
    };
}

Figures LayerAnalyzer::evaluate(const std::map<std::string, int>& weightBits, int activationBits) {
    Impl& m = *impl_;
    const auto forward = forwardFn(weightBits, activationBits);
    at::NoGradGuard noGrad;
    Sums s;
    for (size_t c = 0; c < m.batches.size(); ++c) {
        const at::Tensor logits = forward(m.batches[c].images).to(m.options.device);
        s.kl += klSum(m.fpLogits[c], logits);
        s.agree += (logits.argmax(1) == m.fpLogits[c].argmax(1)).sum().item<double>();
        s.samples += static_cast<double>(logits.size(0));
        if (m.batches[c].labels.defined()) {
            s.correct += (logits.argmax(1) == m.batches[c].labels).sum().item<double>();
            s.labelled += static_cast<double>(logits.size(0));
        }
    }
    for (const auto& r : m.real) {
        const at::Tensor logits = forward(r.images).to(m.options.device);
        s.correct += (logits.argmax(1) == r.labels).sum().item<double>();
        s.labelled += static_cast<double>(logits.size(0));
    }
    m.hooks.clearQuantizers();
    return s.figures();
}

}  // namespace dfq::analysis
