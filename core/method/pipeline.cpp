#include "pipeline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <chrono>
#include <vector>

#include "../error.h"
#include "../precision.h"
#include "scope_guards.h"

namespace dfq::method {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Scalars read back in one device-to-host transfer (on a GPU each .item() waits for the device).
std::vector<double> toHost(const std::vector<at::Tensor>& scalars) {
    std::vector<at::Tensor> d;
    for (const at::Tensor& t : scalars)
        d.push_back(t.detach().to(at::kDouble));
    const at::Tensor host = at::stack(d).cpu();
    const double* p = host.data_ptr<double>();
    return {p, p + host.numel()};
}

}  // namespace

std::vector<at::Tensor> GeneratorRecipe::boundaryImages(int64_t, int64_t,
                                                        const std::vector<double>&, int64_t,
                                                        at::Generator&) {
    throw Error("the boundary sweep needs Qimera's generator (method.generator: qimera)");
}

Pipeline::Pipeline(std::unique_ptr<MethodContext> context,
                   std::unique_ptr<GeneratorRecipe> generator,
                   std::unique_ptr<StudentRecipe> student)
    : ctx_(std::move(context)), generator_(std::move(generator)), student_(std::move(student)) {}

void Pipeline::remember(const GeneratorStep& g, StepStats& stats) {
    stats.superposed = g.batch.superposed();
    const at::Tensor classes =
        at::bincount(g.teacherLogits.argmax(1), {}, ctx_->classes()).gt(0).sum();
    const std::vector<double> n = toHost({g.ce, g.bns.loss, g.loss, classes});
    stats.generatorCe = n[0];
    stats.generatorBns = n[1];
    stats.generatorLoss = n[2];
    stats.teacherClasses = static_cast<int64_t>(n[3]);
    last_ = g.batch;
    last_.images = asFloat(g.batch.images.detach());
    lastTeacherLogits_ = g.teacherLogits;
    lastBnMeanMse_ = g.bns.meanMse;
    lastBnVarMse_ = g.bns.varMse;
    lastBnStats_ = g.bnStats;
}

StepStats Pipeline::step(bool trainStudent, bool calibrate, double lrG, double lrS) {
    const auto t0 = Clock::now();
    StepStats stats;
    // Generator step: one teacher pass, whose logits also serve as the student's targets.
    const GeneratorStep g = [&] {
        const AutocastScope autocast(ctx_->computeType(), ctx_->device());
        return generator_->train(lrG);
    }();
    remember(g, stats);
    stats.generatorSeconds = since(t0);

    // Student step on the batch made before the generator moved.
    const auto t1 = Clock::now();
    ctx_->quantizer().setCalibrating(calibrate);
    if (!trainStudent) {
        torch::NoGradGuard noGrad;
        if (calibrate)
            ctx_->studentLogits(asFloat(g.batch.images.detach()));
        stats.studentSeconds = since(t1);
        return stats;
    }
    // The student step stays fp32 under every precision: in bf16 its small late updates
    // (learning rate 2e-5 on the demo) drown in rounding, and its last top-1 fell by 1.4-1.5
    // points over three seeds, for a fifth of the iteration's time.
    Synthetic batch = g.batch;
    batch.images = asFloat(batch.images);
    const StudentStep s = student_->train(batch, lastTeacherLogits_, lrS);
    if (emaDecay_ > 0)
        updateAverage();
    const std::vector<double> n =
        s.cam.defined() ? toHost({s.ce, s.kd, s.loss, s.cam}) : toHost({s.ce, s.kd, s.loss});
    stats.studentCe = n[0];
    stats.studentKd = n[1];
    if (s.cam.defined())
        stats.studentCam = n[3];
    stats.studentLoss = n[2];
    stats.studentTrained = true;
    stats.studentSeconds = since(t1);
    return stats;
}

void Pipeline::updateAverage() {
    torch::NoGradGuard noGrad;
    const auto& params = ctx_->trainable();
    const double decay = std::min(emaDecay_, (1.0 + static_cast<double>(emaSteps_)) /
                                                 (10.0 + static_cast<double>(emaSteps_)));
    ++emaSteps_;
    if (ema_.empty()) {
        for (const at::Tensor& p : params)
            ema_.push_back(p.detach().clone());
        return;
    }
    for (size_t i = 0; i < params.size(); ++i)
        ema_[i].mul_(decay).add_(params[i].detach(), 1 - decay);
}

void Pipeline::withAveragedWeights(const std::function<void()>& fn) {
    if (ema_.empty()) {
        fn();
        return;
    }
    const auto& params = ctx_->trainable();
    std::vector<at::Tensor> live;
    {
        torch::NoGradGuard noGrad;
        for (size_t i = 0; i < params.size(); ++i) {
            live.push_back(params[i].detach().clone());
            params[i].detach().copy_(ema_[i]);
        }
    }
    const ScopeExit restore([&] {
        torch::NoGradGuard noGrad;
        for (size_t i = 0; i < params.size(); ++i)
            params[i].detach().copy_(live[i]);
    });
    fn();
}

