#include "plot_panel.h"

#include "core/safe_io.h"
#include "run_data.h"

#include <qcustomplot.h>

#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSvgGenerator>
#include <QTextStream>
#include <QVBoxLayout>

namespace dfq::ui {

PlotPanel::PlotPanel(const QString& explanation, QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    controls_ = new QHBoxLayout;
    row_ = new QHBoxLayout;
    explanation_ = new QLabel(explanation);
    explanation_->setWordWrap(true);
    explanation_->setTextFormat(Qt::RichText);
    explanation_->setStyleSheet("color: #4a4a4a; padding: 4px;");
    layout->addLayout(controls_);
    layout->addLayout(row_, 1);
    layout->addWidget(explanation_);
}

QCustomPlot* PlotPanel::addPlot(int stretch) {
    auto* plot = new QCustomPlot(this);
    plot->setMinimumSize(240, 200);
    plot->setContextMenuPolicy(Qt::CustomContextMenu);
    plot->setNoAntialiasingOnDrag(true);
    connect(plot, &QWidget::customContextMenuRequested, this,
            [this, plot](const QPoint& p) { showMenu(plot, p); });
    row_->addWidget(plot, stretch);
    plots_.push_back(plot);
    return plot;
}

const std::vector<RunData>& PlotPanel::comparisons() const {
    static const std::vector<RunData> none;
    return comparisons_ ? *comparisons_ : none;
}

QColor PlotPanel::comparisonColor(size_t i) {
    static const QColor colors[] = {QColor(127, 127, 127), QColor(140, 86, 75),
                                    QColor(188, 189, 34), QColor(227, 119, 194),
                                    QColor(23, 190, 207)};
    return colors[i % (sizeof colors / sizeof colors[0])];
}

QString PlotPanel::runName(const RunData& run) {
    return QFileInfo(run.folder).fileName();
}

bool PlotPanel::exportPlot(QCustomPlot* plot, const QString& path) {
    const int w = plot->width() > 0 ? plot->width() : 800;
    const int h = plot->height() > 0 ? plot->height() : 500;
    if (path.endsWith(".png", Qt::CaseInsensitive))
        return plot->savePng(path, w, h, 2.0);
    if (path.endsWith(".pdf", Qt::CaseInsensitive))
        return plot->savePdf(path, w, h);
    if (path.endsWith(".svg", Qt::CaseInsensitive)) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(QSize(w, h));
        svg.setViewBox(QRect(0, 0, w, h));
        QCPPainter painter;
        if (!painter.begin(&svg))
            return false;
        plot->toPainter(&painter, w, h);
        painter.end();
        return QFile::exists(path);
    }
    return false;
}

void PlotPanel::showMenu(QCustomPlot* plot, const QPoint& at) {
    QMenu menu(this);
    menu.addAction(tr("Export plot (PNG, SVG, PDF)…"), this, [this, plot] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export plot"), "plot.png",
                                                          tr("Images (*.png *.svg *.pdf)"));
        if (!path.isEmpty() && !exportPlot(plot, path))
            QMessageBox::warning(this, tr("Export"), tr("Cannot write %1").arg(path));
    });
    menu.addAction(tr("Export data (CSV)…"), this, [this] {
        const QString path =
            QFileDialog::getSaveFileName(this, tr("Export data"), "data.csv", tr("CSV (*.csv)"));
        if (path.isEmpty())
            return;
        try {
            io::writeFileAtomically(path.toStdString(), csv().toStdString());
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Export"), QString::fromStdString(e.what()));
        }
    });
    menu.exec(plot->mapToGlobal(at));
}

void decimate(std::vector<double>& x, std::vector<double>& y, size_t maxPoints) {
    if (x.size() <= maxPoints || maxPoints == 0)
        return;
    const size_t bucket = (x.size() + maxPoints - 1) / maxPoints;
    size_t out = 0;
    for (size_t i = 0; i < x.size(); i += bucket, ++out) {
        const size_t end = std::min(x.size(), i + bucket);
        double sx = 0, sy = 0;
        for (size_t j = i; j < end; ++j) {
            sx += x[j];
            sy += y[j];
        }
        x[out] = sx / static_cast<double>(end - i);
        y[out] = sy / static_cast<double>(end - i);
    }
    x.resize(out);
    y.resize(out);
}

std::vector<double> smooth(const std::vector<double>& y, double factor) {
    std::vector<double> out(y.size());
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        s = i == 0 ? y[i] : factor * s + (1 - factor) * y[i];
        out[i] = s;
    }
    return out;
}

}  // namespace dfq::ui
