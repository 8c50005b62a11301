#include "gdfq.h"

#include <ATen/ATen.h>

#include <chrono>

#include "../error.h"
#include "losses.h"

namespace dfq::method {

namespace {

// The number of classes: from the metadata, else from one forward pass.
int64_t classCount(const model::Model& teacher, model::Interpreter& interp) {
    if (teacher.meta().numClasses > 0)
        return teacher.meta().numClasses;
    torch::NoGradGuard noGrad;
    std::vector<int64_t> shape{1};
    shape.insert(shape.end(), teacher.meta().inputShape.begin(), teacher.meta().inputShape.end());
    return interp.forward(at::zeros(shape)).size(1);
}

}  // namespace

Gdfq::Gdfq(const model::Model& teacher, const GdfqOptions& options)
    : teacherModel_(teacher),
      options_(options),
      teacher_(teacher.graph(), &teacher.params()),
      student_(teacher.params().clone()),
      quantizer_(std::make_unique<quant::StudentQuantizer>(*teacher.graph(), options.quant)),
      studentNet_(teacher.graph(), &student_) {
    if (!teacher.meta().hasInputShape())
        throw Error(teacher.path() +
                    ": the input shape is unknown; set it in the model's "
                    "dfq_meta.json or in the experiment");
    if (!teacher.hasBatchNorm())
        throw Error(teacher.path() +
                    ": GDFQ needs BatchNorm layers in the teacher (their "
                    "statistics are what the generator matches)");
    classes_ = classCount(teacher, teacher_);
    teacher_.setBnProbe(true);
    studentNet_.setHooks(quantizer_.get());

    std::vector<at::Tensor> studentParams;
    for (size_t i = 0; i < student_.size(); ++i) {
        if (student_.isBuffer(i))
            continue;
        student_.tensor(i).requires_grad_(true);
        studentParams.push_back(student_.tensor(i));
    }
    sgd_ = std::make_unique<NesterovSgd>(studentParams, options.momentum, options.weightDecay);

    gen::GdfqGeneratorOptions g;
    g.outputShape = teacher.meta().inputShape;
    g.classes = classes_;
    g.latentDim = options.latentDim;
    g.channels = options.generatorChannels;
    g.imagenetStyle = options.imagenetStyle;
    generator_ = gen::GdfqGenerator(g);
    generator_->train();
    adam_ = std::make_unique<torch::optim::Adam>(
        generator_->parameters(),
        torch::optim::AdamOptions(options.lrG).betas({options.adamBeta1, options.adamBeta2}));
}

GdfqStepStats Gdfq::step(bool trainStudent, bool calibrate, double lrG, double lrS) {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    GdfqStepStats stats;
    const int64_t b = options_.batchSize;
    at::Tensor z = at::randn({b, options_.latentDim});
    at::Tensor y = at::randint(0, classes_, {b}, at::kLong);

    // Generator step: one teacher pass, whose logits also serve as the student's targets.
    at::Tensor x = generator_->forward(z, y);
    at::Tensor teacherLogits = teacher_.forward(x);
    const BnsLoss bns = bnsLoss(*teacherModel_.graph(), teacherModel_.params(), teacher_.bnStats());
    at::Tensor ce = at::cross_entropy_loss(teacherLogits, y);
    at::Tensor lossG = ce + options_.bnsWeight * bns.loss;
    for (auto& group : adam_->param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lrG);
    adam_->zero_grad();
    lossG.backward();
    adam_->step();
    stats.generatorCe = ce.item<double>();
    stats.generatorBns = bns.loss.item<double>();
    stats.generatorLoss = lossG.item<double>();
    const auto t1 = Clock::now();
    stats.generatorSeconds = std::chrono::duration<double>(t1 - t0).count();

    // Student step on the batch made before the generator moved.
    quantizer_->setCalibrating(calibrate);
    const at::Tensor targets = teacherLogits.detach();
    lastImages_ = x.detach();
    lastLabels_ = y;
    lastTeacherLogits_ = targets;
    lastBnMeanMse_ = bns.meanMse;
    lastBnVarMse_ = bns.varMse;
    if (!trainStudent) {
        torch::NoGradGuard noGrad;
        studentNet_.forward(x.detach());
        stats.studentSeconds = std::chrono::duration<double>(Clock::now() - t1).count();
        return stats;
    }
    at::Tensor studentLogits = studentNet_.forward(x.detach());
    at::Tensor sCe = at::cross_entropy_loss(studentLogits, y);
    at::Tensor kd = kdLoss(studentLogits, targets, options_.temperature);
    at::Tensor lossS = options_.ceWeight * sCe + options_.kdWeight * kd;
    sgd_->zeroGrad();
    lossS.backward();
    sgd_->step(lrS);
    stats.studentCe = sCe.item<double>();
    stats.studentKd = kd.item<double>();
    stats.studentLoss = lossS.item<double>();
    stats.studentTrained = true;
    stats.studentSeconds = std::chrono::duration<double>(Clock::now() - t1).count();
    return stats;
}

at::Tensor Gdfq::studentForward(const at::Tensor& x) {
    torch::NoGradGuard noGrad;
    quantizer_->setCalibrating(false);
    return studentNet_.forward(x);
}

}  // namespace dfq::method
