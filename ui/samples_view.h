#pragma once

#include <QImage>
#include <QWidget>
#include <vector>

class QLabel;

namespace dfq::ui {

struct RunData;

// The latest synthetic batch as a grid of tiles, each with the class the generator was asked for
// (for Qimera's boundary samples, framed: the mixed classes and their weights) and the teacher's
// top-1 class and probability. Click a tile to enlarge it.
class SamplesView : public QWidget {
    Q_OBJECT
  public:
    explicit SamplesView(QWidget* parent = nullptr);
    void refresh(const RunData& data);
    // The tiles shown (for tests and screenshots).
    const std::vector<QImage>& tiles() const { return tiles_; }
    const std::vector<QString>& captions() const { return captions_; }
    bool showsBoundarySamples() const { return boundary_; }
    const QString& header() const { return header_; }

  protected:
    void paintEvent(QPaintEvent*) override;
    void mousePressEvent(QMouseEvent* e) override;

  private:
    struct Layout {
        int cols = 1, cellW = 0, cellH = 0, side = 0;
    };
    Layout layout() const;
    QRect tileRect(int i) const;

    std::vector<QImage> tiles_;
    std::vector<QString> captions_;
    std::vector<bool> agree_;  // teacher's top-1 is the requested class (one of the mixed ones)
    bool boundary_ = false;    // the batch is made of Qimera's boundary samples
    QImage grid_;              // a run folder's saved grid, when there is no batch
    QString header_;
};

}  // namespace dfq::ui
