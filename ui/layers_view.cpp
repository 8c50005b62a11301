#include "layers_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextStream>
#include <QVBoxLayout>
#include <cmath>

#include "run_data.h"

namespace dfq::ui {

namespace {

using analysis::Figures;
using analysis::LayerRow;
using analysis::QuantizerKind;

// A table cell that shows a formatted number and sorts by its value; numbers that do not exist
// show "–" and sort last.
class NumberItem : public QTableWidgetItem {
  public:
    NumberItem(double v, int digits, const QString& suffix = {}) : value_(v) {
        setText(std::isnan(v)   ? QStringLiteral("–")
                : std::isinf(v) ? QStringLiteral("exact")
                                : QString::number(v, 'f', digits) + suffix);
        setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        setFlags(flags() & ~Qt::ItemIsEditable);
    }
    bool operator<(const QTableWidgetItem& other) const override {
        const auto* n = dynamic_cast<const NumberItem*>(&other);
        if (!n)
            return QTableWidgetItem::operator<(other);
        const double a = std::isnan(value_) ? -HUGE_VAL : value_;
        const double b = std::isnan(n->value_) ? -HUGE_VAL : n->value_;
        return a < b;
    }

  private:
    double value_;
};

QTableWidgetItem* textItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setFlags(item->flags() & ~Qt::ItemIsEditable);
    return item;
}

// Text ticks at 0, 1, ... for the names.
QSharedPointer<QCPAxisTickerText> nameTicker(const QStringList& names) {
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (int i = 0; i < names.size(); ++i)
        ticker->addTick(i, names[i]);
    return ticker;
}

const QColor kIsolated(31, 119, 180), kCumulative(255, 127, 14), kFp(127, 127, 127);

QCustomPlot* takePlot(QCustomPlot* plot, QBoxLayout* from, QBoxLayout* to, int stretch = 1) {
    from->removeWidget(plot);
    to->addWidget(plot, stretch);
    return plot;
}

QString keyOf(const analysis::AnalysisResult& r) {
    QString k = QString("%1/%2/%3/%4/%5")
                    .arg(r.report.seconds)
                    .arg(r.report.images)
                    .arg(r.report.layers.size())
                    .arg(r.points.size())
                    .arg(r.hasPlan);
    for (const auto& p : r.points)
        k += QString("/%1").arg(p.measuredTop1);
    return k;
}

}  // namespace

