#include "trainer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <thread>

#include "../cpu_features.h"
#include "../cpu_memory.h"
#include "../data/dataset.h"
#include "../data/evaluator.h"
#include "../data/preprocess.h"
#include "../error.h"
#include "../method/pipeline.h"
#include "../model/model.h"
#include "../quant/calibration.h"
#include "../quant/rounding_tracker.h"
#include "../runtime.h"
#include "../sha256.h"
#include "checkpoint.h"
#include "collapse_monitor.h"
#include "eta.h"
#include "observer_list.h"
#include "run_reports.h"
#include "run_setup.h"

namespace dfq::run {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
}

// A run that has to end early (diverged): the summary is written, the schedule stops.
struct Stop {};

// One run of Trainer::run: the schedule's state, and the steps it is made of.
class Session {
  public:
    Session(const ExperimentConfig& c, ObserverList& out, const TrainerFiles& files,
            RunControl* control)
        : c_(c), out_(out), files_(files), control_(control), configYaml_(toYaml(c)) {}

    void prepare();
    void searchArchitecture();
    void beforeTraining();
    void trainEpoch(int64_t epoch);
    void complete();
    // Ends the run with `status`; throws when an observer could not record it.
    void finish(const std::string& status, const std::string& error);
    // The run failed with `e`: recorded (the configuration too when it had not started).
    [[noreturn]] void fail(const std::exception& e);

    int64_t firstEpoch() const { return (step_ - searchSteps_) / c_.scheduleIterations; }
    bool cancelled() const { return cancelled_; }
    const RunSummary& summary() const { return summary_; }

  private:
    void log(const std::string& line) { out_.onLog(line); }
    void warn(const std::string& w);
    void diverged(const std::string& message);
    bool stopRequested();
    void saveCheckpoint();
    void writeFixedSet();
    data::EvalResult evaluate(bool student);
    void ptqBaseline();
    void calibrateFromFixedSet();
    IterationStats iterationStats(int64_t epoch, int64_t it, const method::StepStats& st) const;
    void trainIteration(int64_t epoch, int64_t it, bool trainStudent, bool calibrationEpoch);
    void reportViews(const method::StepStats& s);
    void reportRounding(const method::StepStats& s);
    void reportBoundary();
    void evaluateEpoch(int64_t epoch);

    const ExperimentConfig& c_;
    ObserverList& out_;
    const TrainerFiles& files_;
    RunControl* control_;
    const std::string configYaml_;
    const Clock::time_point start_ = Clock::now();
    RunSummary summary_;
    int64_t step_ = 0, total_ = 0, searchSteps_ = 0;
    double wallBefore_ = 0;
    bool started_ = false, cancelled_ = false;

    std::optional<model::Model> teacher_;
    model::ModelMeta meta_;
    data::Normalization norm_;
    std::optional<data::Dataset> evalData_;
    std::unique_ptr<method::Pipeline> pipeline_;
    std::string modelSha_;
    std::vector<std::string> bnNames_, quantNames_;
    std::vector<const model::Layer*> bnLayers_;
    std::vector<int> channelLayers_;
    quant::Calibration calibration_ = quant::Calibration::Ema;
    std::optional<CollapseMonitor> collapse_;
    std::optional<EtaModel> eta_;
    quant::RoundingTracker rounding_;
    at::Tensor realProbe_;  // the first evaluation images, for the layer-by-layer comparison
    int64_t resumedAt_ = 0;
    Clock::time_point loopStart_;
    bool boundaryDue_ = false, cappedLogged_ = false, fixedSetWritten_ = false;
    bool calibrationPending_ = false;  // until the generator's images are made
    int64_t warmupIterations_ = 0;     // run by this process
};

