#include "sweep_view.h"

#include <qcustomplot.h>

#include <QDir>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <cmath>
#include <limits>

#include "core/run/sweep.h"

namespace dfq::ui {

namespace {

constexpr int kSortRole = Qt::UserRole;
constexpr int kFolderRole = Qt::UserRole + 1;

// Sorts by a number where the cell has one (results, bit-widths, seeds), by text otherwise; cells
// without a result sort below every number.
class Cell : public QTableWidgetItem {
  public:
    bool operator<(const QTableWidgetItem& other) const override {
        const QVariant a = data(kSortRole), b = other.data(kSortRole);
        if (a.isValid() && b.isValid())
            return a.toDouble() < b.toDouble();
        if (a.isValid() != b.isValid())
            return !a.isValid();
        return text() < other.text();
    }
};

QString meanStd(const run::SweepGroup::Stat& s, int decimals = 2) {
    if (s.n == 0)
        return "–";
    if (s.n == 1)
        return QString::number(s.mean, 'f', decimals);
    return QString("%1 ± %2").arg(s.mean, 0, 'f', decimals).arg(s.std, 0, 'f', decimals);
}

QString percent(double v) {
    return v >= 0 ? QString::number(v, 'f', 2) : QString("–");
}

QString duration(double s) {
    if (!(s > 0))
        return "–";
    const int t = static_cast<int>(std::lround(s));
    return t >= 3600 ? QString("%1h%2m").arg(t / 3600).arg(t % 3600 / 60, 2, 10, QChar('0'))
                     : QString("%1m%2s").arg(t / 60).arg(t % 60, 2, 10, QChar('0'));
}

QString shortKey(const std::string& key) {
    const QString k = QString::fromStdString(key);
    return k.mid(k.lastIndexOf('.') + 1);
}

// Puts text (and a number to sort by, when there is one) into a cell, creating it once: the
// tables are refilled in place, so that a live refresh keeps the selection and the sort order.
Cell* setCell(QTableWidget* t, int row, int col, const QString& text, double sortKey = NAN) {
    auto* c = static_cast<Cell*>(t->item(row, col));
    if (!c) {
        c = new Cell;
        c->setFlags(Qt::ItemIsSelectable | Qt::ItemIsEnabled);
        t->setItem(row, col, c);
    }
    c->setText(text);
    bool isNumber = false;
    const double fromText = text.toDouble(&isNumber);
    const double key = std::isnan(sortKey) && isNumber ? fromText : sortKey;
    c->setData(kSortRole, std::isnan(key) ? QVariant() : QVariant(key));
    if (!std::isnan(key))
        c->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return c;
}

QColor stateColor(run::PointState s) {
    switch (s) {
        case run::PointState::Finished:
            return QColor(44, 160, 44);
        case run::PointState::Running:
            return QColor(31, 119, 180);
        case run::PointState::Cancelled:
            return QColor(214, 120, 0);
        case run::PointState::Failed:
        case run::PointState::Diverged:
            return QColor(200, 0, 0);
        case run::PointState::Pending:
            break;
    }
    return QColor(120, 120, 120);
}

// A group's values, in the sweep's order of keys: "4 4 qimera ait minmax".
QString groupLabel(const run::SweepGroup& g) {
    QStringList l;
    for (const auto& v : g.values)
        l << QString::fromStdString(v);
    return l.isEmpty() ? QObject::tr("all") : l.join(" ");
}

QTableWidget* newTable() {
    auto* t = new QTableWidget;
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->verticalHeader()->setVisible(false);
    t->verticalHeader()->setDefaultSectionSize(22);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setAlternatingRowColors(true);
    return t;
}

}  // namespace

SweepView::SweepView(QWidget* parent)
    : PlotPanel(tr("<b>What you are seeing.</b> A sweep: one run per point of its grid. Above, "
                   "the points that differ only in their seed are grouped: top-1 as mean ± "
                   "standard deviation over the finished seeds (n−1), as a table (click a "
                   "header to sort) and as bars with error bars: PTQ (no fine-tuning), best and "
                   "last, with the FP teacher dashed; the axis does not start at 0. Below, every "
                   "point: its state and "
                   "results. Double-click a point "
                   "to open its run in the other views; select points and press <i>Overlay</i> "
                   "to draw their curves beside the open run's. A running sweep is followed "
                   "live."),
                parent) {
    header_ = new QLabel(tr("No sweep folder is open"));
    header_->setTextFormat(Qt::RichText);
    header_->setWordWrap(true);
    overlay_ = new QPushButton(tr("Overlay selected runs"));
    overlay_->setToolTip(
        tr("Draw the selected points' curves on the views that plot over time "
           "(File → Clear comparisons removes them)"));
    controls()->addWidget(header_, 1);
    controls()->addWidget(overlay_);
    connect(overlay_, &QPushButton::clicked, this, [this] {
        const QStringList runs = selectedRuns();
        if (!runs.isEmpty())
            emit overlayRuns(runs);
    });

    groups_ = newTable();
    groups_->setSortingEnabled(true);
    points_ = newTable();
    points_->setSortingEnabled(true);
    connect(points_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
        const QTableWidgetItem* c = points_->item(row, 0);
        const QString folder = c ? c->data(kFolderRole).toString() : QString();
        if (!folder.isEmpty() && QFileInfo::exists(folder + "/config.yaml"))
            emit openRun(folder);
    });

