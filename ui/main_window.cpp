#include "main_window.h"

#include <qcustomplot.h>

#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QThread>
#include <QToolBar>
#include <fstream>

#include "accuracy_view.h"
#include "architecture_view.h"
#include "bn_view.h"
#include "boundary_view.h"
#include "core/analysis/mixed_precision.h"
#include "core/cpu_memory.h"
#include "core/error.h"
#include "core/model/model_summary.h"
#include "core/run/demo_teacher.h"
#include "core/run/export_run.h"
#include "core/run/sweep.h"
#include "core/safe_io.h"
#include "core/zip_check.h"
#include "experiment_form.h"
#include "feature_view.h"
#include "layers_view.h"
#include "loss_view.h"
#include "model_view.h"
#include "rounding_view.h"
#include "samples_view.h"
#include "sweep_view.h"

namespace dfq::ui {

namespace {

QString formatDuration(double s) {
    if (s < 60)
        return QString("%1 s").arg(s, 0, 'f', 0);
    if (s < 3600)
        return QString("%1 min %2 s").arg(static_cast<int>(s) / 60).arg(static_cast<int>(s) % 60);
    return QString("%1 h %2 min")
        .arg(static_cast<int>(s) / 3600)
        .arg((static_cast<int>(s) % 3600) / 60);
}

QString presetDir() {
    return QString::fromStdString(run::resourceDir() + "/presets");
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("DFQ Workbench"));
    setAcceptDrops(true);
    setObjectName("MainWindow");

    tabs_ = new QTabWidget;
    losses_ = new LossView;
    accuracy_ = new AccuracyView;
    bn_ = new BnView;
    samples_ = new SamplesView;
    rounding_ = new RoundingView;
    architecture_ = new ArchitectureView;
    boundary_ = new BoundaryView;
    features_ = new FeatureView;
    layers_ = new LayersView;
    modelView_ = new ModelView;
    sweep_ = new SweepView;
    tabs_->addTab(losses_, tr("Losses"));
    tabs_->addTab(accuracy_, tr("Accuracy"));
    tabs_->addTab(bn_, tr("BN statistics"));
    tabs_->addTab(samples_, tr("Samples"));
    tabs_->addTab(rounding_, tr("Rounding"));
    tabs_->addTab(layers_, tr("Layers"));
    tabs_->addTab(architecture_, tr("Architecture"));
    tabs_->addTab(boundary_, tr("Boundary"));
    tabs_->addTab(features_, tr("Features"));
    tabs_->addTab(modelView_, tr("Model"));
    tabs_->addTab(sweep_, tr("Sweep"));
    tabs_->setTabVisible(tabs_->indexOf(sweep_), false);  // until a sweep folder is opened
    setCentralWidget(tabs_);
    connect(tabs_, &QTabWidget::currentChanged, this, [this] { redraw(); });

    form_ = new ExperimentForm;
    auto* scroll = new QScrollArea;
    scroll->setWidget(form_);
    scroll->setWidgetResizable(true);
    auto* formDock = new QDockWidget(tr("Experiment"), this);
    formDock->setObjectName("ExperimentDock");
    formDock->setWidget(scroll);
    addDockWidget(Qt::LeftDockWidgetArea, formDock);

    log_ = new QPlainTextEdit;
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(5000);
    auto* logDock = new QDockWidget(tr("Log"), this);
    logDock->setObjectName("LogDock");
    logDock->setWidget(log_);
    addDockWidget(Qt::BottomDockWidgetArea, logDock);

    state_ = new QLabel(tr("Ready"));
    rate_ = new QLabel;
    progress_ = new QProgressBar;
    progress_->setMinimumWidth(260);
    progress_->setTextVisible(true);
    statusBar()->addWidget(state_, 1);
    statusBar()->addPermanentWidget(rate_);
    statusBar()->addPermanentWidget(progress_);

    buildMenus();
    auto* bar = addToolBar(tr("Run"));
    bar->setObjectName("RunToolBar");
    bar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    bar->addAction(start_);
    bar->addAction(pause_);
    bar->addAction(stop_);
    bar->addSeparator();
    bar->addWidget(new QLabel(tr("  presets, models and run folders can be dropped here")));