LayersView::LayersView(QWidget* parent)
    : PlotPanel(
          tr("<b>What you are seeing.</b> Where quantization hurts. <b>Analyze</b> quantizes the "
             "FP teacher one quantizer at a time (each conv/linear weight, each activation after "
             "a ReLU) at every bit-width and measures, on synthetic batches of the chosen source: "
             "the SQNR of that layer's output against the FP layer on the same input, the KL "
             "divergence of the final softmax from the teacher's, and how often the top-1 class "
             "stays the teacher's (agreement); with real data also top-1. <i>Isolated</i>: only "
             "that quantizer on; <i>cumulative</i>: every quantizer up to it on, so the rise along "
             "the network shows where error piles up. Click a row for the layer's channel ranges "
             "and output histograms. <b>Mixed precision</b> chooses each layer's weight bits for "
             "a budget to minimize the summed isolated KL, predicts each plan's accuracy and can "
             "measure it on the real data; <b>Use this plan</b> fills quant.layer_bits. "
             "<b>Live</b>: during a run, every quantized layer's SQNR of the student against the "
             "teacher (synthetic batches; real images after each evaluation), and the student's "
             "BatchNorm-input statistics against the running ones."),
          parent) {
    // Controls: what to analyze, and which bit-width the table shows.
    analyze_ = new QPushButton(tr("Analyze"));
    analyze_->setToolTip(tr("Measure every quantizer at every bit-width (dfq analyze)"));
    source_ = new QComboBox;
    source_->addItem(tr("the run's generator"), "run");
    source_->addItem(tr("a generator warm-up"), "warmup");
    source_->addItem(tr("real data"), "real");
    source_->setCurrentIndex(1);
    source_->setToolTip(
        tr("Where the batches come from: the open run folder's generator, a "
           "fresh generator trained for the experiment's warm-up epochs, or "
           "the experiment's data.path"));
    bitsEdit_ = new QLineEdit("2,3,4,8");
    bitsEdit_->setMaximumWidth(90);
    bitsEdit_->setToolTip(tr("Bit-widths to measure, comma-separated"));
    cancel_ = new QPushButton(tr("Cancel"));
    progress_ = new QProgressBar;
    progress_->setMaximumWidth(220);
    progress_->setTextVisible(true);
    status_ = new QLabel;
    // A long state is cut (its tooltip has all of it) instead of widening the window.
    status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    bitsBox_ = new QComboBox;
    bitsBox_->setToolTip(tr("The bit-width the table, the bars and the layer details show"));
    auto* c = controls();
    c->addWidget(analyze_);
    c->addWidget(new QLabel(tr("from")));
    c->addWidget(source_);
    c->addWidget(new QLabel(tr("bits")));
    c->addWidget(bitsEdit_);
    c->addWidget(cancel_);
    c->addWidget(progress_);
    c->addWidget(status_, 1);
    c->addWidget(new QLabel(tr("show")));
    c->addWidget(bitsBox_);
    connect(analyze_, &QPushButton::clicked, this, [this] {
        std::vector<int> bits;
        for (const QString& part : bitsEdit_->text().split(',', Qt::SkipEmptyParts)) {
            bool ok = false;
            const int b = part.trimmed().toInt(&ok);
            if (!ok || b < 1 || b > 16) {
                setStatus(tr("<font color='#c00'>bits: '%1' is not a bit-width in 1..16</font>")
                              .arg(part.trimmed()));
                return;
            }
            bits.push_back(b);
        }
        if (bits.empty()) {
            setStatus(tr("<font color='#c00'>give at least one bit-width</font>"));
            return;
        }
        emit analyzeRequested(source_->currentData().toString(), bits);
    });
    connect(cancel_, &QPushButton::clicked, this, &LayersView::cancelRequested);
    connect(bitsBox_, &QComboBox::currentIndexChanged, this, [this] {
        if (filling_)
            return;
        fillTable();
        drawSensitivity();
        drawLayer();
    });

    // Left: the table; right: the plots on pages.
    table_ = new QTableWidget;
    const QStringList headers = {
        tr("quantizer"),    tr(" "),       tr("KL"),           tr("agree %"),      tr("SQNR dB"),
        tr("real top-1 %"), tr("cum. KL"), tr("cum. agree %"), tr("cum. SQNR dB"), tr("clipped %"),
        tr("params")};
    table_->setColumnCount(headers.size());
    table_->setHorizontalHeaderLabels(headers);
    table_->verticalHeader()->setVisible(false);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setSortingEnabled(true);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeaderItem(1)->setToolTip(tr("W: a conv/linear weight; A: an activation"));
    table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    connect(table_, &QTableWidget::itemSelectionChanged, this, [this] {
        if (filling_)
            return;
        const auto rows = table_->selectionModel()->selectedRows();
        if (rows.isEmpty())
            return;
        selected_ = table_->item(rows.front().row(), 0)->text();
        drawLayer();
        pages_->setCurrentIndex(1);
    });

    pages_ = new QTabWidget;
    auto page = [this](const QString& title) {
        auto* w = new QWidget;
        auto* l = new QVBoxLayout(w);
        l->setContentsMargins(2, 2, 2, 2);
        pages_->addTab(w, title);
        return l;
    };
    QBoxLayout* row = plotRow();

    // One plot: the quantizer × bits map above the bars, on the same quantizer axis.
    QVBoxLayout* sens = page(tr("Sensitivity"));
    trust_ = new QLabel;
    trust_->setWordWrap(true);
    trust_->setVisible(false);
    sens->addWidget(trust_);
    bars_ = takePlot(addPlot(), row, sens);
    heat_ = bars_;
    auto* heatRect = new QCPAxisRect(bars_);
    auto* barsRect = bars_->axisRect();
    bars_->plotLayout()->take(barsRect);
    bars_->plotLayout()->simplify();
    bars_->plotLayout()->addElement(0, 0, heatRect);
    bars_->plotLayout()->addElement(1, 0, barsRect);
    bars_->plotLayout()->setRowStretchFactor(0, 0.35);
    auto* margins = new QCPMarginGroup(bars_);
    heatRect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    barsRect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    QCPAxis* heatX = heatRect->axis(QCPAxis::atBottom);
    QCPAxis* heatY = heatRect->axis(QCPAxis::atLeft);
    heatX->setTickLabels(false);
    heatY->setLabel(tr("bits"));
    heatMap_ = new QCPColorMap(heatX, heatY);
    heatMap_->setInterpolate(false);
    heatMap_->setGradient(QCPColorGradient::gpThermal);
    auto* heatScale = new QCPColorScale(bars_);
    bars_->plotLayout()->addElement(0, 1, heatScale);
    heatScale->setDataScaleType(QCPAxis::stLogarithmic);
    heatScale->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    heatScale->setLabel(tr("isolated KL"));
    heatScale->setMarginGroup(QCP::msTop | QCP::msBottom, new QCPMarginGroup(bars_));
    heatMap_->setColorScale(heatScale);
    bars_->yAxis->setLabel(tr("KL(teacher ‖ quantized)"));
    bars_->legend->setVisible(true);
    bars_->legend->setFont(QFont(font().family(), 8));
    barsRect->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    auto* group = new QCPBarsGroup(bars_);
    for (int k = 0; k < 2; ++k) {
        auto* b = new QCPBars(bars_->xAxis, bars_->yAxis);
        b->setName(k == 0 ? tr("isolated") : tr("cumulative"));
        b->setPen(Qt::NoPen);
        b->setBrush(k == 0 ? kIsolated : kCumulative);
        b->setWidth(0.4);
        b->setBarsGroup(group);
        (k == 0 ? isolatedBars_ : cumulativeBars_) = b;
    }
    bars_->xAxis->setTickLabelRotation(60);
    bars_->xAxis->setTickLabelFont(QFont(font().family(), 7));

    QVBoxLayout* layerPage = page(tr("Layer"));
    layerText_ = new QLabel(tr("Click a quantizer in the table."));
    layerText_->setWordWrap(true);
    layerPage->addWidget(layerText_);
    // Side by side, so that both plots keep their height in a 1280 × 800 window.
    auto* layer = new QHBoxLayout;
    layerPage->addLayout(layer, 1);
    channels_ = takePlot(addPlot(), row, layer);
    channels_->xAxis->setLabel(tr("output channel"));
    channels_->yAxis->setLabel(tr("weight range (min, max)"));
    channels_->yAxis2->setVisible(true);
    channels_->yAxis2->setLabel(tr("step size"));
    channels_->legend->setVisible(true);
    channels_->legend->setFont(QFont(font().family(), 8));
    channels_->legend->setBrush(QColor(255, 255, 255, 190));
    channels_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    for (int k = 0; k < 2; ++k) {
        auto* b = new QCPBars(channels_->xAxis, channels_->yAxis);
        b->setName(k == 0 ? tr("max") : tr("min"));
        b->setPen(Qt::NoPen);
        b->setBrush(QColor(31, 119, 180, k == 0 ? 200 : 120));
        b->setWidth(0.8);
    }
    QCPGraph* step = channels_->addGraph(channels_->xAxis, channels_->yAxis2);
    step->setName(tr("step size"));
    step->setPen(QPen(QColor(214, 39, 40), 1.5));
    step->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 4));
    hist_ = takePlot(addPlot(), row, layer);
    hist_->xAxis->setLabel(tr("layer output value"));
    hist_->yAxis->setLabel(tr("share of values (log)"));
    hist_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    hist_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    hist_->legend->setVisible(true);
    hist_->legend->setFont(QFont(font().family(), 8));
    hist_->legend->setBrush(QColor(255, 255, 255, 190));
    for (int k = 0; k < 2; ++k) {
        QCPGraph* g = hist_->addGraph();
        g->setLineStyle(QCPGraph::lsStepCenter);
        g->setPen(QPen(k == 0 ? kFp : kIsolated, k == 0 ? 2.0 : 1.2));
        g->setName(k == 0 ? tr("FP") : tr("quantized"));
    }

    QVBoxLayout* mixed = page(tr("Mixed precision"));
    size_ = takePlot(addPlot(), row, mixed);
    size_->xAxis->setLabel(tr("model size (KiB)"));
    size_->legend->setVisible(true);
    size_->legend->setFont(QFont(font().family(), 8));
    size_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    const struct {
        QString name;
        QColor color;
        QCPScatterStyle::ScatterShape shape;
        bool line;
    } series[] = {
        {tr("uniform bits"), QColor(127, 127, 127), QCPScatterStyle::ssSquare, false},
        {tr("plans (predicted)"), kIsolated, QCPScatterStyle::ssDisc, true},
        {tr("measured on real data"), QColor(44, 160, 44), QCPScatterStyle::ssTriangle, false},
        {tr("chosen"), QColor(214, 39, 40), QCPScatterStyle::ssStar, false}};
    for (const auto& s : series) {
        QCPGraph* g = size_->addGraph();
        g->setName(s.name);
        g->setPen(QPen(s.color, 1.5));
        g->setLineStyle(s.line ? QCPGraph::lsLine : QCPGraph::lsNone);
        g->setScatterStyle(
            QCPScatterStyle(s.shape, s.color, s.shape == QCPScatterStyle::ssStar ? 14 : 8));
    }
    auto* planRow = new QHBoxLayout;
    planBox_ = new QComboBox;
    planBox_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    budget_ = new QDoubleSpinBox;
    budget_->setRange(1, 16);
    budget_->setSingleStep(0.25);
    budget_->setValue(3);
    budget_->setSuffix(tr(" bits"));
    budget_->setToolTip(tr("Average weight bits of a new plan"));
    plan_ = new QPushButton(tr("Plan"));
    use_ = new QPushButton(tr("Use this plan"));
    use_->setToolTip(tr("Sets quant.layer_bits of the experiment to the chosen point's bits"));
    measure_ = new QPushButton(tr("Measure on real data"));
    measure_->setToolTip(tr("Top-1 of every point on the whole evaluation data (data.path)"));
    planRow->addWidget(planBox_, 1);
    planRow->addWidget(use_);
    planRow->addSpacing(12);
    planRow->addWidget(budget_);
    planRow->addWidget(plan_);
    planRow->addWidget(measure_);
    mixed->addLayout(planRow);
    connect(planBox_, &QComboBox::currentIndexChanged, this, [this] {
        if (!filling_)
            drawPlans();
    });
    connect(plan_, &QPushButton::clicked, this, [this] { emit planRequested(budget_->value()); });
    connect(measure_, &QPushButton::clicked, this, &LayersView::measureRequested);
    connect(use_, &QPushButton::clicked, this, [this] {
        if (!result_ || planBox_->currentIndex() < 0)
            return;
        const int i = planBox_->currentIndex();
        const auto& p = i < static_cast<int>(result_->points.size())
                            ? result_->points[static_cast<size_t>(i)]
                            : result_->plan;
        emit planChosen(p.layerBits);
        setStatus(tr("quant.layer_bits set to %1 (%2 bits on average)")
                      .arg(QString::fromStdString(p.label))
                      .arg(p.avgWeightBits, 0, 'f', 2));
    });

    QVBoxLayout* liveLayout = page(tr("Live"));
    liveBox_ = new QComboBox;
    liveBox_->addItem(tr("SQNR of the student's layers, synthetic batches"), 0);
    liveBox_->addItem(tr("SQNR of the student's layers, real images"), 1);
    liveBox_->addItem(tr("BatchNorm-input mean vs running mean (squared distance)"), 2);
    liveBox_->addItem(tr("BatchNorm-input variance vs running variance (squared distance)"), 3);
    liveLayout->addWidget(liveBox_);
    live_ = takePlot(addPlot(), row, liveLayout);
    live_->xAxis->setLabel(tr("iteration"));
    live_->yAxis->setTickLabelFont(QFont(font().family(), 7));
    liveMap_ = new QCPColorMap(live_->xAxis, live_->yAxis);
    liveMap_->setInterpolate(false);
    auto* liveScale = new QCPColorScale(live_);
    live_->plotLayout()->addElement(0, 1, liveScale);
    liveMap_->setColorScale(liveScale);
    liveMean_ = takePlot(addPlot(), row, liveLayout);
    liveMean_->xAxis->setLabel(tr("iteration"));
    liveMean_->legend->setVisible(true);
    liveMean_->legend->setFont(QFont(font().family(), 8));
    liveMean_->setVisible(false);
    connect(liveBox_, &QComboBox::currentIndexChanged, this, [this] { drawLive(); });

    auto* split = new QSplitter(Qt::Horizontal);
    split->addWidget(table_);
    split->addWidget(pages_);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setSizes({400, 600});
    row->addWidget(split, 1);
    setAnalysisState(false, false, false, false, false);
}