void Session::prepare() {
    at::manual_seed(static_cast<uint64_t>(c_.seed));
    teacher_.emplace(model::Model::load(c_.resolvedModelPath()));
    modelSha_ = sha256File(teacher_->path());
    meta_ = resolvedMeta(*teacher_, c_);
    teacher_->setMeta(meta_);
    if (!c_.dataPath.empty()) {
        std::string note;
        evalData_ = loadEvalData(c_, meta_, note);
        if (!note.empty())
            log("data: " + note);
    }
    norm_ = data::Normalization{meta_.mean, meta_.std};
    pipeline_ = makePipeline(*teacher_, c_);
    for (const auto& l : teacher_->graph()->layers())
        if (l.role == model::LayerRole::BatchNorm) {
            bnNames_.push_back(l.path);
            bnLayers_.push_back(&l);
        }
    for (int idx : pipeline_->quantizer().quantizedWeightLayers())
        quantNames_.push_back(teacher_->graph()->layers()[idx].path);
    channelLayers_ = bnChannelLayers(c_, bnLayers_, teacher_->params());

    summary_.modelSha256 = modelSha_;
    if (!files_.resumeFrom.empty()) {
        const ResumeState r = loadCheckpoint(files_.resumeFrom, configYaml_, modelSha_, *pipeline_);
        step_ = r.step;
        wallBefore_ = r.wallSeconds;
        summary_ = r.summary;
        summary_.modelSha256 = modelSha_;
        out_.onResume(step_, summary_);
    }
    const method::ArchitectureSearch* search = pipeline_->generator().search();
    searchSteps_ = search ? search->searchEpochs() * c_.scheduleIterations : 0;
    total_ = searchSteps_ + c_.scheduleEpochs * c_.scheduleIterations;
    calibration_ = calibration(c_);
    EtaModel::Schedule schedule;
    schedule.searchSteps = searchSteps_;
    schedule.epochs = c_.scheduleEpochs;
    schedule.iterations = c_.scheduleIterations;
    schedule.warmupEpochs = c_.scheduleWarmupEpochs;
    schedule.ptqBaseline = evalData_.has_value() && summary_.ptqTop1 < 0;
    schedule.calibrationBatches = c_.quantCalibrationBatches;
    for (int64_t e = 0; e < c_.scheduleEpochs; ++e) {
        schedule.evaluatedEpochs.push_back(
            evalData_.has_value() && (e >= c_.scheduleEvalFromEpoch || e + 1 == c_.scheduleEpochs));
        schedule.calibratedEpochs.push_back(e < c_.scheduleCalibrationEpochs &&
                                            calibration_ != quant::Calibration::Ema);
    }
    eta_.emplace(std::move(schedule));
    const std::string device = pipeline_->device().str();
    out_.onStart("# " + versionString() + "\n# model: " + teacher_->path() + "\n# model sha256: " +
                     modelSha_ + "\n# device: " + device + "\n" + configYaml_,
                 total_);
    started_ = true;
    log("device: " + device + ", precision " + choiceName(c_.precision) +
        (c_.precision == PrecisionChoice::Bf16 && pipeline_->device().is_cpu()
             ? " (CPU bfloat16 " + cpuBf16Support().describe() + ")"
             : ""));
    if (step_ > 0)
        log("resumed at iteration " + std::to_string(step_));
    collapse_.emplace(pipeline_->classes(), c_.generatorBatchSize);
    if (evalData_ && summary_.fpTop1 < 0) {
        const auto r = evaluate(false);
        summary_.fpTop1 = r.top1;
        eta_->teacherEvaluation(r.seconds);
        out_.onBaseline("fp", summary_.fpTop1);
    }
}

// Each kind of warning once per run, a resumed run included.
void Session::warn(const std::string& w) {
    const std::string kind = w.substr(0, w.find(':'));
    for (const auto& earlier : summary_.warnings)
        if (earlier.substr(0, earlier.find(':')) == kind)
            return;
    summary_.warnings.push_back(w);
    log("warning: " + w);
}

void Session::finish(const std::string& status, const std::string& error) {
    summary_.status = status;
    summary_.error = error;
    summary_.iterations = step_;
    summary_.wallSeconds = wallBefore_ + seconds(start_);
    const std::string failures = out_.finish(summary_);
    if (!failures.empty())
        throw Error(failures);
}

void Session::diverged(const std::string& message) {
    log(message);
    finish("diverged", message);
    throw Stop{};
}

void Session::fail(const std::exception& e) {
    // A run that failed before it started (a model or data that cannot be read) still leaves
    // its configuration and a summary that says why. (A resumed run's folder has its
    // config.yaml, with the provenance, already.)
    if (!started_ && files_.resumeFrom.empty())
        out_.tryStart("# failed before it started\n" + configYaml_);
    summary_.status = "failed";
    summary_.error = e.what();
    summary_.iterations = step_;
    summary_.wallSeconds = wallBefore_ + seconds(start_);
    const std::string failures = out_.finish(summary_);
    if (!failures.empty())
        throw Error(std::string(e.what()) +
                    "; the run folder could not record it either: " + failures);
    throw;
}

