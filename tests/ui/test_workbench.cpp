#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <unistd.h>

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QScrollBar>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "core/analysis/report_io.h"
#include "core/run/analysis_job.h"
#include "core/run/experiment_config.h"
#include "core/run/sweep.h"
#include "core/safe_io.h"
#include "ui/architecture_view.h"
#include "ui/experiment_form.h"
#include "ui/feature_view.h"
#include "ui/layers_view.h"
#include "ui/main_window.h"
#include "ui/model_view.h"
#include "ui/plot_panel.h"
#include "ui/run_data.h"
#include "ui/samples_view.h"
#include "ui/sweep_view.h"

using dfq::ui::MainWindow;

namespace {

// Runs the event loop (sleeping between events, not spinning) until `done` or the timeout.
bool waitFor(const std::function<bool()>& done, int timeoutMs) {
    QElapsedTimer t;
    t.start();
    while (!done() && t.elapsed() < timeoutMs) {
        QEventLoop loop;
        QTimer::singleShot(20, &loop, &QEventLoop::quit);
        loop.exec();
    }
    return done();
}

// The demo preset with a budget of seconds, writing below `out`.
void loadTinyDemo(MainWindow& w, const QString& out, int epochs = 3, int iterations = 4) {
    ASSERT_TRUE(w.openExperiment("demo"));
    const std::vector<std::string> sets = {"schedule.epochs=" + std::to_string(epochs),
                                           "schedule.iterations=" + std::to_string(iterations),
                                           "schedule.warmup_epochs=1",
                                           "schedule.calibration_epochs=1",
                                           "schedule.lr_milestones=[2]",
                                           "generator.batch_size=16",
                                           "generator.channels=16",
                                           "data.limit=300",
                                           "output.sample_every=4",
                                           "output.bn_every=2",
                                           "output.dir=" + out.toStdString()};
    w.setExperiment(
        dfq::run::parseExperimentConfig(dfq::run::toYaml(w.form()->config()), "test", sets));
}

QCustomPlot* plotOf(MainWindow& w, int panel, int plot = 0) {
    return w.plotPanels().at(static_cast<size_t>(panel))->plots().at(static_cast<size_t>(plot));
}

bool hasVisibleMessageBox() {
    for (QWidget* top : QApplication::topLevelWidgets())
        if (qobject_cast<QMessageBox*>(top) && top->isVisible())
            return true;
    return false;
}

void closeMessageBoxes() {
    for (QWidget* top : QApplication::topLevelWidgets())
        if (auto* box = qobject_cast<QMessageBox*>(top))
            box->close();
}

}  // namespace

TEST(Workbench, OpensWithTheDemoAndItsLayerTable) {
    MainWindow w;
    ASSERT_TRUE(w.openExperiment("demo"));
    w.show();
    EXPECT_EQ(w.form()->config().name, "demo-fmnist-gdfq-w4a4");
    ASSERT_TRUE(waitFor([&] { return w.modelView()->rowCount() > 0; }, 30000));
    EXPECT_EQ(w.modelView()->summary().meta.numClasses, 10);
    EXPECT_EQ(w.views()->count(), 11);
    EXPECT_FALSE(w.views()->isTabVisible(10));  // the Sweep view, until a sweep folder is opened
}

TEST(Workbench, TheFormShowsAndReturnsEveryKeyItEdits) {
    MainWindow w;
    const auto in = dfq::run::parseExperimentConfig(
        "name: form\nmodel: {path: demo}\nquant: {weight_bits: 3, activation_bits: 5, "
        "first_last: 8bit, weight_range: mse, calibration: minmax, calibration_batches: 7}\n"
        "schedule: {epochs: 9, iterations: 11, warmup_epochs: 2, calibration_epochs: 2, "
        "lr_milestones: [5]}\ngenerator: {batch_size: 48, lr: 0.002}\nstudent: {lr: 3e-05}\n"
        "seed: 17\ndevice: cpu\nprecision: bf16\nmethod: {generator: qimera, student: ait}\n"
        "qimera: {superpose_prob: 0.7, labels_per_sample: 3, embedding_init: random, "
        "mapping: false}\n",
        "test", {});
    w.setExperiment(in);
    const auto out = w.form()->config();
    EXPECT_EQ(dfq::run::toYaml(out), dfq::run::toYaml(in));
    EXPECT_EQ(out.methodGenerator, "qimera");
    EXPECT_EQ(out.qimeraLabelsPerSample, 3);
    EXPECT_FALSE(out.qimeraMapping);
    EXPECT_EQ(out.quantWeightRange, dfq::run::WeightRange::Mse);
    EXPECT_EQ(out.quantCalibration, dfq::run::CalibrationChoice::MinMax);
    EXPECT_EQ(out.quantCalibrationBatches, 7);
    EXPECT_EQ(out.studentLr, 3e-05);
    EXPECT_EQ(out.precision, dfq::run::PrecisionChoice::Bf16);
}

// Whether the form shows the row labelled `label`.
bool rowShown(QWidget* form, const QString& label) {
    for (auto* l : form->findChildren<QLabel*>())
        if (l->text() == label)
            return l->isVisibleTo(form);
    ADD_FAILURE() << "no row " << label.toStdString();
    return false;
}

