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
#include "layer_analyzer_impl.h"
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
