#include "loss_view.h"

#include <algorithm>
#include <iterator>

#include <qcustomplot.h>

#include <QCheckBox>
#include <QHBoxLayout>
#include <QTextStream>

#include "run_data.h"

namespace dfq::ui {

namespace {

struct Series {
    const char* name;
    double run::IterationStats::*field;
    QColor color;
    Qt::PenStyle style;
    bool student;
};

const Series kSeries[] = {
    {"generator total", &run::IterationStats::generatorLoss, QColor(31, 119, 180), Qt::SolidLine,
     false},
    {"generator CE", &run::IterationStats::generatorCe, QColor(31, 119, 180), Qt::DashLine, false},
    {"generator BNS", &run::IterationStats::generatorBns, QColor(23, 190, 207), Qt::DotLine, false},
    {"student total", &run::IterationStats::studentLoss, QColor(214, 39, 40), Qt::SolidLine, true},
    {"student CE", &run::IterationStats::studentCe, QColor(214, 39, 40), Qt::DashLine, true},
    {"student KD (T²·KL)", &run::IterationStats::studentKd, QColor(255, 127, 14), Qt::DotLine,
     true},
    {"student Grad-CAM (SynQ)", &run::IterationStats::studentCam, QColor(148, 103, 189),
     Qt::DashDotLine, true},
};
constexpr int kSeriesCount = static_cast<int>(std::size(kSeries));

// One loss over a run's iterations, as drawn: positive values only on a log scale, smoothed when
// asked, decimated for long runs.
void setSeries(QCPGraph* g, const std::vector<run::IterationStats>& iterations, const Series& s,
               bool logScale, bool smoothed) {
    std::vector<double> x, y;
    x.reserve(iterations.size());
    y.reserve(iterations.size());
    for (const auto& it : iterations) {
        const double v = it.*(s.field);
        if ((s.student && !it.studentTrained) || (logScale && v <= 0))
            continue;
        x.push_back(static_cast<double>(it.step));
        y.push_back(v);
    }
    if (smoothed)
        y = smooth(y, 0.9);
    decimate(x, y, 3000);
    g->setData(QVector<double>(x.begin(), x.end()), QVector<double>(y.begin(), y.end()), true);
}

}  // namespace

LossView::LossView(QWidget* parent)
    : PlotPanel(
          tr("<b>What you are seeing.</b> Blue: the generator's loss (HAST: the loss of the "
             "fixed set's images while they are made), the teacher's cross-entropy on the "
             "labels the images are made for (CE) plus a weighted distance of their BatchNorm "
             "statistics from the teacher's (BNS). Red and orange: the quantized student's "
             "loss, cross-entropy plus the distillation term that pulls its outputs towards "
             "the teacher's; purple: SynQ's Grad-CAM alignment. The student starts after the "
             "warm-up epochs."),
          parent) {
    log_ = new QCheckBox(tr("Log scale"));
    log_->setChecked(true);
    smooth_ = new QCheckBox(tr("Smooth"));
    smooth_->setChecked(true);
    controls()->addWidget(log_);
    controls()->addWidget(smooth_);
    controls()->addStretch();
    plot_ = addPlot();
    plot_->xAxis->setLabel(tr("iteration"));
    plot_->yAxis->setLabel(tr("loss"));
    plot_->legend->setVisible(true);
    plot_->legend->setFont(QFont(font().family(), 8));
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    for (const auto& s : kSeries) {
        QCPGraph* g = plot_->addGraph();
        g->setName(s.name);
        QPen pen(s.color, 1.6);
        pen.setStyle(s.style);
        g->setPen(pen);
    }
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    auto redraw = [this] {
        if (last_)
            refresh(*last_);
    };
    connect(log_, &QCheckBox::toggled, this, redraw);
    connect(smooth_, &QCheckBox::toggled, this, redraw);
}

void LossView::refresh(const RunData& d) {
    last_ = &d;
    const bool logScale = log_->isChecked();
    plot_->yAxis->setScaleType(logScale ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (logScale)
        plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    for (int i = 0; i < kSeriesCount; ++i)
        setSeries(plot_->graph(i), d.iterations, kSeries[i], logScale, smooth_->isChecked());
    // SynQ's Grad-CAM term only where the run has one.
    QCPGraph* cam = plot_->graph(kSeriesCount - 1);
    const bool hasCam =
        std::any_of(d.iterations.begin(), d.iterations.end(),
                    [](const run::IterationStats& it) { return it.studentCam != 0; });
    cam->setVisible(hasCam);
    if (hasCam)
        cam->addToLegend();
    else
        cam->removeFromLegend();
    // Compared runs: their generator and student totals, thin, in their own colour.
    while (plot_->graphCount() > kSeriesCount)
        plot_->removeGraph(plot_->graphCount() - 1);
    for (size_t r = 0; r < comparisons().size(); ++r) {
        const RunData& other = comparisons()[r];
        for (int k : {0, 3}) {
            QCPGraph* g = plot_->addGraph();
            g->setName(runName(other) + ": " + kSeries[k].name);
            g->setPen(QPen(comparisonColor(r), 1.0, k == 0 ? Qt::SolidLine : Qt::DashDotLine));
            setSeries(g, other.iterations, kSeries[k], logScale, smooth_->isChecked());
        }
    }
    plot_->rescaleAxes();
    if (d.totalSteps > 0)
        plot_->xAxis->setRange(0, static_cast<double>(d.totalSteps));
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString LossView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "step,g_ce,g_bns,g_loss,s_ce,s_kd,s_loss,s_cam\n";
    if (last_)
        for (const auto& it : last_->iterations)
            s << it.step << ',' << it.generatorCe << ',' << it.generatorBns << ','
              << it.generatorLoss << ',' << it.studentCe << ',' << it.studentKd << ','
              << it.studentLoss << ',' << it.studentCam << '\n';
    return out;
}

}  // namespace dfq::ui