TEST(Workbench, TheFormShowsARecipesKeysOnlyWhileItIsChosenAndFitsTheWindow) {
    MainWindow w;
    w.resize(1280, 800);
    w.show();
    auto gdfq = dfq::run::parseExperimentConfig("name: form", "test", {});
    w.setExperiment(gdfq);
    QApplication::processEvents();
    dfq::ui::ExperimentForm* form = w.form();
    // The recipe choices are the registry's, the sections are titled.
    QComboBox* generator = nullptr;
    for (auto* c : form->findChildren<QComboBox*>())
        if (c->findText("gdfq") >= 0 && !generator)
            generator = c;
    ASSERT_NE(generator, nullptr);
    EXPECT_GE(generator->count(), 3);
    EXPECT_GE(generator->findText("qimera"), 0);
    EXPECT_TRUE(rowShown(form, "<b>Quantization</b>"));
    EXPECT_FALSE(rowShown(form, "Boundary-batch probability"));
    EXPECT_FALSE(rowShown(form, "Architecture"));
    auto qimera = gdfq;
    qimera.methodGenerator = "qimera";
    w.setExperiment(qimera);
    EXPECT_TRUE(rowShown(form, "Boundary-batch probability"));
    EXPECT_FALSE(rowShown(form, "Architecture"));
    auto autorecon = gdfq;
    autorecon.methodGenerator = "autorecon";
    w.setExperiment(autorecon);
    EXPECT_FALSE(rowShown(form, "Boundary-batch probability"));
    EXPECT_TRUE(rowShown(form, "Architecture"));
    EXPECT_FALSE(rowShown(form, "Architecture search epochs"));
    autorecon.autoreconArchitecture = "search";
    w.setExperiment(autorecon);
    EXPECT_TRUE(rowShown(form, "Architecture search epochs"));
    // A recipe's declared keys (ZeroQ's) are fields of their own, shown with the recipe.
    EXPECT_FALSE(rowShown(form, "ZeroQ: pool size"));
    auto zeroq = dfq::run::parseExperimentConfig(
        "name: z\nmethod: {generator: zeroq}\nzeroq: {pool_size: 512}\n", "test", {});
    w.setExperiment(zeroq);
    EXPECT_TRUE(rowShown(form, "ZeroQ: pool size"));
    EXPECT_FALSE(rowShown(form, "Architecture"));
    EXPECT_EQ(form->config().recipeValue("zeroq.pool_size"), 512);
    // Declared booleans are check boxes, choices combo boxes, texts line edits, and the form
    // returns what they show.
    auto hast = dfq::run::parseExperimentConfig(
        "name: h\nmethod: {generator: hast, student: synq}\n"
        "hast: {augment: false, labels: random, from: \"runs/a b\"}\n",
        "test", {});
    w.setExperiment(hast);
    EXPECT_TRUE(rowShown(form, "HAST: augment"));
    EXPECT_TRUE(rowShown(form, "SynQ: cam"));
    EXPECT_FALSE(rowShown(form, "ZeroQ: pool size"));
    const auto back = form->config();
    EXPECT_FALSE(back.recipeFlag("hast.augment"));
    EXPECT_TRUE(back.recipeFlag("synq.cam"));
    EXPECT_EQ(back.recipeText("hast.labels"), "random");
    EXPECT_EQ(back.recipeText("hast.from"), "runs/a b");
    auto* formLayout = qobject_cast<QFormLayout*>(form->layout());
    ASSERT_NE(formLayout, nullptr);
    auto field = [&](const QString& label) -> QWidget* {
        for (auto* l : form->findChildren<QLabel*>()) {
            int row = -1;
            QFormLayout::ItemRole role;
            formLayout->getWidgetPosition(l, &row, &role);
            if (l->text() == label && row >= 0)
                return formLayout->itemAt(row, QFormLayout::FieldRole)->widget();
        }
        return nullptr;
    };
    auto* augment = qobject_cast<QCheckBox*>(field("HAST: augment"));
    auto* labels = qobject_cast<QComboBox*>(field("HAST: labels"));
    ASSERT_NE(augment, nullptr);
    ASSERT_NE(labels, nullptr);
    augment->setChecked(true);
    labels->setCurrentText("balanced");
    EXPECT_TRUE(form->config().recipeFlag("hast.augment"));
    EXPECT_EQ(form->config().recipeText("hast.labels"), "balanced");
    QApplication::processEvents();
    // No horizontal scrolling in a 1280 x 800 window.
    auto* scroll = qobject_cast<QScrollArea*>(form->parentWidget()->parentWidget());
    ASSERT_NE(scroll, nullptr);
    EXPECT_FALSE(scroll->horizontalScrollBar()->isVisible());
    EXPECT_LE(form->minimumSizeHint().width(), scroll->viewport()->width());
}

// HAST's set with SynQ's student from the window: the samples view shows the set's images with
// their difficulty, and the losses view the Grad-CAM term beside the CE and the KD.
TEST(Workbench, AHastSynqRunShowsItsSetAndEachTerm) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 2, 4);
    w.setExperiment(
        dfq::run::parseExperimentConfig(dfq::run::toYaml(w.form()->config()), "test",
                                        {"method.generator=hast", "method.student=synq",
                                         "hast.images=16", "hast.batch=8", "hast.steps=2"}));
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    w.refreshAll();
    EXPECT_TRUE(w.samplesView()->header().contains("HAST's fixed set"))
        << w.samplesView()->header().toStdString();
    const auto& captions = w.samplesView()->captions();
    ASSERT_EQ(captions.size(), 16u);
    for (const QString& c : captions) {
        // "Coat d.42": the class and the difficulty, in [0, 1].
        const QString d = c.section('\n', 0, 0).section(' ', -1);
        ASSERT_TRUE(d.startsWith('d')) << c.toStdString();
        const double v = d.mid(1).toDouble();
        EXPECT_GE(v, 0.0);
        EXPECT_LE(v, 1.0);
    }
    QCustomPlot* losses = plotOf(w, 0);
    QCPGraph* cam = nullptr;
    for (int i = 0; i < losses->graphCount(); ++i)
        if (losses->graph(i)->name().contains("Grad-CAM"))
            cam = losses->graph(i);
    ASSERT_NE(cam, nullptr);
    EXPECT_TRUE(cam->visible());
    EXPECT_EQ(cam->dataCount(), 4);  // the student's 4 iterations
    EXPECT_TRUE(QFileInfo::exists(w.data().folder + "/synthetic_set.pt"));
}

