#include "gdfq.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <chrono>

#include "../error.h"
#include "losses.h"
#include "scope_guards.h"

namespace dfq::method {

namespace {

// The number of classes: from the metadata, else from one forward pass.
int64_t classCount(const model::Model& teacher, model::Interpreter& interp, c10::Device device) {
    if (teacher.meta().numClasses > 0)
        return teacher.meta().numClasses;
    torch::NoGradGuard noGrad;
    std::vector<int64_t> shape{1};
    shape.insert(shape.end(), teacher.meta().inputShape.begin(), teacher.meta().inputShape.end());
    return interp.forward(at::zeros(shape, at::TensorOptions().device(device))).size(1);
}

// The teacher's classifier: the last conv/linear layer, when it maps a D-vector to the classes
// (a linear layer or a 1x1 convolution). Its index in the graph's layers and its weight as
// [classes, D]; -1 and undefined when there is none.
std::pair<int, at::Tensor> classifierOf(const model::Model& teacher, int64_t classes) {
    const auto& layers = teacher.graph()->layers();
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        if (it->role != model::LayerRole::Conv && it->role != model::LayerRole::Linear)
            continue;
        const at::Tensor w = teacher.params().tensor(static_cast<size_t>(it->weightParam));
        const bool pointwise = w.dim() == 2 || (w.dim() == 4 && w.size(2) == 1 && w.size(3) == 1);
        if (!pointwise || w.size(0) != classes)
            return {-1, {}};
        return {it->index, w.detach().reshape({classes, -1})};
    }
    return {-1, {}};
}

// Records the input of one layer (the teacher's features at its classifier).
struct InputCapture : model::LayerHooks {
    int layer = -1;
    at::Tensor seen;
    at::Tensor input(const model::Layer& l, const at::Tensor& x) override {
        if (l.index == layer)
            seen = x;
        return x;
    }
};

model::ParamStore onDevice(const model::ParamStore& params, c10::Device device) {
    model::ParamStore out;
    for (size_t i = 0; i < params.size(); ++i)
        out.add(params.name(i), params.tensor(i).to(device), params.isBuffer(i));
    return out;
}

}  // namespace

Gdfq::Gdfq(const model::Model& teacher, const GdfqOptions& options)
    : teacherModel_(teacher),
      options_(options),
      teacherOnDevice_(options.device.is_cpu() ? model::ParamStore()
                                               : onDevice(teacher.params(), options.device)),
      teacherParams_(options.device.is_cpu() ? &teacher.params() : &teacherOnDevice_),
      teacher_(teacher.graph(), teacherParams_),
      student_(teacherParams_->clone()),
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
    classes_ = classCount(teacher, teacher_, options.device);
    teacher_.setBnProbe(true);
    studentNet_.setHooks(quantizer_.get());

    // Gradient inundation covers the quantized conv/linear weights, in quantizer order.
    std::vector<int> slotOfParam(student_.size(), -1), bitsOfParam(student_.size(), 0);
    const auto& qLayers = quantizer_->quantizedWeightLayers();
    for (size_t k = 0; k < qLayers.size(); ++k) {
        const auto& layer = teacher.graph()->layers()[qLayers[k]];
        slotOfParam[layer.weightParam] = static_cast<int>(k);
        bitsOfParam[layer.weightParam] = quantizer_->weightBits(layer);
    }
    std::vector<at::Tensor> studentParams;
    for (size_t i = 0; i < student_.size(); ++i) {
        if (student_.isBuffer(i))
            continue;
        student_.tensor(i).requires_grad_(true);
        studentParams.push_back(student_.tensor(i));
        giSlot_.push_back(options.gradientInundation ? slotOfParam[i] : -1);
        giBits_.push_back(bitsOfParam[i]);
    }
    if (options.gradientInundation)
        lastAlphas_.assign(qLayers.size(), 1.0);
    sgd_ = std::make_unique<NesterovSgd>(studentParams, options.momentum, options.weightDecay);

    latentDim_ = options.latentDim;
    auto [classifierLayer, classifier] = classifierOf(teacher, classes_);
    classifierLayer_ = classifierLayer;
    if (options.qimera) {
        if (options.superposeLabels < 1 || options.superposeProb < 0 || options.superposeProb > 1)
            throw Error("Qimera: the superposition needs K >= 1 labels and a probability in 0..1");
        if (classifier.defined())
            latentDim_ = classifier.size(1);
        else if (options.embeddingFromClassifier)
            throw Error(teacher.path() +
                        ": Qimera's label embedding starts from the teacher's classifier, but the "
                        "last conv/linear layer does not map features to the " +
                        std::to_string(classes_) +
                        " classes; use a random embedding (generator.embedding_init: random)");
    }
    buildGenerator(nullptr, classifier);
}

