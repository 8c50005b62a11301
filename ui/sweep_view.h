#pragma once

#include <QStringList>
#include <QTimer>
#include <memory>

#include "plot_panel.h"

class QLabel;
class QPushButton;
class QTableWidget;

namespace dfq::run {
struct Sweep;
struct PointStatus;
}  // namespace dfq::run

namespace dfq::ui {

// A sweep folder (`dfq sweep`, docs/sweeps.md): the groups of points that differ only in their
// seed, as a sortable table (mean ± std over the finished seeds) and as bars with error bars;
// below, every point with its state and results. Double-clicking a point opens its run; the
// selected points can be overlaid on the views that plot over time. A sweep still running is
// followed: the folder is read again every two seconds while it is shown.
class SweepView : public PlotPanel {
    Q_OBJECT
  public:
    explicit SweepView(QWidget* parent = nullptr);
    ~SweepView() override;
    // Reads DIR/sweep.yaml and its run folders. Throws dfq::Error when it is not a sweep folder.
    void setFolder(const QString& dir);
    const QString& folder() const { return dir_; }
    // Reads the run folders again (the timer calls it).
    void reload();
    void refresh(const RunData&) override {}  // a sweep is not one run
    QString csv() const override;             // summary.csv's text

    QTableWidget* groupTable() const { return groups_; }
    QTableWidget* pointTable() const { return points_; }
    QCustomPlot* bars() const { return bars_; }
    QLabel* header() const { return header_; }
    // The run folders of the selected points (in the table's order).
    QStringList selectedRuns() const;

  signals:
    void openRun(QString folder);
    void overlayRuns(QStringList folders);

  protected:
    void showEvent(QShowEvent* e) override;
    void hideEvent(QHideEvent* e) override;

  private:
    void fillGroups();
    void fillPoints();
    void drawBars();

    QString dir_;
    std::unique_ptr<run::Sweep> sweep_;
    std::vector<run::PointStatus> status_;
    QLabel* header_;
    QTableWidget* groups_;
    QTableWidget* points_;
    QCustomPlot* bars_;
    QPushButton* overlay_;
    QTimer timer_;
};

}  // namespace dfq::ui
