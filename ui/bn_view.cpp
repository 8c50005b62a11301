#include "bn_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QTextStream>

#include "run_data.h"

namespace dfq::ui {

namespace {

const QColor kMean(31, 119, 180), kVar(255, 127, 14);

QCPBars* makeBars(QCustomPlot* p, const QString& name, const QColor& c, bool ghost) {
    auto* b = new QCPBars(p->xAxis, p->yAxis);
    b->setName(name);
    b->setWidth(0.38);
    if (ghost) {
        b->setPen(QPen(c.darker(110), 1, Qt::DashLine));
        b->setBrush(Qt::NoBrush);
    } else {
        b->setPen(Qt::NoPen);
        b->setBrush(c);
    }
    return b;
}

}  // namespace

BnView::BnView(QWidget* parent)
    : PlotPanel(tr("<b>What you are seeing.</b> Every BatchNorm layer of the teacher remembers the "
                   "mean and variance its inputs had on the real training data. The generator is "
                   "trained so that its synthetic images reproduce them. Left: per layer, the mean "
                   "squared distance between the synthetic batch's statistics and the remembered "
                   "ones (filled: now; dashed outline: at the first iteration); lower is better. "
                   "Right: for one layer, each channel's synthetic statistic against the "
                   "remembered one; on the diagonal means a perfect match."),
                parent) {
    controls()->addWidget(new QLabel(tr("Layer for the channel plot:")));
    layer_ = new QComboBox;
    layer_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    controls()->addWidget(layer_);
    controls()->addStretch();

    bars_ = addPlot(3);
    bars_->yAxis->setLabel(tr("squared distance (log)"));
    bars_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    bars_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    bars_->xAxis->setLabel(tr("BatchNorm layer"));
    bars_->xAxis->setTickLabelRotation(50);
    bars_->legend->setVisible(true);
    bars_->legend->setFont(QFont(font().family(), 8));
    auto* group = new QCPBarsGroup(bars_);
    for (QCPBars* b : {makeBars(bars_, tr("mean, now"), kMean, false),
                       makeBars(bars_, tr("variance, now"), kVar, false),
                       makeBars(bars_, tr("mean, first"), kMean, true),
                       makeBars(bars_, tr("variance, first"), kVar, true)})
        b->setBarsGroup(group);

    channels_ = addPlot(2);
    channels_->xAxis->setLabel(tr("running statistic (real data)"));
    channels_->yAxis->setLabel(tr("synthetic batch"));
    channels_->legend->setVisible(true);
    channels_->legend->setFont(QFont(font().family(), 8));
    channels_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    for (auto [name, color] : {std::pair{tr("mean"), kMean}, std::pair{tr("variance"), kVar}}) {
        QCPGraph* g = channels_->addGraph();
        g->setName(name);
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, 5));
    }
    QCPGraph* identity = channels_->addGraph();
    identity->setName(tr("identity"));
    identity->setPen(QPen(QColor(120, 120, 120), 1, Qt::DashLine));
    connect(layer_, &QComboBox::currentIndexChanged, this, [this] { refreshChannels(); });
}

void BnView::refresh(const RunData& d) {
    last_ = &d;
    if (!d.lastBn) {
        for (int i = 0; i < bars_->plottableCount(); ++i)
            static_cast<QCPBars*>(bars_->plottable(i))->data()->clear();
        bars_->replot(QCustomPlot::rpQueuedReplot);
        refreshChannels();
        return;
    }
    const auto& now = *d.lastBn;
    const int n = static_cast<int>(now.layers.size());
    QVector<double> ticks(n);
    QVector<QString> labels(n);
    for (int i = 0; i < n; ++i) {
        ticks[i] = i;
        labels[i] = QString::fromStdString(now.layers[i]);
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    ticker->addTicks(ticks, labels);
    bars_->xAxis->setTicker(ticker);
    auto set = [&](int plottable, const std::vector<double>& v) {
        QVector<double> y(v.begin(), v.end());
        for (double& e : y)
            e = std::max(e, 1e-8);
        static_cast<QCPBars*>(bars_->plottable(plottable))->setData(ticks, y);
    };
    set(0, now.meanMse);
    set(1, now.varMse);
    if (d.firstBn && d.firstBn->layers.size() == now.layers.size()) {
        set(2, d.firstBn->meanMse);
        set(3, d.firstBn->varMse);
    }
    bars_->xAxis->setRange(-0.6, n - 0.4);
    bars_->yAxis->rescale();
    bars_->yAxis->setRangeLower(std::max(1e-8, bars_->yAxis->range().lower / 2));
    bars_->yAxis->setRangeUpper(bars_->yAxis->range().upper * 2);
    bars_->replot(QCustomPlot::rpQueuedReplot);

    if (layerCount_ != static_cast<int>(now.channels.size())) {
        const QString keep = layer_->currentText();
        QSignalBlocker block(layer_);
        layer_->clear();
        for (const auto& ch : now.channels)
            layer_->addItem(QString::fromStdString(ch.layer));
        const int i = layer_->findText(keep);
        layer_->setCurrentIndex(i >= 0 ? i : 0);
        layerCount_ = static_cast<int>(now.channels.size());
    }
    refreshChannels();
}

void BnView::refreshChannels() {
    const int i = layer_->currentIndex();
    if (!last_ || !last_->lastBn || i < 0 ||
        i >= static_cast<int>(last_->lastBn->channels.size())) {
        for (int g = 0; g < 3; ++g)
            channels_->graph(g)->data()->clear();
        channels_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& ch = last_->lastBn->channels[i];
    auto toQ = [](const std::vector<double>& v) { return QVector<double>(v.begin(), v.end()); };
    channels_->graph(0)->setData(toQ(ch.runningMean), toQ(ch.batchMean));
    channels_->graph(1)->setData(toQ(ch.runningVar), toQ(ch.batchVar));
    double lo = 0, hi = 0;
    for (const auto* v : {&ch.runningMean, &ch.batchMean, &ch.runningVar, &ch.batchVar})
        for (double e : *v) {
            lo = std::min(lo, e);
            hi = std::max(hi, e);
        }
    const double pad = 0.05 * (hi - lo + 1e-6);
    channels_->graph(2)->setData({lo - pad, hi + pad}, {lo - pad, hi + pad});
    channels_->xAxis->setRange(lo - pad, hi + pad);
    channels_->yAxis->setRange(lo - pad, hi + pad);
    channels_->replot(QCustomPlot::rpQueuedReplot);
}

QString BnView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "layer,mean_mse,var_mse,first_mean_mse,first_var_mse\n";
    if (last_ && last_->lastBn) {
        const auto& now = *last_->lastBn;
        const bool first = last_->firstBn && last_->firstBn->layers.size() == now.layers.size();
        for (size_t i = 0; i < now.layers.size(); ++i) {
            s << QString::fromStdString(now.layers[i]) << ',' << now.meanMse[i] << ','
              << now.varMse[i] << ',';
            if (first)
                s << last_->firstBn->meanMse[i] << ',' << last_->firstBn->varMse[i];
            else
                s << ',';
            s << '\n';
        }
    }
    return out;
}

}  // namespace dfq::ui