void Pipeline::adoptAveragedWeights() {
    torch::NoGradGuard noGrad;
    const auto& params = ctx_->trainable();
    for (size_t i = 0; i < ema_.size(); ++i)
        params[i].detach().copy_(ema_[i]);
}

StepStats Pipeline::searchStep(double lrG, int64_t epoch) {
    ArchitectureSearch* search = generator_->search();
    if (!search || !search->searching())
        throw Error("the architecture search has ended (or this run does not search)");
    const auto t0 = Clock::now();
    StepStats stats;
    {
        const AutocastScope autocast(ctx_->computeType(), ctx_->device());
        remember(search->searchStep(lrG, epoch), stats);
    }
    stats.generatorSeconds = since(t0);
    return stats;
}

double Pipeline::timeStudentPass() {
    if (!last_.images.defined())
        return -1;
    const auto t0 = Clock::now();
    auto& quantizer = ctx_->quantizer();
    const bool calibrating = quantizer.calibrating();
    quantizer.setCalibrating(false);
    const ScopeExit restore([&] { quantizer.setCalibrating(calibrating); });
    {
        const at::Tensor logits = ctx_->studentLogits(last_.images);
        const at::Tensor loss = at::log_softmax(logits, 1).mean();
        torch::autograd::grad({loss}, ctx_->trainable(), {}, /*retain_graph=*/false,
                              /*create_graph=*/false, /*allow_unused=*/true);
    }
    torch::NoGradGuard noGrad;
    quantizer.weightCodes(ctx_->studentParams());
    return since(t0);
}

void Pipeline::calibrateActivations(int64_t batches, quant::Calibration method, uint64_t seed) {
    torch::NoGradGuard noGrad;
    auto& quantizer = ctx_->quantizer();
    auto& trackers = quantizer.activationRanges();
    if (trackers.empty() || batches <= 0)
        return;
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<quant::ActivationStats> stats(trackers.size());
    {
        quantizer.setCollector(&stats, &rng);
        const ScopeExit stopCollecting([&] { quantizer.setCollector(nullptr, nullptr); });
        for (int64_t i = 0; i < batches; ++i)
            ctx_->studentLogits(generator_->calibrationBatch(ctx_->batchSize(), rng));
    }
    const int bits = quantizer.config().activationBits;
    for (size_t t = 0; t < trackers.size(); ++t) {
        const auto [lo, hi] = stats[t].range(method, bits);
        trackers[t].setRange(lo, hi);
    }
}

std::vector<std::array<double, 3>> Pipeline::boundarySweep(int64_t a, int64_t b, int steps,
                                                           int64_t samples, uint64_t seed) {
    if (!generator_->boundarySamples())
        throw Error("the boundary sweep needs Qimera's generator (method.generator: qimera)");
    const int64_t classes = ctx_->classes();
    if (a < 0 || b < 0 || a >= classes || b >= classes || steps < 2 || samples < 1)
        throw Error("the boundary sweep needs two classes in 0.." + std::to_string(classes - 1) +
                    ", at least 2 steps and 1 sample");
    torch::NoGradGuard noGrad;
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<double> t;
    for (int i = 0; i < steps; ++i)
        t.push_back(static_cast<double>(i) / (steps - 1));
    const std::vector<at::Tensor> images = generator_->boundaryImages(a, b, t, samples, rng);
    std::vector<std::array<double, 3>> out;
    for (size_t i = 0; i < t.size(); ++i) {
        const at::Tensor mean = at::softmax(ctx_->teacherForward(images[i]), 1).mean(0);
        out.push_back({t[i], mean[a].item<double>(), mean[b].item<double>()});
    }
    return out;
}

std::pair<at::Tensor, at::Tensor> Pipeline::synthesize(int64_t n, bool superposed, uint64_t seed) {
    torch::NoGradGuard noGrad;
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    Synthetic s = generator_->synthesize(n, superposed, rng);
    return {s.images, s.labels};
}

void Pipeline::saveState(torch::serialize::OutputArchive& archive) const {
    torch::NoGradGuard noGrad;
    generator_->save(archive);
    ctx_->save(archive);
    student_->save(archive);
    if (!ema_.empty()) {
        torch::serialize::OutputArchive ema;
        writeCount(ema, "count", ema_.size());
        ema.write("steps", c10::IValue(emaSteps_));
        for (size_t i = 0; i < ema_.size(); ++i)
            ema.write("w" + std::to_string(i), ema_[i].cpu(), true);
        archive.write("weight_average", ema);
    }
}

void Pipeline::loadState(torch::serialize::InputArchive& archive) {
    torch::NoGradGuard noGrad;
    generator_->load(archive);
    ctx_->load(archive);
    student_->load(archive);
    torch::serialize::InputArchive ema;
    ema_.clear();
    emaSteps_ = 0;
    if (!archive.try_read("weight_average", ema))
        return;
    const auto& params = ctx_->trainable();
    checkCount(ema, "count", params.size());
    c10::IValue steps;
    ema.read("steps", steps);
    emaSteps_ = steps.toInt();
    for (size_t i = 0; i < params.size(); ++i) {
        at::Tensor w;
        ema.read("w" + std::to_string(i), w, true);
        ema_.push_back(w.to(params[i].device()));
    }
}

}  // namespace dfq::method