void LayersView::setAnalysisState(bool running, bool canPlan, bool canMeasure, bool hasRunFolder,
                                  bool runTraining) {
    analyze_->setEnabled(!running && !runTraining);
    analyze_->setToolTip(runTraining ? tr("Stop the run first: an analysis and a run share the "
                                          "random generator and the cores")
                                     : tr("Measure every quantizer at every bit-width"));
    cancel_->setEnabled(running);
    progress_->setVisible(running);
    plan_->setEnabled(canPlan && !running);
    measure_->setEnabled(canMeasure && !running);
    const QString again =
        tr("Analyze in this window first (an analysis read from a folder has "
           "no batches to plan or measure with)");
    plan_->setToolTip(canPlan ? tr("A new plan for this average number of weight bits") : again);
    measure_->setToolTip(canMeasure ? tr("Top-1 of every point on the whole evaluation data")
                         : canPlan  ? tr("The experiment has no data.path")
                                    : again);
    auto* model = qobject_cast<QStandardItemModel*>(source_->model());
    if (auto* item = model ? model->item(0) : nullptr)
        item->setEnabled(hasRunFolder);
    if (hasRunFolder && !running && source_->currentIndex() == 1 && !result_)
        source_->setCurrentIndex(0);
    if (!hasRunFolder && source_->currentIndex() == 0)
        source_->setCurrentIndex(1);
}