// Waits while paused; true (and logged) when the run is to stop before this step.
bool Session::stopRequested() {
    while (control_ && control_->pause && !control_->cancel)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!control_ || !control_->cancel)
        return false;
    log("cancelled at iteration " + std::to_string(step_));
    return true;
}

// A generator recipe's fixed set goes to the run folder once it is made (and again after a
// resume, which costs one write).
void Session::writeFixedSet() {
    const method::FixedSet* set = pipeline_->generator().fixedSet();
    if (fixedSetWritten_ || !set || files_.syntheticSet.empty())
        return;
    method::writeFixedSet(files_.syntheticSet, *set, modelSha_);
    fixedSetWritten_ = true;
    char mean[32];
    std::snprintf(mean, sizeof mean, "%.3f", set->difficulty.mean().item<double>());
    log("synthetic set of " + std::to_string(set->images.size(0)) + " images written to " +
        files_.syntheticSet + " (mean difficulty " + mean + ")");
}

void Session::saveCheckpoint() {
    writeFixedSet();
    const auto t0 = Clock::now();
    if (!files_.checkpoint.empty())
        writeCheckpoint(files_.checkpoint, configYaml_, modelSha_, *pipeline_, step_, summary_,
                        wallBefore_ + seconds(start_));
    if (eta_)
        eta_->checkpoint(seconds(t0));
}

data::EvalResult Session::evaluate(bool student) {
    method::Pipeline& p = *pipeline_;
    data::EvalOptions options;
    options.batchSize = c_.dataBatchSize;
    options.channelsLast = !student;  // the student's top-1 is what its exported file scores
    data::EvalResult r;
    const auto run = [&] {
        r = data::evaluate(
            [&](const at::Tensor& x) {
                return student ? p.studentForward(x) : p.teacherForward(x);
            },
            *evalData_, meta_.inputShape, norm_, options);
    };
    // The student's result is its averaged weights where the run averages them (student.ema).
    if (student)
        p.withAveragedWeights(run);
    else
        run();
    return r;
}

// The PTQ baseline: the quantized student with the ranges calibrated on the generator's warm-up
// batches, before any student update.
void Session::ptqBaseline() {
    if (!evalData_ || summary_.ptqTop1 >= 0)
        return;
    const auto r = evaluate(true);
    summary_.ptqTop1 = r.top1;
    eta_->studentEvaluation(r.seconds);
    eta_->ptqDone();
    out_.onBaseline("ptq", summary_.ptqTop1);
}

// Calibration protocols other than the EMA set the ranges from a fixed calibration set at the
// end of each calibration epoch, or once before training when there are none.
void Session::calibrateFromFixedSet() {
    const auto t0 = Clock::now();
    pipeline_->calibrateActivations(c_.quantCalibrationBatches, calibration_,
                                    static_cast<uint64_t>(c_.seed) + 0x9E3779B97F4A7C15ULL);
    char secs[32];
    eta_->calibration(seconds(t0));
    std::snprintf(secs, sizeof secs, "%.1f", seconds(t0));
    log("activation ranges set from " + std::to_string(c_.quantCalibrationBatches) +
        " generator batches (" + choiceName(c_.quantCalibration) + ", " + secs + " s)");
}

// The fields a search step and a training step report alike.
IterationStats Session::iterationStats(int64_t epoch, int64_t it,
                                       const method::StepStats& st) const {
    IterationStats is;
    is.epoch = epoch;
    is.iteration = it;
    is.step = step_;
    is.totalSteps = total_;
    is.generatorCe = st.generatorCe;
    is.generatorBns = st.generatorBns;
    is.generatorLoss = st.generatorLoss;
    is.generatorMs = 1e3 * st.generatorSeconds;
    return is;
}