    for (PlotPanel* p : plotPanels())
        p->setComparisons(&comparisons_);
    connect(sweep_, &SweepView::openRun, this, [this](QString folder) {
        if (openRunFolder(folder))
            tabs_->setCurrentWidget(losses_);
    });
    connect(sweep_, &SweepView::overlayRuns, this, [this](QStringList folders) {
        for (const QString& f : folders)
            addComparison(f);
        statusBar()->showMessage(
            tr("%1 runs overlaid on the views that plot over time").arg(folders.size()), 5000);
    });
    connect(form_, &ExperimentForm::modelChanged, this, &MainWindow::loadModelSummary);
    connect(form_, &ExperimentForm::changed, this, &MainWindow::updateQuantizationColumn);
    connect(
        modelView_, &ModelView::layerBitsEdited, this,
        [this](QString path, int bits) {
            try {
                auto layerBits = form_->config().quantLayerBits;
                if (bits < 0)
                    layerBits.erase(path.toStdString());
                else
                    layerBits[path.toStdString()] = bits;
                form_->setLayerBits(layerBits);
                statusBar()->showMessage(bits < 0
                                             ? tr("%1: the experiment's weight bits").arg(path)
                                             : tr("quant.layer_bits: %1 = %2")
                                                   .arg(path)
                                                   .arg(bits ? QString::number(bits) : tr("FP")),
                                         5000);
            } catch (const std::exception& e) {
                showError(tr("The experiment is not valid"), QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);  // the table is refilled after the edit has ended
    connect(
        modelView_, &ModelView::invalidBits, this,
        [this](QString message) { statusBar()->showMessage(message, 8000); }, Qt::QueuedConnection);
    connectController();
    connectAnalysis();

    redrawTimer_.setInterval(40);
    connect(&redrawTimer_, &QTimer::timeout, this, &MainWindow::redraw);
    redrawTimer_.start();
    folderTimer_.setInterval(2000);
    connect(&folderTimer_, &QTimer::timeout, this, &MainWindow::pollRunFolder);

    resize(1280, 800);
    resizeDocks({logDock}, {130}, Qt::Vertical);
    QSettings settings;
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoreState(settings.value("window/state").toByteArray());
    rebuildRecentMenu();
    updateActions();
}

MainWindow::~MainWindow() {
    // The model loads post back to this window: they end before it goes.
    for (QThread* t : modelThreads_) {
        t->wait();
        delete t;
    }
}

std::vector<PlotPanel*> MainWindow::plotPanels() const {
    return {losses_, accuracy_, bn_, rounding_, architecture_, boundary_, features_, layers_};
}

void MainWindow::buildMenus() {
    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("Open &model…"), this, [this] {
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Open a TorchScript model"), {},
                                         tr("TorchScript (*.pt *.pth *.ptl);;All (*)"));
        if (!path.isEmpty())
            openModel(path);
    });
    file->addAction(tr("&Open experiment…"), QKeySequence::Open, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open an experiment"),
                                                          presetDir(), tr("YAML (*.yaml *.yml)"));
        if (!path.isEmpty())
            openExperiment(path);
    });
    file->addAction(tr("&Save experiment as…"), QKeySequence::SaveAs, this,
                    &MainWindow::saveExperimentAs);
    file->addAction(tr("Open &run or sweep folder…"), this, [this] {
        const QString dir =
            QFileDialog::getExistingDirectory(this, tr("Open a run or sweep folder"), "runs");
        if (!dir.isEmpty())
            open(dir);
    });
    file->addAction(tr("&Compare with run folder…"), this, [this] {
        const QString dir =
            QFileDialog::getExistingDirectory(this, tr("Run folder to compare with"), "runs");
        if (!dir.isEmpty())
            addComparison(dir);
    });
    file->addAction(tr("Clear comparisons"), this, &MainWindow::clearComparisons);
    file->addSeparator();
    export_ = file->addAction(tr("&Export the quantized student…"), this, [this] {
        const QString base = data_.folder + "/quantized_model";
        QString filter;
        QString path = QFileDialog::getSaveFileName(
            this, tr("Export the quantized student"), base + ".onnx",
            tr("ONNX with QuantizeLinear/DequantizeLinear (*.onnx);;Encodings JSON "
               "(*.encodings.json *.json);;TorchScript (*.pt)"),
            &filter);
        if (path.isEmpty())
            return;
        if (QFileInfo(path).suffix().isEmpty())
            path += filter.startsWith("ONNX")          ? ".onnx"
                    : filter.startsWith("TorchScript") ? ".pt"
                                                       : ".json";
        exportStudent(path);
    });
    export_->setToolTip(tr("A finished run's student for deployment tools (docs/export.md)"));
    recentMenu_ = file->addMenu(tr("Recent"));
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    auto* presets = menuBar()->addMenu(tr("&Presets"));
    for (const QFileInfo& f : QDir(presetDir()).entryInfoList({"*.yaml"}, QDir::Files, QDir::Name))
        presets->addAction(f.completeBaseName(), this,
                           [this, path = f.filePath()] { openExperiment(path); });