void LayersView::setProgress(const QString& stage, qint64 done, qint64 total) {
    progress_->setRange(0, static_cast<int>(std::max<qint64>(total, 1)));
    progress_->setValue(static_cast<int>(done));
    progress_->setFormat(tr("%1 %2/%3").arg(stage).arg(done).arg(total));
}

void LayersView::setStatus(const QString& text) {
    status_->setText(text);
    status_->setToolTip(text);
}

int LayersView::bitsIndex() const {
    if (!result_ || result_->report.bits.empty())
        return -1;
    const int i = bitsBox_->currentIndex();
    return i >= 0 && i < static_cast<int>(result_->report.bits.size()) ? i : 0;
}

const LayerRow* LayersView::row(const QString& name) const {
    if (!result_)
        return nullptr;
    for (const auto& r : result_->report.layers)
        if (QString::fromStdString(r.name) == name)
            return &r;
    return nullptr;
}

void LayersView::selectLayer(const QString& name) {
    for (int r = 0; r < table_->rowCount(); ++r)
        if (table_->item(r, 0)->text() == name) {
            table_->selectRow(r);
            return;
        }
}

void LayersView::refresh(const RunData& d) {
    liveStats_ = &d.layers;
    drawLive();
    const QString key = d.analysis ? keyOf(*d.analysis) : QString();
    if (key == resultKey_)
        return;
    resultKey_ = key;
    result_ = d.analysis;
    filling_ = true;
    const int keepBits = bitsBox_->currentIndex();
    bitsBox_->clear();
    if (result_)
        for (int b : result_->report.bits)
            bitsBox_->addItem(tr("%1 bits").arg(b), b);
    // The lowest bit-width shows the most; keep the user's choice when there is one.
    if (keepBits >= 0 && keepBits < bitsBox_->count())
        bitsBox_->setCurrentIndex(keepBits);
    filling_ = false;
    if (result_ && selected_.isEmpty() && !result_->report.layers.empty()) {
        // The most sensitive quantizer at the shown bit-width.
        const int k = std::max(0, bitsIndex());
        const auto& layers = result_->report.layers;
        const auto worst = std::max_element(layers.begin(), layers.end(), [&](auto& a, auto& b) {
            return a.isolated[static_cast<size_t>(k)].kl < b.isolated[static_cast<size_t>(k)].kl;
        });
        selected_ = QString::fromStdString(worst->name);
    }
    fillTable();
    drawSensitivity();
    drawLayer();
    drawPlans();
    if (result_) {
        const auto& r = result_->report;
        // How far the synthetic figures can be trusted: do they rank the quantizers as the real
        // images do?
        QStringList rho;
        for (size_t k = 0; r.source != "real" && k < r.bits.size(); ++k)
            if (const double v = r.realRankCorrelation(k); std::isfinite(v))
                rho << tr("%1 at %2 bits").arg(v, 0, 'f', 2).arg(r.bits[k]);
        trust_->setVisible(!rho.isEmpty());
        trust_->setText(
            tr("<b>Do these batches rank the quantizers as real data does?</b> Spearman's rank "
               "correlation of each quantizer's isolated KL on them and on %1 real images: %2 "
               "(1: the same order; 0: unrelated).")
                .arg(r.realImages)
                .arg(rho.join(", ")));
        setStatus(
            tr("%1 quantizers · %2 %3 images%4 · weight ranges %5, activation ranges %6, "
               "plans at A%7 · %8 s")
                .arg(r.layers.size())
                .arg(r.images)
                .arg(r.source == "real" ? tr("real") : tr("synthetic"))
                .arg(r.realImages > 0 && r.source != "real"
                         ? tr(" (real top-1: %1)").arg(r.realImages)
                         : QString())
                .arg(QString::fromStdString(r.weightRange), QString::fromStdString(r.calibration))
                .arg(r.activationBits)
                .arg(r.seconds, 0, 'f', 1));
    } else {
        trust_->setVisible(false);
    }
}