TEST(Workbench, AQimeraRunShowsItsBoundarySamples) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 2, 4);
    w.setExperiment(dfq::run::parseExperimentConfig(
        dfq::run::toYaml(w.form()->config()), "test",
        {"method.generator=qimera", "qimera.superpose_prob=1", "qimera.labels_per_sample=3"}));
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    w.refreshAll();
    EXPECT_TRUE(w.samplesView()->showsBoundarySamples());
    const auto& captions = w.samplesView()->captions();
    ASSERT_EQ(captions.size(), 16u);
    for (const QString& c : captions) {
        // "Bag .52 + Coat .31 + Shirt .17", then the teacher's top class.
        const QStringList parts = c.section('\n', 0, 0).split(" + ");
        ASSERT_EQ(parts.size(), 3) << c.toStdString();
        double sum = 0;
        for (const QString& p : parts)
            sum += p.section(' ', -1).toDouble();
        EXPECT_NEAR(sum, 1.0, 0.021) << c.toStdString();
    }
    // The boundary sweep between the chosen classes: 11 mixture weights from 0 to 1, the
    // teacher's p(a) and p(b) on each.
    ASSERT_TRUE(w.data().boundary.has_value());
    const auto& b = *w.data().boundary;
    EXPECT_EQ(b.a, 0);
    EXPECT_EQ(b.b, 1);
    ASSERT_EQ(b.t.size(), 11u);
    EXPECT_EQ(b.t.front(), 0.0);
    EXPECT_EQ(b.t.back(), 1.0);
    for (size_t i = 0; i < b.t.size(); ++i) {
        EXPECT_GE(b.pa[i], 0.0);
        EXPECT_LE(b.pa[i] + b.pb[i], 1.0 + 1e-6);
    }
    auto* view = w.plotPanels().at(5);
    EXPECT_EQ(view->plots().at(0)->graph(0)->dataCount(), 11);
    EXPECT_EQ(view->plots().at(0)->graph(1)->dataCount(), 11);
    // The feature map: 128 synthetic, 128 boundary and 128 real (data.limit 300) points.
    auto* features = static_cast<dfq::ui::FeatureView*>(w.plotPanels().at(6));
    EXPECT_EQ(features->pointCount(0), 128);
    EXPECT_EQ(features->pointCount(1), 128);
    EXPECT_EQ(features->pointCount(2), 128);
    ASSERT_TRUE(w.data().features.has_value());
    double spread = 0;
    for (float v : w.data().features->x)
        spread = std::max(spread, std::abs(static_cast<double>(v)));
    EXPECT_GT(spread, 1e-3);
    // Read back from the run folder.
    MainWindow again;
    ASSERT_TRUE(again.openRunFolder(w.data().folder));
    ASSERT_EQ(again.data().features->x.size(), 384u);
    ASSERT_TRUE(again.data().boundary.has_value());
    EXPECT_EQ(again.data().boundary->step, b.step);
    EXPECT_NEAR(again.data().boundary->pb.back(), b.pb.back(), 1e-5);
}

TEST(Workbench, AnAutoReconSearchFillsTheArchitectureView) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 2, 6);
    w.setExperiment(dfq::run::parseExperimentConfig(
        dfq::run::toYaml(w.form()->config()), "test",
        {"method.generator=autorecon", "autorecon.architecture=search", "autorecon.search_epochs=2",
         "autorecon.channels=4", "generator.batch_size=8"}));
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    w.refreshAll();
    // Search reports every 10 steps and at the end: steps 0, 10, 11 of the 12 search steps.
    ASSERT_EQ(w.data().architecture.size(), 3u);
    EXPECT_EQ(w.data().architecture.back().probabilities.size(), 33u);
    EXPECT_FALSE(w.data().derivedArchitecture.isEmpty());
    auto* view = static_cast<dfq::ui::ArchitectureView*>(w.plotPanels().at(4));
    auto* map = static_cast<QCPColorMap*>(view->plots().at(0)->plottable(0));
    EXPECT_EQ(map->data()->valueSize(), 2 * 6 + 7 * 15 + 3 * 12);
    EXPECT_EQ(map->data()->keySize(), 3);
    EXPECT_GE(view->graph()->edgeCount(), 6);
    EXPECT_EQ(view->graph()->architecture(), w.data().derivedArchitecture);
    // 12 search iterations, then the schedule's 12.
    EXPECT_EQ(w.data().iterations.size(), 24u);
    // Read back from the run folder.
    MainWindow again;
    ASSERT_TRUE(again.openRunFolder(w.data().folder));
    ASSERT_EQ(again.data().architecture.size(), 3u);
    EXPECT_EQ(
        again.data().architecture[1].choices[20],
        (std::vector<std::string>{"none", "skip", "conv1", "conv3", "conv5", "dil3", "dil5"}));
    EXPECT_EQ(again.data().derivedArchitecture, w.data().derivedArchitecture);
}

