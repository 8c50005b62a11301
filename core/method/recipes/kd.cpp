#include "kd.h"

#include <ATen/ATen.h>

namespace dfq::method {

KdRecipe::KdRecipe(MethodContext& context, const KdOptions& options)
    : ctx_(context),
      options_(options),
      sgd_(context.trainable(), options.momentum, options.weightDecay) {}

StudentStep KdRecipe::train(const Synthetic& batch, const at::Tensor& teacherLogits, double lr) {
    StudentStep s;
    const at::Tensor logits = ctx_.studentLogits(batch.images.detach());
    s.ce = MethodContext::crossEntropy(batch, logits);
    s.kd = kdLoss(logits, teacherLogits, options_.temperature);
    s.loss = options_.ceWeight * s.ce + options_.kdWeight * s.kd;
    sgd_.zeroGrad();
    s.loss.backward();
    update(lr);
    return s;
}

void KdRecipe::save(torch::serialize::OutputArchive& archive) const {
    torch::serialize::OutputArchive sgd;
    const auto& buffers = sgd_.momentumBuffers();
    writeCount(sgd, "count", buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i)
        if (buffers[i].defined())
            sgd.write("m" + std::to_string(i), buffers[i].cpu(), true);
    archive.write("sgd", sgd);
}

void KdRecipe::load(torch::serialize::InputArchive& archive) {
    torch::serialize::InputArchive sgd;
    archive.read("sgd", sgd);
    std::vector<at::Tensor> buffers = sgd_.momentumBuffers();
    checkCount(sgd, "count", buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
        at::Tensor m;
        if (sgd.try_read("m" + std::to_string(i), m, true))
            buffers[i] = m.to(ctx_.device());
    }
    sgd_.setMomentumBuffers(std::move(buffers));
}

KdOptions kdOptions(const run::ExperimentConfig& c) {
    KdOptions o;
    o.momentum = c.studentMomentum;
    o.weightDecay = c.studentWeightDecay;
    o.temperature = c.studentTemperature;
    o.kdWeight = c.studentKdWeight;
    o.ceWeight = c.studentCeWeight;
    return o;
}

StudentEntry kdEntry() {
    return {{"kd", "KD", "CE + T²·KL knowledge distillation with Nesterov SGD.", ""},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                return std::make_unique<KdRecipe>(ctx, kdOptions(c));
            }};
}

}  // namespace dfq::method
