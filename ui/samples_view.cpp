#include "samples_view.h"

#include <QDialog>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QVBoxLayout>

#include <algorithm>
#include <functional>

#include "run_data.h"

namespace dfq::ui {

namespace {

constexpr int kCaption = 30;  // pixels below each tile
constexpr int kHeader = 44;

QString className(const RunData& d, int64_t c) {
    if (c >= 0 && c < static_cast<int64_t>(d.classNames.size()))
        return d.classNames[static_cast<size_t>(c)];
    return QString::number(c);
}

// ".94" rather than "0.94": captions are narrow.
QString probability(float p) {
    const QString s = QString::number(p, 'f', 2);
    return s.startsWith("0.") ? s.mid(1) : s;
}

}  // namespace

SamplesView::SamplesView(QWidget* parent) : QWidget(parent) {
    setMinimumSize(320, 240);
    setCursor(Qt::PointingHandCursor);
}

void SamplesView::refresh(const RunData& d) {
    tiles_.clear();
    captions_.clear();
    agree_.clear();
    boundary_ = false;
    grid_ = QImage();
    if (d.samples) {
        const auto& s = *d.samples;
        const int h = static_cast<int>(s.height), w = static_cast<int>(s.width);
        const int c = static_cast<int>(s.channels);
        for (int64_t i = 0; i < s.count; ++i) {
            const uint8_t* px = s.pixels.data() + i * h * w * c;
            QImage img(w, h, c == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
            for (int y = 0; y < h; ++y)
                std::memcpy(img.scanLine(y), px + y * w * c, static_cast<size_t>(w * c));
            tiles_.push_back(img);
            const int64_t target = s.labels[static_cast<size_t>(i)];
            const int64_t top = s.topClasses[static_cast<size_t>(i * s.topK)];
            const float p = s.topProbs[static_cast<size_t>(i * s.topK)];
            const QString teacher = tr("%1 %2").arg(className(d, top), probability(p));
            if (s.mixK == 0) {
                // A fixed set's or a pool's images carry their difficulty for the teacher.
                const bool showDifficulty = !s.source.empty() && !s.difficulty.empty();
                const QString first =
                    showDifficulty
                        ? tr("%1 d%2").arg(className(d, target),
                                           probability(s.difficulty[static_cast<size_t>(i)]))
                        : className(d, target);
                captions_.push_back(first + "\n" + teacher);
                agree_.push_back(top == target);
                continue;
            }
            // A boundary sample: its mixture, heaviest first, and whether the teacher's top
            // class is one of its components.
            std::vector<std::pair<float, int64_t>> parts;
            for (int64_t k = 0; k < s.mixK; ++k)
                parts.push_back({s.mixWeights[static_cast<size_t>(i * s.mixK + k)],
                                 s.mixLabels[static_cast<size_t>(i * s.mixK + k)]});
            std::sort(parts.begin(), parts.end(), std::greater<>());
            QStringList mixture;
            bool inMixture = false;
            for (const auto& [w, c] : parts) {
                mixture << tr("%1 %2").arg(className(d, c), probability(w));
                inMixture = inMixture || c == top;
            }
            captions_.push_back(mixture.join(" + ") + "\n" + teacher);
            agree_.push_back(inMixture);
        }
        boundary_ = s.mixK > 0;
        double meanDifficulty = 0;
        for (float v : s.difficulty)
            meanDifficulty += v / static_cast<double>(s.difficulty.size());
        const QString difficulty =
            tr("d: the image's difficulty, 1 - the teacher's probability of its class (mean "
               "%1 here).")
                .arg(meanDifficulty, 0, 'f', 2);
        if (s.source == "hast-synthesis")
            header_ = tr("Iteration %1: a batch of HAST's fixed set while it is optimized from "
                         "noise against the teacher's BatchNorm statistics. Below each image: "
                         "its class and d, then the teacher's top class and its probability. %2")
                          .arg(s.step + 1)
                          .arg(difficulty);
        else if (s.source == "hast")
            header_ = tr("Iteration %1: a batch of HAST's fixed set as the student sees it "
                         "(cropped and flipped). Below each image: its class and d, then the "
                         "teacher's top class and its probability. %2")
                          .arg(s.step + 1)
                          .arg(difficulty);
        else if (s.source == "real")
            header_ = tr("Iteration %1: real images of the label-free pool as the student sees "
                         "them. Below each image: the teacher's class for it (its label here; "
                         "the data's own labels are never read) and d, then the teacher's top "
                         "class and its probability. %2")
                          .arg(s.step + 1)
                          .arg(difficulty);
        else
            header_ = boundary_
                          ? tr("Iteration %1: boundary samples (framed). Each image superposes the "
                               "embeddings of %2 classes with the weights below it; the student "
                               "learns the "
                               "mixture as a soft target. Then the teacher's top class and its "
                               "probability "
                               "(red when it is none of the mixed classes). Click an image to "
                               "enlarge it.")
                                .arg(s.step + 1)
                                .arg(s.mixK)
                          : tr("Iteration %1: what the generator makes when asked for a class. "
                               "Below each "
                               "image: the class asked for, then the teacher's top class and its "
                               "probability (red when the teacher disagrees). Click an image to "
                               "enlarge it.")
                                .arg(s.step + 1);
    } else if (!d.sampleGrid.isNull()) {
        grid_ = d.sampleGrid;
        header_ =
            tr("Iteration %1 (the run folder's latest saved grid).").arg(d.sampleGridStep + 1);
    } else {
        header_ = tr("Synthetic samples appear here once a run has started.");
    }
    update();
}

SamplesView::Layout SamplesView::layout() const {
    // The column count that gives the largest tiles in the widget's area.
    const int n = static_cast<int>(tiles_.size());
    Layout best;
    for (int cols = 1; cols <= n; ++cols) {
        const int rows = (n + cols - 1) / cols;
        const int cellW = width() / cols, cellH = (height() - kHeader) / rows;
        const int side = std::min(cellW - 8, cellH - kCaption - 4);
        if (side > best.side)
            best = {cols, cellW, cellH, side};
    }
    best.side = std::max(best.side, 8);
    return best;
}

QRect SamplesView::tileRect(int i) const {
    if (tiles_.empty())
        return {};
    const Layout l = layout();
    return QRect((i % l.cols) * l.cellW + (l.cellW - l.side) / 2, kHeader + (i / l.cols) * l.cellH,
                 l.side, l.side);
}

void SamplesView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().window());
    p.setPen(palette().text().color());
    p.drawText(QRect(6, 4, width() - 12, kHeader - 6), Qt::TextWordWrap | Qt::AlignLeft, header_);
    if (!grid_.isNull()) {
        const QRect area(0, kHeader, width(), height() - kHeader);
        const QImage scaled =
            grid_.scaled(area.size(), Qt::KeepAspectRatio, Qt::FastTransformation);
        p.drawImage(area.x() + (area.width() - scaled.width()) / 2, area.y(), scaled);
        return;
    }
    QFont small = font();
    small.setPointSizeF(std::max(6.0, small.pointSizeF() - 2.5));
    p.setFont(small);
    const QFontMetrics fm(small);
    const int cellW = tiles_.empty() ? 0 : layout().cellW;
    for (size_t i = 0; i < tiles_.size(); ++i) {
        const QRect r = tileRect(static_cast<int>(i));
        p.drawImage(r, tiles_[i]);
        if (boundary_) {
            p.setPen(QPen(QColor(230, 140, 20), 2));
            p.drawRect(r.adjusted(-2, -2, 1, 1));
        }
        p.setPen(agree_[i] ? palette().text().color() : QColor(200, 30, 30));
        const QStringList lines = captions_[i].split('\n');
        const int x = r.center().x() - cellW / 2 + 2;
        for (int k = 0; k < lines.size(); ++k)
            p.drawText(QRect(x, r.bottom() + 2 + k * fm.height(), cellW - 4, fm.height()),
                       Qt::AlignHCenter, fm.elidedText(lines[k], Qt::ElideRight, cellW - 4));
    }
}

void SamplesView::mousePressEvent(QMouseEvent* e) {
    for (size_t i = 0; i < tiles_.size(); ++i) {
        if (!tileRect(static_cast<int>(i)).contains(e->pos()))
            continue;
        auto* dialog = new QDialog(this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->setWindowTitle(captions_[i].section('\n', 0, 0));
        auto* layout = new QVBoxLayout(dialog);
        auto* image = new QLabel;
        image->setPixmap(QPixmap::fromImage(
            tiles_[i].scaled(tiles_[i].size() * std::max(1, 320 / std::max(1, tiles_[i].width())),
                             Qt::KeepAspectRatio, Qt::FastTransformation)));
        layout->addWidget(image);
        layout->addWidget(new QLabel(captions_[i]));
        dialog->show();
        return;
    }
}

}  // namespace dfq::ui
