#include "trainer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include "../data/dataset.h"
#include "../data/evaluator.h"
#include "../error.h"
#include "../method/gdfq.h"
#include "../model/model.h"
#include "../quant/rounding_tracker.h"

namespace dfq::run {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
}

quant::QuantConfig quantConfig(const ExperimentConfig& c) {
    quant::QuantConfig q;
    q.weightBits = static_cast<int>(c.quantWeightBits);
    q.activationBits = static_cast<int>(c.quantActivationBits);
    q.perChannelWeights = c.quantPerChannel;
    q.symmetric = c.quantSymmetric;
    q.firstLast = c.quantFirstLast == "8bit" ? quant::QuantConfig::FirstLast::EightBit
                  : c.quantFirstLast == "fp" ? quant::QuantConfig::FirstLast::FullPrecision
                                             : quant::QuantConfig::FirstLast::Quantized;
    for (const auto& [path, bits] : c.quantLayerBits)
        q.weightBitsOverride[path] = static_cast<int>(bits);
    q.referenceEmaInflation = c.quantReferenceEmaInflation;
    return q;
}

method::GdfqOptions gdfqOptions(const ExperimentConfig& c, const model::ModelMeta& meta) {
    method::GdfqOptions o;
    o.quant = quantConfig(c);
    o.batchSize = c.generatorBatchSize;
    o.latentDim = c.generatorLatentDim;
    o.generatorChannels = c.generatorChannels;
    o.imagenetStyle = c.generatorStyle == "imagenet" ||
                      (c.generatorStyle == "auto" &&
                       gen::GdfqGeneratorImpl::defaultImagenetStyle(meta.inputShape));
    o.adamBeta1 = c.generatorBetas.at(0);
    o.adamBeta2 = c.generatorBetas.at(1);
    o.momentum = c.studentMomentum;
    o.weightDecay = c.studentWeightDecay;
    o.temperature = c.studentTemperature;
    o.kdWeight = c.studentKdWeight;
    o.ceWeight = c.studentCeWeight;
    o.bnsWeight = c.generatorBnsWeight;
    return o;
}

model::ModelMeta resolvedMeta(const model::Model& teacher, const ExperimentConfig& c) {
    model::ModelMeta meta = teacher.meta();
    if (!c.modelInputShape.empty())
        meta.inputShape = c.modelInputShape;
    if (!c.modelMean.empty())
        meta.mean = c.modelMean;
    if (!c.modelStd.empty())
        meta.std = c.modelStd;
    if (c.modelNumClasses > 0)
        meta.numClasses = c.modelNumClasses;
    if (!meta.hasInputShape())
        throw Error(teacher.path() + ": the input shape is unknown; give model.input_shape");
    return meta;
}

// Up to 64 images of the batch, denormalized to uint8 for display, with the teacher's top-k.
SampleBatch sampleBatch(const method::Gdfq& g, const model::ModelMeta& meta, int64_t step) {
    const int64_t n = std::min<int64_t>(64, g.lastImages().size(0));
    at::Tensor x = g.lastImages().narrow(0, 0, n).to(at::kFloat);
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
    at::Tensor labels = g.lastLabels().narrow(0, 0, n).contiguous();
    s.labels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + n);
    at::Tensor probs = at::softmax(g.lastTeacherLogits().narrow(0, 0, n), 1);
    s.topK = std::min<int64_t>(3, probs.size(1));
    auto [values, indices] = probs.topk(s.topK, 1);
    values = values.contiguous();
    indices = indices.contiguous();
    s.topProbs.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
    s.topClasses.assign(indices.data_ptr<int64_t>(), indices.data_ptr<int64_t>() + indices.numel());
    return s;
}