void Gdfq::buildGenerator(const gen::AutoReconArch* derived, const at::Tensor& classifier) {
    const GdfqOptions& options = options_;
    autorecon_.reset();
    archAdam_.reset();
    std::vector<at::Tensor> weights;
    if (options.autorecon) {
        gen::AutoReconGeneratorOptions a;
        a.outputShape = teacherModel_.meta().inputShape;
        a.classes = classes_;
        a.latentDim = latentDim_;
        a.channels = options.autoreconChannels;
        a.search = options.autoreconSearch && !derived;
        a.arch = derived ? *derived : options.autoreconArch;
        autorecon_ = std::make_shared<gen::AutoReconGeneratorImpl>(a);
        generator_ = autorecon_;
        weights = autorecon_->weightParameters();
        if (a.search)
            archAdam_ = std::make_unique<torch::optim::Adam>(
                autorecon_->archParameters(),
                torch::optim::AdamOptions(1e-3).betas({options.adamBeta1, options.adamBeta2}));
    } else {
        gen::GdfqGeneratorOptions g;
        g.outputShape = teacherModel_.meta().inputShape;
        g.classes = classes_;
        g.latentDim = latentDim_;
        g.channels = options.generatorChannels;
        g.imagenetStyle = options.imagenetStyle;
        g.qimera = options.qimera;
        g.noiseScale = options.noiseScale;
        g.mappingDim = options.mappingDim;
        g.referenceNormalization = options.referenceNormalization;
        auto gdfq = std::make_shared<gen::GdfqGeneratorImpl>(g);
        if (options.qimera && options.embeddingFromClassifier)
            gdfq->setEmbedding(classifier.to(at::kFloat));
        generator_ = gdfq;
        weights = generator_->parameters();
    }
    generator_->to(options.device);
    generator_->train();
    adam_ = std::make_unique<torch::optim::Adam>(
        weights,
        torch::optim::AdamOptions(options.lrG).betas({options.adamBeta1, options.adamBeta2}));
}

Gdfq::Latent Gdfq::drawLatent(int64_t b, at::Generator* rng) const {
    const c10::optional<at::Generator> gen =
        rng ? c10::optional<at::Generator>(*rng) : c10::nullopt;
    Latent in;
    const bool superpose = options_.qimera && options_.superposeProb > 0 &&
                           at::rand({1}, gen).item<double>() < options_.superposeProb;
    if (!superpose) {
        in.z = at::randn({b, latentDim_}, gen).to(options_.device);
        in.labels = at::randint(0, classes_, {b}, gen, at::kLong).to(options_.device);
        return in;
    }
    // K labels per sample, uniform with replacement; weights softmax(N(0, 1)); the soft target
    // sums the weights of repeated labels.
    const int64_t k = options_.superposeLabels;
    const at::Tensor labels = at::randint(0, classes_, {b, k}, gen, at::kLong);
    const at::Tensor weights = at::softmax(at::randn({b, k}, gen), 1);
    in.z = at::randn({b, k, latentDim_}, gen).to(options_.device);
    in.labels = labels.to(options_.device);
    in.weights = weights.to(options_.device);
    in.targets = at::zeros({b, classes_}).scatter_add_(1, labels, weights).to(options_.device);
    return in;
}

