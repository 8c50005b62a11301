#include "run_reports.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>

#include "../error.h"
#include "../gen/autorecon_arch.h"

namespace dfq::run {

// Up to 64 images of the batch, denormalized to uint8 for display, with the teacher's top-k.
SampleBatch sampleBatch(const method::Pipeline& g, const model::ModelMeta& meta, int64_t step) {
    const int64_t n = std::min<int64_t>(64, g.lastImages().size(0));
    at::Tensor x = g.lastImages().narrow(0, 0, n).to(at::kCPU, at::kFloat);
    const int64_t c = x.size(1);
    auto channelTensor = [&](const std::vector<double>& v, double fallback) {
        if (v.empty())
            return at::full({1, c, 1, 1}, fallback);
        if (v.size() == 1)
            return at::full({1, c, 1, 1}, v[0]);
        return at::tensor(v, at::kDouble).to(at::kFloat).view({1, c, 1, 1});
    };
    x = (x * channelTensor(meta.std, 1.0) + channelTensor(meta.mean, 0.0))
            .mul(255)
            .round()
            .clamp(0, 255);
    at::Tensor pixels = x.to(at::kByte).permute({0, 2, 3, 1}).contiguous();
    SampleBatch s;
    s.step = step;
    s.count = n;
    s.channels = c;
    s.height = x.size(2);
    s.width = x.size(3);
    s.pixels.assign(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + pixels.numel());
    at::Tensor labels = g.lastLabels().narrow(0, 0, n).cpu().contiguous();
    s.labels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + n);
    at::Tensor probs = at::softmax(g.lastTeacherLogits().narrow(0, 0, n).cpu(), 1);
    s.topK = std::min<int64_t>(3, probs.size(1));
    auto [values, indices] = probs.topk(s.topK, 1);
    values = values.contiguous();
    indices = indices.contiguous();
    s.topProbs.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
    s.topClasses.assign(indices.data_ptr<int64_t>(), indices.data_ptr<int64_t>() + indices.numel());
    s.source = g.generator().sampleSource();
    if (!g.lastBatch().mixLabels.defined()) {
        const at::Tensor d = (1 - probs.gather(1, labels.unsqueeze(1)).squeeze(1)).contiguous();
        s.difficulty.assign(d.data_ptr<float>(), d.data_ptr<float>() + n);
    }
    if (g.lastBatch().mixLabels.defined()) {
        const at::Tensor mix = g.lastBatch().mixLabels.narrow(0, 0, n).cpu().contiguous();
        const at::Tensor w =
            g.lastBatch().mixWeights.narrow(0, 0, n).to(at::kCPU, at::kFloat).contiguous();
        s.mixK = mix.size(1);
        s.mixLabels.assign(mix.data_ptr<int64_t>(), mix.data_ptr<int64_t>() + mix.numel());
        s.mixWeights.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    }
    return s;
}