void LayersView::fillTable() {
    filling_ = true;
    table_->setSortingEnabled(false);
    table_->clearContents();
    const int k = bitsIndex();
    if (!result_ || k < 0) {
        table_->setRowCount(0);
        filling_ = false;
        return;
    }
    const auto& layers = result_->report.layers;
    table_->setRowCount(static_cast<int>(layers.size()));
    const QLocale locale;
    for (size_t i = 0; i < layers.size(); ++i) {
        const LayerRow& l = layers[i];
        const Figures& f = l.isolated[static_cast<size_t>(k)];
        const Figures& c = l.cumulative[static_cast<size_t>(k)];
        const int r = static_cast<int>(i);
        table_->setItem(r, 0, textItem(QString::fromStdString(l.name)));
        auto* kind = textItem(l.kind == QuantizerKind::Weight ? tr("W") : tr("A"));
        kind->setToolTip(QString::fromStdString(analysis::kindName(l.kind)));
        kind->setTextAlignment(Qt::AlignCenter);
        table_->setItem(r, 1, kind);
        table_->setItem(r, 2, new NumberItem(f.kl, 4));
        table_->setItem(r, 3, new NumberItem(f.agreement, 1));
        table_->setItem(r, 4, new NumberItem(f.sqnrDb, 1));
        table_->setItem(r, 5, new NumberItem(f.realTop1, 2));
        table_->setItem(r, 6, new NumberItem(c.kl, 4));
        table_->setItem(r, 7, new NumberItem(c.agreement, 1));
        table_->setItem(r, 8, new NumberItem(c.sqnrDb, 1));
        table_->setItem(r, 9, new NumberItem(100.0 * l.clipped[static_cast<size_t>(k)], 2));
        auto* params = new NumberItem(static_cast<double>(l.params), 0);
        params->setText(l.params > 0 ? locale.toString(static_cast<qlonglong>(l.params))
                                     : QString());
        table_->setItem(r, 10, params);
        if (QString::fromStdString(l.name) == selected_)
            table_->selectRow(r);
    }
    table_->setSortingEnabled(true);
    filling_ = false;
}

