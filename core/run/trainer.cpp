#include "trainer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>

#include "../data/dataset.h"
#include "../data/evaluator.h"
#include "../data/preprocess.h"
#include "../device.h"
#include "../error.h"
#include "../method/gdfq.h"
#include "../model/model.h"
#include "../quant/calibration.h"
#include "../quant/rounding_tracker.h"
#include "../runtime.h"
#include "../sha256.h"
#include "checkpoint.h"
#include "collapse_monitor.h"
#include "run_setup.h"

namespace dfq::run {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
}

// Up to 64 images of the batch, denormalized to uint8 for display, with the teacher's top-k.
SampleBatch sampleBatch(const method::Gdfq& g, const model::ModelMeta& meta, int64_t step) {
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
    if (g.lastMixLabels().defined()) {
        const at::Tensor mix = g.lastMixLabels().narrow(0, 0, n).cpu().contiguous();
        const at::Tensor w =
            g.lastMixWeights().narrow(0, 0, n).to(at::kCPU, at::kFloat).contiguous();
        s.mixK = mix.size(1);
        s.mixLabels.assign(mix.data_ptr<int64_t>(), mix.data_ptr<int64_t>() + mix.numel());
        s.mixWeights.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    }
    return s;
}

std::vector<double> toVector(const at::Tensor& t) {
    at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
    return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

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

BnMatch bnMatch(const method::Gdfq& g, int64_t step, const std::vector<std::string>& names,
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

ArchitectureStats architectureStats(const method::Gdfq& g, int64_t step, double tau) {
    using gen::AutoReconArch;
    ArchitectureStats a;
    a.step = step;
    a.temperature = tau;
    a.architecture = g.architecture().toString();
    const auto probs = g.architectureProbabilities();
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
FeatureMap featureMap(method::Gdfq& g, const std::optional<data::Dataset>& real,
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
    if (g.options().qimera) {
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

}  // namespace

double multistepLr(double base, int64_t epoch, const std::vector<int64_t>& milestones,
                   double gamma) {
    double lr = base;
    for (int64_t m : milestones)
        if (epoch + 1 > m)
            lr *= gamma;
    return lr;
}

Trainer::Trainer(const ExperimentConfig& config, std::vector<Observer*> observers,
                 TrainerFiles files)
    : config_(config), observers_(std::move(observers)), files_(std::move(files)) {}

RunSummary Trainer::run(RunControl* control) {
    const auto start = Clock::now();
    const ExperimentConfig& c = config_;
    const std::string configYaml = toYaml(c);
    RunSummary summary;
    int64_t step = 0;
    double wallBefore = 0;
    bool started = false;
    auto log = [&](const std::string& line) {
        for (auto* o : observers_)
            o->onLog(line);
    };
    // Every observer hears the end, even when one of them fails (a full disk under summary.json):
    // their errors are returned, joined, for the caller to report.
    auto finish = [&](const std::string& status, const std::string& error) {
        summary.status = status;
        summary.error = error;
        summary.iterations = step;
        summary.wallSeconds = wallBefore + seconds(start);
        std::string failures;
        for (auto* o : observers_) {
            try {
                o->onFinish(summary);
            } catch (const std::exception& e) {
                failures += std::string(failures.empty() ? "" : "; ") + e.what();
            }
        }
        return failures;
    };

    try {
        at::manual_seed(static_cast<uint64_t>(c.seed));
        model::Model teacher = model::Model::load(c.resolvedModelPath());
        const std::string modelSha = sha256File(teacher.path());
        const model::ModelMeta meta = resolvedMeta(teacher, c);
        teacher.setMeta(meta);

        std::optional<data::Dataset> evalData;
        if (!c.dataPath.empty()) {
            std::string note;
            evalData = loadEvalData(c, meta, note);
            if (!note.empty())
                log("data: " + note);
        }
        const data::Normalization norm{meta.mean, meta.std};

        method::Gdfq gdfq(teacher, gdfqOptions(c, meta));
        std::vector<std::string> bnNames, quantNames;
        std::vector<const model::Layer*> bnLayers;
        for (const auto& l : teacher.graph()->layers())
            if (l.role == model::LayerRole::BatchNorm) {
                bnNames.push_back(l.path);
                bnLayers.push_back(&l);
            }
        for (int idx : gdfq.quantizer().quantizedWeightLayers())
            quantNames.push_back(teacher.graph()->layers()[idx].path);
        const std::vector<int> channelLayers = bnChannelLayers(c, bnLayers, teacher.params());

        summary.modelSha256 = modelSha;
        if (!files_.resumeFrom.empty()) {
            const ResumeState r = loadCheckpoint(files_.resumeFrom, configYaml, modelSha, gdfq);
            step = r.step;
            wallBefore = r.wallSeconds;
            summary = r.summary;
            summary.modelSha256 = modelSha;
            for (auto* o : observers_)
                o->onResume(step, summary);
        }

        const int64_t searchSteps =
            c.methodGenerator == "autorecon" && c.autoreconArchitecture == "search"
                ? c.autoreconSearchEpochs * c.scheduleIterations
                : 0;
        const int64_t total = searchSteps + c.scheduleEpochs * c.scheduleIterations;
        const std::string provenance = "# " + versionString() + "\n# model: " + teacher.path() +
                                       "\n# model sha256: " + modelSha +
                                       "\n# device: " + gdfq.options().device.str() + "\n";
        for (auto* o : observers_)
            o->onStart(provenance + configYaml, total);
        started = true;
        log("device: " + gdfq.options().device.str());
        if (step > 0)
            log("resumed at iteration " + std::to_string(step));
        auto saveCheckpoint = [&] {
            if (!files_.checkpoint.empty())
                writeCheckpoint(files_.checkpoint, configYaml, modelSha, gdfq, step, summary,
                                wallBefore + seconds(start));
        };
        CollapseMonitor collapse(gdfq.classes(), c.generatorBatchSize);
        // Each kind of warning once per run, a resumed run included.
        auto warn = [&](const std::string& w) {
            const std::string kind = w.substr(0, w.find(':'));
            for (const auto& earlier : summary.warnings)
                if (earlier.substr(0, earlier.find(':')) == kind)
                    return;
            summary.warnings.push_back(w);
            log("warning: " + w);
        };

        auto evaluateWith = [&](const data::ForwardFn& fn) {
            return data::evaluate(fn, *evalData, meta.inputShape, norm, c.dataBatchSize);
        };
        if (evalData && summary.fpTop1 < 0) {
            summary.fpTop1 =
                evaluateWith([&](const at::Tensor& x) { return gdfq.teacherForward(x); }).top1;
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

        // Calibration protocols other than the EMA set the ranges from a fixed calibration set
        // at the end of each calibration epoch, or once before training when there are none.
        const quant::Calibration calibration = quant::parseCalibration(c.quantCalibration);
        auto calibrateFromFixedSet = [&] {
            const auto t0 = Clock::now();
            gdfq.calibrateActivations(c.quantCalibrationBatches, calibration,
                                      static_cast<uint64_t>(c.seed) + 0x9E3779B97F4A7C15ULL);
            char secs[32];
            std::snprintf(secs, sizeof secs, "%.1f", seconds(t0));
            log("activation ranges set from " + std::to_string(c.quantCalibrationBatches) +
                " generator batches (" + c.quantCalibration + ", " + secs + " s)");
        };

        // Waits while paused; true (and logged) when the run is to stop before this step.
        auto stopRequested = [&] {
            while (control && control->pause && !control->cancel)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (!control || !control->cancel)
                return false;
            log("cancelled at iteration " + std::to_string(step));
            return true;
        };
        // The fields a search step and a training step report alike.
        auto iterationStats = [&](int64_t epoch, int64_t it, const method::GdfqStepStats& st) {
            IterationStats is;
            is.epoch = epoch;
            is.iteration = it;
            is.step = step;
            is.totalSteps = total;
            is.generatorCe = st.generatorCe;
            is.generatorBns = st.generatorBns;
            is.generatorLoss = st.generatorLoss;
            is.generatorMs = 1e3 * st.generatorSeconds;
            return is;
        };

        // AutoReCon's architecture search, before the schedule: its steps come first in the
        // run's step count; the architecture is derived at its end.
        bool cancelled = false;
        const int64_t searchResumedAt = step;
        const auto searchStart = Clock::now();
        if (gdfq.searching() && step == 0)
            log("architecture search: " + std::to_string(c.autoreconSearchEpochs) + " epochs of " +
                std::to_string(c.scheduleIterations) + " iterations");
        while (gdfq.searching() && step < searchSteps && !cancelled) {
            const int64_t epoch = step / c.scheduleIterations;
            const double tau =
                c.autoreconTemperature * std::exp(-c.autoreconTemperatureDecay * epoch);
            for (int64_t it = step % c.scheduleIterations; it < c.scheduleIterations;
                 ++it, ++step) {
                if ((cancelled = stopRequested()))
                    break;
                const auto s = gdfq.searchStep(c.generatorLr, c.autoreconArchLr, tau);
                if (!std::isfinite(s.generatorLoss)) {
                    const std::string msg = "the architecture search diverged at iteration " +
                                            std::to_string(step + 1) +
                                            "; try a lower autorecon.arch_lr or generator.lr";
                    log(msg);
                    const std::string failures = finish("diverged", msg);
                    if (!failures.empty())
                        throw Error(failures);
                    return summary;
                }
                IterationStats is = iterationStats(epoch, it, s);
                is.lrGenerator = c.generatorLr;
                is.iterationsPerSecond =
                    static_cast<double>(step + 1 - searchResumedAt) / seconds(searchStart);
                for (auto* o : observers_)
                    o->onIteration(is);
                if (step % 10 == 0 || step + 1 == searchSteps) {
                    const ArchitectureStats as = architectureStats(gdfq, step, tau);
                    for (auto* o : observers_)
                        o->onArchitecture(as);
                }
                if (step % c.outputBnEvery == 0) {
                    const BnMatch bm =
                        bnMatch(gdfq, step, bnNames, bnLayers, channelLayers, teacher.params());
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
            if (!cancelled && step == searchSteps) {
                // The last search step reported the probabilities; this only fixes the result.
                ArchitectureStats as;
                as.step = step - 1;
                as.temperature = tau;
                as.architecture = gdfq.deriveArchitecture().toString();
                as.final = true;
                log("architecture search done; derived: " + as.architecture);
                for (auto* o : observers_)
                    o->onArchitecture(as);
            }
            saveCheckpoint();
        }
        if (!cancelled && gdfq.options().autorecon && !gdfq.options().autoreconSearch &&
            step == 0) {
            ArchitectureStats as;
            as.architecture = gdfq.architecture().toString();
            as.final = true;
            log("generator architecture: " + as.architecture);
            for (auto* o : observers_)
                o->onArchitecture(as);
        }
        if (!cancelled && calibration != quant::Calibration::Ema &&
            c.scheduleCalibrationEpochs == 0 && step == searchSteps)
            calibrateFromFixedSet();

        // The first evaluation images, for the layer-by-layer comparison after each evaluation.
        at::Tensor realProbe;
        if (evalData && evalData->size() > 0)
            realProbe = data::preprocess(
                evalData->images.narrow(0, 0, std::min<int64_t>(256, evalData->size())),
                meta.inputShape, norm);
        quant::RoundingTracker rounding;
        const int64_t resumedAt = step;
        const auto loopStart = Clock::now();
        bool boundaryDue = false;
        for (int64_t epoch = (step - searchSteps) / c.scheduleIterations;
             epoch < c.scheduleEpochs && !cancelled; ++epoch) {
            const double lrG =
                multistepLr(c.generatorLr, epoch, c.scheduleLrMilestones, c.scheduleLrGamma);
            const double lrS =
                multistepLr(c.studentLr, epoch, c.scheduleLrMilestones, c.scheduleLrGamma);
            const bool trainStudent = epoch >= c.scheduleWarmupEpochs;
            const double passingThreshold = multistepLr(c.studentPassingThreshold, epoch,
                                                        c.scheduleLrMilestones, c.scheduleLrGamma);
            gdfq.setInundation(passingThreshold, epoch == c.scheduleWarmupEpochs);
            bool cappedLogged = false;
            const bool calibrationEpoch = epoch < c.scheduleCalibrationEpochs;
            const bool calibrate = calibrationEpoch && calibration == quant::Calibration::Ema;
            if (trainStudent) {
                ptqBaseline();
                // Codes before the first update of this process, so every step's crossings count.
                if (rounding.empty())
                    rounding.update(gdfq.quantizer().weightCodes(gdfq.studentParams()));
            }
            if (epoch == c.scheduleWarmupEpochs && trainStudent &&
                (step - searchSteps) % c.scheduleIterations == 0)
                log("epoch " + std::to_string(epoch + 1) + ": warm-up done, the student trains");
            for (int64_t it = (step - searchSteps) % c.scheduleIterations;
                 it < c.scheduleIterations; ++it, ++step) {
                if ((cancelled = stopRequested()))
                    break;
                const auto s = gdfq.step(trainStudent, calibrate, lrG, lrS);
                if (!std::isfinite(s.generatorLoss) ||
                    (s.studentTrained && !std::isfinite(s.studentLoss))) {
                    const std::string msg = "the run diverged at iteration " +
                                            std::to_string(step + 1) +
                                            " (a loss is not finite); try lower learning rates";
                    log(msg);
                    const std::string failures = finish("diverged", msg);
                    if (!failures.empty())
                        throw Error(failures);
                    return summary;
                }
                for (const std::string& w : collapse.add(step, s.generatorCe, s.teacherClasses))
                    warn(w);
                IterationStats is = iterationStats(epoch, it, s);
                is.studentCe = s.studentCe;
                is.studentKd = s.studentKd;
                is.studentLoss = s.studentLoss;
                is.studentTrained = s.studentTrained;
                is.calibrating = calibrationEpoch;
                is.lrGenerator = lrG;
                is.lrStudent = trainStudent ? lrS : 0.0;
                is.iterationsPerSecond =
                    static_cast<double>(step + 1 - resumedAt) / seconds(loopStart);
                is.studentMs = 1e3 * s.studentSeconds;
                for (auto* o : observers_)
                    o->onIteration(is);

                if (s.studentTrained) {
                    auto r = rounding.update(gdfq.quantizer().weightCodes(gdfq.studentParams()));
                    RoundingStats rs{step, quantNames, r.perLayer, r.overall, {}, 0.0};
                    if (gdfq.options().gradientInundation) {
                        rs.alphas = gdfq.lastAlphas();
                        rs.threshold = passingThreshold;
                        if (gdfq.lastCappedAlphas() > 0 && !cappedLogged) {
                            log("gradient inundation: α reached its cap for " +
                                std::to_string(gdfq.lastCappedAlphas()) +
                                " weight tensor(s) at iteration " + std::to_string(step + 1) +
                                " (a zero gradient?)");
                            cappedLogged = true;
                        }
                    }
                    for (auto* o : observers_)
                        o->onRounding(rs);
                }
                if (step % c.outputBnEvery == 0) {
                    const BnMatch bm =
                        bnMatch(gdfq, step, bnNames, bnLayers, channelLayers, teacher.params());
                    for (auto* o : observers_)
                        o->onBnMatch(bm);
                }
                if (c.outputLayersEvery > 0 && step % c.outputLayersEvery == 0) {
                    const at::Tensor& x = gdfq.lastImages();
                    const LayerStats ls = layerStats(
                        gdfq.probeLayers(x.narrow(0, 0, std::min<int64_t>(64, x.size(0)))), step,
                        "synthetic");
                    for (auto* o : observers_)
                        o->onLayers(ls);
                }
                // With Qimera, a sample point that drew a single-label batch is followed by the
                // next superposed batch, so that boundary samples are shown as well.
                const bool samplePoint = step % c.outputSampleEvery == 0;
                if (samplePoint || (boundaryDue && s.superposed)) {
                    boundaryDue = samplePoint && gdfq.options().qimera && !s.superposed;
                    const SampleBatch sb = sampleBatch(gdfq, meta, step);
                    for (auto* o : observers_)
                        o->onSamples(sb);
                }
                if (samplePoint) {
                    const FeatureMap fm = featureMap(gdfq, evalData, meta, norm, step,
                                                     static_cast<uint64_t>(c.seed) + 11);
                    if (!fm.x.empty())
                        for (auto* o : observers_)
                            o->onFeatures(fm);
                }
                if (samplePoint && gdfq.options().qimera && gdfq.classes() > 1) {
                    BoundarySweep bs;
                    bs.step = step;
                    bs.a = control ? control->boundaryA.load() : 0;
                    bs.b = control ? control->boundaryB.load() : 1;
                    if (bs.a < 0 || bs.a >= gdfq.classes() || bs.b < 0 || bs.b >= gdfq.classes() ||
                        bs.a == bs.b) {
                        bs.a = 0;
                        bs.b = 1;
                    }
                    // The same noise at every sweep, so that sweeps over time are comparable.
                    for (const auto& row : gdfq.boundarySweep(bs.a, bs.b, 11, 32,
                                                              static_cast<uint64_t>(c.seed) + 7)) {
                        bs.t.push_back(row[0]);
                        bs.pa.push_back(row[1]);
                        bs.pb.push_back(row[2]);
                    }
                    for (auto* o : observers_)
                        o->onBoundary(bs);
                }
            }
            summary.iterations = step;
            if (!cancelled && calibrationEpoch && calibration != quant::Calibration::Ema)
                calibrateFromFixedSet();
            const bool evaluateEpoch =
                epoch >= c.scheduleEvalFromEpoch || epoch + 1 == c.scheduleEpochs;
            if (evalData && !cancelled && evaluateEpoch) {
                const auto r = studentTop1();
                summary.lastTop1 = r.top1;
                summary.bestTop1 = std::max(summary.bestTop1, r.top1);
                EvalStats es{epoch, step, r.top1, r.top5, summary.bestTop1, r.seconds};
                for (auto* o : observers_)
                    o->onEval(es);
                if (c.outputLayersEvery > 0 && realProbe.defined()) {
                    const LayerStats ls = layerStats(gdfq.probeLayers(realProbe), step - 1, "real");
                    for (auto* o : observers_)
                        o->onLayers(ls);
                }
            }
            saveCheckpoint();
        }
        if (!cancelled)
            ptqBaseline();
        if (!cancelled && !files_.exportStudent.empty())
            exportStudent(files_.exportStudent, teacher, gdfq);
        if (!cancelled && !files_.exportModel.empty())
            exportTorchScript(files_.exportModel, teacher, gdfq);
        const std::string failures = finish(cancelled ? "cancelled" : "finished", "");
        if (!failures.empty())
            throw Error(failures);
    } catch (const std::exception& e) {
        // A run that failed before it started (a model or data that cannot be read) still
        // leaves its configuration and a summary that says why. (A resumed run's folder has its
        // config.yaml, with the provenance, already.)
        if (!started && files_.resumeFrom.empty())
            for (auto* o : observers_) {
                try {
                    o->onStart("# failed before it started\n" + configYaml, 0);
                } catch (const std::exception&) {
                }
            }
        const std::string failures = finish("failed", e.what());
        if (!failures.empty())
            throw Error(std::string(e.what()) +
                        "; the run folder could not record it either: " + failures);
        throw;
    }
    return summary;
}

}  // namespace dfq::run