    auto* runMenu = menuBar()->addMenu(tr("&Run"));
    start_ = runMenu->addAction(tr("Start"), this, &MainWindow::startRun);
    start_->setShortcut(Qt::Key_F5);
    pause_ = runMenu->addAction(tr("Pause"));
    pause_->setCheckable(true);
    connect(pause_, &QAction::toggled, this, [this](bool on) { controller_.setPaused(on); });
    stop_ = runMenu->addAction(tr("Stop"), this, [this] { controller_.stop(); });
    runMenu->addAction(tr("Resume a stopped run…"), this, [this] {
        const QString dir =
            QFileDialog::getExistingDirectory(this, tr("Run folder to continue"), "runs");
        if (dir.isEmpty() || controller_.busy())
            return;
        data_.clear();
        dirty_.setAll();
        log_->clear();
        controller_.resume(dir);
    });

    auto* view = menuBar()->addMenu(tr("&View"));
    for (auto* dock : findChildren<QDockWidget*>())
        view->addAction(dock->toggleViewAction());
}

void MainWindow::connectController() {
    auto& c = controller_;
    connect(&c, &RunController::started, this,
            [this](QString folder, QString yaml, qint64 total, qint64 first) {
                data_.folder = folder;
                data_.configYaml = yaml;
                data_.totalSteps = total;
                progress_->setRange(0, static_cast<int>(total));
                progress_->setValue(static_cast<int>(first));
                appendLog(tr("Run folder: %1").arg(folder));
            });
    connect(&c, &RunController::iteration, this, [this](const run::IterationStats& s) {
        data_.iterations.push_back(s);
        dirty_.losses = true;
        progress_->setValue(static_cast<int>(s.step + 1));
        progress_->setFormat(
            tr("epoch %1 · %2/%3").arg(s.epoch + 1).arg(s.step + 1).arg(s.totalSteps));
        // The run's own estimate: the phases ahead at their measured costs (run/eta.h).
        const double eta =
            s.etaSeconds >= 0 ? s.etaSeconds
            : s.iterationsPerSecond > 0
                ? static_cast<double>(s.totalSteps - s.step - 1) / s.iterationsPerSecond
                : 0;
        rate_->setText(
            tr("%1 it/s, ETA %2").arg(s.iterationsPerSecond, 0, 'f', 2).arg(formatDuration(eta)));
    });
    connect(&c, &RunController::baseline, this, [this](QString name, double top1) {
        (name == "fp" ? data_.fpTop1 : data_.ptqTop1) = top1;
        dirty_.accuracy = true;
        appendLog(tr("%1 top-1: %2 %")
                      .arg(name == "fp" ? tr("FP teacher") : tr("PTQ baseline"))
                      .arg(top1, 0, 'f', 2));
    });
    connect(&c, &RunController::evaluated, this, [this](const run::EvalStats& e) {
        data_.evals.push_back(e);
        dirty_.accuracy = true;
        appendLog(tr("epoch %1: student top-1 %2 % (best %3 %)")
                      .arg(e.epoch + 1)
                      .arg(e.top1, 0, 'f', 2)
                      .arg(e.bestTop1, 0, 'f', 2));
    });
    connect(&c, &RunController::bnMatched, this, [this](const run::BnMatch& m) {
        if (!data_.firstBn)
            data_.firstBn = m;
        data_.lastBn = m;
        dirty_.bn = true;
    });
    connect(&c, &RunController::rounded, this, [this](const run::RoundingStats& r) {
        data_.rounding.push_back(r);
        dirty_.rounding = true;
    });
    connect(&c, &RunController::samples, this, [this](const run::SampleBatch& s) {
        data_.samples = s;
        dirty_.samples = true;
    });
    connect(&c, &RunController::architecture, this, [this](const run::ArchitectureStats& a) {
        if (!a.probabilities.empty())
            data_.architecture.push_back(a);
        if (a.final)
            data_.derivedArchitecture = QString::fromStdString(a.architecture);
        dirty_.architecture = true;
    });
    connect(&c, &RunController::boundary, this, [this](const run::BoundarySweep& b) {
        data_.boundary = b;
        dirty_.boundary = true;
    });
    connect(&c, &RunController::features, this, [this](const run::FeatureMap& f) {
        data_.features = f;
        dirty_.features = true;
    });
    connect(&c, &RunController::layers, this, [this](const run::LayerStats& l) {
        data_.layers.push_back(l);
        dirty_.layers = true;
    });
    connect(boundary_, &BoundaryView::pairChanged, &c, &RunController::setBoundaryPair);
    connect(&c, &RunController::logLine, this, &MainWindow::appendLog);
    connect(&c, &RunController::finished, this, [this](const run::RunSummary& s) {
        data_.summary = s;
        dirty_.setAll();
        // The last iteration's ETA would stay shown after the end.
        rate_->setText(
            tr("%1 iterations in %2").arg(s.iterations).arg(formatDuration(s.wallSeconds)));
        QString line = tr("Run %1 after %2 iterations in %3")
                           .arg(QString::fromStdString(s.status))
                           .arg(s.iterations)
                           .arg(formatDuration(s.wallSeconds));
        if (s.lastTop1 >= 0)
            line += tr(": FP %1 %, PTQ %2 %, student %3 % best, %4 % last")
                        .arg(s.fpTop1, 0, 'f', 2)
                        .arg(s.ptqTop1, 0, 'f', 2)
                        .arg(s.bestTop1, 0, 'f', 2)
                        .arg(s.lastTop1, 0, 'f', 2);
        appendLog(line);
        if (s.status == "diverged")
            showError(tr("The run diverged"), QString::fromStdString(s.error));
        else if (!s.warnings.empty())
            showError(tr("The run %1 with warnings").arg(QString::fromStdString(s.status)),
                      warningText(s));
    });
    connect(&c, &RunController::failed, this,
            [this](QString message) { showError(tr("The run failed"), message); });
    connect(&c, &RunController::stateChanged, this, [this] { updateActions(); });
}

