#pragma once

#include "plot_panel.h"

namespace dfq::ui {

// The student's top-1 on the real evaluation data after every epoch, beside the FP teacher and
// the PTQ baseline.
class AccuracyView : public PlotPanel {
    Q_OBJECT
  public:
    explicit AccuracyView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

  private:
    QCustomPlot* plot_;
    const RunData* last_ = nullptr;
};

}  // namespace dfq::ui
