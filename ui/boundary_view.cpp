#include "boundary_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QTextStream>

#include "run_data.h"

namespace dfq::ui {

BoundaryView::BoundaryView(QWidget* parent)
    : PlotPanel(tr("<b>What you are seeing.</b> Qimera feeds its generator superposed class "
                   "embeddings, so that some synthetic images lie on the boundary between classes. "
                   "Here the generator makes images that mix class a (weight 1 − t) and class b "
                   "(weight t), all from the same noise, and the curves are the teacher's mean "
                   "probability of a and of b as t goes from 0 to 1. A sharp crossing near t = 0.5 "
                   "means the generator has learned to place samples on the decision boundary. The "
                   "sweep is made at every sample point of a Qimera run; choose the pair above."),
                parent) {
    classA_ = new QComboBox;
    classB_ = new QComboBox;
    controls()->addWidget(new QLabel(tr("class a")));
    controls()->addWidget(classA_);
    controls()->addWidget(new QLabel(tr("class b")));
    controls()->addWidget(classB_);
    controls()->addStretch(1);
    auto emitPair = [this] {
        if (classA_->currentIndex() >= 0 && classB_->currentIndex() >= 0)
            emit pairChanged(classA_->currentIndex(), classB_->currentIndex());
    };
    connect(classA_, &QComboBox::currentIndexChanged, this, emitPair);
    connect(classB_, &QComboBox::currentIndexChanged, this, emitPair);

    plot_ = addPlot(1);
    plot_->xAxis->setLabel(tr("mixture weight t of class b"));
    plot_->yAxis->setLabel(tr("teacher's mean probability"));
    plot_->xAxis->setRange(0, 1);
    plot_->yAxis->setRange(0, 1);
    plot_->legend->setVisible(true);
    QCPGraph* a = plot_->addGraph();
    a->setPen(QPen(QColor(31, 119, 180), 2));
    a->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    QCPGraph* b = plot_->addGraph();
    b->setPen(QPen(QColor(214, 39, 40), 2));
    b->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
}

void BoundaryView::fillClasses(const RunData& d) {
    int n = static_cast<int>(d.classNames.size());
    if (d.boundary)
        n = std::max<int>(n, static_cast<int>(std::max(d.boundary->a, d.boundary->b)) + 1);
    if (n == classCount_ || n < 2)
        return;
    classCount_ = n;
    const QSignalBlocker ba(classA_), bb(classB_);
    classA_->clear();
    classB_->clear();
    for (int c = 0; c < n; ++c) {
        const QString name = c < static_cast<int>(d.classNames.size())
                                 ? QString("%1 %2").arg(c).arg(d.classNames[c])
                                 : QString::number(c);
        classA_->addItem(name);
        classB_->addItem(name);
    }
    classA_->setCurrentIndex(0);
    classB_->setCurrentIndex(1);
}

void BoundaryView::refresh(const RunData& d) {
    last_ = &d;
    fillClasses(d);
    if (!d.boundary) {
        plot_->graph(0)->data()->clear();
        plot_->graph(1)->data()->clear();
        plot_->graph(0)->setName(tr("p(a)"));
        plot_->graph(1)->setName(tr("p(b)"));
        plot_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& s = *d.boundary;
    auto name = [&](int64_t c) {
        return c < static_cast<int64_t>(d.classNames.size()) ? d.classNames[c] : QString::number(c);
    };
    const QVector<double> t(s.t.begin(), s.t.end());
    plot_->graph(0)->setData(t, QVector<double>(s.pa.begin(), s.pa.end()), true);
    plot_->graph(1)->setData(t, QVector<double>(s.pb.begin(), s.pb.end()), true);
    plot_->graph(0)->setName(tr("p(%1)").arg(name(s.a)));
    plot_->graph(1)->setName(tr("p(%1)").arg(name(s.b)));
    plot_->xAxis->setLabel(
        tr("mixture weight t of %1 (iteration %2)").arg(name(s.b)).arg(s.step + 1));
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString BoundaryView::csv() const {
    QString out;
    QTextStream s(&out);
    s << "step,a,b,t,p_a,p_b\n";
    if (!last_ || !last_->boundary)
        return out;
    const auto& b = *last_->boundary;
    for (size_t i = 0; i < b.t.size(); ++i)
        s << b.step << ',' << b.a << ',' << b.b << ',' << b.t[i] << ',' << b.pa[i] << ',' << b.pb[i]
          << '\n';
    return out;
}

}  // namespace dfq::ui
