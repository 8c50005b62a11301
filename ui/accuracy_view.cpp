#include "accuracy_view.h"

#include <qcustomplot.h>

#include <QTextStream>

#include "run_data.h"

namespace dfq::ui {

AccuracyView::AccuracyView(QWidget* parent)
    : PlotPanel(tr("<b>What you are seeing.</b> The quantized student's top-1 accuracy on real "
                   "test images after every epoch (no real image is used for training). Grey: the "
                   "full-precision teacher, the ceiling. Dashed: the same quantized model with its "
                   "activation ranges calibrated on synthetic images but no fine-tuning (PTQ); "
                   "the gap between the red curve and this line is what the method adds."),
                parent) {
    plot_ = addPlot();
    plot_->xAxis->setLabel(tr("iteration"));
    plot_->yAxis->setLabel(tr("top-1 accuracy (%)"));
    plot_->legend->setVisible(true);
    plot_->legend->setFont(QFont(font().family(), 8));
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    QCPGraph* student = plot_->addGraph();
    student->setName(tr("student (quantized)"));
    student->setPen(QPen(QColor(214, 39, 40), 2));
    student->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    QCPGraph* fp = plot_->addGraph();
    fp->setName(tr("FP teacher"));
    fp->setPen(QPen(QColor(110, 110, 110), 1.5));
    QCPGraph* ptq = plot_->addGraph();
    ptq->setName(tr("PTQ baseline"));
    QPen dashed(QColor(44, 160, 44), 1.5);
    dashed.setStyle(Qt::DashLine);
    ptq->setPen(dashed);
}

void AccuracyView::refresh(const RunData& d) {
    last_ = &d;
    QVector<double> x, y;
    double lo = 100, hi = 0;
    for (const auto& e : d.evals) {
        x.push_back(static_cast<double>(e.step));
        y.push_back(e.top1);
        lo = std::min(lo, e.top1);
        hi = std::max(hi, e.top1);
    }
    plot_->graph(0)->setData(x, y, true);
    const double xMax = std::max<double>(1.0, static_cast<double>(d.totalSteps));
    auto line = [&](int g, double v) {
        if (v < 0) {
            plot_->graph(g)->data()->clear();
            return;
        }
        plot_->graph(g)->setData({0.0, xMax}, {v, v}, true);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    };
    line(1, d.fpTop1);
    line(2, d.ptqTop1);
    while (plot_->graphCount() > 3)
        plot_->removeGraph(plot_->graphCount() - 1);
    double xMaxAll = xMax;
    for (size_t r = 0; r < comparisons().size(); ++r) {
        const RunData& other = comparisons()[r];
        QVector<double> ox, oy;
        for (const auto& e : other.evals) {
            ox.push_back(static_cast<double>(e.step));
            oy.push_back(e.top1);
            lo = std::min(lo, e.top1);
            hi = std::max(hi, e.top1);
            xMaxAll = std::max(xMaxAll, static_cast<double>(e.step));
        }
        QCPGraph* g = plot_->addGraph();
        g->setName(runName(other));
        g->setPen(QPen(comparisonColor(r), 1.5));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
        g->setData(ox, oy, true);
    }
    plot_->xAxis->setRange(0, xMaxAll);
    if (hi >= lo)
        plot_->yAxis->setRange(std::max(0.0, lo - 3), std::min(100.0, hi + 2));
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString AccuracyView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "epoch,step,top1,top5\n";
    if (last_) {
        if (last_->fpTop1 >= 0)
            s << "fp,," << last_->fpTop1 << ",\n";
        if (last_->ptqTop1 >= 0)
            s << "ptq,," << last_->ptqTop1 << ",\n";
        for (const auto& e : last_->evals)
            s << e.epoch + 1 << ',' << e.step << ',' << e.top1 << ',' << e.top5 << '\n';
    }
    return out;
}

}  // namespace dfq::ui