void MainWindow::connectAnalysis() {
    auto& a = analysis_;
    connect(layers_, &LayersView::analyzeRequested, this, &MainWindow::analyze);
    connect(layers_, &LayersView::cancelRequested, &a, &AnalysisController::cancel);
    connect(layers_, &LayersView::planRequested, &a, &AnalysisController::plan);
    connect(layers_, &LayersView::measureRequested, this, [this] {
        if (!data_.analysis)
            return;
        auto points = data_.analysis->points;
        if (data_.analysis->hasPlan)
            points.push_back(data_.analysis->plan);
        analysis_.measure(points);
    });
    connect(layers_, &LayersView::planChosen, this, [this](std::map<std::string, int> bits) {
        try {
            std::map<std::string, int64_t> layerBits;
            for (const auto& [name, b] : bits)
                layerBits[name] = b;
            form_->setLayerBits(layerBits);
            appendLog(
                tr("quant.layer_bits set from the analysis's plan (%1 layers)").arg(bits.size()));
        } catch (const std::exception& e) {
            showError(tr("The experiment is not valid"), QString::fromStdString(e.what()));
        }
    });
    connect(&a, &AnalysisController::progress, layers_, &LayersView::setProgress);
    connect(&a, &AnalysisController::logLine, this, &MainWindow::appendLog);
    connect(&a, &AnalysisController::analyzed, this, [this](const analysis::AnalysisResult& r) {
        if (!r.planError.empty())
            appendLog(tr("Mixed precision: %1").arg(QString::fromStdString(r.planError)));
        data_.analysis = r;
        analysisInMemory_ = true;
        dirty_.layers = true;
        updateAnalysisState();
    });
    connect(&a, &AnalysisController::planned, this, [this](const analysis::PlanPoint& p) {
        if (!data_.analysis)
            return;
        data_.analysis->points.push_back(p);
        dirty_.layers = true;
        appendLog(tr("%1: %2 bits on average, %3 KiB")
                      .arg(QString::fromStdString(p.label))
                      .arg(p.avgWeightBits, 0, 'f', 3)
                      .arg(p.sizeKiB, 0, 'f', 1));
    });
    connect(&a, &AnalysisController::measured, this,
            [this](const std::vector<analysis::PlanPoint>& points) {
                if (!data_.analysis)
                    return;
                analysis::applyMeasured(*data_.analysis, points);
                dirty_.layers = true;
                appendLog(tr("Measured %1 plans on the real data").arg(points.size()));
            });
    connect(&a, &AnalysisController::failed, this, [this](QString message) {
        if (message.contains("cancelled")) {
            layers_->setStatus(tr("Cancelled"));
            appendLog(tr("The analysis was cancelled"));
            return;
        }
        layers_->setStatus(tr("<font color='#c00'>failed</font>"));
        showError(tr("The analysis failed"), message);
    });
    connect(&a, &AnalysisController::busyChanged, this, [this] {
        updateAnalysisState();
        updateActions();
    });
}