    bars_ = addPlot();
    bars_->yAxis->setLabel(tr("top-1 (%)"));
    bars_->xAxis->setTickLabelFont(QFont(font().family(), 7));
    bars_->legend->setFont(QFont(font().family(), 8));
    bars_->xAxis->grid()->setVisible(false);
    bars_->plotLayout()->insertRow(0);
    bars_->plotLayout()->addElement(0, 0, bars_->legend);
    bars_->plotLayout()->setRowStretchFactor(0, 0.001);
    bars_->legend->setFillOrder(QCPLegend::foColumnsFirst);
    bars_->legend->setBorderPen(Qt::NoPen);
    bars_->legend->setVisible(true);
    auto* group = new QCPBarsGroup(bars_);
    const QColor colors[] = {QColor(170, 170, 170), QColor(158, 202, 225), QColor(31, 119, 180)};
    const QString names[] = {tr("PTQ"), tr("best"), tr("last")};
    for (int i = 0; i < 3; ++i) {
        auto* b = new QCPBars(bars_->xAxis, bars_->yAxis);
        b->setName(names[i]);
        b->setWidth(0.26);
        b->setPen(Qt::NoPen);
        b->setBrush(colors[i]);
        b->setBarsGroup(group);
        auto* e = new QCPErrorBars(bars_->xAxis, bars_->yAxis);
        e->setDataPlottable(b);
        e->setPen(QPen(QColor(40, 40, 40), 1.2));
        e->setWhiskerWidth(5);
        e->removeFromLegend();
    }
    QCPGraph* fp = bars_->addGraph();
    fp->setName(tr("FP"));
    fp->setPen(QPen(QColor(60, 60, 60), 1.5, Qt::DashLine));

