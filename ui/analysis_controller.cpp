#include "analysis_controller.h"

#include "core/analysis/mixed_precision.h"
#include "core/analysis/report_io.h"
#include "core/cpu_memory.h"
#include "core/error.h"

namespace dfq::ui {

AnalysisController::AnalysisController(QObject* parent)
    : QObject(parent), cancel_(std::make_shared<std::atomic<bool>>(false)) {
    static const bool registered = [] {
        qRegisterMetaType<analysis::AnalysisResult>();
        qRegisterMetaType<analysis::PlanPoint>();
        qRegisterMetaType<std::vector<analysis::PlanPoint>>();
        return true;
    }();
    (void)registered;
    // What has been written is kept in this thread, from the workers' results.
    connect(this, &AnalysisController::analyzed, this, [this](const analysis::AnalysisResult& r) {
        written_ = std::make_shared<analysis::AnalysisResult>(r);
        analyzed_ = true;
    });
    connect(this, &AnalysisController::planned, this, [this](const analysis::PlanPoint& p) {
        if (written_)
            written_->points.push_back(p);
    });
    connect(this, &AnalysisController::measured, this,
            [this](const std::vector<analysis::PlanPoint>& points) {
                if (written_)
                    analysis::applyMeasured(*written_, points);
            });
}

AnalysisController::~AnalysisController() {
    cancel();
    wait(-1);
}

bool AnalysisController::wait(int milliseconds) {
    if (!thread_)
        return true;
    const bool done = milliseconds < 0 ? thread_->wait() : thread_->wait(milliseconds);
    return done;
}

void AnalysisController::cancel() {
    *cancel_ = true;
}

run::AnalysisCallbacks AnalysisController::callbacks() {
    run::AnalysisCallbacks cb;
    auto cancel = cancel_;
    cb.progress = [this, cancel](const std::string& stage, int64_t done, int64_t total) {
        emit progress(QString::fromStdString(stage), done, total);
        return !*cancel;
    };
    cb.log = [this](const std::string& line) { emit logLine(QString::fromStdString(line)); };
    return cb;
}

void AnalysisController::launch(std::function<void()> work) {
    if (thread_)
        return;
    *cancel_ = false;
    thread_ = QThread::create([this, work = std::move(work)] {
        try {
            work();
        } catch (const std::exception& e) {
            emit failed(QString::fromStdString(e.what()));
        }
        releaseCpuMemory();
    });
    connect(thread_, &QThread::finished, this, [this] {
        thread_->deleteLater();
        thread_ = nullptr;
        emit busyChanged(false);
    });
    thread_->start();
    emit busyChanged(true);
}

void AnalysisController::start(const run::AnalysisRequest& request, const QString& folder) {
    if (thread_)
        return;
    job_ = std::make_shared<run::AnalysisJob>(request);
    analyzed_ = false;
    folder_ = folder;
    written_.reset();
    auto job = job_;
    const auto cb = callbacks();
    launch([this, job, cb, folder] {
        const analysis::AnalysisResult result = job->run(cb);
        run::writeAnalysis(folder.toStdString(), result, job->request().config);
        emit logLine(tr("Analysis written to %1").arg(folder));
        emit analyzed(result);
    });
}

void AnalysisController::plan(double averageBits) {
    if (thread_ || !hasJob())
        return;
    auto job = job_;
    analysis::AnalysisResult written = *written_;
    const auto cb = callbacks();
    const QString folder = folder_;
    launch([this, job, written, cb, folder, averageBits]() mutable {
        const auto p = job->plan(averageBits, analysis::kNoValue, cb);
        if (!p)
            throw Error("no plan fits " + std::to_string(averageBits) +
                        " weight bits on average with these candidates");
        written.points.push_back(*p);
        run::writeAnalysis(folder.toStdString(), written, job->request().config);
        emit planned(*p);
    });
}

void AnalysisController::measure(const std::vector<analysis::PlanPoint>& points) {
    if (thread_ || !hasJob())
        return;
    auto job = job_;
    analysis::AnalysisResult written = *written_;
    const auto cb = callbacks();
    const QString folder = folder_;
    launch([this, job, written, cb, folder, points]() mutable {
        std::vector<analysis::PlanPoint> measuredPoints = points;
        job->measure(measuredPoints, cb);
        // The folder keeps the measured figures too.
        analysis::applyMeasured(written, measuredPoints);
        run::writeAnalysis(folder.toStdString(), written, job->request().config);
        emit measured(measuredPoints);
    });
}

}  // namespace dfq::ui
