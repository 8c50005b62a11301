#include "rounding_view.h"

#include <qcustomplot.h>

#include <QTextStream>
#include <QVBoxLayout>
#include <cmath>

#include "run_data.h"

namespace dfq::ui {

RoundingView::RoundingView(QWidget* parent)
    : PlotPanel(
          tr("<b>What you are seeing.</b> A quantized weight only changes when its "
             "full-precision value crosses a rounding threshold between two integer codes. "
             "Left: the fraction of all quantized weights whose code changed in each "
             "student step. Right: the same per layer (rows) over the run (columns); "
             "brighter means more crossings. Few crossings mean the student's weights "
             "barely move on the integer grid. In AIT runs, the dashed line is the passing "
             "threshold that gradient inundation aims each layer's step at, and the plot below "
             "it shows the factor α by which it enlarged each layer's step."),
          parent) {
    overall_ = addPlot(1);
    overall_->xAxis->setLabel(tr("iteration"));
    overall_->yAxis->setLabel(tr("codes changed (fraction, log)"));
    overall_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    overall_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    QCPGraph* g = overall_->addGraph();
    g->setPen(QPen(QColor(148, 103, 189), 1.5));
    QCPGraph* thr = overall_->addGraph();
    thr->setPen(QPen(QColor(80, 80, 80), 1.2, Qt::DashLine));
    thr->setName(tr("passing threshold"));

    heat_ = addPlot(1);
    heat_->xAxis->setLabel(tr("iteration"));
    heat_->yAxis->setLabel(tr("layer"));
    map_ = new QCPColorMap(heat_->xAxis, heat_->yAxis);
    map_->setGradient(QCPColorGradient::gpThermal);
    map_->setInterpolate(false);
    auto* scale = new QCPColorScale(heat_);
    heat_->plotLayout()->addElement(0, 1, scale);
    scale->setLabel(tr("fraction changed"));
    map_->setColorScale(scale);

    alpha_ = addPlot(1);
    alpha_->xAxis->setLabel(tr("iteration"));
    alpha_->yAxis->setLabel(tr("α per layer (log)"));
    alpha_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    alpha_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    alpha_->setVisible(false);
    // α sits under the crossings, on the same iteration axis; the heat map keeps its width.
    auto* column = new QVBoxLayout;
    plotRow()->removeWidget(overall_);
    plotRow()->removeWidget(alpha_);
    column->addWidget(overall_, 1);
    column->addWidget(alpha_, 1);
    plotRow()->insertLayout(0, column, 1);
}

namespace {

// A run's fraction of codes changed per student step (the steps with any change: a log axis).
void setOverall(QCPGraph* g, const RunData& d) {
    std::vector<double> x, y;
    for (const auto& r : d.rounding) {
        if (r.overall <= 0)
            continue;
        x.push_back(static_cast<double>(r.step));
        y.push_back(r.overall);
    }
    decimate(x, y, 3000);
    g->setData(QVector<double>(x.begin(), x.end()), QVector<double>(y.begin(), y.end()), true);
}

}  // namespace

void RoundingView::refresh(const RunData& d) {
    last_ = &d;
    setOverall(overall_->graph(0), d);
    std::vector<double> tx, ty;
    for (const auto& r : d.rounding)
        if (r.threshold > 0) {
            tx.push_back(static_cast<double>(r.step));
            ty.push_back(r.threshold);
        }
    decimate(tx, ty, 3000);
    overall_->graph(1)->setData(QVector<double>(tx.begin(), tx.end()),
                                QVector<double>(ty.begin(), ty.end()), true);
    // Compared runs: their overall crossings, thin, in their own colour.
    while (overall_->graphCount() > 2)
        overall_->removeGraph(overall_->graphCount() - 1);
    for (size_t r = 0; r < comparisons().size(); ++r) {
        const RunData& other = comparisons()[r];
        QCPGraph* c = overall_->addGraph();
        c->setName(runName(other));
        c->setPen(QPen(comparisonColor(r), 1.0));
        setOverall(c, other);
    }
    overall_->graph(0)->setName(comparisons().empty() ? tr("codes changed") : tr("open run"));
    overall_->legend->setVisible(!comparisons().empty());
    overall_->rescaleAxes();
    if (d.totalSteps > 0)
        overall_->xAxis->setRange(0, static_cast<double>(d.totalSteps));
    overall_->replot(QCustomPlot::rpQueuedReplot);
    refreshAlpha(d);

    if (d.rounding.empty()) {
        map_->data()->clear();
        heat_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const int layers = static_cast<int>(d.rounding.front().perLayer.size());
    const int columns = std::min<int>(400, static_cast<int>(d.rounding.size()));
    const double x0 = static_cast<double>(d.rounding.front().step);
    const double x1 = static_cast<double>(d.rounding.back().step);
    map_->data()->setSize(columns, layers);
    map_->data()->setRange(QCPRange(x0, std::max(x0 + 1, x1)), QCPRange(0, layers - 1));
    // Average the steps that fall into each column.
    std::vector<double> sum(static_cast<size_t>(columns * layers), 0.0);
    std::vector<int> count(static_cast<size_t>(columns), 0);
    const size_t n = d.rounding.size();
    for (size_t i = 0; i < n; ++i) {
        const int col = static_cast<int>(i * static_cast<size_t>(columns) / n);
        ++count[static_cast<size_t>(col)];
        for (int l = 0; l < layers && l < static_cast<int>(d.rounding[i].perLayer.size()); ++l)
            sum[static_cast<size_t>(col * layers + l)] += d.rounding[i].perLayer[l];
    }
    for (int c = 0; c < columns; ++c)
        for (int l = 0; l < layers; ++l)
            map_->data()->setCell(
                c, l, count[c] ? sum[static_cast<size_t>(c * layers + l)] / count[c] : 0.0);
    QVector<double> ticks;
    QVector<QString> labels;
    for (int l = 0; l < layers; ++l) {
        ticks.push_back(l);
        labels.push_back(QString::fromStdString(d.rounding.front().layers[l]));
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    ticker->addTicks(ticks, labels);
    heat_->yAxis->setTicker(ticker);
    map_->rescaleDataRange(true);
    heat_->rescaleAxes();
    heat_->replot(QCustomPlot::rpQueuedReplot);
}

namespace {

bool hasAlphas(const RunData& d) {
    return !d.rounding.empty() && !d.rounding.back().alphas.empty();
}

}  // namespace

void RoundingView::refreshAlpha(const RunData& d) {
    bool anyCompared = false;
    for (const auto& other : comparisons())
        anyCompared = anyCompared || hasAlphas(other);
    const bool ait = hasAlphas(d);
    alpha_->setVisible(ait || anyCompared);
    if (!ait && !anyCompared)
        return;
    const size_t layers = ait ? d.rounding.back().alphas.size() : 0;
    alpha_->clearGraphs();
    while (alpha_->graphCount() < static_cast<int>(layers)) {
        QCPGraph* g = alpha_->addGraph();
        g->setPen(QPen(QColor::fromHsv((alpha_->graphCount() * 47) % 360, 160, 200), 1.0));
    }
    // Compared AIT runs: the geometric mean of α over their layers, dashed, in their colour.
    for (size_t r = 0; r < comparisons().size(); ++r) {
        const RunData& other = comparisons()[r];
        if (!hasAlphas(other))
            continue;
        std::vector<double> x, y;
        for (const auto& o : other.rounding) {
            double logSum = 0;
            int n = 0;
            for (double a : o.alphas)
                if (a > 0) {
                    logSum += std::log(a);
                    ++n;
                }
            if (n) {
                x.push_back(static_cast<double>(o.step));
                y.push_back(std::exp(logSum / n));
            }
        }
        decimate(x, y, 3000);
        QCPGraph* g = alpha_->addGraph();
        g->setName(tr("%1 (geometric mean)").arg(runName(other)));
        g->setPen(QPen(comparisonColor(r), 1.6, Qt::DashLine));
        g->setData(QVector<double>(x.begin(), x.end()), QVector<double>(y.begin(), y.end()), true);
    }
    for (size_t l = 0; l < layers; ++l) {
        std::vector<double> x, y;
        for (const auto& r : d.rounding)
            if (l < r.alphas.size()) {
                x.push_back(static_cast<double>(r.step));
                y.push_back(r.alphas[l]);
            }
        decimate(x, y, 3000);
        QCPGraph* g = alpha_->graph(static_cast<int>(l));
        g->setData(QVector<double>(x.begin(), x.end()), QVector<double>(y.begin(), y.end()), true);
        g->setName(QString::fromStdString(d.rounding.back().layers.at(l)));
    }
    alpha_->rescaleAxes();
    alpha_->yAxis->setRangeLower(std::min(1.0, alpha_->yAxis->range().lower));
    if (d.totalSteps > 0)
        alpha_->xAxis->setRange(0, static_cast<double>(d.totalSteps));
    alpha_->replot(QCustomPlot::rpQueuedReplot);
}

QString RoundingView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "step,overall";
    if (last_ && !last_->rounding.empty())
        for (const auto& l : last_->rounding.front().layers)
            s << ',' << QString::fromStdString(l);
    s << '\n';
    if (last_)
        for (const auto& r : last_->rounding) {
            s << r.step << ',' << r.overall;
            for (double v : r.perLayer)
                s << ',' << v;
            s << '\n';
        }
    return out;
}

}  // namespace dfq::ui
