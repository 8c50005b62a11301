#include "run_data.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>
#include <limits>

#include "core/analysis/report_io.h"
#include "core/error.h"

namespace dfq::ui {

namespace {

// Rows of a CSV file as fields; the header first. A missing file gives no rows.
std::vector<QStringList> readCsv(const QString& path) {
    std::vector<QStringList> rows;
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly | QIODevice::Text))
        return rows;
    QTextStream in(&f);
    while (!in.atEnd()) {
        const QString line = in.readLine();
        if (!line.isEmpty())
            rows.push_back(line.split(','));
    }
    return rows;
}

double num(const QStringList& f, int i) {
    return i < f.size() ? f[i].toDouble() : 0.0;
}

void readBn(const QString& folder, RunData& d) {
    const auto rows = readCsv(folder + "/bn_match.csv");
    if (rows.size() < 2)
        return;
    std::vector<std::string> layers;
    for (int i = 1; i + 1 < rows[0].size(); i += 2)
        layers.push_back(rows[0][i].section(':', 0, 0).toStdString());
    auto match = [&](const QStringList& f) {
        run::BnMatch m;
        m.step = f[0].toLongLong();
        m.layers = layers;
        for (size_t l = 0; l < layers.size(); ++l) {
            m.meanMse.push_back(num(f, 1 + 2 * static_cast<int>(l)));
            m.varMse.push_back(num(f, 2 + 2 * static_cast<int>(l)));
        }
        return m;
    };
    // A row cut short by a writer still at work is left out.
    size_t last = rows.size() - 1;
    while (last > 1 && rows[last].size() < rows[0].size())
        --last;
    d.firstBn = match(rows[1]);
    d.lastBn = match(rows[last]);
    for (const auto& f : readCsv(folder + "/bn_channels.csv")) {
        if (f.size() < 7 || f[0] == "step")
            continue;
        run::BnMatch* target = f[0].toLongLong() == d.lastBn->step    ? &*d.lastBn
                               : f[0].toLongLong() == d.firstBn->step ? &*d.firstBn
                                                                      : nullptr;
        if (!target)
            continue;
        const std::string layer = f[1].toStdString();
        if (target->channels.empty() || target->channels.back().layer != layer)
            target->channels.push_back({layer, {}, {}, {}, {}});
        auto& ch = target->channels.back();
        ch.batchMean.push_back(num(f, 3));
        ch.batchVar.push_back(num(f, 4));
        ch.runningMean.push_back(num(f, 5));
        ch.runningVar.push_back(num(f, 6));
    }
}

}  // namespace

std::vector<run::LayerStats> readLayersCsv(const QString& path) {
    std::vector<run::LayerStats> out;
    for (const auto& f : readCsv(path)) {
        if (f.size() != 7 || f[0] == "step")
            continue;
        const int64_t step = f[0].toLongLong();
        const std::string source = f[1].toStdString();
        if (out.empty() || out.back().step != step || out.back().source != source) {
            out.emplace_back();
            out.back().step = step;
            out.back().source = source;
        }
        run::LayerStats& l = out.back();
        if (f[3] == "bn") {
            l.bnLayers.push_back(f[2].toStdString());
            l.bnMeanMse.push_back(num(f, 5));
            l.bnVarMse.push_back(num(f, 6));
        } else {
            l.layers.push_back(f[2].toStdString());
            l.kinds.push_back(f[3].toStdString());
            l.sqnrDb.push_back(f[4] == "inf" ? std::numeric_limits<double>::infinity() : num(f, 4));
        }
    }
    return out;
}

