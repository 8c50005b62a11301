#include "experiment_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "core/error.h"

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

QComboBox* combo(const QStringList& items, const char* key) {
    auto* c = new QComboBox;
    c->addItems(items);
    c->setToolTip(doc(key));
    return c;
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
    generator_ = combo({"gdfq", "qimera", "autorecon"}, "method.generator");
    student_ = combo({"kd", "ait"}, "method.student");
    weightBits_ = spin(1, 16, "quant.weight_bits");
    activationBits_ = spin(0, 16, "quant.activation_bits");
    firstLast_ = combo({"quantized", "8bit", "fp"}, "quant.first_last");
    weightRange_ = combo({"minmax", "mse"}, "quant.weight_range");
    calibration_ = combo({"ema", "minmax", "mse"}, "quant.calibration");
    epochs_ = spin(1, 1000000, "schedule.epochs");
    iterations_ = spin(1, 1000000000, "schedule.iterations");
    warmup_ = spin(0, 1000000, "schedule.warmup_epochs");
    batch_ = spin(1, 1000000, "generator.batch_size");
    lrG_ = line("generator.lr");
    lrS_ = line("student.lr");
    seed_ = spin(0, 2147483647, "seed");
    device_ = combo({"auto", "cpu", "cuda"}, "device");
    qimeraProb_ = line("qimera.superpose_prob");
    qimeraLabels_ = spin(1, 100000, "qimera.labels_per_sample");
    qimeraInit_ = combo({"classifier", "random"}, "qimera.embedding_init");
    qimeraMapping_ = new QCheckBox(tr("on (the paper; off: the released scripts)"));
    autoreconArch_ =
        combo({"c10", "c100", "r18", "r50", "mbv2", "search"}, "autorecon.architecture");
    autoreconArch_->setEditable(true);  // also the text form a search writes
    autoreconSearchEpochs_ = spin(1, 1000000, "autorecon.search_epochs");
    qimeraMapping_->setToolTip(QString::fromStdString(run::configKeyDoc("qimera.mapping")));

    form->addRow(tr("Name"), name_);
    form->addRow(tr("Model"), withBrowse(model_, false));
    form->addRow(tr("Evaluation data"), withBrowse(data_, true));
    form->addRow(tr("Generator recipe"), generator_);
    form->addRow(tr("Student recipe"), student_);
    form->addRow(tr("Boundary-batch probability"), qimeraProb_);
    form->addRow(tr("Labels per boundary sample"), qimeraLabels_);
    form->addRow(tr("Label embedding starts from"), qimeraInit_);
    form->addRow(tr("Disentanglement mapping"), qimeraMapping_);
    form->addRow(tr("Generator architecture"), autoreconArch_);
    form->addRow(tr("Architecture search epochs"), autoreconSearchEpochs_);
    form->addRow(tr("Weight bits"), weightBits_);
    form->addRow(tr("Activation bits"), activationBits_);
    form->addRow(tr("First and last layer"), firstLast_);
    form->addRow(tr("Weight ranges"), weightRange_);
    form->addRow(tr("Activation calibration"), calibration_);
    form->addRow(tr("Epochs"), epochs_);
    form->addRow(tr("Iterations per epoch"), iterations_);
    form->addRow(tr("Warm-up epochs"), warmup_);
    form->addRow(tr("Batch size"), batch_);
    form->addRow(tr("Generator learning rate"), lrG_);
    form->addRow(tr("Student learning rate"), lrS_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Device"), device_);

    connect(model_, &QLineEdit::editingFinished, this,
            [this] { emit modelChanged(model_->text()); });
    for (auto* e : {name_, data_, lrG_, lrS_, qimeraProb_})
        connect(e, &QLineEdit::editingFinished, this, &ExperimentForm::changed);
    for (auto* s : {weightBits_, activationBits_, epochs_, iterations_, warmup_, batch_, seed_,
                    qimeraLabels_, autoreconSearchEpochs_})
        connect(s, &QSpinBox::valueChanged, this, &ExperimentForm::changed);
    for (auto* c : {generator_, student_, firstLast_, weightRange_, calibration_, device_,
                    qimeraInit_, autoreconArch_})
        connect(c, &QComboBox::currentIndexChanged, this, &ExperimentForm::changed);
    connect(qimeraMapping_, &QCheckBox::toggled, this, &ExperimentForm::changed);
    connect(generator_, &QComboBox::currentIndexChanged, this, &ExperimentForm::updateRecipeRows);
    // The architecture may also be typed (the text form), which changes no index.
    connect(autoreconArch_, &QComboBox::currentTextChanged, this,
            &ExperimentForm::updateRecipeRows);
    connect(autoreconArch_->lineEdit(), &QLineEdit::editingFinished, this,
            &ExperimentForm::changed);
    updateRecipeRows();
}

void ExperimentForm::updateRecipeRows() {
    const bool qimera = generator_->currentText() == "qimera";
    for (QWidget* w :
         std::initializer_list<QWidget*>{qimeraProb_, qimeraLabels_, qimeraInit_, qimeraMapping_})
        w->setEnabled(qimera);
    const bool autorecon = generator_->currentText() == "autorecon";
    autoreconArch_->setEnabled(autorecon);
    autoreconSearchEpochs_->setEnabled(autorecon && autoreconArch_->currentText() == "search");
}

void ExperimentForm::setConfig(const run::ExperimentConfig& c) {
    base_ = c;
    const QSignalBlocker b1(weightBits_), b2(activationBits_), b3(epochs_), b4(iterations_),
        b5(warmup_), b6(batch_), b7(seed_), b8(firstLast_), b9(device_), b10(weightRange_),
        b11(calibration_), b12(qimeraLabels_), b13(qimeraInit_), b14(qimeraMapping_),
        b15(generator_), b16(autoreconArch_), b17(autoreconSearchEpochs_);
    name_->setText(QString::fromStdString(c.name));
    model_->setText(QString::fromStdString(c.modelPath));
    data_->setText(QString::fromStdString(c.dataPath));
    generator_->setCurrentText(QString::fromStdString(c.methodGenerator));
    student_->setCurrentText(QString::fromStdString(c.methodStudent));
    weightBits_->setValue(static_cast<int>(c.quantWeightBits));
    activationBits_->setValue(static_cast<int>(c.quantActivationBits));
    firstLast_->setCurrentText(QString::fromStdString(c.quantFirstLast));
    weightRange_->setCurrentText(QString::fromStdString(c.quantWeightRange));
    calibration_->setCurrentText(QString::fromStdString(c.quantCalibration));
    epochs_->setValue(static_cast<int>(c.scheduleEpochs));
    iterations_->setValue(static_cast<int>(c.scheduleIterations));
    warmup_->setValue(static_cast<int>(c.scheduleWarmupEpochs));
    batch_->setValue(static_cast<int>(c.generatorBatchSize));
    lrG_->setText(number(c.generatorLr));
    lrS_->setText(number(c.studentLr));
    seed_->setValue(static_cast<int>(c.seed));
    device_->setCurrentText(QString::fromStdString(c.device));
    qimeraProb_->setText(number(c.qimeraSuperposeProb));
    qimeraLabels_->setValue(static_cast<int>(c.qimeraLabelsPerSample));
    qimeraInit_->setCurrentText(QString::fromStdString(c.qimeraEmbeddingInit));
    qimeraMapping_->setChecked(c.qimeraMapping);
    autoreconArch_->setCurrentText(QString::fromStdString(c.autoreconArchitecture));
    autoreconSearchEpochs_->setValue(static_cast<int>(c.autoreconSearchEpochs));
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
    const std::vector<std::string> sets = {
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
        "qimera.superpose_prob=" + qimeraProb_->text().toStdString(),
        "qimera.labels_per_sample=" + std::to_string(qimeraLabels_->value()),
        "qimera.embedding_init=" + qimeraInit_->currentText().toStdString(),
        std::string("qimera.mapping=") + (qimeraMapping_->isChecked() ? "true" : "false"),
        "autorecon.architecture=\"" + autoreconArch_->currentText().toStdString() + "\"",
        "autorecon.search_epochs=" + std::to_string(autoreconSearchEpochs_->value()),
    };
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