// An architecture search before the schedule (AutoReCon): its steps come first in the run's
// step count; the architecture is derived at its end.
void Session::searchArchitecture() {
    method::ArchitectureSearch* search = pipeline_->generator().search();
    const int64_t resumedAt = step_;
    const auto searchStart = Clock::now();
    if (search && search->searching() && step_ == 0)
        log("architecture search: " + std::to_string(search->searchEpochs()) + " epochs of " +
            std::to_string(c_.scheduleIterations) + " iterations");
    while (search && search->searching() && step_ < searchSteps_ && !cancelled_) {
        const int64_t epoch = step_ / c_.scheduleIterations;
        const double tau = search->temperature(epoch);
        for (int64_t it = step_ % c_.scheduleIterations; it < c_.scheduleIterations;
             ++it, ++step_) {
            if ((cancelled_ = stopRequested()))
                break;
            const auto t0 = Clock::now();
            const auto s = pipeline_->searchStep(c_.generatorLr, epoch);
            if (!std::isfinite(s.generatorLoss))
                diverged("the architecture search diverged at iteration " +
                         std::to_string(step_ + 1) +
                         "; try a lower autorecon.arch_lr or generator.lr");
            IterationStats is = iterationStats(epoch, it, s);
            is.lrGenerator = c_.generatorLr;
            is.iterationsPerSecond =
                static_cast<double>(step_ + 1 - resumedAt) / seconds(searchStart);
            is.etaSeconds = eta_->remaining(step_ + 1);
            out_.onIteration(is);
            if (step_ % 10 == 0 || step_ + 1 == searchSteps_)
                out_.onArchitecture(architectureStats(*pipeline_, step_, tau));
            if (step_ % c_.outputBnEvery == 0)
                out_.onBnMatch(bnMatch(*pipeline_, step_, bnNames_, bnLayers_, channelLayers_,
                                       teacher_->params()));
            if (step_ % c_.outputSampleEvery == 0)
                out_.onSamples(sampleBatch(*pipeline_, meta_, step_));
            eta_->iteration(EtaModel::Phase::Search, seconds(t0), s.generatorSeconds);
        }
        summary_.iterations = step_;
        if (!cancelled_ && step_ == searchSteps_) {
            // The last search step reported the probabilities; this only fixes the result.
            ArchitectureStats as;
            as.step = step_ - 1;
            as.temperature = tau;
            as.architecture = search->derive();
            as.final = true;
            log("architecture search done; derived: " + as.architecture);
            out_.onArchitecture(as);
        }
        saveCheckpoint();
    }
}

void Session::beforeTraining() {
    const method::GeneratorRecipe& generator = pipeline_->generator();
    if (!cancelled_ && !generator.architecture().empty() && !pipeline_->generator().search() &&
        step_ == 0) {
        ArchitectureStats as;
        as.architecture = generator.architecture();
        as.final = true;
        log("generator architecture: " + as.architecture);
        out_.onArchitecture(as);
    }
    if (!cancelled_ && calibration_ != quant::Calibration::Ema &&
        c_.scheduleCalibrationEpochs == 0 && step_ == searchSteps_) {
        calibrationPending_ = !pipeline_->generator().calibrationReady();
        if (!calibrationPending_)
            calibrateFromFixedSet();
    }
    if (evalData_ && evalData_->size() > 0)
        realProbe_ = data::preprocess(
            evalData_->images.narrow(0, 0, std::min<int64_t>(256, evalData_->size())),
            meta_.inputShape, norm_);
    resumedAt_ = step_;
    loopStart_ = Clock::now();
}

void Session::trainEpoch(int64_t epoch) {
    const auto scheduled = [&](double base) { return scheduledLr(base, epoch, c_); };
    const bool trainStudent = epoch >= c_.scheduleWarmupEpochs;
    pipeline_->beginEpoch({epoch, epoch == c_.scheduleWarmupEpochs, scheduled});
    cappedLogged_ = false;
    const bool calibrationEpoch = epoch < c_.scheduleCalibrationEpochs;
    if (trainStudent) {
        ptqBaseline();
        // Codes before the first update of this process, so every step's crossings count.
        if (rounding_.empty())
            rounding_.update(pipeline_->quantizer().weightCodes(pipeline_->studentParams()));
    }
    if (epoch == c_.scheduleWarmupEpochs && trainStudent &&
        (step_ - searchSteps_) % c_.scheduleIterations == 0)
        log("epoch " + std::to_string(epoch + 1) + ": warm-up done, the student trains");
    for (int64_t it = (step_ - searchSteps_) % c_.scheduleIterations; it < c_.scheduleIterations;
         ++it, ++step_) {
        if ((cancelled_ = stopRequested()))
            break;
        trainIteration(epoch, it, trainStudent, calibrationEpoch);
    }
    summary_.iterations = step_;
    // A recipe that makes its images in the warm-up (HAST) calibrates once they are made.
    if (!cancelled_ && (calibrationEpoch || calibrationPending_) &&
        calibration_ != quant::Calibration::Ema) {
        calibrationPending_ = !pipeline_->generator().calibrationReady();
        if (!calibrationPending_)
            calibrateFromFixedSet();
    }
    if (evalData_ && !cancelled_ &&
        (epoch >= c_.scheduleEvalFromEpoch || epoch + 1 == c_.scheduleEpochs))
        evaluateEpoch(epoch);
    saveCheckpoint();
}

