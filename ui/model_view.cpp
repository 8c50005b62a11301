#include "model_view.h"

#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QTableWidget>
#include <QVBoxLayout>

namespace dfq::ui {

namespace {

QString shape(const std::vector<int64_t>& s) {
    QStringList parts;
    for (int64_t d : s)
        parts << QString::number(d);
    return parts.join(QChar(0x00d7));
}

}  // namespace

ModelView::ModelView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    header_ = new QLabel;
    header_->setWordWrap(true);
    header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    table_ = new QTableWidget(0, 8);
    table_->setHorizontalHeaderLabels({tr("module"), tr("kind"), tr("weight"), tr("output"),
                                       tr("parameters"), tr("MACs"), tr("weight bits"),
                                       tr("BN running mean / var (avg)")});
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->verticalHeader()->setVisible(false);
    // Only the weight bits of conv/linear rows can be edited: they write quant.layer_bits.
    table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                            QAbstractItemView::SelectedClicked);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    layout->addWidget(header_);
    layout->addWidget(table_, 1);
    connect(table_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
        if (filling_ || item->column() != kBitsColumn)
            return;
        const auto& layers = summary_.layers;
        const int r = item->row();
        if (r < 0 || r >= static_cast<int>(layers.size()) || !layers[r].quantizable)
            return;
        const QString text = item->text().trimmed();
        bool ok = false;
        int bits = text.toInt(&ok);
        if (text.compare("fp", Qt::CaseInsensitive) == 0) {
            ok = true;
            bits = 0;
        } else if (text.isEmpty()) {
            ok = true;
            bits = -1;
        }
        if (!ok || bits < -1 || bits > 16) {
            // The old value comes back once the edit has ended.
            QMetaObject::invokeMethod(
                this, [this] { fill(); }, Qt::QueuedConnection);
            emit invalidBits(tr("'%1' is not a weight bit-width: give 1..16, FP (or 0) for full "
                                "precision, or nothing for the experiment's default")
                                 .arg(text));
            return;
        }
        emit layerBitsEdited(QString::fromStdString(layers[r].path), bits);
    });
}

void ModelView::setMessage(const QString& text) {
    summary_ = {};
    header_->setText(text);
    table_->setRowCount(0);
}

void ModelView::setSummary(const model::ModelSummary& s) {
    summary_ = s;
    fill();
}

void ModelView::setQuantization(int weightBits, int activationBits, run::FirstLastLayers firstLast,
                                const std::map<std::string, int64_t>& layerBits) {
    weightBits_ = weightBits;
    activationBits_ = activationBits;
    firstLast_ = firstLast;
    layerBits_ = layerBits;
    fill();
}

int ModelView::rowCount() const {
    return table_->rowCount();
}

void ModelView::fill() {
    const auto& s = summary_;
    if (s.path.empty())
        return;
    filling_ = true;
    const QLocale locale;
    int64_t macs = 0;
    int firstQ = -1, lastQ = -1;
    for (size_t i = 0; i < s.layers.size(); ++i) {
        macs += std::max<int64_t>(0, s.layers[i].macs);
        if (s.layers[i].quantizable) {
            lastQ = static_cast<int>(i);
            if (firstQ < 0)
                firstQ = static_cast<int>(i);
        }
    }
    QString text = tr("<b>%1</b><br>%2 parameters, %3 MACs per image")
                       .arg(QString::fromStdString(s.path).toHtmlEscaped(),
                            locale.toString(static_cast<qlonglong>(s.parameters)),
                            locale.toString(static_cast<qlonglong>(macs)));
    if (s.meta.hasInputShape())
        text += tr(", input %1").arg(shape(s.meta.inputShape));
    if (s.meta.numClasses > 0)
        text += tr(", %1 classes").arg(s.meta.numClasses);
    if (!s.meta.dataset.empty())
        text += tr(" (%1)").arg(QString::fromStdString(s.meta.dataset).toHtmlEscaped());
    text += tr("<br>Activations after every ReLU at %1 bits.")
                .arg(activationBits_ > 0 ? QString::number(activationBits_) : tr("full precision"));
    if (!s.hasBatchNorm)
        text +=
            tr("<br><font color='#c00'>No BatchNorm layer: GDFQ's generator has no "
               "statistics to match.</font>");
    header_->setText(text);

    table_->setRowCount(static_cast<int>(s.layers.size()));
    for (size_t i = 0; i < s.layers.size(); ++i) {
        const auto& l = s.layers[i];
        const int r = static_cast<int>(i);
        QString bits;
        if (l.quantizable) {
            int b = weightBits_;
            if (static_cast<int>(i) == firstQ || static_cast<int>(i) == lastQ)
                b = firstLast_ == run::FirstLastLayers::EightBit        ? 8
                    : firstLast_ == run::FirstLastLayers::FullPrecision ? 0
                                                                        : b;
            if (auto it = layerBits_.find(l.path); it != layerBits_.end())
                b = static_cast<int>(it->second);
            bits = b > 0 ? QString::number(b) : tr("FP");
        }
        QString bn;
        if (!l.runningMean.empty()) {
            double m = 0, v = 0;
            for (size_t c = 0; c < l.runningMean.size(); ++c) {
                m += l.runningMean[c];
                v += l.runningVar[c];
            }
            bn = QString("%1 / %2")
                     .arg(m / static_cast<double>(l.runningMean.size()), 0, 'f', 4)
                     .arg(v / static_cast<double>(l.runningVar.size()), 0, 'f', 4);
        }
        const QStringList cells = {
            l.path.empty() ? tr("(forward)") : QString::fromStdString(l.path),
            QString::fromStdString(l.kind),
            shape(l.weightShape),
            shape(l.outputShape),
            locale.toString(static_cast<qlonglong>(l.params)),
            l.macs >= 0 ? locale.toString(static_cast<qlonglong>(l.macs)) : QString(),
            bits,
            bn};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (c >= 4 && c <= 6)
                item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            if (c != kBitsColumn || !l.quantizable)
                item->setFlags(item->flags() & ~Qt::ItemIsEditable);
            else
                item->setToolTip(
                    tr("Double-click to set this layer's weight bits "
                       "(quant.layer_bits); FP keeps it in full precision"));
            table_->setItem(r, c, item);
        }
    }
    filling_ = false;
}

}  // namespace dfq::ui
