#include "feature_view.h"

#include <qcustomplot.h>

#include <QTextStream>

#include "run_data.h"

namespace dfq::ui {

namespace {

constexpr int kKinds = 3;

QColor classColor(int64_t c) {
    static const QColor palette[] = {
        {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
    if (c < 10)
        return palette[c];
    return QColor::fromHsv(static_cast<int>((c * 37) % 360), 200, 200);
}

}  // namespace

FeatureView::FeatureView(QWidget* parent)
    : PlotPanel(tr("<b>What you are seeing.</b> Every point is one image as the teacher sees it "
                   "just before its classifier (its penultimate features), projected on the two "
                   "directions along which these points vary most (PCA). Colour: the class the "
                   "generator was asked for, or the true class of a real image. Circles: "
                   "synthetic samples of one class; triangles: Qimera's boundary samples (coloured "
                   "by their heaviest class); small squares: real test images. A good generator "
                   "puts its classes where the real ones are; boundary samples should fill the "
                   "space between the clusters. Made at every sample point, from the same noise."),
                parent) {
    plot_ = addPlot(1);
    plot_->xAxis->setLabel(tr("first principal component"));
    plot_->yAxis->setLabel(tr("second principal component"));
    plot_->legend->setVisible(true);
    QFont small = plot_->legend->font();
    small.setPointSizeF(std::max(6.0, small.pointSizeF() - 2));
    plot_->legend->setFont(small);
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
}

int FeatureView::pointCount(int kind) const {
    int n = 0;
    for (int i = 0; i < plot_->graphCount(); ++i)
        if (plot_->graph(i)->property("kind").toInt() == kind)
            n += plot_->graph(i)->dataCount();
    return n;
}

void FeatureView::refresh(const RunData& d) {
    last_ = &d;
    plot_->clearGraphs();
    if (!d.features) {
        plot_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& f = *d.features;
    int64_t classes = 0;
    for (int64_t l : f.label)
        classes = std::max(classes, l + 1);
    const QCPScatterStyle::ScatterShape shapes[kKinds] = {
        QCPScatterStyle::ssCircle, QCPScatterStyle::ssTriangle, QCPScatterStyle::ssSquare};
    const double sizes[kKinds] = {6, 7, 4};
    for (int kind = 0; kind < kKinds; ++kind)
        for (int64_t c = 0; c < classes; ++c) {
            QVector<double> x, y;
            for (size_t i = 0; i < f.x.size(); ++i)
                if (f.kind[i] == kind && f.label[i] == c) {
                    x.push_back(f.x[i]);
                    y.push_back(f.y[i]);
                }
            if (x.isEmpty())
                continue;
            QCPGraph* g = plot_->addGraph();
            g->setProperty("kind", kind);
            g->setLineStyle(QCPGraph::lsNone);
            QColor colour = classColor(c);
            if (kind == 2)
                colour.setAlpha(150);
            g->setScatterStyle(QCPScatterStyle(
                shapes[kind], colour, kind == 2 ? colour : QColor(Qt::transparent), sizes[kind]));
            g->setData(x, y);
            // The legend names each colour once, by the synthetic samples' graphs.
            if (kind == 0)
                g->setName(c < static_cast<int64_t>(d.classNames.size()) ? d.classNames[c]
                                                                         : QString::number(c));
            else
                g->removeFromLegend();
        }
    plot_->rescaleAxes();
    plot_->xAxis->scaleRange(1.08);
    plot_->yAxis->scaleRange(1.08);
    QString title = tr("iteration %1").arg(f.step + 1);
    if (f.explained > 0)
        title += tr(", the two components explain %1 % of the variance")
                     .arg(100 * f.explained, 0, 'f', 0);
    plot_->xAxis->setLabel(tr("first principal component (%1)").arg(title));
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString FeatureView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "step,kind,label,x,y\n";
    if (!last_ || !last_->features)
        return out;
    const auto& f = *last_->features;
    for (size_t i = 0; i < f.x.size(); ++i)
        s << f.step << ',' << f.kind[i] << ',' << f.label[i] << ',' << f.x[i] << ',' << f.y[i]
          << '\n';
    return out;
}

}  // namespace dfq::ui
