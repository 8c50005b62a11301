#pragma once

#include <QWidget>
#include <map>
#include <string>

#include "core/model/model_summary.h"
#include "core/run/config_choices.h"

class QLabel;
class QTableWidget;

namespace dfq::ui {

// The model's summary and layer table: module path, kind, shapes, parameters, MACs, and the
// bits each layer gets under the current experiment.
class ModelView : public QWidget {
    Q_OBJECT
  public:
    explicit ModelView(QWidget* parent = nullptr);
    void setSummary(const model::ModelSummary& summary);
    void setMessage(const QString& text);
    // Which bits the conv/linear layers get: every quantizable layer `weightBits`, the first and
    // last as `firstLast` says, overrides by module path.
    void setQuantization(int weightBits, int activationBits, run::FirstLastLayers firstLast,
                         const std::map<std::string, int64_t>& layerBits);
    const model::ModelSummary& summary() const { return summary_; }
    int rowCount() const;
    QTableWidget* table() const { return table_; }
    static constexpr int kBitsColumn = 6;

  signals:
    // A conv/linear row's weight bits were edited: bits 0 = full precision, -1 = no override.
    void layerBitsEdited(QString path, int bits);
    void invalidBits(QString message);

  private:
    void fill();

    model::ModelSummary summary_;
    int weightBits_ = 4, activationBits_ = 4;
    run::FirstLastLayers firstLast_ = run::FirstLastLayers::Quantized;
    std::map<std::string, int64_t> layerBits_;
    bool filling_ = false;
    QLabel* header_;
    QTableWidget* table_;
};

}  // namespace dfq::ui
