// dfq-workbench [CONFIG.yaml | RUN_FOLDER | demo] [--set key=value]... [--run]
//               [--screenshot FILE] [--screenshot-views DIR] [--after SECONDS]
#include <sys/socket.h>
#include <unistd.h>

#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFileInfo>
#include <QSocketNotifier>
#include <QTimer>
#include <csignal>
#include <cstdio>

#include "core/run/experiment_config.h"
#include "core/runtime.h"
#include "ui/experiment_form.h"
#include "ui/main_window.h"

namespace {

int gSignalPipe[2] = {-1, -1};

// SIGTERM, SIGHUP and SIGINT close the window as the user would: a running experiment stops with
// its checkpoint and summary. The handler only writes a byte; the event loop does the rest.
void onStopSignal(int) {
    const char byte = 1;
    (void)!::write(gSignalPipe[1], &byte, 1);
}

// The command line of the window. Parsed twice: first without a display, so that --help,
// --version and a mistyped option answer on a server reached over SSH, then by the window's
// application.
struct CommandLine {
    QCommandLineParser parser;
    QCommandLineOption set{"set", "Override an experiment key: key.sub=value (repeatable)", "kv"};
    QCommandLineOption run{"run", "Start the experiment at once"};
    QCommandLineOption shot{"screenshot", "Save a screenshot of the window and quit", "file"};
    QCommandLineOption views{"screenshot-views", "Save a screenshot of every view and quit", "dir"};
    QCommandLineOption after{"after", "Seconds to wait before the screenshots (default 3)",
                             "seconds", "3"};
    QCommandLineOption compare{"compare",
                               "Overlay another run folder's curves on the views that plot over "
                               "time (repeatable)",
                               "dir"};

    explicit CommandLine(QCoreApplication& app) {
        QCoreApplication::setOrganizationName("dfq-workbench");
        QCoreApplication::setApplicationName("DFQ Workbench");
        QCoreApplication::setApplicationVersion(QString::fromStdString(dfq::versionString()));
        parser.setApplicationDescription(
            "Generative data-free quantization workbench: the window. Without a display, 'dfq "
            "run EXPERIMENT' runs the same experiments into the same run folders.");
        parser.addHelpOption();
        parser.addVersionOption();
        parser.addPositionalArgument(
            "target",
            "An experiment (YAML), a run folder, a sweep folder, a TorchScript model, or 'demo' "
            "(the default)");
        parser.addOptions({set, run, shot, views, after, compare});
        parser.process(app);  // prints help, version or the error and exits where it should
    }
};

// Whether Qt can open a window here: a platform chosen by QT_QPA_PLATFORM (offscreen, for
// screenshots), or an X11 or Wayland display.
bool hasDisplay() {
    return qEnvironmentVariableIsSet("QT_QPA_PLATFORM") ||
           !qEnvironmentVariableIsEmpty("DISPLAY") ||
           !qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY");
}

}  // namespace

int main(int argc, char** argv) {
    {
        QCoreApplication core(argc, argv);
        CommandLine check(core);
    }
    if (!hasDisplay()) {
        std::fprintf(stderr,
                     "dfq-workbench: no display to open the window on (DISPLAY and "
                     "WAYLAND_DISPLAY are not set).\n"
                     "  Headless, the same experiments run with the command line: dfq run "
                     "demo (or dfq run EXPERIMENT.yaml); dfq --help lists the rest.\n"
                     "  For screenshots without a display: QT_QPA_PLATFORM=offscreen "
                     "dfq-workbench demo --screenshot FILE.png\n");
        return 1;
    }
    QApplication app(argc, argv);
    CommandLine cl(app);
    dfq::initRuntime();
    QCommandLineParser& parser = cl.parser;
    const QCommandLineOption &set = cl.set, &run = cl.run, &shot = cl.shot, &views = cl.views,
                             &after = cl.after, &compare = cl.compare;

    dfq::ui::MainWindow window;
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, gSignalPipe) == 0) {
        auto* notifier = new QSocketNotifier(gSignalPipe[0], QSocketNotifier::Read, &window);
        QObject::connect(notifier, &QSocketNotifier::activated, &window, [&] {
            char byte;
            (void)!::read(gSignalPipe[0], &byte, 1);
            std::fprintf(stderr, "dfq-workbench: stopping (signal)\n");
            window.close();
            QApplication::exit(128 + SIGTERM);
        });
        for (int sig : {SIGTERM, SIGHUP, SIGINT})
            std::signal(sig, onStopSignal);
    }
    const QString target =
        parser.positionalArguments().isEmpty() ? "demo" : parser.positionalArguments().first();
    bool ok = true;
    if (QFileInfo(target).isDir()) {
        ok = window.open(target);  // a run folder or a sweep folder
    } else {
        ok = window.open(target);
        if (ok && parser.isSet(set)) {
            std::vector<std::string> sets;
            for (const QString& s : parser.values(set))
                sets.push_back(s.toStdString());
            try {
                window.setExperiment(dfq::run::parseExperimentConfig(
                    dfq::run::toYaml(window.form()->config()), target.toStdString(), sets));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "dfq-workbench: %s\n", e.what());
                return 1;
            }
        }
    }
    for (const QString& dir : parser.values(compare))
        ok = window.addComparison(dir) && ok;
    window.show();
    if (ok && parser.isSet(run))
        window.startRun();

    if (parser.isSet(shot) || parser.isSet(views)) {
        const int ms = static_cast<int>(1000 * parser.value(after).toDouble());
        QTimer::singleShot(ms, &window, [&] {
            int rc = 0;
            window.refreshAll();
            if (parser.isSet(views) && !window.saveViewScreenshots(parser.value(views)))
                rc = 1;
            if (parser.isSet(shot) && !window.grab().save(parser.value(shot)))
                rc = 1;
            window.controller().stop();
            window.controller().wait(-1);
            QApplication::exit(rc);
        });
    }
    return QApplication::exec();
}