namespace {

std::vector<double> toVector(const at::Tensor& t) {
    at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
    return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

// The BN layers (indices into `bn`) reported per channel: the configured ones, else every layer
// when they hold at most 2,048 channels together, else the first and the last.
std::vector<int> bnChannelLayers(const ExperimentConfig& c,
                                 const std::vector<const model::Layer*>& bn,
                                 const model::ParamStore& params) {
    std::vector<int> out;
    for (const auto& name : c.outputBnChannelLayers) {
        auto it = std::find_if(bn.begin(), bn.end(), [&](auto* l) { return l->path == name; });
        if (it == bn.end()) {
            std::string known;
            for (auto* l : bn)
                known += (known.empty() ? "" : ", ") + l->path;
            throw Error("output.bn_channel_layers: '" + name +
                        "' is not a BatchNorm layer of the model; its BN layers are: " + known);
        }
        out.push_back(static_cast<int>(it - bn.begin()));
    }
    if (!c.outputBnChannelLayers.empty() || bn.empty())
        return out;
    int64_t channels = 0;
    for (auto* l : bn)
        channels += params.tensor(l->runningMeanParam).numel();
    if (channels <= 2048) {
        for (size_t i = 0; i < bn.size(); ++i)
            out.push_back(static_cast<int>(i));
    } else {
        out = {0, static_cast<int>(bn.size()) - 1};
        if (bn.size() == 1)
            out.pop_back();
    }
    return out;
}

BnMatch bnMatch(const method::Pipeline& g, int64_t step, const std::vector<std::string>& names,
                const std::vector<const model::Layer*>& bn, const std::vector<int>& channelLayers,
                const model::ParamStore& teacher) {
    BnMatch m{step, names, toVector(g.lastBnMeanMse()), toVector(g.lastBnVarMse()), {}};
    for (int i : channelLayers) {
        const auto& st = g.lastBnStats().at(i);
        m.channels.push_back({bn[i]->path, toVector(st.mean), toVector(st.var),
                              toVector(teacher.tensor(bn[i]->runningMeanParam)),
                              toVector(teacher.tensor(bn[i]->runningVarParam))});
    }
    return m;
}

ArchitectureStats architectureStats(method::Pipeline& g, int64_t step, double tau) {
    using gen::AutoReconArch;
    ArchitectureStats a;
    a.step = step;
    a.temperature = tau;
    a.architecture = g.generator().architecture();
    method::ArchitectureSearch* search = g.generator().search();
    const auto probs = search ? search->probabilities() : std::array<at::Tensor, 3>{};
    auto addEdges = [&](const at::Tensor& p, const std::vector<std::string>& names,
                        const std::function<std::string(int)>& edgeName) {
        for (int e = 0; e < (p.defined() ? p.size(0) : 0); ++e) {
            a.edges.push_back(edgeName(e));
            a.choices.push_back(names);
            const at::Tensor row = p[e].to(at::kFloat).contiguous();
            a.probabilities.emplace_back(row.data_ptr<float>(),
                                         row.data_ptr<float>() + row.numel());
        }
    };
    addEdges(probs[0], AutoReconArch::upNames(),
             [](int e) { return "c" + std::to_string(e / 2) + " up" + std::to_string(e % 2); });
    addEdges(probs[1], AutoReconArch::opNames(),
             [](int e) { return "c" + std::to_string(e / 5) + " op" + std::to_string(e % 5); });
    addEdges(probs[2], AutoReconArch::crossNames(), [](int e) {
        return "c" + std::to_string(e / 6 + 1) + " n" + std::to_string(e % 6 < 3 ? 2 : 3) + "<n" +
               std::to_string(e % 3);
    });
    return a;
}

// The feature map at a sample point: 128 synthetic images (classes cycling), 128 boundary
// samples for Qimera, and the first 128 real images when there is evaluation data; the same
// noise at every sample point. Empty when the teacher has no classifier to read features at.
FeatureMap featureMap(method::Pipeline& g, const std::optional<data::Dataset>& real,
                      const model::ModelMeta& meta, const data::Normalization& norm, int64_t step,
                      uint64_t seed) {
    FeatureMap m;
    m.step = step;
    std::vector<at::Tensor> feats;
    auto add = [&](const at::Tensor& f, const at::Tensor& labels, int kind) {
        if (!f.defined())
            return;
        feats.push_back(f);
        const at::Tensor l = labels.cpu().contiguous();
        m.label.insert(m.label.end(), l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
        m.kind.insert(m.kind.end(), static_cast<size_t>(l.numel()), kind);
    };
    constexpr int64_t n = 128;
    const auto [xs, ls] = g.synthesize(n, false, seed);
    add(g.teacherFeatures(xs), ls, 0);
    if (g.generator().boundarySamples()) {
        const auto [xb, lb] = g.synthesize(n, true, seed + 1);
        add(g.teacherFeatures(xb), lb, 1);
    }
    if (real && real->size() > 0) {
        const int64_t k = std::min<int64_t>(n, real->size());
        const at::Tensor x = data::preprocess(real->images.narrow(0, 0, k), meta.inputShape, norm);
        add(g.teacherFeatures(x), real->labels.narrow(0, 0, k), 2);
    }
    if (feats.empty())
        return m;
    const at::Tensor f = at::cat(feats).to(at::kDouble);
    const at::Tensor centred = f - f.mean(0, true);
    auto [u, sv, vh] = at::linalg_svd(centred, false);
    at::Tensor axes = vh.narrow(0, 0, std::min<int64_t>(2, vh.size(0)));
    // A fixed orientation: each axis's largest entry positive, so the map does not flip.
    const at::Tensor big = axes.abs().argmax(1, true);
    axes = axes * axes.gather(1, big).sign();
    const at::Tensor p = centred.matmul(axes.t()).to(at::kFloat).contiguous();
    const at::Tensor var = sv.square();
    m.explained =
        (var.narrow(0, 0, axes.size(0)).sum() / var.sum().clamp_min(1e-30)).item<double>();
    const float* xy = p.data_ptr<float>();
    const int64_t cols = p.size(1);
    for (int64_t i = 0; i < p.size(0); ++i) {
        m.x.push_back(xy[i * cols]);
        m.y.push_back(cols > 1 ? xy[i * cols + 1] : 0.0f);
    }
    return m;
}

LayerStats layerStats(const analysis::LayerProbeResult& r, int64_t step, const char* source) {
    LayerStats s;
    s.step = step;
    s.source = source;
    s.layers = r.names;
    for (const auto k : r.kinds)
        s.kinds.push_back(analysis::kindName(k));
    s.sqnrDb = r.sqnrDb;
    s.bnLayers = r.bnNames;
    s.bnMeanMse = r.bnMeanMse;
    s.bnVarMse = r.bnVarMse;
    return s;
}

}  // namespace dfq::run