void Session::trainIteration(int64_t epoch, int64_t it, bool trainStudent, bool calibrationEpoch) {
    const double lrG = scheduledLr(c_.generatorLr, epoch, c_);
    const double lrS = scheduledLr(c_.studentLr, epoch, c_);
    const bool calibrate = calibrationEpoch && calibration_ == quant::Calibration::Ema;
    const auto t0 = Clock::now();
    const auto s = pipeline_->step(trainStudent, calibrate, lrG, lrS);
    if (!std::isfinite(s.generatorLoss) || (s.studentTrained && !std::isfinite(s.studentLoss)))
        diverged("the run diverged at iteration " + std::to_string(step_ + 1) +
                 " (a loss is not finite); try lower learning rates");
    // A generator network can collapse; a fixed set (HAST) or a real pool cannot, and their CE
    // rises once the student's batches are cropped and flipped.
    if (pipeline_->generator().sampleSource().empty())
        for (const std::string& w : collapse_->add(step_, s.generatorCe, s.teacherClasses))
            warn(w);
    IterationStats is = iterationStats(epoch, it, s);
    is.studentCe = s.studentCe;
    is.studentKd = s.studentKd;
    is.studentLoss = s.studentLoss;
    is.studentCam = s.studentCam;
    is.studentTrained = s.studentTrained;
    is.calibrating = calibrationEpoch;
    is.lrGenerator = lrG;
    is.lrStudent = trainStudent ? lrS : 0.0;
    is.iterationsPerSecond = static_cast<double>(step_ + 1 - resumedAt_) / seconds(loopStart_);
    is.studentMs = 1e3 * s.studentSeconds;
    is.etaSeconds = eta_->remaining(step_ + 1);
    out_.onIteration(is);
    if (s.studentTrained)
        reportRounding(s);
    reportViews(s);
    eta_->iteration(trainStudent ? EtaModel::Phase::Student : EtaModel::Phase::Warmup, seconds(t0),
                    s.generatorSeconds);
    // Once, after a few warm-up iterations: what a student step will cost, for the ETA.
    if (!trainStudent && ++warmupIterations_ == 3 && c_.scheduleEpochs > c_.scheduleWarmupEpochs)
        eta_->studentPass(pipeline_->timeStudentPass());
}

void Session::reportRounding(const method::StepStats&) {
    auto r = rounding_.update(pipeline_->quantizer().weightCodes(pipeline_->studentParams()));
    RoundingStats rs{step_, quantNames_, r.perLayer, r.overall, {}, 0.0};
    if (const method::InundationReport* gi = pipeline_->student().inundation()) {
        rs.alphas = gi->alphas;
        rs.threshold = gi->threshold;
        if (gi->capped > 0 && !cappedLogged_) {
            log("gradient inundation: α reached its cap for " + std::to_string(gi->capped) +
                " weight tensor(s) at iteration " + std::to_string(step_ + 1) +
                " (a zero gradient?)");
            cappedLogged_ = true;
        }
    }
    out_.onRounding(rs);
}