TEST(Workbench, ADemoRunFillsEveryViewWithoutBlockingTheWindow) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path());
    w.show();
    ASSERT_TRUE(waitFor([&] { return w.modelView()->rowCount() > 0; }, 30000));

    // Event-loop latency while the worker trains: the longest gap between 10 ms timer ticks.
    qint64 worstGap = 0;
    QElapsedTimer sinceTick;
    QTimer tick;
    tick.setInterval(10);
    QObject::connect(&tick, &QTimer::timeout, [&] {
        if (sinceTick.isValid())
            worstGap = std::max(worstGap, sinceTick.elapsed());
        sinceTick.restart();
    });
    tick.start();
    w.startRun();
    EXPECT_TRUE(w.controller().busy());
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    tick.stop();
    EXPECT_LT(worstGap, 100) << "the GUI thread was blocked for " << worstGap << " ms";
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();

    const auto& d = w.data();
    ASSERT_TRUE(d.summary.has_value());
    EXPECT_EQ(d.summary->status, "finished");
    EXPECT_EQ(d.iterations.size(), 12u);
    // The status bar says how long the run took, no longer an ETA.
    QStringList status;
    for (const QLabel* l : w.statusBar()->findChildren<QLabel*>())
        status << l->text();
    EXPECT_TRUE(status.join("|").contains("12 iterations in")) << status.join("|").toStdString();
    EXPECT_FALSE(status.join("|").contains("ETA")) << status.join("|").toStdString();
    EXPECT_EQ(d.evals.size(), 3u);
    w.refreshAll();
    // Losses: the generator's total over every iteration (smoothed, not decimated at this size).
    EXPECT_EQ(plotOf(w, 0)->graph(0)->dataCount(), 12);
    EXPECT_EQ(plotOf(w, 0)->graph(3)->dataCount(), 8);  // the student's, after warm-up
    // Accuracy: one point per epoch and the FP and PTQ lines.
    EXPECT_EQ(plotOf(w, 1)->graph(0)->dataCount(), 3);
    EXPECT_EQ(plotOf(w, 1)->graph(1)->dataCount(), 2);
    EXPECT_EQ(plotOf(w, 1)->graph(2)->dataCount(), 2);
    // BN statistics: a bar per BN layer of the demo teacher, now and first; channel scatter.
    auto* bars = static_cast<QCPBars*>(plotOf(w, 2)->plottable(0));
    EXPECT_EQ(bars->dataCount(), 9);
    EXPECT_EQ(static_cast<QCPBars*>(plotOf(w, 2)->plottable(2))->dataCount(), 9);
    EXPECT_EQ(plotOf(w, 2, 1)->graph(0)->dataCount(), 16);  // layer1's 16 channels
    // Rounding: crossings for every student step.
    EXPECT_GT(plotOf(w, 3)->graph(0)->dataCount(), 0);
    // Samples: 16 tiles, not blank.
    const auto& tiles = w.samplesView()->tiles();
    ASSERT_EQ(tiles.size(), 16u);
    for (const QImage& tile : tiles) {
        int lo = 255, hi = 0;
        for (int y = 0; y < tile.height(); ++y)
            for (int x = 0; x < tile.width(); ++x) {
                const int v = qGray(tile.pixel(x, y));
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        EXPECT_GT(hi - lo, 20) << "a blank sample tile";
    }
    EXPECT_TRUE(QFileInfo::exists(d.folder + "/summary.json"));

    // The same run, read back from its folder.
    MainWindow again;
    ASSERT_TRUE(again.openRunFolder(d.folder));
    EXPECT_EQ(again.data().iterations.size(), 12u);
    EXPECT_EQ(again.data().evals.size(), 3u);
    EXPECT_NEAR(again.data().fpTop1, d.fpTop1, 1e-3);  // CSVs hold 6 significant digits
    ASSERT_TRUE(again.data().lastBn.has_value());
    EXPECT_EQ(again.data().lastBn->channels.size(), 9u);
    EXPECT_EQ(again.data().rounding.size(), 8u);
    EXPECT_FALSE(again.data().sampleGrid.isNull());
    // Overlaid for comparison: the other run's two totals and its accuracy curve.
    ASSERT_TRUE(again.addComparison(d.folder));
    again.refreshAll();
    // (the losses view's own 7 series, SynQ's Grad-CAM hidden here, then the comparison's two)
    EXPECT_EQ(plotOf(again, 0)->graphCount(), 9);
    EXPECT_FALSE(plotOf(again, 0)->graph(6)->visible());
    EXPECT_EQ(plotOf(again, 0)->graph(7)->dataCount(), 12);
    EXPECT_EQ(plotOf(again, 1)->graphCount(), 4);
    EXPECT_EQ(plotOf(again, 1)->graph(3)->dataCount(), 3);

    // Every plot exports to PNG, SVG and PDF.
    for (const char* ext : {"png", "svg", "pdf"}) {
        const QString path = out.path() + "/loss." + ext;
        EXPECT_TRUE(dfq::ui::PlotPanel::exportPlot(plotOf(w, 0), path)) << ext;
        EXPECT_GT(QFileInfo(path).size(), 1000) << ext;
    }
    EXPECT_TRUE(w.plotPanels()[0]->csv().startsWith("step,g_ce"));
}

TEST(Workbench, AnAitRunShowsTheThresholdAndAlphaPerLayer) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path());
    auto c = w.form()->config();
    c.methodStudent = "ait";
    w.setExperiment(c);
    w.show();
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    w.refreshAll();
    // The threshold line beside the crossings, and one α curve per quantized layer (10).
    EXPECT_EQ(plotOf(w, 3)->graph(1)->dataCount(), 8);
    QCustomPlot* alpha = plotOf(w, 3, 2);
    EXPECT_FALSE(alpha->isHidden());
    ASSERT_EQ(alpha->graphCount(), 10);
    for (int l = 0; l < 10; ++l)
        EXPECT_EQ(alpha->graph(l)->dataCount(), 8) << l;
    // Read back from the folder: the same α.
    MainWindow again;
    ASSERT_TRUE(again.openRunFolder(w.data().folder));
    ASSERT_EQ(again.data().rounding.size(), 8u);
    EXPECT_EQ(again.data().rounding.back().alphas.size(), 10u);
    EXPECT_GT(again.data().rounding.back().threshold, 0.0);
}

TEST(Workbench, PauseResumeAndStop) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 50, 50);
    w.show();
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return w.data().iterations.size() >= 3; }, 60000));
    w.controller().setPaused(true);
    QApplication::processEvents();
    waitFor([] { return false; }, 800);  // let the iteration in flight finish
    const size_t paused = w.data().iterations.size();
    waitFor([] { return false; }, 800);
    EXPECT_EQ(w.data().iterations.size(), paused) << "iterations went on while paused";
    EXPECT_EQ(w.controller().state(), dfq::ui::RunController::State::Paused);
    w.controller().setPaused(false);
    EXPECT_TRUE(waitFor([&] { return w.data().iterations.size() > paused; }, 30000));
    w.controller().stop();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 60000));
    ASSERT_TRUE(w.data().summary.has_value());
    EXPECT_EQ(w.data().summary->status, "cancelled");
    EXPECT_TRUE(QFileInfo::exists(w.data().folder + "/checkpoints/last.pt"));
}

TEST(Workbench, ABadModelShowsAnErrorAndTheWindowSurvives) {
    QTemporaryDir out;
    const QString bad = out.path() + "/not-a-model.pt";
    {
        QFile f(bad);
        ASSERT_TRUE(f.open(QIODevice::WriteOnly));
        f.write("this is not a TorchScript file\n");
    }
    MainWindow w;
    loadTinyDemo(w, out.path());
    w.show();
    auto c = w.form()->config();
    c.modelPath = bad.toStdString();
    w.setExperiment(c);
    ASSERT_TRUE(waitFor([&] { return !w.lastError().isEmpty(); }, 30000));  // the layer table
    EXPECT_TRUE(w.lastError().contains("not-a-model.pt")) << w.lastError().toStdString();
    EXPECT_TRUE(hasVisibleMessageBox());
    closeMessageBoxes();
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 60000));
    EXPECT_TRUE(w.lastError().contains("not-a-model.pt"));
    EXPECT_TRUE(hasVisibleMessageBox());
    closeMessageBoxes();
    // Still usable: the demo runs afterwards.
    loadTinyDemo(w, out.path(), 1, 2);
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 120000));
    ASSERT_TRUE(w.data().summary.has_value());
    EXPECT_EQ(w.data().summary->status, "finished");
}