void LayersView::drawSensitivity() {
    const int k = bitsIndex();
    QCPBars* iso = isolatedBars_;
    QCPBars* cum = cumulativeBars_;
    if (!result_ || k < 0) {
        iso->data()->clear();
        cum->data()->clear();
        heatMap_->data()->clear();
        bars_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& r = result_->report;
    QVector<double> x, yi, yc;
    QStringList names;
    for (size_t i = 0; i < r.layers.size(); ++i) {
        x.push_back(static_cast<double>(i));
        yi.push_back(r.layers[i].isolated[static_cast<size_t>(k)].kl);
        yc.push_back(r.layers[i].cumulative[static_cast<size_t>(k)].kl);
        names << QString::fromStdString(r.layers[i].name);
    }
    iso->setData(x, yi, true);
    cum->setData(x, yc, true);
    bars_->xAxis->setTicker(nameTicker(names));
    bars_->xAxis->setRange(-0.7, static_cast<double>(names.size()) - 0.3);
    bars_->yAxis->rescale();
    bars_->yAxis->setRangeLower(0);
    bars_->yAxis->setRangeUpper(bars_->yAxis->range().upper * 1.08);
    bars_->xAxis->setLabel(
        tr("quantizers in network order, %1 bits").arg(r.bits[static_cast<size_t>(k)]));
    bars_->replot(QCustomPlot::rpQueuedReplot);

    const int nB = static_cast<int>(r.bits.size()), nL = static_cast<int>(r.layers.size());
    heatMap_->data()->setSize(nL, nB);
    heatMap_->data()->setRange(QCPRange(0, std::max(1, nL - 1)), QCPRange(0, std::max(1, nB - 1)));
    for (int l = 0; l < nL; ++l)
        for (int b = 0; b < nB; ++b) {
            const double kl = r.layers[static_cast<size_t>(l)].isolated[static_cast<size_t>(b)].kl;
            heatMap_->data()->setCell(l, b, std::isfinite(kl) ? std::max(kl, 1e-6) : 1e-6);
        }
    QStringList bitNames;
    for (int b : r.bits)
        bitNames << QString::number(b);
    QCPAxis* heatX = heatMap_->keyAxis();
    QCPAxis* heatY = heatMap_->valueAxis();
    heatY->setTicker(nameTicker(bitNames));
    heatX->setTicker(nameTicker(names));
    heatMap_->rescaleDataRange(true);
    heatX->setRange(bars_->xAxis->range());
    heatY->setRange(-0.5, nB - 0.5);
    bars_->replot(QCustomPlot::rpQueuedReplot);
}

void LayersView::drawLayer() {
    const LayerRow* l = row(selected_);
    const int k = bitsIndex();
    auto* maxBars = qobject_cast<QCPBars*>(channels_->plottable(0));
    auto* minBars = qobject_cast<QCPBars*>(channels_->plottable(1));
    if (!l || k < 0) {
        maxBars->data()->clear();
        minBars->data()->clear();
        channels_->graph(0)->data()->clear();
        hist_->graph(0)->data()->clear();
        hist_->graph(1)->data()->clear();
        channels_->replot(QCustomPlot::rpQueuedReplot);
        hist_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto kk = static_cast<size_t>(k);
    const int bits = result_->report.bits[kk];
    const Figures& f = l->isolated[kk];
    QString text = tr("<b>%1</b> (%2) at %3 bits, alone: SQNR %4 dB, KL %5, agreement %6 %")
                       .arg(QString::fromStdString(l->name),
                            QString::fromStdString(analysis::kindName(l->kind)))
                       .arg(bits)
                       .arg(f.sqnrDb, 0, 'f', 1)
                       .arg(f.kl, 0, 'f', 4)
                       .arg(f.agreement, 0, 'f', 1);
    if (std::isfinite(f.realTop1))
        text += tr(", real top-1 %1 %").arg(f.realTop1, 0, 'f', 2);
    text += tr(". Grid %1 … %2, step %3; %4 % of the values clipped.")
                .arg(l->rangeLo[kk], 0, 'g', 4)
                .arg(l->rangeHi[kk], 0, 'g', 4)
                .arg(l->step[kk], 0, 'g', 4)
                .arg(100.0 * l->clipped[kk], 0, 'f', 2);
    layerText_->setText(text);

    const bool weights = l->kind == QuantizerKind::Weight && !l->channelMin.empty();
    channels_->setVisible(weights);
    QVector<double> x, lo, hi, steps;
    for (size_t c = 0; weights && c < l->channelMin.size(); ++c) {
        x.push_back(static_cast<double>(c));
        hi.push_back(l->channelMax[c]);
        lo.push_back(l->channelMin[c]);
        steps.push_back(kk < l->channelStep.size() && c < l->channelStep[kk].size()
                            ? l->channelStep[kk][c]
                            : NAN);
    }
    maxBars->setData(x, hi, true);
    minBars->setData(x, lo, true);
    channels_->graph(0)->setData(x, steps, true);
    channels_->graph(0)->setName(tr("step size at %1 bits").arg(bits));
    channels_->rescaleAxes();
    channels_->yAxis2->setRangeLower(0);
    channels_->replot(QCustomPlot::rpQueuedReplot);

    auto histogram = [&](const std::vector<double>& counts, QCPGraph* g) {
        double total = 0;
        for (double v : counts)
            total += v;
        QVector<double> hx, hy;
        const double w = (l->histHi - l->histLo) / std::max<size_t>(1, counts.size());
        for (size_t i = 0; i < counts.size(); ++i) {
            hx.push_back(l->histLo + (static_cast<double>(i) + 0.5) * w);
            hy.push_back(total > 0 ? counts[i] / total : 0.0);
        }
        g->setData(hx, hy, true);
    };
    histogram(l->histFp, hist_->graph(0));
    histogram(kk < l->histQuant.size() ? l->histQuant[kk] : std::vector<double>{}, hist_->graph(1));
    hist_->graph(0)->setName(
        tr("FP %1").arg(l->kind == QuantizerKind::Weight ? tr("layer output") : tr("activation")));
    hist_->graph(1)->setName(
        tr("%1 quantized to %2 bits")
            .arg(l->kind == QuantizerKind::Weight ? tr("weights") : tr("activation"))
            .arg(bits));
    hist_->rescaleAxes();
    hist_->yAxis->setRangeLower(std::max(1e-6, hist_->yAxis->range().lower));
    hist_->replot(QCustomPlot::rpQueuedReplot);
}

void LayersView::drawPlans() {
    for (int g = 0; g < size_->graphCount(); ++g)
        size_->graph(g)->data()->clear();
    size_->clearItems();
    filling_ = true;
    const int keep = planBox_->currentIndex();
    planBox_->clear();
    if (!result_) {
        filling_ = false;
        size_->replot(QCustomPlot::rpQueuedReplot);
        use_->setEnabled(false);
        return;
    }
    std::vector<analysis::PlanPoint> all = result_->points;
    if (result_->hasPlan)
        all.push_back(result_->plan);
    bool real = false;
    for (const auto& p : all)
        real = real || std::isfinite(p.predicted.realTop1);
    auto value = [&](const analysis::PlanPoint& p) {
        return real ? p.predicted.realTop1 : p.predicted.agreement;
    };
    size_->yAxis->setLabel(real ? tr("top-1 % on real images")
                                : tr("agreement with the teacher %"));
    size_->graph(1)->setName(
        real ? tr("plans, predicted on %1 images").arg(result_->report.realImages)
             : tr("plans, on the synthetic batches"));
    size_->graph(0)->setName(real ? tr("uniform bits, predicted") : tr("uniform bits"));
    size_->graph(2)->setName(tr("measured on all evaluation images"));
    std::vector<std::pair<double, double>> plans;
    for (size_t i = 0; i < all.size(); ++i) {
        const auto& p = all[i];
        planBox_->addItem(tr("%1 — %2 bits, %3 KiB, %4 %5 %")
                              .arg(QString::fromStdString(p.label))
                              .arg(p.avgWeightBits, 0, 'f', 2)
                              .arg(p.sizeKiB, 0, 'f', 1)
                              .arg(real ? tr("top-1") : tr("agreement"))
                              .arg(value(p), 0, 'f', 2));
        if (p.uniform) {
            size_->graph(0)->addData(p.sizeKiB, value(p));
            auto* label = new QCPItemText(size_);
            label->position->setCoords(p.sizeKiB, value(p));
            label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
            label->setText(QString("W%1").arg(static_cast<int>(std::lround(p.avgWeightBits))));
            label->setFont(QFont(font().family(), 8));
            label->setColor(QColor(90, 90, 90));
        } else {
            plans.emplace_back(p.sizeKiB, value(p));
        }
        if (std::isfinite(p.measuredTop1))
            size_->graph(2)->addData(p.sizeKiB, p.measuredTop1);
    }
    std::sort(plans.begin(), plans.end());
    for (const auto& [x, y] : plans)
        size_->graph(1)->addData(x, y);
    // The plan asked for with a budget is chosen first, then the user's choice.
    planBox_->setCurrentIndex(keep >= 0 && keep < planBox_->count() ? keep : planBox_->count() - 1);
    filling_ = false;
    const int chosen = planBox_->currentIndex();
    if (chosen >= 0) {
        const auto& p = all[static_cast<size_t>(chosen)];
        size_->graph(3)->addData(p.sizeKiB, value(p));
    }
    use_->setEnabled(chosen >= 0);
    size_->rescaleAxes();
    const QCPRange xr = size_->xAxis->range(), yr = size_->yAxis->range();
    size_->xAxis->setRange(xr.lower - 0.05 * xr.size(), xr.upper + 0.08 * xr.size());
    size_->yAxis->setRange(yr.lower - 0.05 * yr.size() - 0.5, yr.upper + 0.05 * yr.size() + 0.5);
    size_->replot(QCustomPlot::rpQueuedReplot);
}

namespace {

// Per report of the chosen kind, the mean over its layers of the metric (finite values only).
void meanOverLayers(const std::vector<run::LayerStats>& stats, int metric, QVector<double>& x,
                    QVector<double>& y) {
    for (const auto& s : stats) {
        if (metric >= 2 ? s.bnLayers.empty() || s.source != "synthetic"
                        : s.source != (metric == 1 ? "real" : "synthetic"))
            continue;
        const auto& v = metric == 2 ? s.bnMeanMse : metric == 3 ? s.bnVarMse : s.sqnrDb;
        double sum = 0;
        int n = 0;
        for (double e : v)
            if (std::isfinite(e)) {
                sum += e;
                ++n;
            }
        if (n) {
            x << static_cast<double>(s.step);
            y << sum / n;
        }
    }
}

}  // namespace

void LayersView::drawLiveMean() {
    const auto& others = comparisons();
    liveMean_->setVisible(!others.empty());
    if (others.empty())
        return;
    const int metric = liveBox_->currentData().toInt();
    liveMean_->clearGraphs();
    static const std::vector<run::LayerStats> none;
    auto add = [&](const std::vector<run::LayerStats>& stats, const QString& name, QPen pen) {
        QVector<double> x, y;
        meanOverLayers(stats, metric, x, y);
        QCPGraph* g = liveMean_->addGraph();
        g->setName(name);
        g->setPen(pen);
        g->setData(x, y, true);
    };
    add(liveStats_ ? *liveStats_ : none, tr("open run"), QPen(QColor(31, 119, 180), 1.8));
    for (size_t r = 0; r < others.size(); ++r)
        add(others[r].layers, runName(others[r]), QPen(comparisonColor(r), 1.2));
    liveMean_->yAxis->setScaleType(metric >= 2 ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (metric >= 2)
        liveMean_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        liveMean_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    liveMean_->yAxis->setLabel(metric >= 2 ? tr("mean over layers (log)") : tr("mean SQNR (dB)"));
    liveMean_->rescaleAxes();
    liveMean_->replot(QCustomPlot::rpQueuedReplot);
}

void LayersView::drawLive() {
    drawLiveMean();
    const int metric = liveBox_->currentData().toInt();
    const std::string source = metric == 1 ? "real" : "synthetic";
    std::vector<const run::LayerStats*> reports;
    static const std::vector<run::LayerStats> none;
    for (const auto& s : liveStats_ ? *liveStats_ : none)
        if (metric >= 2 ? !s.bnLayers.empty() && s.source == "synthetic" : s.source == source)
            reports.push_back(&s);
    if (reports.empty()) {
        liveMap_->data()->clear();
        live_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& names = metric >= 2 ? reports.front()->bnLayers : reports.front()->layers;
    const int rows = static_cast<int>(names.size());
    const int columns = std::min<int>(400, static_cast<int>(reports.size()));
    const double x0 = static_cast<double>(reports.front()->step);
    const double x1 = static_cast<double>(reports.back()->step);
    liveMap_->data()->setSize(columns, std::max(1, rows));
    liveMap_->data()->setRange(QCPRange(x0, std::max(x0 + 1, x1)),
                               QCPRange(0, std::max(1, rows - 1)));
    std::vector<double> sum(static_cast<size_t>(columns * rows), 0.0);
    std::vector<int> count(static_cast<size_t>(columns * rows), 0);
    const size_t n = reports.size();
    for (size_t i = 0; i < n; ++i) {
        const int col = static_cast<int>(i * static_cast<size_t>(columns) / n);
        const auto& v = metric == 2   ? reports[i]->bnMeanMse
                        : metric == 3 ? reports[i]->bnVarMse
                                      : reports[i]->sqnrDb;
        for (int l = 0; l < rows && l < static_cast<int>(v.size()); ++l) {
            if (!std::isfinite(v[static_cast<size_t>(l)]))
                continue;
            sum[static_cast<size_t>(col * rows + l)] += v[static_cast<size_t>(l)];
            ++count[static_cast<size_t>(col * rows + l)];
        }
    }
    for (int c = 0; c < columns; ++c)
        for (int l = 0; l < rows; ++l) {
            const auto i = static_cast<size_t>(c * rows + l);
            const double v = count[i] ? sum[i] / count[i] : (metric >= 2 ? 1e-9 : 0.0);
            liveMap_->data()->setCell(c, l, metric >= 2 ? std::max(v, 1e-9) : v);
        }
    QStringList labels;
    for (const auto& nm : names)
        labels << QString::fromStdString(nm);
    live_->yAxis->setTicker(nameTicker(labels));
    live_->yAxis->setRangeReversed(true);
    QCPColorScale* scale = liveMap_->colorScale();
    scale->setDataScaleType(metric >= 2 ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (metric >= 2)
        scale->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    scale->setLabel(metric >= 2 ? tr("squared distance (log)") : tr("SQNR dB (higher: closer)"));
    liveMap_->setGradient(metric >= 2 ? QCPColorGradient::gpThermal : QCPColorGradient::gpPolar);
    liveMap_->rescaleDataRange(true);
    live_->rescaleAxes();
    live_->yAxis->setRange(-0.5, rows - 0.5);
    live_->replot(QCustomPlot::rpQueuedReplot);
}

QString LayersView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "quantizer,kind,bits,params,sqnr_db,kl,agreement,real_top1,cum_sqnr_db,cum_kl,"
         "cum_agreement,clipped\n";
    if (!result_)
        return out;
    const auto& r = result_->report;
    for (const auto& l : r.layers)
        for (size_t k = 0; k < r.bits.size(); ++k) {
            const Figures& f = l.isolated[k];
            const Figures& c = l.cumulative[k];
            s << QString::fromStdString(l.name) << ',' << analysis::kindName(l.kind) << ','
              << r.bits[k] << ',' << l.params << ',' << f.sqnrDb << ',' << f.kl << ','
              << f.agreement << ',' << f.realTop1 << ',' << c.sqnrDb << ',' << c.kl << ','
              << c.agreement << ',' << l.clipped[k] << '\n';
        }
    return out;
}

}  // namespace dfq::ui
