#include "run_controller.h"

#include <optional>

#include "core/error.h"
#include "core/run/run_directory.h"
#include "core/run/trainer.h"
#include "core/runtime.h"

namespace dfq::ui {

namespace {

// Lives on the worker thread; every call emits a signal of the controller, which Qt queues to
// the controller's thread.
class Forwarder : public run::Observer {
  public:
    explicit Forwarder(RunController* c) : c_(c) {}
    void onIteration(const run::IterationStats& s) override { emit c_->iteration(s); }
    void onBaseline(const std::string& name, double top1) override {
        emit c_->baseline(QString::fromStdString(name), top1);
    }
    void onEval(const run::EvalStats& s) override { emit c_->evaluated(s); }
    void onBnMatch(const run::BnMatch& m) override { emit c_->bnMatched(m); }
    void onRounding(const run::RoundingStats& r) override { emit c_->rounded(r); }
    void onSamples(const run::SampleBatch& s) override { emit c_->samples(s); }
    void onArchitecture(const run::ArchitectureStats& a) override { emit c_->architecture(a); }
    void onBoundary(const run::BoundarySweep& b) override { emit c_->boundary(b); }
    void onFeatures(const run::FeatureMap& f) override { emit c_->features(f); }
    void onLayers(const run::LayerStats& l) override { emit c_->layers(l); }
    void onLog(const std::string& line) override { emit c_->logLine(QString::fromStdString(line)); }
    void onResume(int64_t step, const run::RunSummary&) override { firstStep_ = step; }
    void onStart(const std::string& yaml, int64_t total) override {
        emit c_->started(folder_, QString::fromStdString(yaml), total, firstStep_);
    }
    void onFinish(const run::RunSummary& s) override { emit c_->finished(s); }
    void setFolder(const QString& f) { folder_ = f; }

  private:
    RunController* c_;
    QString folder_;
    int64_t firstStep_ = 0;
};

void registerTypes() {
    static bool done = false;
    if (done)
        return;
    qRegisterMetaType<run::IterationStats>();
    qRegisterMetaType<run::EvalStats>();
    qRegisterMetaType<run::BnMatch>();
    qRegisterMetaType<run::RoundingStats>();
    qRegisterMetaType<run::SampleBatch>();
    qRegisterMetaType<run::ArchitectureStats>();
    qRegisterMetaType<run::BoundarySweep>();
    qRegisterMetaType<run::FeatureMap>();
    qRegisterMetaType<run::LayerStats>();
    qRegisterMetaType<run::RunSummary>();
    qRegisterMetaType<RunController::State>();
    done = true;
}

}  // namespace

RunController::RunController(QObject* parent) : QObject(parent) {
    registerTypes();
}

RunController::~RunController() {
    stop();
    wait(-1);
    delete thread_;
}

void RunController::start(const run::ExperimentConfig& config, const QString& outputParent) {
    launch(config, outputParent, {});
}

void RunController::resume(const QString& resumeFolder) {
    launch({}, {}, resumeFolder);
}

void RunController::launch(const run::ExperimentConfig& config, const QString& outputParent,
                           const QString& resumeFolder) {
    if (busy())
        return;
    control_ = std::make_shared<run::RunControl>();
    control_->boundaryA = boundaryA_;
    control_->boundaryB = boundaryB_;
    auto control = control_;
    const std::string parent =
        outputParent.isEmpty() ? config.outputDir : outputParent.toStdString();
    const std::string resume = resumeFolder.toStdString();
    thread_ = QThread::create([this, config, parent, resume, control] {
        initTorchThreads();
        Forwarder forward(this);
        try {
            std::optional<run::RunDirectory> dir;
            run::ExperimentConfig c = config;
            run::TrainerFiles files;
            if (!resume.empty()) {
                dir = run::RunDirectory::reopen(resume);
                c = run::loadExperimentConfig(dir->configPath());
                files.resumeFrom = dir->checkpointPath();
            } else {
                dir.emplace(parent, c.name);
            }
            files.checkpoint = dir->checkpointPath();
            files.exportStudent = dir->studentPath();
            files.exportModel = dir->modelPath();
            files.syntheticSet = dir->syntheticSetPath();
            forward.setFolder(QString::fromStdString(dir->path()));
            run::Trainer(c, {&forward, &*dir}, files).run(control.get());
        } catch (const std::exception& e) {
            emit failed(QString::fromStdString(e.what()));
        }
    });
    connect(thread_, &QThread::finished, this, [this] {
        thread_->deleteLater();
        thread_ = nullptr;
        setState(State::Idle);
    });
    setState(State::Running);
    thread_->start();
}

void RunController::setPaused(bool paused) {
    if (!control_ || !busy() || state_ == State::Stopping)
        return;
    control_->pause = paused;
    setState(paused ? State::Paused : State::Running);
}

void RunController::setBoundaryPair(int a, int b) {
    boundaryA_ = a;
    boundaryB_ = b;
    if (control_) {
        control_->boundaryA = a;
        control_->boundaryB = b;
    }
}

void RunController::stop() {
    if (!control_ || !busy())
        return;
    control_->cancel = true;
    setState(State::Stopping);
}

bool RunController::wait(int milliseconds) {
    if (!thread_)
        return true;
    const bool ok = milliseconds < 0 ? thread_->wait() : thread_->wait(milliseconds);
    return ok;
}

void RunController::setState(State s) {
    if (s == state_)
        return;
    state_ = s;
    emit stateChanged(s);
}

}  // namespace dfq::ui