void Session::reportViews(const method::StepStats& s) {
    if (step_ % c_.outputBnEvery == 0)
        out_.onBnMatch(
            bnMatch(*pipeline_, step_, bnNames_, bnLayers_, channelLayers_, teacher_->params()));
    if (c_.outputLayersEvery > 0 && step_ % c_.outputLayersEvery == 0) {
        const at::Tensor& x = pipeline_->lastImages();
        out_.onLayers(
            layerStats(pipeline_->probeLayers(x.narrow(0, 0, std::min<int64_t>(64, x.size(0)))),
                       step_, "synthetic"));
    }
    // With boundary samples, a sample point that drew a single-label batch is followed by the
    // next superposed batch, so that boundary samples are shown as well.
    const bool boundaries = pipeline_->generator().boundarySamples();
    const bool samplePoint = step_ % c_.outputSampleEvery == 0;
    if (samplePoint || (boundaryDue_ && s.superposed)) {
        boundaryDue_ = samplePoint && boundaries && !s.superposed;
        out_.onSamples(sampleBatch(*pipeline_, meta_, step_));
    }
    if (samplePoint) {
        const FeatureMap fm = featureMap(*pipeline_, evalData_, meta_, norm_, step_,
                                         static_cast<uint64_t>(c_.seed) + 11);
        if (!fm.x.empty())
            out_.onFeatures(fm);
    }
    if (samplePoint && boundaries && pipeline_->classes() > 1)
        reportBoundary();
}

void Session::reportBoundary() {
    BoundarySweep bs;
    bs.step = step_;
    bs.a = control_ ? control_->boundaryA.load() : 0;
    bs.b = control_ ? control_->boundaryB.load() : 1;
    const int64_t classes = pipeline_->classes();
    if (bs.a < 0 || bs.a >= classes || bs.b < 0 || bs.b >= classes || bs.a == bs.b) {
        bs.a = 0;
        bs.b = 1;
    }
    // The same noise at every sweep, so that sweeps over time are comparable.
    for (const auto& row :
         pipeline_->boundarySweep(bs.a, bs.b, 11, 32, static_cast<uint64_t>(c_.seed) + 7)) {
        bs.t.push_back(row[0]);
        bs.pa.push_back(row[1]);
        bs.pb.push_back(row[2]);
    }
    out_.onBoundary(bs);
}

void Session::evaluateEpoch(int64_t epoch) {
    const auto t0 = Clock::now();
    const auto r = evaluate(true);
    summary_.lastTop1 = r.top1;
    summary_.bestTop1 = std::max(summary_.bestTop1, r.top1);
    out_.onEval({epoch, step_, r.top1, r.top5, summary_.bestTop1, r.seconds});
    if (c_.outputLayersEvery > 0 && realProbe_.defined())
        out_.onLayers(layerStats(pipeline_->probeLayers(realProbe_), step_ - 1, "real"));
    eta_->studentEvaluation(seconds(t0));
}

void Session::complete() {
    if (!cancelled_)
        ptqBaseline();
    if (!cancelled_)
        pipeline_->adoptAveragedWeights();
    if (!cancelled_ && !files_.exportStudent.empty())
        exportStudent(files_.exportStudent, *teacher_, *pipeline_);
    if (!cancelled_ && !files_.exportModel.empty())
        exportTorchScript(files_.exportModel, *teacher_, *pipeline_);
    finish(cancelled_ ? "cancelled" : "finished", "");
}

}  // namespace

Trainer::Trainer(const ExperimentConfig& config, std::vector<Observer*> observers,
                 TrainerFiles files)
    : config_(config), observers_(std::move(observers)), files_(std::move(files)) {}

// The schedule: an architecture search when the generator recipe has one, then the epochs (the
// warm-up and calibration epochs first), an evaluation after each, a checkpoint at each end.
RunSummary Trainer::run(RunControl* control) {
    RunSummary summary;
    {
        ObserverList out(observers_);
        Session session(config_, out, files_, control);
        try {
            session.prepare();
            session.searchArchitecture();
            session.beforeTraining();
            for (int64_t epoch = session.firstEpoch();
                 epoch < config_.scheduleEpochs && !session.cancelled(); ++epoch)
                session.trainEpoch(epoch);
            session.complete();
        } catch (const Stop&) {
        } catch (const std::exception& e) {
            session.fail(e);
        }
        summary = session.summary();
    }
    // The session's tensors are gone: their pages go back to the system, so that a window
    // that stays open after the run does not hold the run's peak (cpu_memory.h).
    releaseCpuMemory();
    return summary;
}

}  // namespace dfq::run
