#pragma once

#include <QObject>
#include <QString>
#include <QThread>
#include <memory>

#include "core/run/events.h"
#include "core/run/experiment_config.h"

Q_DECLARE_METATYPE(dfq::run::IterationStats)
Q_DECLARE_METATYPE(dfq::run::EvalStats)
Q_DECLARE_METATYPE(dfq::run::BnMatch)
Q_DECLARE_METATYPE(dfq::run::RoundingStats)
Q_DECLARE_METATYPE(dfq::run::SampleBatch)
Q_DECLARE_METATYPE(dfq::run::ArchitectureStats)
Q_DECLARE_METATYPE(dfq::run::BoundarySweep)
Q_DECLARE_METATYPE(dfq::run::FeatureMap)
Q_DECLARE_METATYPE(dfq::run::LayerStats)
Q_DECLARE_METATYPE(dfq::run::RunSummary)

namespace dfq::run {
struct RunControl;
}

namespace dfq::ui {

// Runs one experiment at a time on a worker thread (the core's Trainer, writing its run folder)
// and re-emits the trainer's events as queued signals in the thread that owns the controller.
// The GUI thread never waits on training: start() returns at once, stop() only asks.
class RunController : public QObject {
    Q_OBJECT
  public:
    enum class State { Idle, Running, Paused, Stopping };

    explicit RunController(QObject* parent = nullptr);
    ~RunController() override;  // stops a running experiment and waits for its thread

    // Starts a run whose folder goes below `outputParent` (config.outputDir when empty), or
    // continues the stopped run in `resumeFolder`.
    void start(const run::ExperimentConfig& config, const QString& outputParent = {});
    void resume(const QString& resumeFolder);
    void setPaused(bool paused);
    void stop();
    // Qimera runs: the class pair of the next boundary sweeps (kept for later runs too).
    void setBoundaryPair(int a, int b);
    State state() const { return state_; }
    bool busy() const { return state_ != State::Idle; }
    // Blocks until the worker has ended (tests, shutdown); false on timeout.
    bool wait(int milliseconds);

  signals:
    void started(QString runFolder, QString configYaml, qint64 totalSteps, qint64 firstStep);
    void iteration(dfq::run::IterationStats stats);
    void baseline(QString name, double top1);
    void evaluated(dfq::run::EvalStats stats);
    void bnMatched(dfq::run::BnMatch match);
    void rounded(dfq::run::RoundingStats stats);
    void samples(dfq::run::SampleBatch batch);
    void architecture(dfq::run::ArchitectureStats stats);
    void boundary(dfq::run::BoundarySweep sweep);
    void features(dfq::run::FeatureMap map);
    void layers(dfq::run::LayerStats stats);
    void logLine(QString line);
    // Every run that started ends with finished (status finished, cancelled, diverged or
    // failed); a run that could not start (bad model, data or configuration) ends with failed.
    void finished(dfq::run::RunSummary summary);
    void failed(QString message);
    void stateChanged(dfq::ui::RunController::State state);

  private:
    void launch(const run::ExperimentConfig& config, const QString& outputParent,
                const QString& resumeFolder);
    void setState(State s);

    State state_ = State::Idle;
    QThread* thread_ = nullptr;
    std::shared_ptr<run::RunControl> control_;
    int boundaryA_ = 0, boundaryB_ = 1;
};

}  // namespace dfq::ui
