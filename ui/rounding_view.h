#pragma once

#include "plot_panel.h"

class QCPColorMap;

namespace dfq::ui {

// Rounding-threshold crossings: after each student step, the fraction of quantized weights whose
// integer code changed, overall and per layer as a heat map (layer x iteration); for AIT runs the
// passing threshold on the overall plot and gradient inundation's α per layer over time.
class RoundingView : public PlotPanel {
    Q_OBJECT
  public:
    explicit RoundingView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

  private:
    void refreshAlpha(const RunData& data);

    QCustomPlot* overall_;
    QCustomPlot* heat_;
    QCustomPlot* alpha_;  // AIT runs only
    QCPColorMap* map_;
    const RunData* last_ = nullptr;
};

}  // namespace dfq::ui
