#pragma once

#include "plot_panel.h"

class QComboBox;

namespace dfq::ui {

// Qimera's decision boundary between two classes: the teacher's p(a) and p(b) on generated images
// that superpose a and b, as the mixture weight of b goes from 0 to 1. The pair is chosen here;
// the running experiment sweeps it at its next sample point.
class BoundaryView : public PlotPanel {
    Q_OBJECT
  public:
    explicit BoundaryView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;

  signals:
    void pairChanged(int a, int b);

  private:
    void fillClasses(const RunData& data);

    QCustomPlot* plot_;
    QComboBox* classA_;
    QComboBox* classB_;
    int classCount_ = 0;
    const RunData* last_ = nullptr;
};

}  // namespace dfq::ui
