// The per-quantizer analysis (LayerAnalyzer::analyze): for every input batch, the FP pass paused
// before each quantized layer, then each quantizer alone at each bit-width (isolated) and the
// quantizers switched on in network order (cumulative), each pass resuming from a snapshot.
#include <chrono>

#include "layer_analyzer_impl.h"

namespace dfq::analysis {

namespace detail {

class AnalysisPass {
  public:
    AnalysisPass(LayerAnalyzer::Impl& m, const AnalysisProgress& progress)
        : m(m),
          progress(progress),
          bits(m.options.bits),
          nQ(m.quantizers.size()),
          nB(bits.size()),
          bins(std::max(2, m.options.histogramBins)),
          qWeights(nQ),
          grids(nQ),
          iso(nQ, std::vector<Sums>(nB)),
          cum(nQ, std::vector<Sums>(nB)),
          clippedCount(nQ, std::vector<double>(nB, 0.0)),
          chunks(m.batches.size() + m.real.size()),
          units(static_cast<int64_t>(chunks * (1 + nQ * nB * (m.options.cumulative ? 2 : 1)))) {}

    LayerReport run() {
        prepareRows();
        for (size_t c = 0; c < chunks; ++c)
            chunk(c);
        m.hooks.clearQuantizers();
        finishRows();
        return report;
    }

  private:
    void prepareRows();
    void weightRow(const Quantizer& qz, size_t q, LayerRow& row);
    void activationRow(size_t q, LayerRow& row);
    void chunk(size_t c);
    void isolated(const InputBatch& in, bool figures);
    void cumulative(const InputBatch& in, bool figures);
    void finishRows();

    void tick() {
        if (progress && !progress(++done, units))
            throw Error("the analysis was cancelled");
    }
    size_t snapshotIndex(int position) const {
        return static_cast<size_t>(
            std::lower_bound(m.positions.begin(), m.positions.end(), position) -
            m.positions.begin());
    }
    // Histograms for display bin a strided sample of at most 65,536 values of each output.
    void histogram(const at::Tensor& y, const LayerRow& row, std::vector<double>& into) const {
        const at::Tensor flat = y.detach().reshape({-1});
        const int64_t stride = std::max<int64_t>(1, (flat.numel() + 65535) / 65536);
        const at::Tensor sample = stride == 1 ? flat : flat.slice(0, 0, flat.numel(), stride);
        const at::Tensor h = at::histc(sample.to(at::kFloat).clamp(row.histLo, row.histHi), bins,
                                       row.histLo, row.histHi)
                                 .to(at::kCPU, at::kDouble)
                                 .contiguous();
        for (int i = 0; i < bins; ++i)
            into[static_cast<size_t>(i)] += h.data_ptr<double>()[i];
    }
    // The figures of one forward pass: the watched layer against its FP output (whose energy is
    // `signal`), the logits against the FP logits, top-1 against the labels.
    static void accumulate(Sums& s, const at::Tensor& logits, const at::Tensor& fpLogits,
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
            s.realKl += klSum(fpLogits, logits);
            s.labelled += static_cast<double>(labels.size(0));
        }
    }

    LayerAnalyzer::Impl& m;
    const AnalysisProgress& progress;
    const std::vector<int>& bits;
    const size_t nQ, nB;
    const int bins;
    LayerReport report;
    // Quantized weights and activation grids, per quantizer and bit-width.
    std::vector<std::vector<at::Tensor>> qWeights;
    std::vector<std::vector<quant::QuantGrid>> grids;
    std::vector<std::vector<Sums>> iso, cum;
    std::vector<std::vector<double>> clippedCount;
    const size_t chunks;
    const int64_t units;
    int64_t done = 0;
    // The current chunk's FP pass.
    at::Tensor fpLogits;
    std::vector<model::Interpreter::Snapshot> fpSnaps;
    std::vector<at::Tensor> fpOut;
    std::vector<double> signal;
};

void AnalysisPass::prepareRows() {
    report.bits = bits;
    report.activationBits = m.options.quant.activationBits;
    report.calibration = m.options.calibration == quant::Calibration::Mse ? "mse" : "minmax";
    report.weightRange = m.options.quant.mseWeightRange ? "mse" : "minmax";
    int64_t quantized = 0;
    for (const auto& q : m.quantizers)
        quantized += q.params;
    report.otherParams = m.teacher.parameterCount() - quantized;
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
        if (qz.kind == QuantizerKind::Weight)
            weightRow(qz, q, row);
        else
            activationRow(q, row);
    }
}

void AnalysisPass::weightRow(const Quantizer& qz, size_t q, LayerRow& row) {
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
}

void AnalysisPass::activationRow(size_t q, LayerRow& row) {
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

void AnalysisPass::chunk(size_t c) {
    const bool figures = c < m.batches.size();
    const InputBatch& in = figures ? m.batches[c] : m.real[c - m.batches.size()];
    if (figures)
        report.images += in.images.size(0);
    if (in.labels.defined())
        report.realImages += in.labels.size(0);
    // The FP pass, paused before every quantized layer.
    AnalysisHooks& h = m.hooks;
    h.clearQuantizers();
    std::fill(h.captured.begin(), h.captured.end(), 0);
    for (const auto& q : m.quantizers)
        h.captured[static_cast<size_t>(q.layer)] = figures ? 1 : 0;
    fpSnaps.clear();
    fpLogits = m.net.forward(in.images, m.positions, fpSnaps);
    fpOut.assign(nQ, at::Tensor());
    signal.assign(nQ, 0.0);
    for (size_t q = 0; q < nQ; ++q) {
        fpOut[q] = h.outputs[static_cast<size_t>(m.quantizers[q].layer)];
        if (figures)
            signal[q] = fpOut[q].square().sum().item<double>();
    }
    std::fill(h.captured.begin(), h.captured.end(), 0);
    std::fill(h.outputs.begin(), h.outputs.end(), at::Tensor());
    if (figures)
        for (size_t q = 0; q < nQ; ++q)
            histogram(fpOut[q], report.layers[q], report.layers[q].histFp);
    tick();
    isolated(in, figures);
    if (m.options.cumulative)
        cumulative(in, figures);
    h.watch = -1;
}

// One quantizer on at a time.
void AnalysisPass::isolated(const InputBatch& in, bool figures) {
    AnalysisHooks& h = m.hooks;
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
}

// Quantizers switched on in network order, each pass continuing the previous one from the next
// quantizer's position.
void AnalysisPass::cumulative(const InputBatch& in, bool figures) {
    AnalysisHooks& h = m.hooks;
    for (size_t k = 0; k < nB; ++k) {
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
}

void AnalysisPass::finishRows() {
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
}

}  // namespace detail

LayerReport LayerAnalyzer::analyze(const AnalysisProgress& progress) {
    if (impl_->batches.empty())
        throw Error("analysis: setInputs() first");
    at::NoGradGuard noGrad;
    const auto start = std::chrono::steady_clock::now();
    LayerReport report = detail::AnalysisPass(*impl_, progress).run();
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

}  // namespace dfq::analysis
