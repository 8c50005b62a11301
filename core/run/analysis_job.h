#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../analysis/layer_report.h"
#include "experiment_config.h"

namespace dfq::run {

// What `dfq analyze` and the window's Layers view ask of the per-layer analysis
// (docs/analysis.md).
struct AnalysisRequest {
    // The teacher, the quantization settings (weight ranges, calibration, activation bits of
    // the plans), the seed and the device; data.path for real-data figures.
    ExperimentConfig config;
    // A run folder whose generator (checkpoints/last.pt) makes the synthetic batches; its own
    // config.yaml rebuilds that generator.
    std::string runFolder;
    // "run" (needs runFolder), "warmup" (a fresh generator trained for warmupIterations on the
    // generator loss) or "real" (data.path); empty: "run" with a run folder, else "warmup".
    std::string source;
    std::vector<int> bits = {2, 3, 4, 8};
    int64_t batches = 8;
    int64_t batchSize = 64;
    // Labelled images of data.path measured for real_top1 beside synthetic batches (0: none).
    int64_t realImages = 512;
    // -1: schedule.warmup_epochs x schedule.iterations of the configuration.
    int64_t warmupIterations = -1;
    // A plan for this budget (average weight bits, or model size in KiB); NaN: no plan.
    double budgetBits = analysis::kNoValue;
    double budgetKiB = analysis::kNoValue;
    // What plans add up per layer: "kl" or "disagreement" (100 − isolated agreement).
    std::string sensitivity = "kl";
    // Candidate weight bit-widths of the plans (empty: every measured bit-width).
    std::vector<int> candidates;
    // Average weight bits of the plans on the size-vs-accuracy plot (those within the
    // candidates' range), beside every uniform bit-width.
    std::vector<double> planBudgets = {2, 2.5, 3, 3.5, 4, 5, 6};
    // Top-1 of every plan point on the whole evaluation data (data.path, data.limit images).
    bool measure = false;
};

struct AnalysisCallbacks {
    // The stage ("warm-up", "analysis", "plans", "measure"), its steps done and due (generator
    // iterations, forward passes, plans); false cancels.
    std::function<bool(const std::string& stage, int64_t done, int64_t total)> progress;
    std::function<void(const std::string& line)> log;
};

// One analysis: makes the batches, measures every quantizer, plans, and can measure plans on
// real data afterwards (the window's "measure" button) without starting again. Leaves LibTorch's
// global random generator as it found it. Not thread-safe; one at a time per process while no
// run trains (runs draw from the same random generator).
class AnalysisJob {
  public:
    explicit AnalysisJob(AnalysisRequest request);
    ~AnalysisJob();

    // Throws dfq::Error for a bad model, data or run folder, or a cancel; a budget no plan fits
    // leaves hasPlan false and says why in planError.
    analysis::AnalysisResult run(const AnalysisCallbacks& callbacks = {});
    // The plan for a budget (average weight bits, or a size in KiB when sizeKiB is not NaN) with
    // its predicted figures, after run(); none when no plan fits.
    std::optional<analysis::PlanPoint> plan(double averageBits, double sizeKiB,
                                            const AnalysisCallbacks& callbacks = {});
    // Fills measuredTop1 of the points from the evaluation data (after run()).
    void measure(std::vector<analysis::PlanPoint>& points, const AnalysisCallbacks& callbacks = {});
    bool canMeasure() const;  // data.path is set
    const AnalysisRequest& request() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The plan as an experiment: `base` with quant.layer_bits set to the plan's bits and a name that
// says so.
ExperimentConfig planExperiment(const ExperimentConfig& base, const analysis::PlanPoint& plan);
// Writes the analysis folder and, with a plan, mixed-precision.yaml (planExperiment).
void writeAnalysis(const std::string& dir, const analysis::AnalysisResult& result,
                   const ExperimentConfig& config);
// The folder an analysis goes to by default: RUN_FOLDER/analysis, or
// <output.dir>/<date>-<time>-<name>-analysis for an experiment.
std::string defaultAnalysisDir(const AnalysisRequest& request);

}  // namespace dfq::run
