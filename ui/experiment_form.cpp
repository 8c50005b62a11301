#include "experiment_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/method/registry.h"

namespace dfq::ui {

namespace {

QString doc(const char* key) {
    return QString::fromStdString(run::configKeyDoc(key));
}

QSpinBox* spin(int lo, int hi, const char* key) {
    auto* s = new QSpinBox;
    s->setRange(lo, hi);
    s->setToolTip(doc(key));
    return s;
}

// The key's choices as the schema (and, for recipes, the registry) lists them.
QComboBox* combo(const char* key) {
    auto* c = new QComboBox;
    for (const auto& choice : run::configKeyChoices(key))
        c->addItem(QString::fromStdString(choice));
    c->setToolTip(doc(key));
    return c;
}

QLabel* sectionTitle(const QString& text) {
    auto* l = new QLabel("<b>" + text + "</b>");
    l->setContentsMargins(0, 6, 0, 0);
    return l;
}

QLineEdit* line(const char* key) {
    auto* e = new QLineEdit;
    e->setToolTip(doc(key));
    return e;
}

QString number(double v) {
    return QString::number(v, 'g', 6);
}

}  // namespace

ExperimentForm::ExperimentForm(QWidget* parent) : QWidget(parent) {
    auto* form = new QFormLayout(this);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    name_ = line("name");
    model_ = line("model.path");
    data_ = line("data.path");
    auto withBrowse = [this](QLineEdit* edit, bool folder) {
        auto* row = new QHBoxLayout;
        row->setContentsMargins(0, 0, 0, 0);
        auto* button = new QPushButton("…");
        button->setFixedWidth(28);
        row->addWidget(edit, 1);
        row->addWidget(button);
        connect(button, &QPushButton::clicked, this, [this, edit, folder] {
            const QString path =
                folder
                    ? QFileDialog::getExistingDirectory(this, tr("Evaluation data folder"))
                    : QFileDialog::getOpenFileName(this, tr("Open a TorchScript model"), {},
                                                   tr("TorchScript (*.pt *.pth *.ptl);;All (*)"));
            if (!path.isEmpty()) {
                edit->setText(path);
                emit edit->editingFinished();
            }
        });
        return row;
    };
    generator_ = combo("method.generator");
    student_ = combo("method.student");
    weightBits_ = spin(1, 16, "quant.weight_bits");
    activationBits_ = spin(0, 16, "quant.activation_bits");
    firstLast_ = combo("quant.first_last");
    weightRange_ = combo("quant.weight_range");
    calibration_ = combo("quant.calibration");
    epochs_ = spin(1, 1000000, "schedule.epochs");
    iterations_ = spin(1, 1000000000, "schedule.iterations");
    warmup_ = spin(0, 1000000, "schedule.warmup_epochs");
    batch_ = spin(1, 1000000, "generator.batch_size");
    lrG_ = line("generator.lr");
    lrS_ = line("student.lr");
    seed_ = spin(0, 2147483647, "seed");
    device_ = combo("device");
    precision_ = combo("precision");
    precision_->setToolTip(
        precision_->toolTip() + "\n" +
        tr("This CPU's bfloat16: %1").arg(QString::fromStdString(cpuBf16Support().describe())));
    qimeraProb_ = line("qimera.superpose_prob");
    qimeraLabels_ = spin(1, 100000, "qimera.labels_per_sample");
    qimeraInit_ = combo("qimera.embedding_init");
    qimeraMapping_ = new QCheckBox(tr("on (the paper; off: the released scripts)"));
    autoreconArch_ = new QComboBox;
    autoreconArch_->addItems({"c10", "c100", "r18", "r50", "mbv2", "search"});
    autoreconArch_->setToolTip(doc("autorecon.architecture"));
    autoreconArch_->setEditable(true);  // also the text form a search writes
    autoreconSearchEpochs_ = spin(1, 1000000, "autorecon.search_epochs");
    qimeraMapping_->setToolTip(QString::fromStdString(run::configKeyDoc("qimera.mapping")));
    form_ = form;

    // Grouped by section; a recipe's own keys are shown only while that recipe is chosen.
    form->addRow(sectionTitle(tr("Model and data")));
    form->addRow(tr("Name"), name_);
    form->addRow(tr("Model"), withBrowse(model_, false));
    form->addRow(tr("Evaluation data"), withBrowse(data_, true));
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Precision"), precision_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(sectionTitle(tr("Method")));
    form->addRow(tr("Generator recipe"), generator_);
    form->addRow(tr("Student recipe"), student_);
    form->addRow(sectionTitle(tr("Quantization")));
    form->addRow(tr("Weight bits"), weightBits_);
    form->addRow(tr("Activation bits"), activationBits_);
    form->addRow(tr("First and last layer"), firstLast_);
    form->addRow(tr("Weight ranges"), weightRange_);
    form->addRow(tr("Activation calibration"), calibration_);
    form->addRow(sectionTitle(tr("Schedule")));
    form->addRow(tr("Epochs"), epochs_);
    form->addRow(tr("Iterations per epoch"), iterations_);
    form->addRow(tr("Warm-up epochs"), warmup_);
    form->addRow(sectionTitle(tr("Generator")));
    form->addRow(tr("Batch size"), batch_);
    form->addRow(tr("Learning rate"), lrG_);
    form->addRow(tr("Boundary-batch probability"), qimeraProb_);
    form->addRow(tr("Labels per boundary sample"), qimeraLabels_);
    form->addRow(tr("Label embedding starts from"), qimeraInit_);
    form->addRow(tr("Disentanglement mapping"), qimeraMapping_);
    form->addRow(tr("Architecture"), autoreconArch_);
    form->addRow(tr("Architecture search epochs"), autoreconSearchEpochs_);
    recipeRows_ = {{qimeraProb_, "qimera"},       {qimeraLabels_, "qimera"},
                   {qimeraInit_, "qimera"},       {qimeraMapping_, "qimera"},
                   {autoreconArch_, "autorecon"}, {autoreconSearchEpochs_, "autorecon"}};
    addDeclaredKeys(method::generatorRecipes());
    form->addRow(sectionTitle(tr("Student")));
    form->addRow(tr("Learning rate"), lrS_);
    addDeclaredKeys(method::studentRecipes());

    connect(model_, &QLineEdit::editingFinished, this,
            [this] { emit modelChanged(model_->text()); });
    for (auto* e : {name_, data_, lrG_, lrS_, qimeraProb_})
        connect(e, &QLineEdit::editingFinished, this, &ExperimentForm::changed);
    for (auto* s : {weightBits_, activationBits_, epochs_, iterations_, warmup_, batch_, seed_,
                    qimeraLabels_, autoreconSearchEpochs_})
        connect(s, &QSpinBox::valueChanged, this, &ExperimentForm::changed);
    for (auto* c : {generator_, student_, firstLast_, weightRange_, calibration_, device_,
                    precision_, qimeraInit_, autoreconArch_})
        connect(c, &QComboBox::currentIndexChanged, this, &ExperimentForm::changed);
    connect(qimeraMapping_, &QCheckBox::toggled, this, &ExperimentForm::changed);
    connect(generator_, &QComboBox::currentIndexChanged, this, &ExperimentForm::updateRecipeRows);
    connect(student_, &QComboBox::currentIndexChanged, this, &ExperimentForm::updateRecipeRows);
    // The architecture may also be typed (the text form), which changes no index.
    connect(autoreconArch_, &QComboBox::currentTextChanged, this,
            &ExperimentForm::updateRecipeRows);
    connect(autoreconArch_->lineEdit(), &QLineEdit::editingFinished, this,
            &ExperimentForm::changed);
    updateRecipeRows();
}

namespace {

// The widget a declared key's type asks for.
QWidget* declaredKeyWidget(const method::RecipeKey& k, ExperimentForm* form) {
    using Type = method::RecipeKey::Type;
    if (k.type == Type::Boolean) {
        auto* box = new QCheckBox;
        QObject::connect(box, &QCheckBox::toggled, form, &ExperimentForm::changed);
        return box;
    }
    if (k.type == Type::Choice) {
        auto* combo = new QComboBox;
        for (const auto& c : k.choices)
            combo->addItem(QString::fromStdString(c));
        QObject::connect(combo, &QComboBox::currentTextChanged, form, &ExperimentForm::changed);
        return combo;
    }
    auto* edit = new QLineEdit;
    QObject::connect(edit, &QLineEdit::editingFinished, form, &ExperimentForm::changed);
    return edit;
}

void showDeclaredValue(QWidget* w, const std::string& value) {
    if (auto* box = qobject_cast<QCheckBox*>(w))
        box->setChecked(value == "true");
    else if (auto* combo = qobject_cast<QComboBox*>(w))
        combo->setCurrentText(QString::fromStdString(value));
    else if (auto* edit = qobject_cast<QLineEdit*>(w))
        edit->setText(QString::fromStdString(value));
}

// A text inside YAML double quotes.
std::string yamlEscaped(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out;
}

// The widget's value as a --set value.
std::string declaredValue(const QWidget* w) {
    if (const auto* box = qobject_cast<const QCheckBox*>(w))
        return box->isChecked() ? "true" : "false";
    if (const auto* combo = qobject_cast<const QComboBox*>(w))
        return combo->currentText().toStdString();
    return qobject_cast<const QLineEdit*>(w)->text().toStdString();
}

}  // namespace

// A row per key a recipe declares (method/registry.h), under its section.
void ExperimentForm::addDeclaredKeys(const std::vector<method::RecipeInfo>& recipes) {
    for (const auto& r : recipes)
        for (const auto& k : r.keys) {
            QWidget* w = declaredKeyWidget(k, this);
            w->setToolTip(QString::fromStdString(run::configKeyDoc(k.key)));
            QString label = QString::fromStdString(k.key.substr(k.key.find('.') + 1));
            label.replace('_', ' ');
            label[0] = label[0].toUpper();
            form_->addRow(QString::fromStdString(r.title) + ": " + label.toLower(), w);
            declared_.push_back({k.key, w});
            recipeRows_.push_back({w, r.name});
        }
}

void ExperimentForm::updateRecipeRows() {
    const std::string generator = generator_->currentText().toStdString();
    const std::string student = student_->currentText().toStdString();
    for (const auto& [widget, recipe] : recipeRows_)
        form_->setRowVisible(widget, recipe == generator || recipe == student);
    form_->setRowVisible(autoreconSearchEpochs_,
                         generator == "autorecon" && autoreconArch_->currentText() == "search");
}

void ExperimentForm::setConfig(const run::ExperimentConfig& c) {
    base_ = c;
    const QSignalBlocker b1(weightBits_), b2(activationBits_), b3(epochs_), b4(iterations_),
        b5(warmup_), b6(batch_), b7(seed_), b8(firstLast_), b9(device_), b10(weightRange_),
        b11(calibration_), b12(qimeraLabels_), b13(qimeraInit_), b14(qimeraMapping_),
        b15(generator_), b16(autoreconArch_), b17(autoreconSearchEpochs_), b18(precision_);
    name_->setText(QString::fromStdString(c.name));
    model_->setText(QString::fromStdString(c.modelPath));
    data_->setText(QString::fromStdString(c.dataPath));
    generator_->setCurrentText(QString::fromStdString(c.methodGenerator));
    student_->setCurrentText(QString::fromStdString(c.methodStudent));
    weightBits_->setValue(static_cast<int>(c.quantWeightBits));
    activationBits_->setValue(static_cast<int>(c.quantActivationBits));
    firstLast_->setCurrentText(QString::fromStdString(run::choiceName(c.quantFirstLast)));
    weightRange_->setCurrentText(QString::fromStdString(run::choiceName(c.quantWeightRange)));
    calibration_->setCurrentText(QString::fromStdString(run::choiceName(c.quantCalibration)));
    epochs_->setValue(static_cast<int>(c.scheduleEpochs));
    iterations_->setValue(static_cast<int>(c.scheduleIterations));
    warmup_->setValue(static_cast<int>(c.scheduleWarmupEpochs));
    batch_->setValue(static_cast<int>(c.generatorBatchSize));
    lrG_->setText(number(c.generatorLr));
    lrS_->setText(number(c.studentLr));
    seed_->setValue(static_cast<int>(c.seed));
    device_->setCurrentText(QString::fromStdString(run::choiceName(c.device)));
    precision_->setCurrentText(QString::fromStdString(run::choiceName(c.precision)));
    qimeraProb_->setText(number(c.qimeraSuperposeProb));
    qimeraLabels_->setValue(static_cast<int>(c.qimeraLabelsPerSample));
    qimeraInit_->setCurrentText(QString::fromStdString(run::choiceName(c.qimeraEmbeddingInit)));
    qimeraMapping_->setChecked(c.qimeraMapping);
    autoreconArch_->setCurrentText(QString::fromStdString(c.autoreconArchitecture));
    autoreconSearchEpochs_->setValue(static_cast<int>(c.autoreconSearchEpochs));
    for (const auto& [key, widget] : declared_) {
        const QSignalBlocker block(widget);
        showDeclaredValue(widget, c.recipeString(key));
    }
    updateRecipeRows();
    emit modelChanged(model_->text());
}

void ExperimentForm::setLayerBits(const std::map<std::string, int64_t>& bits) {
    base_.quantLayerBits = bits;
    emit changed();
}

run::ExperimentConfig ExperimentForm::config() const {
    run::ExperimentConfig c = base_;
    // Through the schema's own parser, so the form's values get the CLI's validation and errors.
    std::vector<std::string> sets = {
        "name=" + name_->text().toStdString(),
        "model.path=" + model_->text().toStdString(),
        "data.path=" + data_->text().toStdString(),
        "method.generator=" + generator_->currentText().toStdString(),
        "method.student=" + student_->currentText().toStdString(),
        "quant.weight_bits=" + std::to_string(weightBits_->value()),
        "quant.activation_bits=" + std::to_string(activationBits_->value()),
        "quant.first_last=" + firstLast_->currentText().toStdString(),
        "quant.weight_range=" + weightRange_->currentText().toStdString(),
        "quant.calibration=" + calibration_->currentText().toStdString(),
        "schedule.epochs=" + std::to_string(epochs_->value()),
        "schedule.iterations=" + std::to_string(iterations_->value()),
        "schedule.warmup_epochs=" + std::to_string(warmup_->value()),
        "generator.batch_size=" + std::to_string(batch_->value()),
        "generator.lr=" + lrG_->text().toStdString(),
        "student.lr=" + lrS_->text().toStdString(),
        "seed=" + std::to_string(seed_->value()),
        "device=" + device_->currentText().toStdString(),
        "precision=" + precision_->currentText().toStdString(),
        "qimera.superpose_prob=" + qimeraProb_->text().toStdString(),
        "qimera.labels_per_sample=" + std::to_string(qimeraLabels_->value()),
        "qimera.embedding_init=" + qimeraInit_->currentText().toStdString(),
        std::string("qimera.mapping=") + (qimeraMapping_->isChecked() ? "true" : "false"),
        "autorecon.architecture=\"" + autoreconArch_->currentText().toStdString() + "\"",
        "autorecon.search_epochs=" + std::to_string(autoreconSearchEpochs_->value()),
    };
    for (const auto& [key, widget] : declared_) {
        std::string value = declaredValue(widget);
        if (method::findRecipeKey(key)->type == method::RecipeKey::Type::Text)
            value = "\"" + yamlEscaped(value) + "\"";
        sets.push_back(key + "=" + value);
    }
    c = run::parseExperimentConfig(run::toYaml(base_), "the experiment form", sets);
    // Calibration never outlasts the warm-up the form sets.
    if (c.scheduleCalibrationEpochs > c.scheduleEpochs)
        c.scheduleCalibrationEpochs = c.scheduleEpochs;
    return c;
}

void ExperimentForm::setEnabledForRun(bool running) {
    setEnabled(!running);
}

}  // namespace dfq::ui
