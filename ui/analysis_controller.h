#pragma once

#include <QObject>
#include <QString>
#include <QThread>
#include <atomic>
#include <memory>
#include <vector>

#include "core/analysis/layer_report.h"
#include "core/run/analysis_job.h"

Q_DECLARE_METATYPE(dfq::analysis::AnalysisResult)
Q_DECLARE_METATYPE(dfq::analysis::PlanPoint)
Q_DECLARE_METATYPE(std::vector<dfq::analysis::PlanPoint>)

namespace dfq::ui {

// Runs the per-layer analysis (run::AnalysisJob) on a worker thread, keeps the job for plans and
// measurements afterwards, writes every result to the analysis folder, and reports back by
// queued signals. One task at a time.
class AnalysisController : public QObject {
    Q_OBJECT
  public:
    explicit AnalysisController(QObject* parent = nullptr);
    ~AnalysisController() override;  // cancels a task and waits for its thread

    // Analyzes; the result and its plans go to `folder`.
    void start(const run::AnalysisRequest& request, const QString& folder);
    // A plan for `averageBits` with the analysis started last (after it has finished).
    void plan(double averageBits);
    // Measures the points' top-1 on the evaluation data with the analysis started last.
    void measure(const std::vector<analysis::PlanPoint>& points);
    void cancel();
    bool busy() const { return thread_ != nullptr; }
    // An analysis has finished in this session (plans and measurements are possible).
    bool hasJob() const { return job_ != nullptr && analyzed_ && written_ != nullptr; }
    bool canMeasure() const { return hasJob() && job_->canMeasure(); }
    const QString& folder() const { return folder_; }
    // Blocks until the task has ended (tests, shutdown); false on timeout.
    bool wait(int milliseconds);

  signals:
    void progress(QString stage, qint64 done, qint64 total);
    void logLine(QString line);
    void analyzed(dfq::analysis::AnalysisResult result);
    void planned(dfq::analysis::PlanPoint point);
    void measured(std::vector<dfq::analysis::PlanPoint> points);
    void failed(QString message);
    void busyChanged(bool busy);

  private:
    void launch(std::function<void()> work);
    run::AnalysisCallbacks callbacks();

    QThread* thread_ = nullptr;
    std::shared_ptr<run::AnalysisJob> job_;
    bool analyzed_ = false;
    QString folder_;
    // What has been written to the folder, so that plans and measurements are added to it.
    std::shared_ptr<analysis::AnalysisResult> written_;
    std::shared_ptr<std::atomic<bool>> cancel_;
};

}  // namespace dfq::ui
