#pragma once

#include "plot_panel.h"

class QComboBox;

namespace dfq::ui {

// How well the synthetic batches match the teacher's BatchNorm statistics: per BN layer the
// mean-MSE and var-MSE now and at the first report (ghost bars); for one selected layer, each
// channel's synthetic mean and variance against the running ones.
class BnView : public PlotPanel {
    Q_OBJECT
  public:
    explicit BnView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

  private:
    void refreshChannels();

    QCustomPlot* bars_;
    QCustomPlot* channels_;
    QComboBox* layer_;
    const RunData* last_ = nullptr;
    int layerCount_ = -1;
};

}  // namespace dfq::ui
