#include "losses.h"

#include <ATen/ATen.h>

#include "../error.h"

namespace dfq::method {

BnsLoss bnsLoss(const model::Graph& graph, const model::ParamStore& teacher,
                const std::vector<model::BnBatchStats>& stats) {
    std::vector<at::Tensor> means, vars;
    for (const auto& layer : graph.layers()) {
        if (layer.role != model::LayerRole::BatchNorm)
            continue;
        if (layer.runningMeanParam < 0 || layer.runningVarParam < 0)
            throw Error(graph.sourceName() + ": BatchNorm layer '" + layer.path +
                        "' has no running statistics");
        const auto& s = stats.at(layer.roleIndex);
        if (!s.mean.defined())
            throw Error("BNS loss: no batch statistics for '" + layer.path +
                        "'; run the teacher with the BN probe on");
        const at::Tensor meanMse = (s.mean - teacher.tensor(layer.runningMeanParam)).pow(2).mean();
        const at::Tensor varMse = (s.var - teacher.tensor(layer.runningVarParam)).pow(2).mean();
        means.push_back(meanMse);
        vars.push_back(varMse);
    }
    if (means.empty())
        throw Error(graph.sourceName() +
                    ": the model has no BatchNorm layer, so the BNS loss is unavailable");
    BnsLoss out;
    const at::Tensor meanMse = at::stack(means), varMse = at::stack(vars);
    out.loss = (meanMse + varMse).mean();
    out.meanMse = meanMse.detach();
    out.varMse = varMse.detach();
    return out;
}

at::Tensor softCrossEntropy(const at::Tensor& logits, const at::Tensor& targets) {
    return -(targets * at::log_softmax(logits, 1)).sum(1).mean();
}

at::Tensor kdLoss(const at::Tensor& studentLogits, const at::Tensor& teacherLogits,
                  double temperature) {
    const at::Tensor logQ = at::log_softmax(studentLogits / temperature, 1);
    const at::Tensor p = at::softmax(teacherLogits.detach() / temperature, 1);
    // xlogy gives 0 for p = 0, as PyTorch's kl_div does.
    const at::Tensor kl = (at::xlogy(p, p) - p * logQ).mean();
    return kl * (temperature * temperature);
}

}  // namespace dfq::method