RunData readRunFolder(const QString& folder) {
    QFile config(folder + "/config.yaml");
    if (!config.open(QIODevice::ReadOnly | QIODevice::Text))
        throw Error(folder.toStdString() + ": not a run folder (it has no config.yaml)");
    RunData d;
    d.folder = folder;
    d.configYaml = QString::fromUtf8(config.readAll());

    const auto metrics = readCsv(folder + "/metrics.csv");
    for (size_t r = 1; r < metrics.size(); ++r) {
        const auto& f = metrics[r];
        if (f.size() < 16)
            continue;
        run::IterationStats s;
        s.step = f[0].toLongLong();
        s.epoch = f[1].toLongLong();
        s.iteration = f[2].toLongLong();
        s.generatorCe = num(f, 3);
        s.generatorBns = num(f, 4);
        s.generatorLoss = num(f, 5);
        s.studentCe = num(f, 6);
        s.studentKd = num(f, 7);
        s.studentLoss = num(f, 8);
        s.studentTrained = f[9] == "1";
        s.calibrating = f[10] == "1";
        s.lrGenerator = num(f, 11);
        s.lrStudent = num(f, 12);
        s.iterationsPerSecond = num(f, 13);
        s.generatorMs = num(f, 14);
        s.studentMs = num(f, 15);
        d.iterations.push_back(s);
    }
    for (const auto& f : readCsv(folder + "/eval.csv")) {
        if (f.size() < 3 || f[0] == "epoch")
            continue;
        if (f[0] == "fp" || f[0] == "ptq") {
            (f[0] == "fp" ? d.fpTop1 : d.ptqTop1) = num(f, 2);
            continue;
        }
        if (f.size() < 6)
            continue;
        d.evals.push_back(
            {f[0].toLongLong(), f[1].toLongLong(), num(f, 2), num(f, 3), num(f, 4), num(f, 5)});
    }
    readBn(folder, d);
    const auto rounding = readCsv(folder + "/rounding.csv");
    std::vector<std::string> quantLayers;
    for (int i = 2; !rounding.empty() && i < rounding[0].size(); ++i)
        quantLayers.push_back(rounding[0][i].toStdString());
    for (size_t r = 1; r < rounding.size(); ++r) {
        const auto& f = rounding[r];
        if (f.size() != rounding[0].size())
            continue;
        run::RoundingStats s{f[0].toLongLong(), quantLayers, {}, num(f, 1), {}, 0.0};
        for (int i = 2; i < f.size(); ++i)
            s.perLayer.push_back(num(f, i));
        d.rounding.push_back(std::move(s));
    }
    // AIT: α per layer and the passing threshold, by step.
    const auto alpha = readCsv(folder + "/alpha.csv");
    size_t next = 0;
    for (size_t r = 1; r < alpha.size(); ++r) {
        const auto& f = alpha[r];
        if (f.size() != alpha[0].size())
            continue;
        const long long step = f[0].toLongLong();
        while (next < d.rounding.size() && d.rounding[next].step < step)
            ++next;
        if (next == d.rounding.size() || d.rounding[next].step != step)
            continue;
        d.rounding[next].threshold = num(f, 1);
        for (int i = 2; i < f.size(); ++i)
            d.rounding[next].alphas.push_back(num(f, i));
    }
    // AutoReCon: the search's reports ("c1 op2:dil5" columns) and the derived architecture.
    const auto arch = readCsv(folder + "/architecture.csv");
    for (size_t r = 1; r < arch.size(); ++r) {
        const auto& f = arch[r];
        if (f.size() != arch[0].size())
            continue;
        run::ArchitectureStats a;
        a.step = f[0].toLongLong();
        a.temperature = num(f, 1);
        for (int i = 2; i < f.size(); ++i) {
            const QString edge = arch[0][i].section(':', 0, 0);
            if (a.edges.empty() || a.edges.back() != edge.toStdString()) {
                a.edges.push_back(edge.toStdString());
                a.choices.emplace_back();
                a.probabilities.emplace_back();
            }
            a.choices.back().push_back(arch[0][i].section(':', 1).toStdString());
            a.probabilities.back().push_back(static_cast<float>(num(f, i)));
        }
        d.architecture.push_back(std::move(a));
    }
    // Qimera: the last boundary sweep (rows step,a,b,t,p_a,p_b).
    for (const auto& f : readCsv(folder + "/boundary.csv")) {
        if (f.size() != 6 || f[0] == "step")
            continue;
        if (!d.boundary || d.boundary->step != f[0].toLongLong())
            d.boundary = run::BoundarySweep{
                f[0].toLongLong(), f[1].toLongLong(), f[2].toLongLong(), {}, {}, {}};
        d.boundary->t.push_back(num(f, 3));
        d.boundary->pa.push_back(num(f, 4));
        d.boundary->pb.push_back(num(f, 5));
    }
    // The last feature map (rows step,kind,label,x,y).
    for (const auto& f : readCsv(folder + "/features.csv")) {
        if (f.size() != 5 || f[0] == "step")
            continue;
        if (!d.features || d.features->step != f[0].toLongLong()) {
            d.features = run::FeatureMap{};
            d.features->step = f[0].toLongLong();
        }
        d.features->kind.push_back(f[1].toInt());
        d.features->label.push_back(f[2].toLongLong());
        d.features->x.push_back(static_cast<float>(num(f, 3)));
        d.features->y.push_back(static_cast<float>(num(f, 4)));
    }
    d.layers = readLayersCsv(folder + "/layers.csv");
    // An analysis folder that cannot be read (still being written) is left out.
    if (QFile::exists(folder + "/analysis/analysis.json")) {
        try {
            d.analysis = analysis::readAnalysisFolder((folder + "/analysis").toStdString());
        } catch (const std::exception&) {
        }
    }
    QFile derived(folder + "/architecture.txt");
    if (derived.open(QIODevice::ReadOnly))
        d.derivedArchitecture = QString::fromUtf8(derived.readAll()).trimmed();
    const QStringList grids =
        QDir(folder + "/samples").entryList({"step-*.png"}, QDir::Files, QDir::Name);
    if (!grids.isEmpty()) {
        d.sampleGrid.load(folder + "/samples/" + grids.last());
        d.sampleGridStep = grids.last().mid(5, 7).toLongLong();
    }
    QFile summary(folder + "/summary.json");
    if (summary.open(QIODevice::ReadOnly)) {
        const QJsonObject o = QJsonDocument::fromJson(summary.readAll()).object();
        run::RunSummary s;
        auto top1 = [&](const char* key) {
            return o.value(key).isDouble() ? o.value(key).toDouble() : -1.0;
        };
        s.fpTop1 = top1("fp_top1");
        s.ptqTop1 = top1("ptq_top1");
        s.bestTop1 = top1("best_top1");
        s.lastTop1 = top1("last_top1");
        s.iterations = o.value("iterations").toInteger();
        s.wallSeconds = o.value("wall_seconds").toDouble();
        s.status = o.value("status").toString().toStdString();
        s.error = o.value("error").toString().toStdString();
        for (const QJsonValue w : o.value("warnings").toArray())
            s.warnings.push_back(w.toString().toStdString());
        d.summary = s;
    }
    return d;
}

}  // namespace dfq::ui
