#include "layer_probe.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <map>

#include "layer_analyzer.h"

namespace dfq::analysis {

using model::ActivationKind;
using model::Layer;
using model::LayerRole;

std::vector<QuantizerRef> listQuantizers(const model::Graph& graph) {
    std::vector<QuantizerRef> out;
    for (const Layer& l : graph.layers()) {
        QuantizerRef q;
        q.layer = l.index;
        if ((l.role == LayerRole::Conv || l.role == LayerRole::Linear) && l.weightParam >= 0) {
            q.kind = QuantizerKind::Weight;
        } else if (l.role == LayerRole::Activation && (l.activation == ActivationKind::ReLU ||
                                                       l.activation == ActivationKind::ReLU6)) {
            q.kind = QuantizerKind::Activation;
        } else {
            continue;
        }
        q.name = l.path;
        if (q.name.empty()) {
            q.name = l.op.rfind("aten::", 0) == 0 ? l.op.substr(6) : l.op;
            if (!q.name.empty() && q.name.back() == '_')
                q.name.pop_back();
        }
        out.push_back(q);
    }
    std::map<std::string, int> count, seen;
    for (const auto& q : out)
        ++count[q.name];
    for (auto& q : out)
        if (q.kind == QuantizerKind::Activation && count[q.name] > 1)
            q.name += "#" + std::to_string(++seen[q.name]);
    return out;
}

namespace {

// Records the outputs of some layers, passing every call through to `inner` (if any) first.
struct CaptureHooks : model::LayerHooks {
    model::LayerHooks* inner = nullptr;
    std::vector<char> wanted;
    std::vector<at::Tensor> seen;
    at::Tensor weight(const Layer& l, const at::Tensor& w) override {
        return inner ? inner->weight(l, w) : w;
    }
    at::Tensor input(const Layer& l, const at::Tensor& x) override {
        return inner ? inner->input(l, x) : x;
    }
    at::Tensor output(const Layer& l, const at::Tensor& y) override {
        at::Tensor out = inner ? inner->output(l, y) : y;
        if (wanted[static_cast<size_t>(l.index)])
            seen[static_cast<size_t>(l.index)] = out;
        return out;
    }
};

// Sets an interpreter's hooks and BN probe for one pass and restores them.
class PassGuard {
  public:
    PassGuard(model::Interpreter& net, model::LayerHooks* hooks, bool probe)
        : net_(net), hooks_(net.hooks()), probe_(net.bnProbe()) {
        net_.setHooks(hooks);
        net_.setBnProbe(probe);
    }
    ~PassGuard() {
        net_.setHooks(hooks_);
        net_.setBnProbe(probe_);
    }

  private:
    model::Interpreter& net_;
    model::LayerHooks* hooks_;
    bool probe_;
};

}  // namespace

LayerProbe::LayerProbe(const model::Graph& graph, const quant::StudentQuantizer& quantizer)
    : graph_(graph) {
    for (const auto& q : listQuantizers(graph)) {
        const Layer& l = graph.layers()[static_cast<size_t>(q.layer)];
        const bool on = q.kind == QuantizerKind::Weight ? quantizer.weightBits(l) > 0
                                                        : quantizer.quantizesActivation(l);
        if (on)
            quantizers_.push_back(q);
    }
}

LayerProbeResult LayerProbe::probe(model::Interpreter& teacher, model::Interpreter& student,
                                   model::LayerHooks* studentHooks,
                                   const model::ParamStore& teacherParams,
                                   const at::Tensor& images) const {
    at::NoGradGuard noGrad;
    const size_t nLayers = graph_.layers().size();
    CaptureHooks t, s;
    t.wanted.assign(nLayers, 0);
    for (const auto& q : quantizers_)
        t.wanted[static_cast<size_t>(q.layer)] = 1;
    s.wanted = t.wanted;
    t.seen.assign(nLayers, at::Tensor());
    s.seen.assign(nLayers, at::Tensor());
    s.inner = studentHooks;
    {
        PassGuard guard(teacher, &t, false);
        teacher.forward(images);
    }
    std::vector<model::BnBatchStats> bn;
    {
        PassGuard guard(student, &s, true);
        student.forward(images);
        bn = student.bnStats();
    }
    LayerProbeResult r;
    for (const auto& q : quantizers_) {
        const at::Tensor& ref = t.seen[static_cast<size_t>(q.layer)];
        const at::Tensor& out = s.seen[static_cast<size_t>(q.layer)];
        if (!ref.defined() || !out.defined())
            continue;
        r.names.push_back(q.name);
        r.kinds.push_back(q.kind);
        r.sqnrDb.push_back(
            sqnrDb(ref.square().sum().item<double>(), (out - ref).square().sum().item<double>()));
    }
    for (const Layer& l : graph_.layers()) {
        if (l.role != LayerRole::BatchNorm || l.runningMeanParam < 0)
            continue;
        const auto& st = bn.at(static_cast<size_t>(l.roleIndex));
        if (!st.mean.defined())
            continue;
        const at::Tensor& rm = teacherParams.tensor(static_cast<size_t>(l.runningMeanParam));
        const at::Tensor& rv = teacherParams.tensor(static_cast<size_t>(l.runningVarParam));
        r.bnNames.push_back(l.path);
        r.bnMeanMse.push_back((st.mean.detach() - rm).square().mean().item<double>());
        r.bnVarMse.push_back((st.var.detach() - rv).square().mean().item<double>());
    }
    return r;
}

}  // namespace dfq::analysis