TEST(Workbench, AFullDiskFailsTheRunAndTheWindowSurvives) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 3, 6);
    w.show();
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return w.data().iterations.size() >= 2; }, 60000));
    // The disk fills while the run writes, and stays full until the run has ended.
    dfq::io::injectDiskFullAfter(0);
    const bool ended = waitFor([&] { return !w.controller().busy(); }, 60000);
    dfq::io::injectDiskFullAfter(-1);
    ASSERT_TRUE(ended);
    EXPECT_TRUE(w.lastError().contains(": cannot write (No space left on device)"))
        << w.lastError().toStdString();
    EXPECT_TRUE(w.lastError().contains("summary.json: cannot write"))
        << w.lastError().toStdString();
    EXPECT_TRUE(hasVisibleMessageBox());
    closeMessageBoxes();
    ASSERT_TRUE(w.data().summary.has_value());
    EXPECT_EQ(w.data().summary->status, "failed");
    // Nothing half-written is left, and the folder is not locked any more.
    QDirIterator it(out.path(), QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString f = it.next();
        EXPECT_FALSE(f.contains(".tmp")) << f.toStdString();
        EXPECT_FALSE(f.endsWith("run.lock")) << f.toStdString();
    }
    // With space again, the window runs the demo.
    loadTinyDemo(w, out.path(), 1, 2);
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 120000));
    ASSERT_TRUE(w.data().summary.has_value());
    EXPECT_EQ(w.data().summary->status, "finished");
}

TEST(Workbench, ARunOnAFullFileSystemEndsFailedWithItsSummary) {
    // A real full disk: a 160 KiB tmpfs, which the checkpoint does not fit. Needs root.
    QTemporaryDir out;
    const QString disk = out.path() + "/disk";
    QDir().mkpath(disk);
    const std::string mount = "mount -t tmpfs -o size=160k tmpfs '" + disk.toStdString() + "'";
    if (::geteuid() != 0 || std::system((mount + " 2>/dev/null").c_str()) != 0)
        GTEST_SKIP()
            << "needs root to mount a small tmpfs (the injected full disk is tested above)";
    struct Unmount {
        std::string dir;
        ~Unmount() { std::system(("umount '" + dir + "'").c_str()); }
    } unmount{disk.toStdString()};
    MainWindow w;
    loadTinyDemo(w, disk, 2, 3);
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 120000));
    EXPECT_TRUE(w.lastError().contains(": cannot write (No space left on device)"))
        << w.lastError().toStdString();
    closeMessageBoxes();
    QFile summary(w.data().folder + "/summary.json");
    ASSERT_TRUE(summary.open(QIODevice::ReadOnly)) << w.data().folder.toStdString();
    const QByteArray json = summary.readAll();
    EXPECT_TRUE(json.contains("\"status\":\"failed\"")) << json.toStdString();
    EXPECT_TRUE(json.contains("No space left on device")) << json.toStdString();
    QDirIterator it(disk, QDirIterator::Subdirectories);
    while (it.hasNext())
        EXPECT_FALSE(it.next().contains(".tmp"));
}

TEST(Workbench, AModelGivenAsTheTargetIsOpenedAsTheModel) {
    MainWindow w;
    ASSERT_TRUE(w.openExperiment("demo"));
    // A TorchScript file, whatever its name, is a model, not an experiment to parse as YAML.
    QTemporaryDir dir;
    const QString model = dir.path() + "/teacher.bin";
    ASSERT_TRUE(
        QFile::copy(QString::fromStdString(DFQ_FIXTURES_DIR) + "/with_meta.traced.pt", model));
    ASSERT_TRUE(w.open(model));
    EXPECT_EQ(w.form()->config().modelPath, model.toStdString());
    EXPECT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
}

TEST(Workbench, ARunFoldersWarningsAreShown) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 1, 2);
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 120000));
    const QString folder = w.data().folder;
    QFile summary(folder + "/summary.json");
    ASSERT_TRUE(summary.open(QIODevice::ReadOnly));
    QByteArray json = summary.readAll();
    summary.close();
    json.replace("\"warnings\":[]", "\"warnings\":[\"generator collapse (CE): not falling\"]");
    ASSERT_TRUE(summary.open(QIODevice::WriteOnly | QIODevice::Truncate));
    summary.write(json);
    summary.close();
    MainWindow again;
    ASSERT_TRUE(again.openRunFolder(folder));
    ASSERT_TRUE(again.data().summary.has_value());
    ASSERT_EQ(again.data().summary->warnings.size(), 1u);
    EXPECT_EQ(again.data().summary->warnings[0], "generator collapse (CE): not falling");
    EXPECT_TRUE(again.logText().contains("warning: generator collapse (CE): not falling"));
}

namespace {

int graphPoints(QCustomPlot* plot, int graph) {
    return plot->graph(graph)->dataCount();
}

int barsPoints(QCustomPlot* plot, int plottable) {
    return static_cast<QCPBars*>(plot->plottable(plottable))->dataCount();
}

}  // namespace

