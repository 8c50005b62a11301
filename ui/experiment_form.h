#pragma once

#include <QWidget>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/method/registry.h"
#include "core/run/experiment_config.h"

class QLineEdit;
class QComboBox;
class QSpinBox;
class QCheckBox;
class QFormLayout;

namespace dfq::ui {

// The experiment's main settings as a form over an ExperimentConfig (the CLI's schema). Keys the
// form does not show keep the values of the loaded preset or file.
class ExperimentForm : public QWidget {
    Q_OBJECT
  public:
    explicit ExperimentForm(QWidget* parent = nullptr);
    void setConfig(const run::ExperimentConfig& config);
    // The held configuration with the form's values, validated by the schema. Throws dfq::Error
    // naming the key.
    run::ExperimentConfig config() const;
    void setEnabledForRun(bool running);
    // quant.layer_bits (the form has no field of its own for it; the Model and Layers views
    // edit it): kept with the other keys and announced by changed().
    void setLayerBits(const std::map<std::string, int64_t>& bits);

  signals:
    void modelChanged(QString path);
    void changed();

  private:
    void updateRecipeRows();
    void addDeclaredKeys(const std::vector<method::RecipeInfo>& recipes);
    run::ExperimentConfig base_;
    QFormLayout* form_ = nullptr;
    // The rows of one recipe's keys (the recipe's name), shown while it is chosen.
    std::vector<std::pair<QWidget*, std::string>> recipeRows_;
    // The keys recipes declare, by full key: a line edit (numbers, texts), a check box
    // (booleans) or a combo box (choices).
    std::vector<std::pair<std::string, QWidget*>> declared_;
    QLineEdit* name_;
    QLineEdit* model_;
    QLineEdit* data_;
    QComboBox* generator_;
    QComboBox* student_;
    QSpinBox* weightBits_;
    QSpinBox* activationBits_;
    QComboBox* firstLast_;
    QComboBox* weightRange_;
    QComboBox* calibration_;
    QSpinBox* epochs_;
    QSpinBox* iterations_;
    QSpinBox* warmup_;
    QSpinBox* batch_;
    QLineEdit* lrG_;
    QLineEdit* lrS_;
    QSpinBox* seed_;
    QComboBox* device_;
    QComboBox* precision_;
    // Qimera's keys, shown while the generator recipe is qimera.
    QLineEdit* qimeraProb_;
    QSpinBox* qimeraLabels_;
    QComboBox* qimeraInit_;
    QCheckBox* qimeraMapping_;
    // AutoReCon's keys, shown while the generator recipe is autorecon.
    QComboBox* autoreconArch_;
    QSpinBox* autoreconSearchEpochs_;
};

}  // namespace dfq::ui
