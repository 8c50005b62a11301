#pragma once

#include "plot_panel.h"

class QCPColorMap;

namespace dfq::ui {

// Rounding-threshold crossings: after each student step, the fraction of quantized weights whose
// integer code changed, overall and per layer as a heat map (layer x iteration).
class RoundingView : public PlotPanel {
    Q_OBJECT
  public:
    explicit RoundingView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

  private:
    QCustomPlot* overall_;
    QCustomPlot* heat_;
    QCPColorMap* map_;
    const RunData* last_ = nullptr;
};

}  // namespace dfq::ui
