#pragma once

#include <QString>
#include <QWidget>
#include <vector>

class QCustomPlot;
class QLabel;
class QBoxLayout;

namespace dfq::ui {

struct RunData;

// A live view: one or more plots above a short "what you are seeing" text. Every plot has a
// context menu to export it (PNG, SVG, PDF) and the view's data (CSV).
class PlotPanel : public QWidget {
    Q_OBJECT
  public:
    PlotPanel(const QString& explanation, QWidget* parent = nullptr);
    // Redraws from the data (called on the window's redraw timer, not per event).
    virtual void refresh(const RunData& data) = 0;
    // The data behind the view as CSV text (header first).
    virtual QString csv() const = 0;
    const std::vector<QCustomPlot*>& plots() const { return plots_; }
    // Other runs to overlay (views that compare runs draw them beside the current one).
    void setComparisons(const std::vector<RunData>* runs) { comparisons_ = runs; }
    // Saves a plot by the file's extension: .png, .svg or .pdf. False when it cannot be written.
    static bool exportPlot(QCustomPlot* plot, const QString& path);

  protected:
    QCustomPlot* addPlot(int stretch = 1);
    const std::vector<RunData>& comparisons() const;
    // A colour per compared run, distinct from the current run's.
    static QColor comparisonColor(size_t i);
    // The legend name of a compared run: its folder's name.
    static QString runName(const RunData& run);
    QBoxLayout* plotRow() const { return row_; }
    QBoxLayout* controls() const { return controls_; }

  private:
    void showMenu(QCustomPlot* plot, const QPoint& at);

    QBoxLayout* row_;
    QBoxLayout* controls_;
    QLabel* explanation_;
    std::vector<QCustomPlot*> plots_;
    const std::vector<RunData>* comparisons_ = nullptr;
};

// Averages neighbouring points so that at most `maxPoints` remain (long histories are decimated
// for drawing, never dropped from the data).
void decimate(std::vector<double>& x, std::vector<double>& y, size_t maxPoints);
// Exponential smoothing for display (factor in [0, 1): 0 leaves the series unchanged).
std::vector<double> smooth(const std::vector<double>& y, double factor);

}  // namespace dfq::ui
