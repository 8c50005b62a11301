#pragma once

#include <QImage>
#include <QString>
#include <optional>
#include <vector>

#include "core/analysis/layer_report.h"
#include "core/run/events.h"

namespace dfq::ui {

// Everything the views show about one run, gathered in the GUI thread from the controller's
// signals (or read from a run folder). Views redraw from it on a timer, never per event.
struct RunData {
    QString folder;
    QString configYaml;
    int64_t totalSteps = 0;
    std::vector<run::IterationStats> iterations;
    std::vector<run::EvalStats> evals;
    double fpTop1 = -1, ptqTop1 = -1;
    std::optional<run::BnMatch> firstBn, lastBn;
    std::vector<run::RoundingStats> rounding;
    std::optional<run::SampleBatch> samples;
    QImage sampleGrid;  // a run folder's latest samples/step-N.png, when read from disk
    int64_t sampleGridStep = -1;
    std::vector<QString> classNames;
    // AutoReCon: the search's reports (probabilities per edge), and the architecture in use
    // once derived (the text form; empty before).
    std::vector<run::ArchitectureStats> architecture;
    QString derivedArchitecture;
    // Qimera: the latest boundary sweep.
    std::optional<run::BoundarySweep> boundary;
    // The latest feature map (synthetic, boundary and real samples in the teacher's features).
    std::optional<run::FeatureMap> features;
    // The student against the teacher layer by layer (synthetic and real reports, in order).
    std::vector<run::LayerStats> layers;
    // The per-layer analysis of this run (its analysis/ folder) or of the window's last one.
    std::optional<analysis::AnalysisResult> analysis;
    std::optional<run::RunSummary> summary;

    void clear() { *this = RunData(); }
};

// Which parts changed since the views last drew.
struct Dirty {
    bool losses = false, accuracy = false, bn = false, rounding = false, samples = false,
         architecture = false, boundary = false, features = false, layers = false;
    bool any() const {
        return losses || accuracy || bn || rounding || samples || architecture || boundary ||
               features || layers;
    }
    void setAll() {
        losses = accuracy = bn = rounding = samples = architecture = boundary = features = layers =
            true;
    }
};

// Reads a run folder written by `dfq run` or the window (finished or still being written).
// Throws dfq::Error when the folder has no config.yaml.
RunData readRunFolder(const QString& folder);
// The reports of a layers.csv (rows step,source,layer,kind,sqnr_db,bn_mean_mse,bn_var_mse), one
// LayerStats per step and source; a missing file gives none.
std::vector<run::LayerStats> readLayersCsv(const QString& path);

}  // namespace dfq::ui
