#pragma once

#include "plot_panel.h"

namespace dfq::ui {

// A 2-D PCA of the teacher's penultimate features (its classifier's input): synthetic samples
// asked for one class, Qimera's boundary samples, and real images when the run has evaluation
// data, coloured by class.
class FeatureView : public PlotPanel {
    Q_OBJECT
  public:
    explicit FeatureView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;
    // Points drawn per kind (0 synthetic, 1 boundary, 2 real), for tests.
    int pointCount(int kind) const;

  private:
    QCustomPlot* plot_;
    const RunData* last_ = nullptr;
    int classes_ = 0;
};

}  // namespace dfq::ui