Gdfq::GeneratorPass Gdfq::generatorPass(const Latent& in) {
    GeneratorPass p;
    // The label each sample is asked for: its heaviest component when superposed.
    p.labels =
        in.superposed() ? in.labels.gather(1, in.weights.argmax(1, true)).squeeze(1) : in.labels;
    p.images = generator_->forward(in.z, in.labels, in.weights);
    p.teacherLogits = teacher_.forward(p.images);
    p.bns = bnsLoss(*teacherModel_.graph(), *teacherParams_, teacher_.bnStats());
    p.ce = crossEntropy(in, p.labels, p.teacherLogits);
    p.loss = p.ce + options_.bnsWeight * p.bns.loss;
    return p;
}

at::Tensor Gdfq::crossEntropy(const Latent& in, const at::Tensor& labels,
                              const at::Tensor& logits) const {
    return in.superposed() ? softCrossEntropy(logits, in.targets)
                           : at::cross_entropy_loss(logits, labels);
}

void Gdfq::remember(const Latent& in, const GeneratorPass& p, GdfqStepStats& stats) {
    stats.superposed = in.superposed();
    stats.generatorCe = p.ce.item<double>();
    stats.generatorBns = p.bns.loss.item<double>();
    stats.generatorLoss = p.loss.item<double>();
    stats.teacherClasses = at::bincount(p.teacherLogits.detach().argmax(1).cpu(), {}, classes_)
                               .gt(0)
                               .sum()
                               .item<int64_t>();
    lastImages_ = p.images.detach();
    lastLabels_ = p.labels;
    lastMix_ = in.superposed() ? in : Latent{};
    lastTeacherLogits_ = p.teacherLogits.detach();
    lastBnMeanMse_ = p.bns.meanMse;
    lastBnVarMse_ = p.bns.varMse;
    lastBnStats_.clear();
    for (const auto& st : teacher_.bnStats())
        lastBnStats_.push_back({st.mean.detach(), st.var.detach()});
}

