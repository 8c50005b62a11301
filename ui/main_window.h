#pragma once

#include <QMainWindow>
#include <QTimer>
#include <vector>

#include "analysis_controller.h"
#include "run_controller.h"
#include "run_data.h"

class QAction;
class QLabel;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QTabWidget;
class QThread;

namespace dfq::ui {

class AccuracyView;
class BnView;
class ExperimentForm;
class LossView;
class ModelView;
class PlotPanel;
class RoundingView;
class ArchitectureView;
class BoundaryView;
class FeatureView;
class LayersView;
class SamplesView;
class SweepView;

// The workbench window: the experiment form (left), the live views (centre), the log (bottom),
// Start / Pause / Stop and the run's progress in the status bar.
class MainWindow : public QMainWindow {
    Q_OBJECT
  public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Loads an experiment file (or the demo preset for "demo"); errors go to the error dialog.
    bool openExperiment(const QString& path);
    void setExperiment(const run::ExperimentConfig& config);
    bool openRunFolder(const QString& folder);
    // A sweep folder (`dfq sweep`) on the Sweep view, followed while it runs.
    bool openSweepFolder(const QString& folder);
    // A summary's warnings (a collapsing generator), one per line.
    static QString warningText(const run::RunSummary& s);
    // Puts a TorchScript model into the experiment (model.path).
    bool openModel(const QString& path);
    // A sweep folder, a run folder, an experiment (YAML, or "demo") or a model, told apart by
    // what the path is: a folder with sweep.yaml, another folder, a zip archive (TorchScript) or
    // text.
    bool open(const QString& path);
    // Exports the open run's quantized student (File -> Export): ONNX, an encodings JSON or
    // TorchScript, chosen by the file's extension (.onnx, .json, .pt). Errors go to the dialog.
    bool exportStudent(const QString& path);
    // Overlays another run's curves on the views that plot over time.
    bool addComparison(const QString& folder);
    void clearComparisons();
    void startRun();

    // For tests and screenshots.
    RunController& controller() { return controller_; }
    AnalysisController& analysisController() { return analysis_; }
    LayersView* layersView() const { return layers_; }
    const RunData& data() const { return data_; }
    QTabWidget* views() const { return tabs_; }
    ExperimentForm* form() const { return form_; }
    ModelView* modelView() const { return modelView_; }
    SamplesView* samplesView() const { return samples_; }
    SweepView* sweepView() const { return sweep_; }
    const std::vector<RunData>& comparisons() const { return comparisons_; }
    std::vector<PlotPanel*> plotPanels() const;
    QString lastError() const { return lastError_; }
    QString logText() const;
    // Redraws every view now (the timer otherwise redraws the visible one).
    void refreshAll();
    // Saves a screenshot of each view as DIR/<view>.png.
    bool saveViewScreenshots(const QString& dir);

  protected:
    void closeEvent(QCloseEvent* e) override;
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;

  private:
    void buildMenus();
    void connectController();
    void showError(const QString& title, const QString& message);
    void loadModelSummary(const QString& modelPath);
    void updateQuantizationColumn();
    void redraw();
    void updateActions();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    void saveExperimentAs();
    void appendLog(const QString& line);
    void pollRunFolder();
    void connectAnalysis();
    void analyze(const QString& source, const std::vector<int>& bits);
    void updateAnalysisState();

    RunController controller_;
    AnalysisController analysis_;
    // data_.analysis came from analysis_ (so plans and measurements can be added to it).
    bool analysisInMemory_ = false;
    RunData data_;
    std::vector<RunData> comparisons_;
    Dirty dirty_;
    QTimer redrawTimer_;
    QTimer folderTimer_;
    QString watchedFolder_;
    QString lastError_;
    int modelRequest_ = 0;
    std::vector<QThread*> modelThreads_;  // layer-table loads still running

    ExperimentForm* form_;
    QTabWidget* tabs_;
    LossView* losses_;
    AccuracyView* accuracy_;
    BnView* bn_;
    SamplesView* samples_;
    RoundingView* rounding_;
    ArchitectureView* architecture_;
    BoundaryView* boundary_;
    FeatureView* features_;
    LayersView* layers_;
    ModelView* modelView_;
    SweepView* sweep_;
    QPlainTextEdit* log_;
    QLabel* state_;
    QLabel* rate_;
    QProgressBar* progress_;
    QAction* start_;
    QAction* pause_;
    QAction* stop_;
    QAction* export_;
    QMenu* recentMenu_;
};

}  // namespace dfq::ui