    auto* top = new QSplitter(Qt::Horizontal);
    top->addWidget(groups_);
    top->addWidget(bars_);  // out of the plot row, into the splitter
    top->setStretchFactor(0, 3);
    top->setStretchFactor(1, 2);
    top->setSizes({480, 520});
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(points_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    plotRow()->addWidget(split, 1);

    timer_.setInterval(2000);
    connect(&timer_, &QTimer::timeout, this, &SweepView::reload);
    overlay_->setEnabled(false);
}

SweepView::~SweepView() = default;

void SweepView::setFolder(const QString& dir) {
    auto sweep = std::make_unique<run::Sweep>(run::readSweepFolder(dir.toStdString()));
    sweep_ = std::move(sweep);
    dir_ = dir;
    groups_->clear();
    points_->clear();
    groups_->setRowCount(0);
    points_->setRowCount(0);
    // One column names the group by its values (the keys are in its tooltip): the results stay
    // in sight however many keys the sweep varies.
    const auto keys = run::groupKeys(*sweep_);
    QStringList groupHeader, pointHeader{tr("#")}, keyNames;
    for (const auto& k : keys)
        keyNames << shortKey(k);
    groupHeader << (keys.size() == 1 ? keyNames.front() : tr("group"));
    for (const auto& k : sweep_->keys)
        pointHeader << shortKey(k);
    groupHeader << tr("seeds") << tr("FP") << tr("PTQ") << tr("best") << tr("last")
                << tr("wall (mean)");
    pointHeader << tr("state") << tr("iterations") << tr("FP") << tr("PTQ") << tr("best")
                << tr("last") << tr("wall");
    groups_->setColumnCount(static_cast<int>(groupHeader.size()));
    groups_->setHorizontalHeaderLabels(groupHeader);
    points_->setColumnCount(static_cast<int>(pointHeader.size()));
    points_->setHorizontalHeaderLabels(pointHeader);
    QStringList fullKeys;
    for (const auto& k : keys)
        fullKeys << QString::fromStdString(k);
    groups_->horizontalHeaderItem(0)->setToolTip(
        keys.empty() ? tr("every point differs only in its seed")
                     : tr("the values of %1").arg(fullKeys.join(", ")));
    for (int c = 1; c <= static_cast<int>(sweep_->keys.size()); ++c)
        points_->horizontalHeaderItem(c)->setToolTip(
            QString::fromStdString(sweep_->keys[static_cast<size_t>(c - 1)]));
    groups_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    points_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    overlay_->setEnabled(true);
    reload();
    groups_->resizeColumnsToContents();
    points_->resizeColumnsToContents();
    if (isVisible())
        timer_.start();
}

void SweepView::reload() {
    if (!sweep_)
        return;
    try {
        status_ = run::sweepStatus(dir_.toStdString(), *sweep_);
    } catch (const std::exception& e) {
        header_->setText(tr("<font color='#c00'>Cannot read the sweep folder: %1</font>")
                             .arg(QString::fromUtf8(e.what()).toHtmlEscaped()));
        return;
    }
    fillGroups();
    fillPoints();
    drawBars();
    int counts[6] = {};
    int64_t done = 0, total = 0;
    for (const auto& s : status_) {
        ++counts[static_cast<int>(s.state)];
        done += std::min(s.step, s.totalSteps);
        total += s.totalSteps;
    }
    QStringList parts;
    for (auto s : {run::PointState::Finished, run::PointState::Running, run::PointState::Cancelled,
                   run::PointState::Failed, run::PointState::Diverged, run::PointState::Pending})
        if (counts[static_cast<int>(s)])
            parts << QString("<font color='%1'>%2 %3</font>")
                         .arg(stateColor(s).name())
                         .arg(counts[static_cast<int>(s)])
                         .arg(run::stateName(s));
    header_->setText(tr("<b>%1</b>: %2 points, %3 · %4 % of the iterations done<br><small>%5 "
                        "</small>")
                         .arg(QString::fromStdString(sweep_->name).toHtmlEscaped())
                         .arg(status_.size())
                         .arg(parts.join(", "))
                         .arg(total ? 100.0 * static_cast<double>(done) / total : 0.0, 0, 'f', 1)
                         .arg(QDir::toNativeSeparators(dir_).toHtmlEscaped()));
}

void SweepView::fillGroups() {
    const auto groups = run::groupOverSeeds(*sweep_, status_);
    const bool sorting = groups_->isSortingEnabled();
    groups_->setSortingEnabled(false);
    if (groups_->rowCount() != static_cast<int>(groups.size()))
        groups_->setRowCount(static_cast<int>(groups.size()));
    // Rows keep their group after a sort: each row's group is its first cell's index.
    for (int row = 0; row < groups_->rowCount(); ++row) {
        const QTableWidgetItem* first = groups_->item(row, 0);
        const int gi =
            first && first->data(kFolderRole).isValid() ? first->data(kFolderRole).toInt() : row;
        const auto& g = groups[static_cast<size_t>(gi)];
        int col = 0;
        setCell(groups_, row, col++, groupLabel(g));
        groups_->item(row, 0)->setData(kFolderRole, gi);
        setCell(groups_, row, col++, QString("%1/%2").arg(g.finished).arg(g.points), g.finished);
        setCell(groups_, row, col++, meanStd(g.fp), g.fp.n ? g.fp.mean : NAN);
        setCell(groups_, row, col++, meanStd(g.ptq), g.ptq.n ? g.ptq.mean : NAN);
        setCell(groups_, row, col++, meanStd(g.best), g.best.n ? g.best.mean : NAN);
        setCell(groups_, row, col++, meanStd(g.last), g.last.n ? g.last.mean : NAN);
        setCell(groups_, row, col++, duration(g.wall.n ? g.wall.mean : 0),
                g.wall.n ? g.wall.mean : NAN);
    }
    groups_->setSortingEnabled(sorting);
}

void SweepView::fillPoints() {
    const bool sorting = points_->isSortingEnabled();
    points_->setSortingEnabled(false);
    if (points_->rowCount() != static_cast<int>(status_.size()))
        points_->setRowCount(static_cast<int>(status_.size()));
    for (int row = 0; row < points_->rowCount(); ++row) {
        const QTableWidgetItem* first = points_->item(row, 0);
        const int pi = first ? first->data(kSortRole).toInt() : row;
        const auto& p = sweep_->points[static_cast<size_t>(pi)];
        const auto& s = status_[static_cast<size_t>(pi)];
        int col = 0;
        Cell* index = setCell(points_, row, col++, QString::number(p.index));
        index->setData(kFolderRole, QString::fromStdString(s.folder));
        index->setToolTip(QString::fromStdString(p.name));
        for (const auto& k : sweep_->keys)
            setCell(points_, row, col++, QString::fromStdString(p.value(k)));
        Cell* state = setCell(points_, row, col++, run::stateName(s.state));
        state->setForeground(stateColor(s.state));
        state->setToolTip(s.owner.empty() ? QString() : QString::fromStdString(s.owner));
        const QString steps = s.totalSteps > 0 ? QString("%1/%2").arg(s.step).arg(s.totalSteps)
                                               : QString::number(s.step);
        setCell(points_, row, col++, steps,
                s.totalSteps > 0 ? static_cast<double>(s.step) / s.totalSteps : NAN);
        const auto* r = s.summary ? &*s.summary : nullptr;
        auto result = [&](double v) {
            setCell(points_, row, col++, r ? percent(v) : QString("–"), r && v >= 0 ? v : NAN);
        };
        result(r ? r->fpTop1 : -1);
        result(r ? r->ptqTop1 : -1);
        result(r ? r->bestTop1 : -1);
        result(r ? r->lastTop1 : -1);
        setCell(points_, row, col++, duration(s.wallSeconds),
                s.wallSeconds > 0 ? s.wallSeconds : NAN);
    }
    points_->setSortingEnabled(sorting);
}

void SweepView::drawBars() {
    const auto groups = run::groupOverSeeds(*sweep_, status_);
    QVector<double> ticks;
    QVector<QString> labels;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    QVector<double> fx, fy;
    for (int i = 0; i < 3; ++i) {
        auto* bars = static_cast<QCPBars*>(bars_->plottable(2 * i));
        auto* errors = static_cast<QCPErrorBars*>(bars_->plottable(2 * i + 1));
        QVector<double> x, y, e;
        for (size_t gi = 0; gi < groups.size(); ++gi) {
            const auto& g = groups[gi];
            const auto& s = i == 0 ? g.ptq : i == 1 ? g.best : g.last;
            if (s.n == 0)
                continue;
            const double err = s.n > 1 ? s.std : 0;
            x << static_cast<double>(gi + 1);
            y << s.mean;
            e << err;
            lo = std::min(lo, s.mean - err);
            hi = std::max(hi, s.mean + err);
        }
        bars->setData(x, y, true);
        errors->setData(e);
    }
    for (size_t gi = 0; gi < groups.size(); ++gi) {
        const auto& g = groups[gi];
        ticks << static_cast<double>(gi + 1);
        labels << groupLabel(g).replace(' ', '\n');  // one value per line: no label is cut
        if (g.fp.n == 0)
            continue;
        const double x = static_cast<double>(gi + 1);
        fx << x - 0.45 << x + 0.45 << x + 0.5;
        fy << g.fp.mean << g.fp.mean << std::numeric_limits<double>::quiet_NaN();
        hi = std::max(hi, g.fp.mean);
    }
    bars_->graph(0)->setData(fx, fy, true);
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    ticker->addTicks(ticks, labels);
    bars_->xAxis->setTicker(ticker);
    bars_->xAxis->setRange(0.4, static_cast<double>(groups.size()) + 0.6);
    if (std::isfinite(lo) && std::isfinite(hi)) {
        const double span = std::max(1.0, hi - lo);
        bars_->yAxis->setRange(std::max(0.0, lo - 0.3 * span), std::min(100.5, hi + 0.15 * span));
    } else {
        bars_->yAxis->setRange(0, 100);
    }
    bars_->replot(QCustomPlot::rpQueuedReplot);
}

QStringList SweepView::selectedRuns() const {
    QStringList out;
    for (const QModelIndex& i : points_->selectionModel()->selectedRows()) {
        const QString folder = points_->item(i.row(), 0)->data(kFolderRole).toString();
        if (QFileInfo::exists(folder + "/config.yaml"))
            out << folder;
    }
    return out;
}

QString SweepView::csv() const {
    if (!sweep_)
        return {};
    return QString::fromStdString(run::summaryCsv(*sweep_, run::groupOverSeeds(*sweep_, status_)));
}

void SweepView::showEvent(QShowEvent* e) {
    PlotPanel::showEvent(e);
    if (sweep_) {
        reload();
        timer_.start();
    }
}

void SweepView::hideEvent(QHideEvent* e) {
    PlotPanel::hideEvent(e);
    timer_.stop();
}

}  // namespace dfq::ui