void MainWindow::analyze(const QString& source, const std::vector<int>& bits) {
    if (controller_.busy() || analysis_.busy())
        return;
    run::AnalysisRequest q;
    try {
        q.config = form_->config();
    } catch (const std::exception& e) {
        showError(tr("The experiment is not valid"), QString::fromStdString(e.what()));
        return;
    }
    q.source = source.toStdString();
    q.bits = bits;
    if (source == "run") {
        if (data_.folder.isEmpty()) {
            showError(tr("No run folder"), tr("Open a run folder to analyze with its generator."));
            return;
        }
        q.runFolder = data_.folder.toStdString();
    }
    const QString folder = QString::fromStdString(run::defaultAnalysisDir(q));
    layers_->setStatus(tr("Analyzing…"));
    layers_->setProgress(tr("starting"), 0, 1);
    appendLog(tr("Analyzing %1 with %2 (bits %3)")
                  .arg(QString::fromStdString(q.config.name), source, [&] {
                      QStringList l;
                      for (int b : bits)
                          l << QString::number(b);
                      return l.join(',');
                  }()));
    analysis_.start(q, folder);
}

void MainWindow::updateAnalysisState() {
    const bool hasRunFolder =
        !data_.folder.isEmpty() && QFileInfo::exists(data_.folder + "/checkpoints/last.pt");
    layers_->setAnalysisState(analysis_.busy(), analysisInMemory_ && analysis_.hasJob(),
                              analysisInMemory_ && analysis_.canMeasure(), hasRunFolder,
                              controller_.busy());
}

QString MainWindow::logText() const {
    return log_->toPlainText();
}

QString MainWindow::warningText(const run::RunSummary& s) {
    QStringList lines;
    for (const auto& w : s.warnings)
        lines << QString::fromStdString(w);
    return lines.join("\n");
}

void MainWindow::appendLog(const QString& line) {
    log_->appendPlainText(line);
}

