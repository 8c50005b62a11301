#pragma once

#include <QString>

#include "plot_panel.h"

class QCPColorMap;

namespace dfq::ui {

// The derived AutoReCon cells as a small graph: per cell the input x, the nodes n0..n3, and one
// arrow per edge labelled with its operation (none edges are left out; cross edges from the
// previous cell are dashed).
class CellGraph : public QWidget {
    Q_OBJECT
  public:
    explicit CellGraph(QWidget* parent = nullptr);
    // The architecture in the text form; empty clears the drawing. False when it does not parse.
    bool setArchitecture(const QString& text, const QString& caption);
    const QString& architecture() const { return text_; }
    // Edges drawn (not none), for tests.
    int edgeCount() const { return edges_; }

  protected:
    void paintEvent(QPaintEvent*) override;

  private:
    QString text_, caption_;
    int edges_ = 0;
};

// AutoReCon's architecture: during a search, each edge's probabilities over its candidate
// operations as a heat map over the search (rows: edge and candidate); below, the derived cells.
class ArchitectureView : public PlotPanel {
    Q_OBJECT
  public:
    explicit ArchitectureView(QWidget* parent = nullptr);
    void refresh(const RunData& data) override;
    QString csv() const override;
    CellGraph* graph() const { return graph_; }

  private:
    QCustomPlot* heat_;
    QCPColorMap* map_;
    CellGraph* graph_;
    const RunData* last_ = nullptr;
};

}  // namespace dfq::ui
