#include "architecture_view.h"

#include <qcustomplot.h>

#include <QPainter>
#include <QPainterPath>
#include <QTextStream>
#include <QtMath>

#include "core/error.h"
#include "core/gen/autorecon_arch.h"
#include "run_data.h"

namespace dfq::ui {

namespace {

using gen::AutoReconArch;

// Node positions inside a cell, as fractions of the cell's box: x, n0, n1, n2, n3.
const QPointF kNodes[5] = {{0.06, 0.5}, {0.34, 0.2}, {0.34, 0.8}, {0.62, 0.5}, {0.92, 0.5}};

void arrow(QPainter& p, QPointF from, QPointF to, double radius) {
    const QLineF full(from, to);
    if (full.length() < 2 * radius)
        return;
    const QPointF unit = (to - from) / full.length();
    const QPointF a = from + unit * radius, b = to - unit * radius;
    p.drawLine(a, b);
    const double angle = std::atan2(unit.y(), unit.x());
    QPainterPath head;
    head.moveTo(b);
    head.lineTo(b - QPointF(std::cos(angle - 0.4), std::sin(angle - 0.4)) * 7);
    head.lineTo(b - QPointF(std::cos(angle + 0.4), std::sin(angle + 0.4)) * 7);
    head.closeSubpath();
    p.fillPath(head, p.pen().color());
}

}  // namespace

CellGraph::CellGraph(QWidget* parent) : QWidget(parent) {
    setMinimumHeight(170);
}

bool CellGraph::setArchitecture(const QString& text, const QString& caption) {
    caption_ = caption;
    edges_ = 0;
    text_.clear();
    if (!text.isEmpty()) {
        try {
            const AutoReconArch a = AutoReconArch::parse(text.toStdString());
            text_ = text;
            edges_ = static_cast<int>(a.up.size());
            for (int v : a.op)
                edges_ += v != 0;
            for (int v : a.cross)
                edges_ += v != 0;
        } catch (const Error&) {
            update();
            return false;
        }
    }
    update();
    return true;
}

void CellGraph::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    p.fillRect(rect(), palette().base());
    p.setPen(palette().text().color());
    p.drawText(QRect(6, 2, width() - 12, 18), Qt::AlignLeft | Qt::AlignVCenter, caption_);
    if (text_.isEmpty())
        return;
    const AutoReconArch a = AutoReconArch::parse(text_.toStdString());
    QFont small = font();
    small.setPointSizeF(std::max(6.0, small.pointSizeF() - 2));
    p.setFont(small);
    const QRectF area(8, 24, width() - 16, height() - 32);
    const double cellW = area.width() / 3, radius = 9;
    auto node = [&](int cell, int n) {
        return QPointF(area.left() + cellW * (cell + kNodes[n].x()),
                       area.top() + area.height() * kNodes[n].y());
    };
    auto label = [&](QPointF from, QPointF to, const QString& text, double t = 0.5) {
        const QPointF m = from + (to - from) * t;
        const QRectF box(m.x() - 28, m.y() - 8, 56, 14);
        p.fillRect(box.adjusted(12, 1, -12, -1), palette().base());
        p.drawText(box, Qt::AlignCenter, text);
    };
    const QColor ink = palette().text().color();
    const QColor cross(70, 130, 180);
    // Cross edges first, so that the cells' own edges are drawn over them.
    p.setPen(QPen(cross, 1, Qt::DashLine));
    for (int c = 1; c < 3; ++c)
        for (int e = 0; e < 6; ++e) {
            const int k = a.cross[static_cast<size_t>(6 * (c - 1) + e)];
            if (k == 0)
                continue;
            const QPointF from = node(c - 1, 1 + e % 3), to = node(c, e < 3 ? 3 : 4);
            arrow(p, from, to, radius);
            p.setPen(cross);
            label(from, to, QString::fromStdString(AutoReconArch::crossNames()[k]), 0.62);
            p.setPen(QPen(cross, 1, Qt::DashLine));
        }
    // The cells: up edges x -> n0, n1; op edges n0, n1 -> n2 and n0, n1, n2 -> n3.
    const int opFrom[5] = {1, 2, 1, 2, 3}, opTo[5] = {3, 3, 4, 4, 4};
    for (int c = 0; c < 3; ++c) {
        p.setPen(QPen(ink, 1.2));
        for (int e = 0; e < 2; ++e) {
            const int k = a.up[static_cast<size_t>(2 * c + e)];
            arrow(p, node(c, 0), node(c, 1 + e), radius);
            label(node(c, 0), node(c, 1 + e),
                  "up·" + QString::fromStdString(AutoReconArch::upNames()[k]));
        }
        for (int e = 0; e < 5; ++e) {
            const int k = a.op[static_cast<size_t>(5 * c + e)];
            if (k == 0)
                continue;
            arrow(p, node(c, opFrom[e]), node(c, opTo[e]), radius);
            label(node(c, opFrom[e]), node(c, opTo[e]),
                  QString::fromStdString(AutoReconArch::opNames()[k]));
        }
        if (c < 2) {
            arrow(p, node(c, 4), node(c + 1, 0), radius);
            label(node(c, 4), node(c + 1, 0), "+z", 0.5);
        }
        const QString names[5] = {"x", "n0", "n1", "n2", "n3"};
        for (int n = 0; n < 5; ++n) {
            const QPointF at = node(c, n);
            p.setBrush(n == 4 ? QColor(255, 220, 150) : palette().base().color());
            p.drawEllipse(at, radius, radius);
            p.drawText(QRectF(at.x() - radius, at.y() - radius, 2 * radius, 2 * radius),
                       Qt::AlignCenter, names[n]);
        }
        p.setBrush(Qt::NoBrush);
        p.drawText(QRectF(area.left() + cellW * c, area.bottom() - 14, cellW, 14), Qt::AlignCenter,
                   tr("cell %1 (×2)").arg(c));
    }
}

