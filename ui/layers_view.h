#pragma once

#include <QString>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/analysis/layer_report.h"
#include "core/run/events.h"
#include "plot_panel.h"

class QCPBars;
class QCPColorMap;
class QCPGraph;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QTableWidget;

namespace dfq::ui {

// Where quantization hurts (docs/analysis.md): the per-layer analysis as a table sortable by
// sensitivity, bars per layer (isolated and cumulative), a layer x bit-width heat map, a
// layer's channel ranges and output histograms, the size-vs-accuracy plot of mixed-precision
// plans, and the live layer x iteration map of the student against the teacher. The window runs
// the analysis; this view asks for it and shows what comes back.
class LayersView : public PlotPanel {
    Q_OBJECT
  public:
    explicit LayersView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

    // The window's analysis state: running (with progress), and whether plans and measurements
    // can be asked for; `runFolder` says whether the run's generator can be the source.
    void setAnalysisState(bool running, bool canPlan, bool canMeasure, bool hasRunFolder,
                          bool runTraining);
    void setProgress(const QString& stage, qint64 done, qint64 total);
    void setStatus(const QString& text);

    // For tests and screenshots.
    QTableWidget* table() const { return table_; }
    QTabWidget* pages() const { return pages_; }
    QComboBox* bitsBox() const { return bitsBox_; }
    QLabel* trustLabel() const { return trust_; }
    QComboBox* planBox() const { return planBox_; }
    QComboBox* liveBox() const { return liveBox_; }
    void selectLayer(const QString& name);
    QString selectedLayer() const { return selected_; }
    QCustomPlot* barsPlot() const { return bars_; }
    QCustomPlot* heatPlot() const { return heat_; }  // the bars' plot, whose top row it is
    QCPColorMap* heatMap() const { return heatMap_; }
    QCustomPlot* channelsPlot() const { return channels_; }
    QCustomPlot* histogramPlot() const { return hist_; }
    QCustomPlot* sizePlot() const { return size_; }
    QCustomPlot* livePlot() const { return live_; }
    // The mean over the layers of the live metric, this run beside the compared runs (shown
    // while there are compared runs).
    QCustomPlot* liveMeanPlot() const { return liveMean_; }

  signals:
    // source: "run", "warmup" or "real"; bits: the bit-widths to measure.
    void analyzeRequested(QString source, std::vector<int> bits);
    void cancelRequested();
    void planRequested(double averageBits);
    void measureRequested();
    // "Use this plan": the chosen point's bits per layer, for quant.layer_bits.
    void planChosen(std::map<std::string, int> layerBits);

  private:
    void fillTable();
    void drawSensitivity();
    void drawLayer();
    void drawPlans();
    void drawLive();
    void drawLiveMean();
    int bitsIndex() const;
    const analysis::LayerRow* row(const QString& name) const;

    std::optional<analysis::AnalysisResult> result_;
    const std::vector<run::LayerStats>* liveStats_ = nullptr;  // the shown run's reports
    QString resultKey_;
    QString selected_;
    bool filling_ = false;

    QPushButton* analyze_;
    QPushButton* cancel_;
    QComboBox* source_;
    QLineEdit* bitsEdit_;
    QComboBox* bitsBox_;
    QProgressBar* progress_;
    QLabel* status_;
    QTableWidget* table_;
    QTabWidget* pages_;
    QLabel* trust_;  // how well the batches rank the quantizers as real images do
    QCustomPlot* bars_;
    QCustomPlot* heat_;
    QCPColorMap* heatMap_;
    QCPBars* isolatedBars_ = nullptr;
    QCPBars* cumulativeBars_ = nullptr;
    QCustomPlot* channels_;
    QCustomPlot* hist_;
    QLabel* layerText_;
    QCustomPlot* size_;
    QComboBox* planBox_;
    QDoubleSpinBox* budget_;
    QPushButton* plan_;
    QPushButton* use_;
    QPushButton* measure_;
    QCustomPlot* live_;
    QCustomPlot* liveMean_;
    QCPColorMap* liveMap_;
    QComboBox* liveBox_;
};

}  // namespace dfq::ui