void MainWindow::showError(const QString& title, const QString& message) {
    lastError_ = message;
    appendLog(title + ": " + message);
    auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

bool MainWindow::openExperiment(const QString& path) {
    try {
        const std::string file = path == "demo"
                                     ? run::resourceDir() + "/presets/demo-fmnist-gdfq-w4a4.yaml"
                                     : path.toStdString();
        setExperiment(run::loadExperimentConfig(file));
        if (path != "demo")
            addRecent(path);
        return true;
    } catch (const std::exception& e) {
        showError(tr("Cannot open the experiment"), QString::fromStdString(e.what()));
        return false;
    }
}

bool MainWindow::openModel(const QString& path) {
    try {
        auto c = form_->config();
        c.modelPath = path.toStdString();
        setExperiment(c);
        addRecent(path);
        return true;
    } catch (const std::exception& e) {
        showError(tr("Cannot open the model"), QString::fromStdString(e.what()));
        return false;
    }
}

bool MainWindow::open(const QString& path) {
    if (QFileInfo(path).isDir())
        return run::isSweepFolder(path.toStdString()) ? openSweepFolder(path) : openRunFolder(path);
    if (path != "demo" && looksLikeZip(path.toStdString()))
        return openModel(path);
    return openExperiment(path);
}

void MainWindow::setExperiment(const run::ExperimentConfig& config) {
    form_->setConfig(config);
    setWindowTitle(tr("DFQ Workbench — %1").arg(QString::fromStdString(config.name)));
    updateQuantizationColumn();
}

void MainWindow::saveExperimentAs() {
    try {
        const auto c = form_->config();
        const QString path = QFileDialog::getSaveFileName(this, tr("Save the experiment"),
                                                          QString::fromStdString(c.name) + ".yaml",
                                                          tr("YAML (*.yaml)"));
        if (path.isEmpty())
            return;
        io::writeFileAtomically(path.toStdString(), run::toYaml(c));
        addRecent(path);
    } catch (const std::exception& e) {
        showError(tr("Cannot save the experiment"), QString::fromStdString(e.what()));
    }
}

void MainWindow::loadModelSummary(const QString& modelPath) {
    const std::string path = modelPath == "demo" ? run::demoTeacherPath() : modelPath.toStdString();
    std::vector<int64_t> shape;
    try {
        shape = form_->config().modelInputShape;
    } catch (const std::exception&) {
    }
    modelView_->setMessage(tr("Loading %1…").arg(modelPath));
    const int request = ++modelRequest_;
    // Loading runs a probe forward pass: off the GUI thread, the result comes back queued.
    QThread* t = QThread::create([this, path, shape, request] {
        model::ModelSummary s;
        QString error;
        try {
            s = model::summarizeModel(path, shape);
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(this, [this, s, error, request] {
            if (request != modelRequest_)
                return;
            if (!error.isEmpty()) {
                modelView_->setMessage(
                    tr("<font color='#c00'>%1</font>").arg(error.toHtmlEscaped()));
                showError(tr("Cannot open the model"), error);
                return;
            }
            modelView_->setSummary(s);
            data_.classNames.clear();
            for (const auto& n : s.meta.classNames)
                data_.classNames.push_back(QString::fromStdString(n));
            updateQuantizationColumn();
        });
    });
    modelThreads_.push_back(t);
    connect(t, &QThread::finished, this, [this, t] {
        modelThreads_.erase(std::find(modelThreads_.begin(), modelThreads_.end(), t));
        t->deleteLater();
    });
    t->start();
}

void MainWindow::updateQuantizationColumn() {
    try {
        const auto c = form_->config();
        modelView_->setQuantization(static_cast<int>(c.quantWeightBits),
                                    static_cast<int>(c.quantActivationBits), c.quantFirstLast,
                                    c.quantLayerBits);
    } catch (const std::exception&) {
    }
}

void MainWindow::startRun() {
    if (controller_.busy())
        return;
    if (analysis_.busy()) {
        showError(tr("An analysis is running"),
                  tr("Wait for it or cancel it on the Layers view before starting a run: both "
                     "use the same random generator and cores."));
        return;
    }
    run::ExperimentConfig c;
    try {
        c = form_->config();
    } catch (const std::exception& e) {
        showError(tr("The experiment is not valid"), QString::fromStdString(e.what()));
        return;
    }
    folderTimer_.stop();
    watchedFolder_.clear();
    const auto names = data_.classNames;
    data_.clear();
    data_.classNames = names;
    data_.totalSteps = c.scheduleEpochs * c.scheduleIterations;
    analysisInMemory_ = false;
    dirty_.setAll();
    log_->clear();
    appendLog(tr("Starting %1").arg(QString::fromStdString(c.name)));
    controller_.start(c);
}

bool MainWindow::openRunFolder(const QString& folder) {
    if (controller_.busy()) {
        showError(tr("A run is in progress"), tr("Stop it before opening a run folder."));
        return false;
    }
    try {
        const auto names = data_.classNames;
        data_ = readRunFolder(folder);
        data_.classNames = names;
        analysisInMemory_ = false;
        updateAnalysisState();
        const auto c = run::parseExperimentConfig(data_.configYaml.toStdString(),
                                                  (folder + "/config.yaml").toStdString());
        data_.totalSteps = c.scheduleEpochs * c.scheduleIterations;
        setExperiment(c);
        dirty_.setAll();
        addRecent(folder);
        appendLog(tr("Opened the run folder %1").arg(folder));
        if (data_.summary)
            for (const auto& warning : data_.summary->warnings)
                appendLog(tr("warning: %1").arg(QString::fromStdString(warning)));
        watchedFolder_ = folder;
        // A run still being written (by `dfq run` elsewhere) is followed live.
        if (!data_.summary || data_.summary->status == "running")
            folderTimer_.start();
        updateActions();
        return true;
    } catch (const std::exception& e) {
        showError(tr("Cannot open the run folder"), QString::fromStdString(e.what()));
        return false;
    }
}

bool MainWindow::openSweepFolder(const QString& folder) {
    try {
        sweep_->setFolder(folder);
        // The form shows the first point's experiment: a start for a run of one's own.
        const run::Sweep sweep = run::readSweepFolder(folder.toStdString());
        if (!sweep.points.empty())
            setExperiment(sweep.config(sweep.points.front()));
        tabs_->setTabVisible(tabs_->indexOf(sweep_), true);
        tabs_->setCurrentWidget(sweep_);
        addRecent(folder);
        appendLog(tr("Opened the sweep folder %1").arg(folder));
        return true;
    } catch (const std::exception& e) {
        showError(tr("Cannot open the sweep folder"), QString::fromStdString(e.what()));
        return false;
    }
}

bool MainWindow::exportStudent(const QString& path) {
    run::ExportRequest r;
    r.runFolder = data_.folder.toStdString();
    r.out = path.toStdString();
    r.format = path.endsWith(".onnx", Qt::CaseInsensitive) ? "onnx"
               : path.endsWith(".pt", Qt::CaseInsensitive) ? "torchscript"
                                                           : "encodings";
    if (data_.folder.isEmpty()) {
        showError(tr("Nothing to export"), tr("Open a finished run folder first."));
        return false;
    }
    try {
        QApplication::setOverrideCursor(Qt::WaitCursor);
        const auto result = run::exportRun(r);
        releaseCpuMemory();
        QApplication::restoreOverrideCursor();
        for (const auto& note : result.notes)
            appendLog(QString::fromStdString(note));
        appendLog(tr("Exported the quantized student to %1").arg(path));
        statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
        return true;
    } catch (const std::exception& e) {
        QApplication::restoreOverrideCursor();
        showError(tr("Cannot export the student"), QString::fromStdString(e.what()));
        return false;
    }
}

bool MainWindow::addComparison(const QString& folder) {
    try {
        comparisons_.push_back(readRunFolder(folder));
        dirty_.setAll();
        appendLog(tr("Comparing with %1").arg(folder));
        return true;
    } catch (const std::exception& e) {
        showError(tr("Cannot open the run folder"), QString::fromStdString(e.what()));
        return false;
    }
}

void MainWindow::clearComparisons() {
    comparisons_.clear();
    dirty_.setAll();
}

void MainWindow::pollRunFolder() {
    if (watchedFolder_.isEmpty() || controller_.busy()) {
        folderTimer_.stop();
        return;
    }
    try {
        const auto names = data_.classNames;
        const auto total = data_.totalSteps;
        const auto analysis = data_.analysis;
        data_ = readRunFolder(watchedFolder_);
        data_.classNames = names;
        data_.totalSteps = total;
        if (analysisInMemory_)
            data_.analysis = analysis;
        dirty_.setAll();
        if (data_.summary && data_.summary->status != "running") {
            folderTimer_.stop();
            updateActions();
        }
    } catch (const std::exception&) {
        folderTimer_.stop();
    }
}

void MainWindow::redraw() {
    if (!dirty_.any())
        return;
    QWidget* current = tabs_->currentWidget();
    auto draw = [&](QWidget* view, bool& flag, auto&& fn) {
        if (flag && view == current) {
            fn();
            flag = false;
        }
    };
    draw(losses_, dirty_.losses, [&] { losses_->refresh(data_); });
    draw(accuracy_, dirty_.accuracy, [&] { accuracy_->refresh(data_); });
    draw(bn_, dirty_.bn, [&] { bn_->refresh(data_); });
    draw(samples_, dirty_.samples, [&] { samples_->refresh(data_); });
    draw(rounding_, dirty_.rounding, [&] { rounding_->refresh(data_); });
    draw(layers_, dirty_.layers, [&] { layers_->refresh(data_); });
    draw(architecture_, dirty_.architecture, [&] { architecture_->refresh(data_); });
    draw(boundary_, dirty_.boundary, [&] { boundary_->refresh(data_); });
    draw(features_, dirty_.features, [&] { features_->refresh(data_); });
}

void MainWindow::refreshAll() {
    losses_->refresh(data_);
    accuracy_->refresh(data_);
    bn_->refresh(data_);
    samples_->refresh(data_);
    rounding_->refresh(data_);
    layers_->refresh(data_);
    architecture_->refresh(data_);
    boundary_->refresh(data_);
    features_->refresh(data_);
    dirty_ = {};
}

bool MainWindow::saveViewScreenshots(const QString& dir) {
    QDir().mkpath(dir);
    bool ok = true;
    const int keep = tabs_->currentIndex();
    const QStringList names = {"losses",   "accuracy", "bn-statistics", "samples",
                               "rounding", "layers",   "architecture",  "boundary",
                               "features", "model",    "sweep"};
    for (int i = 0; i < tabs_->count() && i < names.size(); ++i) {
        if (!tabs_->isTabVisible(i))
            continue;
        tabs_->setCurrentIndex(i);
        refreshAll();
        for (auto* p : plotPanels())
            for (auto* plot : p->plots())
                plot->replot(QCustomPlot::rpImmediateRefresh);
        QApplication::processEvents();
        ok = grab().save(dir + "/" + names[i] + ".png") && ok;
        // The Layers view's pages too: layers-sensitivity.png, layers-layer.png, ...
        if (tabs_->widget(i) == layers_) {
            const QStringList pages = {"sensitivity", "layer", "mixed-precision", "live"};
            for (int p = 0; p < layers_->pages()->count() && p < pages.size(); ++p) {
                layers_->pages()->setCurrentIndex(p);
                for (auto* plot : layers_->plots())
                    plot->replot(QCustomPlot::rpImmediateRefresh);
                QApplication::processEvents();
                ok = grab().save(dir + "/layers-" + pages[p] + ".png") && ok;
            }
            layers_->pages()->setCurrentIndex(0);
        }
    }
    tabs_->setCurrentIndex(keep);
    return ok;
}

void MainWindow::updateActions() {
    const auto s = controller_.state();
    const bool busy = controller_.busy();
    start_->setEnabled(!busy);
    pause_->setEnabled(busy && s != RunController::State::Stopping);
    stop_->setEnabled(busy && s != RunController::State::Stopping);
    if (!busy && pause_->isChecked()) {
        const QSignalBlocker block(pause_);
        pause_->setChecked(false);
    }
    form_->setEnabledForRun(busy);
    export_->setEnabled(!busy && data_.summary && data_.summary->status == "finished");
    updateAnalysisState();
    switch (s) {
        case RunController::State::Idle:
            state_->setText(data_.summary
                                ? tr("Run %1").arg(QString::fromStdString(data_.summary->status))
                                : tr("Ready"));
            break;
        case RunController::State::Running:
            state_->setText(tr("Running"));
            break;
        case RunController::State::Paused:
            state_->setText(tr("Paused"));
            break;
        case RunController::State::Stopping:
            state_->setText(tr("Stopping after this iteration…"));
            break;
    }
}

void MainWindow::addRecent(const QString& path) {
    QSettings settings;
    QStringList recent = settings.value("recent").toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > 10)
        recent.removeLast();
    settings.setValue("recent", recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    for (const QString& path : QSettings().value("recent").toStringList())
        recentMenu_->addAction(path, this, [this, path] { open(path); });
    recentMenu_->setEnabled(!recentMenu_->isEmpty());
}

void MainWindow::closeEvent(QCloseEvent* e) {
    if (controller_.busy()) {
        controller_.stop();
        controller_.wait(-1);
    }
    analysis_.cancel();
    analysis_.wait(-1);
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    e->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls())
        e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
    for (const QUrl& url : e->mimeData()->urls()) {
        const QString path = url.toLocalFile();
        open(path);
    }
}

}  // namespace dfq::ui