ArchitectureView::ArchitectureView(QWidget* parent)
    : PlotPanel(
          tr("<b>What you are seeing.</b> AutoReCon's generator is three cells, each doubling "
             "the resolution. Every edge of a cell is one operation chosen from a set: an "
             "upsampling (nearest or bilinear), a convolution (1×1, 3×3, 5×5, dilated 3×3 or "
             "5×5), skip or none, or a cross edge from the previous cell. During a search each "
             "edge mixes all its candidates, weighted by learned logits through a Gumbel-softmax "
             "whose temperature falls over time. Top: each edge's candidate probabilities over "
             "the search (one row per edge and candidate, top to bottom: up edges nearest, "
             "bilinear; op edges none, skip, conv1, conv3, conv5, dil3, dil5; cross edges none, "
             "nearest, bilinear; colour: the probability relative to a uniform choice, bright = "
             "preferred). Bottom: the cells in use, the most likely "
             "candidate of each edge once the search ends."),
          parent) {
    heat_ = addPlot(3);
    heat_->xAxis->setLabel(tr("search iteration"));
    heat_->yAxis->setLabel(tr("edge (candidates)"));
    map_ = new QCPColorMap(heat_->xAxis, heat_->yAxis);
    map_->setGradient(QCPColorGradient::gpThermal);
    map_->setInterpolate(false);
    auto* scale = new QCPColorScale(heat_);
    heat_->plotLayout()->addElement(0, 1, scale);
    scale->setLabel(tr("probability × candidates (1 = uniform)"));
    map_->setColorScale(scale);
    graph_ = new CellGraph;
    plotRow()->setDirection(QBoxLayout::TopToBottom);
    plotRow()->addWidget(graph_, 2);
}