std::vector<double> toVector(const at::Tensor& t) {
    at::Tensor c = t.to(at::kDouble).contiguous();
    return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

double multistepLr(double base, int64_t epoch, const std::vector<int64_t>& milestones,
                   double gamma) {
    double lr = base;
    for (int64_t m : milestones)
        if (epoch + 1 > m)
            lr *= gamma;
    return lr;
}

Trainer::Trainer(const ExperimentConfig& config, std::vector<Observer*> observers)
    : config_(config), observers_(std::move(observers)) {}

RunSummary Trainer::run(RunControl* control) {
    const auto start = Clock::now();
    const ExperimentConfig& c = config_;
    at::manual_seed(static_cast<uint64_t>(c.seed));
    model::Model teacher = model::Model::load(c.resolvedModelPath());
    const model::ModelMeta meta = resolvedMeta(teacher, c);
    teacher.setMeta(meta);

    std::optional<data::Dataset> evalData;
    if (!c.dataPath.empty()) {
        const auto split = c.dataSplit == "train" ? data::Split::Train : data::Split::Test;
        evalData = data::loadDataset(c.resolvedDataPath(), split, meta.inputShape);
        if (c.dataLimit > 0 && c.dataLimit < evalData->size()) {
            evalData->images = evalData->images.narrow(0, 0, c.dataLimit);
            evalData->labels = evalData->labels.narrow(0, 0, c.dataLimit);
        }
    }
    const data::Normalization norm{meta.mean, meta.std};

    method::Gdfq gdfq(teacher, gdfqOptions(c, meta));
    std::vector<std::string> bnNames, quantNames;
    for (const auto& l : teacher.graph()->layers())
        if (l.role == model::LayerRole::BatchNorm)
            bnNames.push_back(l.path);
    for (int idx : gdfq.quantizer().quantizedWeightLayers())
        quantNames.push_back(teacher.graph()->layers()[idx].path);

    const int64_t total = c.scheduleEpochs * c.scheduleIterations;
    for (auto* o : observers_)
        o->onStart(toYaml(c), total);
    auto log = [&](const std::string& line) {
        for (auto* o : observers_)
            o->onLog(line);
    };

    RunSummary summary;
    auto evaluateWith = [&](const data::ForwardFn& fn) {
        return data::evaluate(fn, *evalData, meta.inputShape, norm, c.dataBatchSize);
    };
    if (evalData) {
        model::Interpreter fp(teacher.graph(), &teacher.params());
        summary.fpTop1 = evaluateWith([&](const at::Tensor& x) { return fp.forward(x); }).top1;
        for (auto* o : observers_)
            o->onBaseline("fp", summary.fpTop1);
    }
    auto studentTop1 = [&] {
        return evaluateWith([&](const at::Tensor& x) { return gdfq.studentForward(x); });
    };
    // The PTQ baseline: the quantized student with the ranges calibrated on the generator's
    // warm-up batches, before any student update.
    auto ptqBaseline = [&] {
        if (!evalData || summary.ptqTop1 >= 0)
            return;
        summary.ptqTop1 = studentTop1().top1;
        for (auto* o : observers_)
            o->onBaseline("ptq", summary.ptqTop1);
    };

    quant::RoundingTracker rounding;
    int64_t step = 0;
    const auto loopStart = Clock::now();
    for (int64_t epoch = 0; epoch < c.scheduleEpochs && !summary.cancelled; ++epoch) {
        const double lrG =
            multistepLr(c.generatorLr, epoch, c.scheduleLrMilestones, c.scheduleLrGamma);
        const double lrS =
            multistepLr(c.studentLr, epoch, c.scheduleLrMilestones, c.scheduleLrGamma);
        const bool trainStudent = epoch >= c.scheduleWarmupEpochs;
        const bool calibrate = epoch < c.scheduleCalibrationEpochs;
        if (trainStudent)
            ptqBaseline();
        if (epoch == c.scheduleWarmupEpochs && trainStudent)
            log("epoch " + std::to_string(epoch + 1) + ": warm-up done, the student trains");
        for (int64_t it = 0; it < c.scheduleIterations; ++it, ++step) {
            while (control && control->pause && !control->cancel)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (control && control->cancel) {
                summary.cancelled = true;
                log("cancelled at iteration " + std::to_string(step));
                break;
            }
            const auto s = gdfq.step(trainStudent, calibrate, lrG, lrS);
            if (!std::isfinite(s.generatorLoss) ||
                (s.studentTrained && !std::isfinite(s.studentLoss)))
                throw Error("the run diverged at iteration " + std::to_string(step + 1) +
                            " (a loss is not finite); try lower learning rates");
            IterationStats is;
            is.epoch = epoch;
            is.iteration = it;
            is.step = step;
            is.totalSteps = total;
            is.generatorCe = s.generatorCe;
            is.generatorBns = s.generatorBns;
            is.generatorLoss = s.generatorLoss;
            is.studentCe = s.studentCe;
            is.studentKd = s.studentKd;
            is.studentLoss = s.studentLoss;
            is.studentTrained = s.studentTrained;
            is.calibrating = calibrate;
            is.lrGenerator = lrG;
            is.lrStudent = trainStudent ? lrS : 0.0;
            is.iterationsPerSecond = static_cast<double>(step + 1) / seconds(loopStart);
            is.generatorMs = 1e3 * s.generatorSeconds;
            is.studentMs = 1e3 * s.studentSeconds;
            for (auto* o : observers_)
                o->onIteration(is);

            if (s.studentTrained) {
                auto r = rounding.update(gdfq.quantizer().weightCodes(gdfq.studentParams()));
                RoundingStats rs{step, quantNames, r.perLayer, r.overall};
                for (auto* o : observers_)
                    o->onRounding(rs);
            }
            if (step % 10 == 0) {
                BnMatch bm{step, bnNames, toVector(gdfq.lastBnMeanMse()),
                           toVector(gdfq.lastBnVarMse())};
                for (auto* o : observers_)
                    o->onBnMatch(bm);
            }
            if (step % c.outputSampleEvery == 0) {
                const SampleBatch sb = sampleBatch(gdfq, meta, step);
                for (auto* o : observers_)
                    o->onSamples(sb);
            }
        }
        summary.iterations = step;
        if (evalData && !summary.cancelled) {
            const auto r = studentTop1();
            summary.lastTop1 = r.top1;
            summary.bestTop1 = std::max(summary.bestTop1, r.top1);
            EvalStats es{epoch, step, r.top1, r.top5, summary.bestTop1, r.seconds};
            for (auto* o : observers_)
                o->onEval(es);
        }
    }
    if (!summary.cancelled)
        ptqBaseline();
    summary.wallSeconds = seconds(start);
    for (auto* o : observers_)
        o->onFinish(summary);
    return summary;
}

}  // namespace dfq::run
