// Training throughput with the workbench window open and redrawing (offscreen) against the same
// run without a window (the Trainer writing its run folder, as `dfq run` does), and the window's
// worst event-loop gap during the run.
//
//   QT_QPA_PLATFORM=offscreen bench_window [--iterations N] [--repeats N]
#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTemporaryDir>
#include <QTimer>
#include <cstdio>
#include <cstring>

#include "core/run/experiment_config.h"
#include "core/run/run_directory.h"
#include "core/run/trainer.h"
#include "core/runtime.h"
#include "ui/main_window.h"

namespace {

dfq::run::ExperimentConfig config(int iterations, const std::string& out) {
    return dfq::run::parseExperimentConfig(
        "", "bench",
        {"data.path=fashion-mnist", "data.limit=2000", "schedule.epochs=2",
         "schedule.iterations=" + std::to_string(iterations), "schedule.warmup_epochs=1",
         "schedule.calibration_epochs=1", "schedule.lr_milestones=[]", "generator.batch_size=64",
         "student.lr=2e-5", "output.sample_every=10", "output.dir=" + out});
}

// Iterations per second over the whole run, from the last iteration's report.
struct Rate : dfq::run::Observer {
    double perSecond = 0;
    void onIteration(const dfq::run::IterationStats& s) override {
        perSecond = s.iterationsPerSecond;
    }
};

double headless(int iterations, const QString& out) {
    Rate rate;
    dfq::run::RunDirectory dir(out.toStdString(), "headless");
    dfq::run::Trainer(config(iterations, out.toStdString()), {&rate, &dir}).run();
    return rate.perSecond;
}

double windowed(int iterations, const QString& out, qint64& worstGap) {
    dfq::ui::MainWindow w;
    w.setExperiment(config(iterations, out.toStdString()));
    w.show();
    QElapsedTimer sinceTick;
    QTimer tick;
    tick.setInterval(10);
    worstGap = 0;
    QObject::connect(&tick, &QTimer::timeout, [&] {
        if (sinceTick.isValid())
            worstGap = std::max(worstGap, sinceTick.elapsed());
        sinceTick.restart();
    });
    QEventLoop loop;
    QObject::connect(&w.controller(), &dfq::ui::RunController::stateChanged, &loop, [&] {
        if (!w.controller().busy())
            loop.quit();
    });
    w.startRun();
    tick.start();
    loop.exec();
    tick.stop();
    return w.data().iterations.empty() ? 0.0 : w.data().iterations.back().iterationsPerSecond;
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName("dfq-workbench-bench");
    int iterations = 60, repeats = 2;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--iterations") == 0)
            iterations = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--repeats") == 0)
            repeats = std::atoi(argv[i + 1]);
    }
    const int threads = dfq::initRuntime();
    std::printf("%s, %d threads\n", dfq::versionString().c_str(), threads);
    std::printf("demo teacher, GDFQ W4A4, batch 64, 2 epochs x %d iterations (1 warm-up)\n\n",
                iterations);
    std::printf("%8s %16s %16s %8s %18s\n", "repeat", "headless it/s", "window it/s", "ratio",
                "worst GUI gap ms");
    QTemporaryDir out;
    double sumRatio = 0;
    for (int r = 0; r < repeats; ++r) {
        qint64 gap = 0;
        const double h = headless(iterations, out.path());
        const double w = windowed(iterations, out.path(), gap);
        sumRatio += w / h;
        std::printf("%8d %16.3f %16.3f %8.3f %18lld\n", r + 1, h, w, w / h,
                    static_cast<long long>(gap));
    }
    std::printf("\nmean ratio (window / headless): %.3f\n", sumRatio / repeats);
    return 0;
}