void ArchitectureView::refresh(const RunData& d) {
    last_ = &d;
    const QString caption =
        d.derivedArchitecture.isEmpty()
            ? (d.architecture.empty() ? tr("Not an AutoReCon run.")
                                      : tr("Searching: the cells as the current argmax."))
            : tr("The derived cells:");
    QString shown = d.derivedArchitecture;
    if (shown.isEmpty() && !d.architecture.empty())
        shown = QString::fromStdString(d.architecture.back().architecture);
    graph_->setArchitecture(shown, caption);

    if (d.architecture.empty()) {
        map_->data()->clear();
        heat_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& first = d.architecture.front();
    int rows = 0;
    QVector<double> ticks;
    QVector<QString> labels;
    // Op edges (7 rows each) are labelled one by one; up and cross edges (2 and 3 rows) by
    // group, where single labels would overlap.
    QString group;
    for (size_t e = 0; e < first.edges.size(); ++e) {
        const auto k = static_cast<double>(first.choices[e].size());
        const QString edge = QString::fromStdString(first.edges[e]);
        if (k >= 5) {
            ticks.push_back(rows + 0.5 * (k - 1));
            labels.push_back(edge);
        } else {
            const QString g = edge.contains(" up") ? tr("up edges") : tr("cross edges");
            if (g != group) {
                ticks.push_back(rows);
                labels.push_back(g);
            }
            group = g;
        }
        rows += static_cast<int>(k);
    }
    const int columns = std::min<int>(400, static_cast<int>(d.architecture.size()));
    const double x0 = static_cast<double>(first.step);
    const double x1 = static_cast<double>(d.architecture.back().step);
    map_->data()->setSize(columns, rows);
    map_->data()->setRange(QCPRange(x0, std::max(x0 + 1, x1)), QCPRange(0, rows - 1));
    std::vector<double> sum(static_cast<size_t>(columns * rows), 0.0);
    std::vector<int> count(static_cast<size_t>(columns), 0);
    const size_t n = d.architecture.size();
    for (size_t i = 0; i < n; ++i) {
        const int col = static_cast<int>(i * static_cast<size_t>(columns) / n);
        ++count[static_cast<size_t>(col)];
        int r = 0;
        // Relative to the uniform choice (1 = no preference), so that edges with 2, 3 or 7
        // candidates share one scale.
        for (const auto& edge : d.architecture[i].probabilities)
            for (float v : edge) {
                if (r < rows)
                    sum[static_cast<size_t>(col * rows + r)] +=
                        v * static_cast<double>(edge.size());
                ++r;
            }
    }
    for (int c = 0; c < columns; ++c)
        for (int r = 0; r < rows; ++r)
            map_->data()->setCell(
                c, rows - 1 - r,
                count[c] ? sum[static_cast<size_t>(c * rows + r)] / count[c] : 0.0);
    // Edges from the top: row r is drawn at rows - 1 - r.
    for (auto& t : ticks)
        t = rows - 1 - t;
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    ticker->addTicks(ticks, labels);
    heat_->yAxis->setTicker(ticker);
    QFont tickFont = heat_->yAxis->tickLabelFont();
    tickFont.setPointSizeF(std::max(5.0, tickFont.pointSizeF() - 3));
    heat_->yAxis->setTickLabelFont(tickFont);
    map_->rescaleDataRange(true);
    heat_->rescaleAxes();
    heat_->replot(QCustomPlot::rpQueuedReplot);
}

QString ArchitectureView::csv() const {
    QString out;
    QTextStream s(&out);
    if (!last_ || last_->architecture.empty())
        return "step,temperature\n";
    const auto& first = last_->architecture.front();
    s << "step,temperature";
    for (size_t e = 0; e < first.edges.size(); ++e)
        for (const auto& c : first.choices[e])
            s << ',' << QString::fromStdString(first.edges[e]) << ':' << QString::fromStdString(c);
    s << '\n';
    for (const auto& a : last_->architecture) {
        s << a.step << ',' << a.temperature;
        for (const auto& edge : a.probabilities)
            for (float v : edge)
                s << ',' << v;
        s << '\n';
    }
    return out;
}

}  // namespace dfq::ui