TEST(Workbench, TheLayersViewShowsARunFoldersAnalysisAndLiveLayers) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 2, 4);
    w.setExperiment(dfq::run::parseExperimentConfig(dfq::run::toYaml(w.form()->config()), "test",
                                                    {"output.layers_every=2"}));
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    const QString folder = w.data().folder;
    // Live reports while it ran: synthetic every 2 iterations, real after each evaluation.
    EXPECT_EQ(w.data().layers.size(), 4u + 2u);

    // `dfq analyze RUN_FOLDER --budget-bits 3`, with small batches.
    dfq::run::AnalysisRequest q;
    q.config = w.form()->config();
    q.runFolder = folder.toStdString();
    q.bits = {2, 4, 8};
    q.batches = 1;
    q.batchSize = 16;
    q.realImages = 32;
    q.budgetBits = 3;
    dfq::run::AnalysisJob job(q);
    const auto result = job.run();
    dfq::run::writeAnalysis(dfq::run::defaultAnalysisDir(q), result, q.config);

    MainWindow again;
    ASSERT_TRUE(again.openRunFolder(folder));
    again.resize(1280, 800);
    again.show();
    again.views()->setCurrentWidget(again.layersView());
    again.refreshAll();
    auto* view = again.layersView();
    const int quantizers = static_cast<int>(result.report.layers.size());
    ASSERT_GT(quantizers, 10);
    EXPECT_EQ(view->table()->rowCount(), quantizers);
    EXPECT_EQ(view->bitsBox()->count(), 3);
    auto barsData = [&](int k) {
        int n = 0;
        for (int i = 0; i < view->barsPlot()->plottableCount(); ++i)
            if (auto* b = qobject_cast<QCPBars*>(view->barsPlot()->plottable(i)); b && k-- == 0)
                n = b->dataCount();
        return n;
    };
    EXPECT_EQ(barsData(0), quantizers);
    EXPECT_EQ(barsData(1), quantizers);
    // With real images beside the run's batches: how well they rank the quantizers as real
    // data does, at each bit-width, above the bars.
    EXPECT_TRUE(view->trustLabel()->isVisibleTo(view));
    const QString trust = view->trustLabel()->text();
    EXPECT_TRUE(trust.contains("Spearman")) << trust.toStdString();
    EXPECT_TRUE(trust.contains(
        QString("%1 at 2 bits").arg(result.report.realRankCorrelation(0), 0, 'f', 2)))
        << trust.toStdString();
    auto* heat = view->heatMap();
    EXPECT_EQ(heat->data()->keySize(), quantizers);
    EXPECT_EQ(heat->data()->valueSize(), 3);
    // Clicking the first conv shows its 16 channels and both histograms.
    view->selectLayer("conv1");
    EXPECT_EQ(view->selectedLayer(), "conv1");
    EXPECT_EQ(barsPoints(view->channelsPlot(), 0), 16);
    EXPECT_EQ(graphPoints(view->channelsPlot(), 0), 16);
    EXPECT_EQ(graphPoints(view->histogramPlot(), 0), 64);
    EXPECT_EQ(graphPoints(view->histogramPlot(), 1), 64);
    // The table sorts by sensitivity: the largest KL first when sorted descending.
    view->table()->sortItems(2, Qt::DescendingOrder);
    const QString worst = view->table()->item(0, 0)->text();
    double worstKl = 0;
    for (const auto& l : result.report.layers)
        worstKl = std::max(worstKl, l.isolated[0].kl);
    for (const auto& l : result.report.layers) {
        if (QString::fromStdString(l.name) == worst) {
            EXPECT_DOUBLE_EQ(l.isolated[0].kl, worstKl);
        }
    }
    // Mixed precision: uniform points, plans and the chosen one.
    EXPECT_EQ(graphPoints(view->sizePlot(), 0), 3);
    EXPECT_GT(graphPoints(view->sizePlot(), 1), 2);
    EXPECT_EQ(graphPoints(view->sizePlot(), 3), 1);
    EXPECT_EQ(view->planBox()->count(), static_cast<int>(result.points.size()) + 1);
    // "Use this plan" fills quant.layer_bits with the plan asked for.
    emit view->planChosen(result.plan.layerBits);
    std::map<std::string, int> bits;
    for (const auto& [k, v] : again.form()->config().quantLayerBits)
        bits[k] = static_cast<int>(v);
    EXPECT_EQ(bits, result.plan.layerBits);
    // The live map: one row per quantizer, one column per synthetic report.
    auto* live = static_cast<QCPColorMap*>(view->livePlot()->plottable(0));
    EXPECT_EQ(live->data()->keySize(), 4);
    EXPECT_EQ(live->data()->valueSize(), quantizers);
    view->liveBox()->setCurrentIndex(1);
    EXPECT_EQ(live->data()->keySize(), 2);
    view->liveBox()->setCurrentIndex(2);
    EXPECT_EQ(live->data()->valueSize(),
              static_cast<int>(again.data().layers.back().bnLayers.size()));
    EXPECT_GT(live->data()->valueSize(), 5);
    // Every page draws something that is not blank.
    QDir().mkpath(out.path() + "/shots");
    ASSERT_TRUE(again.saveViewScreenshots(out.path() + "/shots"));
    QImage page(out.path() + "/shots/layers-sensitivity.png");
    ASSERT_FALSE(page.isNull());
    EXPECT_GT(page.width(), 1000);
    EXPECT_TRUE(view->csv().startsWith("quantizer,kind,bits"));
}