namespace {

void setLr(torch::optim::Adam& adam, double lr) {
    for (auto& group : adam.param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

}  // namespace

GdfqStepStats Gdfq::step(bool trainStudent, bool calibrate, double lrG, double lrS) {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    GdfqStepStats stats;
    const Latent in = drawLatent(options_.batchSize);

    // Generator step: one teacher pass, whose logits also serve as the student's targets.
    const GeneratorPass g = generatorPass(in);
    setLr(*adam_, lrG);
    adam_->zero_grad();
    g.loss.backward();
    adam_->step();
    remember(in, g, stats);
    const auto t1 = Clock::now();
    stats.generatorSeconds = std::chrono::duration<double>(t1 - t0).count();

    // Student step on the batch made before the generator moved.
    quantizer_->setCalibrating(calibrate);
    const at::Tensor& x = g.images;
    const at::Tensor targets = lastTeacherLogits_;
    if (!trainStudent) {
        torch::NoGradGuard noGrad;
        if (calibrate)
            studentNet_.forward(x.detach());
        stats.studentSeconds = std::chrono::duration<double>(Clock::now() - t1).count();
        return stats;
    }
    at::Tensor studentLogits = studentNet_.forward(x.detach());
    at::Tensor sCe = crossEntropy(in, g.labels, studentLogits);
    at::Tensor kd = kdLoss(studentLogits, targets, options_.temperature);
    at::Tensor lossS = options_.ceWeight * sCe + options_.kdWeight * kd;
    sgd_->zeroGrad();
    lossS.backward();
    if (options_.gradientInundation) {
        lastCapped_ = 0;
        sgd_->step(lrS, [&](const std::vector<at::Tensor>& params,
                            const std::vector<at::Tensor>& directions) {
            std::vector<double> scale(params.size(), 1.0);
            std::vector<AlphaTask> tasks;
            std::vector<size_t> which;
            for (size_t i = 0; i < params.size(); ++i) {
                if (giSlot_[i] < 0 || !directions[i].defined())
                    continue;
                AlphaSearch search = options_.alphaSearch;
                search.bits = giBits_[i];
                tasks.push_back({params[i], directions[i], search});
                which.push_back(i);
            }
            const std::vector<AlphaResult> found = findAlphas(tasks, lrS);
            for (size_t k = 0; k < which.size(); ++k) {
                lastAlphas_[giSlot_[which[k]]] = found[k].alpha;
                lastCapped_ += found[k].capped;
                scale[which[k]] = found[k].alpha;
            }
            return scale;
        });
    } else {
        sgd_->step(lrS);
    }
    stats.studentCe = sCe.item<double>();
    stats.studentKd = kd.item<double>();
    stats.studentLoss = lossS.item<double>();
    stats.studentTrained = true;
    stats.studentSeconds = std::chrono::duration<double>(Clock::now() - t1).count();
    return stats;
}

GdfqStepStats Gdfq::searchStep(double lrG, double lrArch, double tau) {
    if (!searching())
        throw Error("the AutoReCon architecture search has ended (or this run does not search)");
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    autorecon_->setTemperature(tau);
    GdfqStepStats stats;
    // Weight step on a training batch.
    const Latent train = drawLatent(options_.batchSize);
    const GeneratorPass w = generatorPass(train);
    setLr(*adam_, lrG);
    adam_->zero_grad();
    archAdam_->zero_grad();
    w.loss.backward();
    adam_->step();
    remember(train, w, stats);
    // Architecture step on a fresh validation batch.
    const Latent val = drawLatent(options_.batchSize);
    const GeneratorPass a = generatorPass(val);
    setLr(*archAdam_, lrArch);
    adam_->zero_grad();
    archAdam_->zero_grad();
    a.loss.backward();
    archAdam_->step();
    stats.generatorSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return stats;
}

gen::AutoReconArch Gdfq::deriveArchitecture() {
    const gen::AutoReconArch arch = architecture();
    if (searching())
        buildGenerator(&arch, {});
    return arch;
}

std::array<at::Tensor, 3> Gdfq::architectureProbabilities() const {
    return searching() ? autorecon_->probabilities() : std::array<at::Tensor, 3>{};
}

gen::AutoReconArch Gdfq::architecture() const {
    return autorecon_ ? autorecon_->derived() : gen::AutoReconArch{};
}

void Gdfq::setInundation(double threshold, bool firstEpochCap) {
    options_.alphaSearch.threshold = threshold;
    options_.alphaSearch.firstEpochCap = firstEpochCap;
}

void Gdfq::calibrateActivations(int64_t batches, quant::Calibration method, uint64_t seed) {
    torch::NoGradGuard noGrad;
    auto& trackers = quantizer_->activationRanges();
    if (trackers.empty() || batches <= 0)
        return;
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<quant::ActivationStats> stats(trackers.size());
    {
        const BufferRestore keepGenerator(*generator_);
        quantizer_->setCollector(&stats, &rng);
        const ScopeExit stopCollecting([&] { quantizer_->setCollector(nullptr, nullptr); });
        const int64_t b = options_.batchSize;
        for (int64_t i = 0; i < batches; ++i) {
            const Latent in = drawLatent(b, &rng);
            studentNet_.forward(generator_->forward(in.z, in.labels, in.weights));
        }
    }
    const int bits = options_.quant.activationBits;
    for (size_t t = 0; t < trackers.size(); ++t) {
        const auto [lo, hi] = stats[t].range(method, bits);
        trackers[t].setRange(lo, hi);
    }
}

std::vector<std::array<double, 3>> Gdfq::boundarySweep(int64_t a, int64_t b, int steps,
                                                       int64_t samples, uint64_t seed) {
    if (!options_.qimera)
        throw Error("the boundary sweep needs Qimera's generator (method.generator: qimera)");
    if (a < 0 || b < 0 || a >= classes_ || b >= classes_ || steps < 2 || samples < 1)
        throw Error("the boundary sweep needs two classes in 0.." + std::to_string(classes_ - 1) +
                    ", at least 2 steps and 1 sample");
    torch::NoGradGuard noGrad;
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    const BufferRestore keepGenerator(*generator_);
    const at::Tensor z = at::randn({samples, 2, latentDim_}, rng).to(options_.device);
    const at::Tensor labels =
        at::tensor({a, b}, at::kLong).repeat({samples, 1}).to(options_.device);
    std::vector<std::array<double, 3>> out;
    for (int i = 0; i < steps; ++i) {
        const double t = static_cast<double>(i) / (steps - 1);
        const at::Tensor w =
            at::tensor({static_cast<float>(1 - t), static_cast<float>(t)}).repeat({samples, 1});
        const at::Tensor p =
            at::softmax(teacher_.forward(generator_->forward(z, labels, w.to(options_.device))), 1);
        const at::Tensor mean = p.mean(0).cpu();
        out.push_back({t, mean[a].item<double>(), mean[b].item<double>()});
    }
    return out;
}

at::Tensor Gdfq::teacherFeatures(const at::Tensor& x) {
    if (classifierLayer_ < 0)
        return {};
    torch::NoGradGuard noGrad;
    InputCapture capture;
    capture.layer = classifierLayer_;
    {
        teacher_.setHooks(&capture);
        const ScopeExit unhook([&] { teacher_.setHooks(nullptr); });
        teacher_.forward(x.to(options_.device));
    }
    return capture.seen.reshape({x.size(0), -1}).to(at::kCPU, at::kFloat);
}

std::pair<at::Tensor, at::Tensor> Gdfq::synthesize(int64_t n, bool superposed, uint64_t seed) {
    if (superposed && !options_.qimera)
        throw Error("boundary samples need Qimera's generator (method.generator: qimera)");
    torch::NoGradGuard noGrad;
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    const BufferRestore keepGenerator(*generator_);
    at::Tensor labels = at::arange(n, at::kLong).remainder(classes_);
    at::Tensor x;
    if (superposed) {
        const at::Tensor pair = at::stack(
            {labels,
             (labels + 1 + at::randint(0, std::max<int64_t>(classes_ - 1, 1), {n}, rng, at::kLong))
                 .remainder(classes_)},
            1);
        const at::Tensor w = at::softmax(at::randn({n, 2}, rng), 1);
        const at::Tensor z = at::randn({n, 2, latentDim_}, rng).to(options_.device);
        x = generator_->forward(z, pair.to(options_.device), w.to(options_.device));
        labels = pair.gather(1, w.argmax(1, true)).squeeze(1);
    } else {
        const at::Tensor z = at::randn({n, latentDim_}, rng).to(options_.device);
        x = generator_->forward(z, labels.to(options_.device));
    }
    return {x, labels};
}

analysis::LayerProbeResult Gdfq::probeLayers(const at::Tensor& images) {
    if (!probe_)
        probe_ = std::make_unique<analysis::LayerProbe>(*teacherModel_.graph(), *quantizer_);
    const bool calibrating = quantizer_->calibrating();
    quantizer_->setCalibrating(false);
    const ScopeExit restore([&] { quantizer_->setCalibrating(calibrating); });
    return probe_->probe(teacher_, studentNet_, quantizer_.get(), *teacherParams_,
                         images.to(options_.device));
}

at::Tensor Gdfq::studentForward(const at::Tensor& x) {
    torch::NoGradGuard noGrad;
    quantizer_->setCalibrating(false);
    return studentNet_.forward(x.to(options_.device)).cpu();
}

at::Tensor Gdfq::teacherForward(const at::Tensor& x) {
    torch::NoGradGuard noGrad;
    return teacher_.forward(x.to(options_.device)).cpu();
}

namespace {

void writeCount(torch::serialize::OutputArchive& a, const std::string& key, size_t n) {
    a.write(key, c10::IValue(static_cast<int64_t>(n)));
}

void checkCount(torch::serialize::InputArchive& a, const std::string& key, size_t expected) {
    c10::IValue v;
    a.read(key, v);
    if (v.toInt() != static_cast<int64_t>(expected))
        throw Error("the checkpoint does not fit this run: " + key + " is " +
                    std::to_string(v.toInt()) + ", this run has " + std::to_string(expected));
}

}  // namespace

void Gdfq::saveState(torch::serialize::OutputArchive& archive) const {
    torch::NoGradGuard noGrad;
    torch::serialize::OutputArchive gen, adam, student, sgd;
    generator_->save(gen);
    adam_->save(adam);
    writeCount(student, "count", student_.size());
    for (size_t i = 0; i < student_.size(); ++i)
        student.write("p" + std::to_string(i), student_.tensor(i).detach().cpu());
    const auto& buffers = sgd_->momentumBuffers();
    writeCount(sgd, "count", buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i)
        if (buffers[i].defined())
            sgd.write("m" + std::to_string(i), buffers[i].cpu(), true);
    const auto& trackers = quantizer_->activationRanges();
    at::Tensor ranges = at::zeros({static_cast<int64_t>(trackers.size()), 5}, at::kDouble);
    for (size_t i = 0; i < trackers.size(); ++i) {
        const auto st = trackers[i].state();
        const double row[5] = {st.lo, st.hi, st.beta, static_cast<double>(st.updates),
                               st.frozen ? 1.0 : 0.0};
        for (int j = 0; j < 5; ++j)
            ranges[static_cast<int64_t>(i)][j] = row[j];
    }
    archive.write("generator", gen);
    archive.write("adam", adam);
    if (autorecon_) {
        // Whether the search was still on, and the architecture searched or in use.
        archive.write("autorecon_search", c10::IValue(searching()));
        archive.write("autorecon_arch", c10::IValue(architecture().toString()));
        if (searching()) {
            torch::serialize::OutputArchive arch;
            archAdam_->save(arch);
            archive.write("arch_adam", arch);
        }
    }
    archive.write("student", student);
    archive.write("sgd", sgd);
    archive.write("activation_ranges", ranges, true);
}

void Gdfq::loadState(torch::serialize::InputArchive& archive) {
    torch::NoGradGuard noGrad;
    torch::serialize::InputArchive gen, adam, student, sgd;
    archive.read("generator", gen);
    archive.read("adam", adam);
    archive.read("student", student);
    archive.read("sgd", sgd);
    if (autorecon_) {
        c10::IValue search, arch;
        if (!archive.try_read("autorecon_search", search) ||
            !archive.try_read("autorecon_arch", arch))
            throw Error("the checkpoint does not fit this run: it has no AutoReCon generator");
        if (searching() && !search.toBool()) {
            const gen::AutoReconArch derived = gen::AutoReconArch::parse(arch.toStringRef());
            buildGenerator(&derived, {});
        }
        if (searching()) {
            torch::serialize::InputArchive archAdam;
            archive.read("arch_adam", archAdam);
            archAdam_->load(archAdam);
        }
    }
    try {
        generator_->load(gen);
    } catch (const c10::Error& e) {
        throw Error("the checkpoint's generator does not fit this run (" +
                    std::string(e.what_without_backtrace()) + ")");
    }
    generator_->to(options_.device);
    adam_->load(adam);
    checkCount(student, "count", student_.size());
    for (size_t i = 0; i < student_.size(); ++i) {
        at::Tensor t;
        student.read("p" + std::to_string(i), t);
        if (!t.sizes().equals(student_.tensor(i).sizes()))
            throw Error("the checkpoint does not fit this run: " + student_.name(i) +
                        " has shape " + c10::str(t.sizes()));
        student_.tensor(i).copy_(t);
    }
    std::vector<at::Tensor> buffers = sgd_->momentumBuffers();
    checkCount(sgd, "count", buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
        at::Tensor m;
        if (sgd.try_read("m" + std::to_string(i), m, true))
            buffers[i] = m.to(options_.device);
    }
    sgd_->setMomentumBuffers(std::move(buffers));
    at::Tensor ranges;
    archive.read("activation_ranges", ranges, true);
    auto& trackers = quantizer_->activationRanges();
    if (ranges.size(0) != static_cast<int64_t>(trackers.size()))
        throw Error("the checkpoint does not fit this run: it has " +
                    std::to_string(ranges.size(0)) + " activation ranges, this run " +
                    std::to_string(trackers.size()));
    auto r = ranges.accessor<double, 2>();
    for (size_t i = 0; i < trackers.size(); ++i) {
        const auto k = static_cast<int64_t>(i);
        trackers[i].setState(
            {r[k][0], r[k][1], r[k][2], static_cast<int64_t>(r[k][3]), r[k][4] != 0.0});
    }
}

}  // namespace dfq::method
