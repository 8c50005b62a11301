#pragma once

#include "plot_panel.h"

class QCheckBox;

namespace dfq::ui {

// Generator losses (CE, BNS, total) and student losses (CE, KD, total) per iteration.
class LossView : public PlotPanel {
    Q_OBJECT
  public:
    explicit LossView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

  private:
    QCustomPlot* plot_;
    QCheckBox* log_;
    QCheckBox* smooth_;
    const RunData* last_ = nullptr;
};

}  // namespace dfq::ui