TEST(Workbench, TheWindowAnalyzesPlansAndMeasures) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path());
    w.setExperiment(dfq::run::parseExperimentConfig(
        dfq::run::toYaml(w.form()->config()), "test",
        {"schedule.warmup_epochs=0", "data.limit=100", "quant.activation_bits=4"}));
    auto* view = w.layersView();
    emit view->analyzeRequested("warmup", {2, 4});
    EXPECT_TRUE(w.analysisController().busy());
    ASSERT_TRUE(waitFor([&] { return !w.analysisController().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    ASSERT_TRUE(w.data().analysis.has_value());
    EXPECT_EQ(w.data().analysis->report.bits, (std::vector<int>{2, 4}));
    EXPECT_EQ(w.data().analysis->report.realImages, 100);
    EXPECT_TRUE(QFile::exists(w.analysisController().folder() + "/analysis.csv"));
    w.refreshAll();
    EXPECT_GT(view->table()->rowCount(), 10);

    const size_t before = w.data().analysis->points.size();
    emit view->planRequested(3.0);
    ASSERT_TRUE(waitFor([&] { return !w.analysisController().busy(); }, 300000));
    ASSERT_EQ(w.data().analysis->points.size(), before + 1);
    const auto& plan = w.data().analysis->points.back();
    EXPECT_LE(plan.avgWeightBits, 3.0 + 1e-9);
    emit view->measureRequested();
    ASSERT_TRUE(waitFor([&] { return !w.analysisController().busy(); }, 300000));
    for (const auto& p : w.data().analysis->points)
        EXPECT_TRUE(p.measuredTop1 >= 0 && p.measuredTop1 <= 100) << p.label;
    // The folder keeps the plan and the measurements.
    const auto back =
        dfq::analysis::readAnalysisFolder(w.analysisController().folder().toStdString());
    ASSERT_EQ(back.points.size(), before + 1);
    EXPECT_NEAR(back.points.back().measuredTop1, plan.measuredTop1, 1e-6);
    // No run starts while an analysis runs.
    emit view->analyzeRequested("warmup", {4});
    ASSERT_TRUE(w.analysisController().busy());
    w.startRun();
    EXPECT_FALSE(w.controller().busy());
    EXPECT_TRUE(hasVisibleMessageBox());
    closeMessageBoxes();
    ASSERT_TRUE(waitFor([&] { return !w.analysisController().busy(); }, 300000));
}

TEST(Workbench, EditingAModelRowsBitsSetsLayerBits) {
    MainWindow w;
    ASSERT_TRUE(w.openExperiment("demo"));
    ASSERT_TRUE(waitFor([&] { return w.modelView()->rowCount() > 0; }, 30000));
    auto* table = w.modelView()->table();
    int row = -1;
    for (int r = 0; r < table->rowCount(); ++r)
        if (table->item(r, 0)->text() == "layer2.conv1")
            row = r;
    ASSERT_GE(row, 0);
    auto* item = table->item(row, dfq::ui::ModelView::kBitsColumn);
    ASSERT_TRUE(item->flags() & Qt::ItemIsEditable);
    auto edit = [&](const QString& text) {
        table->item(row, dfq::ui::ModelView::kBitsColumn)->setText(text);
        QApplication::processEvents();
    };
    edit("2");
    EXPECT_EQ(w.form()->config().quantLayerBits.at("layer2.conv1"), 2);
    EXPECT_EQ(table->item(row, dfq::ui::ModelView::kBitsColumn)->text(), "2");
    edit("FP");
    EXPECT_EQ(w.form()->config().quantLayerBits.at("layer2.conv1"), 0);
    EXPECT_EQ(table->item(row, dfq::ui::ModelView::kBitsColumn)->text(), "FP");
    edit("");
    EXPECT_EQ(w.form()->config().quantLayerBits.count("layer2.conv1"), 0u);
    EXPECT_EQ(table->item(row, dfq::ui::ModelView::kBitsColumn)->text(), "4");
    edit("seventeen");
    EXPECT_EQ(w.form()->config().quantLayerBits.count("layer2.conv1"), 0u);
    EXPECT_EQ(table->item(row, dfq::ui::ModelView::kBitsColumn)->text(), "4");
    // Rows that are not conv/linear cannot be edited.
    for (int r = 0; r < table->rowCount(); ++r) {
        if (table->item(r, 1)->text().startsWith("BatchNorm")) {
            EXPECT_FALSE(table->item(r, dfq::ui::ModelView::kBitsColumn)->flags() &
                         Qt::ItemIsEditable);
        }
    }
}

namespace {

// A copy of a finished run folder, with its summary's last top-1 replaced.
void copyRunWithLast(const QString& from, const std::string& to, double last) {
    std::filesystem::create_directories(std::filesystem::path(to).parent_path());
    std::filesystem::copy(from.toStdString(), to, std::filesystem::copy_options::recursive);
    QFile f(QString::fromStdString(to) + "/summary.json");
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    QString json = QString::fromUtf8(f.readAll());
    f.close();
    json.replace(QRegularExpression("\"last_top1\":[-0-9.eE+]+"),
                 QString("\"last_top1\":%1").arg(last));
    dfq::io::writeFileAtomically(to + "/summary.json", json.toStdString());
}

int rowOf(QTableWidget* t, int column, const QString& text) {
    for (int r = 0; r < t->rowCount(); ++r)
        if (t->item(r, column) && t->item(r, column)->text() == text)
            return r;
    return -1;
}

}  // namespace

TEST(Workbench, TheSweepViewGroupsASweepFollowsItAndOpensOrOverlaysItsRuns) {
    QTemporaryDir out;
    MainWindow w;
    loadTinyDemo(w, out.path(), 2, 4);
    w.setExperiment(dfq::run::parseExperimentConfig(
        dfq::run::toYaml(w.form()->config()), "test",
        {"method.student=ait", "quant.weight_range=minmax", "output.layers_every=2"}));
    w.startRun();
    ASSERT_TRUE(waitFor([&] { return !w.controller().busy(); }, 300000));
    ASSERT_TRUE(w.lastError().isEmpty()) << w.lastError().toStdString();
    const QString run = w.data().folder;

    // A sweep of 2 students x 2 seeds whose points are copies of that run with known results:
    // kd 80 and 84 (seeds 1, 2), ait 90 (seed 1) and ait seed 2 not started.
    const std::string dir = out.path().toStdString() + "/sweep";
    const auto sweep = dfq::run::parseSweepSpec(
        "name: s\nbase: demo\ngrid:\n  method.student: [kd, ait]\n  seed: [1, 2]\n", "s.yaml");
    dfq::run::prepareSweepFolder(dir, sweep);
    w.show();  // the view follows the folder while it is shown
    copyRunWithLast(run, dfq::run::pointFolder(dir, sweep.points[0]), 80);
    copyRunWithLast(run, dfq::run::pointFolder(dir, sweep.points[1]), 84);
    copyRunWithLast(run, dfq::run::pointFolder(dir, sweep.points[2]), 90);
    ASSERT_TRUE(w.open(QString::fromStdString(dir))) << w.lastError().toStdString();
    dfq::ui::SweepView* view = w.sweepView();
    EXPECT_EQ(w.views()->currentWidget(), view);
    EXPECT_EQ(w.form()->config().seed, 1);  // the first point's experiment in the form
    QTableWidget* groups = view->groupTable();
    ASSERT_EQ(groups->rowCount(), 2);
    ASSERT_EQ(groups->columnCount(), 7);  // student, seeds, FP, PTQ, best, last, wall
    const int kd = rowOf(groups, 0, "kd"), ait = rowOf(groups, 0, "ait");
    ASSERT_GE(kd, 0);
    ASSERT_GE(ait, 0);
    EXPECT_EQ(groups->item(kd, 1)->text(), "2/2");
    EXPECT_EQ(groups->item(kd, 5)->text(), "82.00 ± 2.83");  // std over n-1: sqrt(8)
    EXPECT_EQ(groups->item(ait, 1)->text(), "1/2");
    EXPECT_EQ(groups->item(ait, 5)->text(), "90.00");
    // Bars: PTQ, best and last for both groups, each with its error bars; the last bars' heights
    // are the means.
    QCustomPlot* bars = view->bars();
    auto* last = static_cast<QCPBars*>(bars->plottable(4));
    ASSERT_EQ(last->dataCount(), 2);
    EXPECT_DOUBLE_EQ(last->data()->at(0)->value, 82);
    EXPECT_DOUBLE_EQ(last->data()->at(1)->value, 90);
    auto* errors = static_cast<QCPErrorBars*>(bars->plottable(5));
    ASSERT_EQ(errors->dataCount(), 2);
    EXPECT_NEAR(errors->data()->at(0).errorPlus, 2.8284271, 1e-6);
    EXPECT_GT(static_cast<QCPBars*>(bars->plottable(0))->dataCount(), 0);  // PTQ
    EXPECT_GT(bars->graph(0)->dataCount(), 0);                             // the FP teacher
    QTableWidget* points = view->pointTable();
    ASSERT_EQ(points->rowCount(), 4);
    const int stateColumn = 3;  // #, student, seed, state
    EXPECT_EQ(points->item(rowOf(points, 0, "3"), stateColumn)->text(), "pending");
    EXPECT_EQ(points->item(rowOf(points, 0, "0"), stateColumn)->text(), "finished");
    EXPECT_EQ(points->item(rowOf(points, 0, "1"), 8)->text(), "84.00");  // last

    // Sorted by last top-1, highest first, the rows stay sorted and right as the sweep goes on:
    // the last point finishes and the view follows it.
    groups->sortItems(5, Qt::DescendingOrder);
    EXPECT_EQ(groups->item(0, 0)->text(), "ait");
    copyRunWithLast(run, dfq::run::pointFolder(dir, sweep.points[3]), 70);
    ASSERT_TRUE(
        waitFor([&] { return groups->item(rowOf(groups, 0, "ait"), 1)->text() == "2/2"; }, 10000));
    EXPECT_EQ(groups->item(0, 0)->text(), "kd");  // 82 is now above 80 ± 14.14
    EXPECT_EQ(groups->item(1, 5)->text(), "80.00 ± 14.14");
    EXPECT_EQ(points->item(rowOf(points, 0, "3"), stateColumn)->text(), "finished");
    EXPECT_TRUE(view->header()->text().contains("4 finished"));

    // Two points overlaid: their curves join the views that plot over time.
    points->clearSelection();
    for (const char* index : {"1", "2"})
        points->selectionModel()->select(points->model()->index(rowOf(points, 0, index), 0),
                                         QItemSelectionModel::Select | QItemSelectionModel::Rows);
    EXPECT_EQ(view->selectedRuns().size(), 2);
    view->findChild<QPushButton*>()->click();
    ASSERT_EQ(w.comparisons().size(), 2u);
    // Double-clicking a point opens its run in the usual views.
    emit points->cellDoubleClicked(rowOf(points, 0, "0"), 0);
    EXPECT_EQ(w.data().folder, QString::fromStdString(dfq::run::pointFolder(dir, sweep.points[0])));
    EXPECT_EQ(w.views()->currentIndex(), 0);  // Losses
    w.refreshAll();
    QCustomPlot* rounding = plotOf(w, 3, 0);
    ASSERT_EQ(rounding->graphCount(), 4);  // this run, its threshold, two compared runs
    EXPECT_GT(rounding->graph(2)->dataCount(), 0);
    EXPECT_EQ(rounding->graph(2)->dataCount(), rounding->graph(0)->dataCount());
    QCustomPlot* alpha = plotOf(w, 3, 2);
    EXPECT_FALSE(alpha->isHidden());
    int dashed = 0;
    for (int g = 0; g < alpha->graphCount(); ++g)
        dashed += alpha->graph(g)->pen().style() == Qt::DashLine && alpha->graph(g)->dataCount();
    EXPECT_EQ(dashed, 2);
    QCustomPlot* liveMean = w.layersView()->liveMeanPlot();
    EXPECT_FALSE(liveMean->isHidden());
    ASSERT_EQ(liveMean->graphCount(), 3);
    EXPECT_GT(liveMean->graph(0)->dataCount(), 0);
    EXPECT_EQ(liveMean->graph(2)->dataCount(), liveMean->graph(0)->dataCount());
    EXPECT_GT(plotOf(w, 1)->graphCount(), 2);  // accuracy: the compared runs too
    w.clearComparisons();
    w.refreshAll();
    EXPECT_TRUE(liveMean->isHidden());
    EXPECT_EQ(rounding->graphCount(), 2);

    // File -> Export: the open run's student as ONNX (a protobuf that starts with its IR
    // version) and as encodings; a run that has not finished is refused, with nothing written.
    const QString onnx = out.path() + "/student.onnx";
#if DFQ_ONNX_WRITER
    ASSERT_TRUE(w.exportStudent(onnx)) << w.lastError().toStdString();
    QFile onnxFile(onnx);
    ASSERT_TRUE(onnxFile.open(QIODevice::ReadOnly));
    EXPECT_EQ(onnxFile.read(2), QByteArray("\x08\x08", 2));  // field 1 (ir_version) = 8
    EXPECT_GT(onnxFile.size(), 10000);
#else
    EXPECT_FALSE(w.exportStudent(onnx));
    EXPECT_TRUE(w.lastError().contains("no ONNX writer")) << w.lastError().toStdString();
    closeMessageBoxes();
#endif
    ASSERT_TRUE(w.exportStudent(out.path() + "/student.encodings.json"));
    QFile enc(out.path() + "/student.encodings.json");
    ASSERT_TRUE(enc.open(QIODevice::ReadOnly));
    EXPECT_TRUE(enc.readAll().contains("\"param_encodings\""));
    QFile summary(QString::fromStdString(dfq::run::pointFolder(dir, sweep.points[0])) +
                  "/summary.json");
    ASSERT_TRUE(summary.open(QIODevice::ReadOnly));
    QByteArray json = summary.readAll();
    summary.close();
    json.replace("\"status\":\"finished\"", "\"status\":\"cancelled\"");
    dfq::io::writeFileAtomically(summary.fileName().toStdString(), json.toStdString());
    EXPECT_FALSE(w.exportStudent(out.path() + "/unfinished.onnx"));
    EXPECT_TRUE(w.lastError().contains("has not finished")) << w.lastError().toStdString();
    EXPECT_FALSE(QFileInfo::exists(out.path() + "/unfinished.onnx"));
    closeMessageBoxes();

    // A folder whose sweep.yaml cannot be read is an error, and the window survives.
    dfq::io::writeFileAtomically(dir + "/sweep.yaml", "points: [");
    EXPECT_FALSE(w.openSweepFolder(QString::fromStdString(dir)));
    EXPECT_FALSE(w.lastError().isEmpty());
    closeMessageBoxes();
}
