#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../analysis/layer_report.h"
#include "events.h"

namespace dfq::run {

// Everything a run folder holds that the views show, read back as the events that wrote it
// (docs/run-folder.md). No Qt, no LibTorch: the window and the tools share it.
struct RunRecord {
    std::string folder;
    std::string configYaml;
    std::vector<IterationStats> iterations;
    std::vector<EvalStats> evals;
    double fpTop1 = -1, ptqTop1 = -1;
    std::optional<BnMatch> firstBn, lastBn;  // with the per-channel rows of those two steps
    std::vector<RoundingStats> rounding;     // with AIT's α and threshold where alpha.csv has them
    std::vector<ArchitectureStats> architecture;
    std::string derivedArchitecture;        // architecture.txt, trimmed
    std::optional<BoundarySweep> boundary;  // the last sweep
    std::optional<FeatureMap> features;     // the last map
    std::vector<LayerStats> layers;
    std::optional<analysis::AnalysisResult> analysis;  // analysis/, when it can be read
    std::string sampleGridPath;  // the latest samples/step-N.png; empty when there is none
    int64_t sampleGridStep = -1;
    std::optional<RunSummary> summary;
};

// Reads a run folder written by `dfq run` or the window, finished or still being written: rows
// with another number of fields than their header (cut short by a writer still at work) are left
// out; columns are found by their names in the header. Throws dfq::Error when the folder has no
// config.yaml.
RunRecord readRunFolder(const std::string& folder);
// A run folder's summary.json; none when the run has not ended (or the file is being written).
std::optional<RunSummary> readRunSummary(const std::string& folder);
// The reports of a layers.csv, one LayerStats per step and source; a missing file gives none.
std::vector<LayerStats> readLayersCsv(const std::string& path);

}  // namespace dfq::run
