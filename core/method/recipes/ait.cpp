#include "ait.h"

namespace dfq::method {

AitRecipe::AitRecipe(MethodContext& context, const AitOptions& options)
    : KdRecipe(context, options.kd), ait_(options) {
    const model::ParamStore& student = context.studentParams();
    std::vector<int> slotOfParam(student.size(), -1), bitsOfParam(student.size(), 0);
    const auto& quantizer = context.quantizer();
    const auto& qLayers = quantizer.quantizedWeightLayers();
    for (size_t k = 0; k < qLayers.size(); ++k) {
        const auto& layer = context.teacherModel().graph()->layers()[qLayers[k]];
        slotOfParam[layer.weightParam] = static_cast<int>(k);
        bitsOfParam[layer.weightParam] = quantizer.weightBits(layer);
    }
    for (const size_t i : context.trainableIndex()) {
        slot_.push_back(slotOfParam[i]);
        bits_.push_back(bitsOfParam[i]);
    }
    report_.alphas.assign(qLayers.size(), 1.0);
    report_.threshold = options.search.threshold;
}

void AitRecipe::beginEpoch(const StudentEpoch& epoch) {
    report_.threshold = epoch.scheduled(ait_.search.threshold);
    firstEpochCap_ = epoch.first;
}

void AitRecipe::update(double lr) {
    report_.capped = 0;
    sgd_.step(
        lr, [&](const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& directions) {
            std::vector<double> scale(params.size(), 1.0);
            std::vector<AlphaTask> tasks;
            std::vector<size_t> which;
            for (size_t i = 0; i < params.size(); ++i) {
                if (slot_[i] < 0 || !directions[i].defined())
                    continue;
                AlphaSearch search = ait_.search;
                search.bits = bits_[i];
                search.threshold = report_.threshold;
                search.firstEpochCap = firstEpochCap_;
                tasks.push_back({params[i], directions[i], search});
                which.push_back(i);
            }
            const std::vector<AlphaResult> found = findAlphas(tasks, lr);
            for (size_t k = 0; k < which.size(); ++k) {
                report_.alphas[slot_[which[k]]] = found[k].alpha;
                report_.capped += found[k].capped;
                scale[which[k]] = found[k].alpha;
            }
            return scale;
        });
}

StudentEntry aitEntry() {
    return {{"ait", "AIT",
             "AIT: T²·KL only, no weight decay (student.ce_weight and student.weight_decay are "
             "ignored), and gradient inundation on every quantized conv/linear weight.",
             ""},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                AitOptions o;
                o.kd = kdOptions(c);
                o.kd.ceWeight = 0;
                o.kd.weightDecay = 0;
                o.search.threshold = c.studentPassingThreshold;
                o.search.bisections = static_cast<int>(c.studentAlphaIter);
                return std::make_unique<AitRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
