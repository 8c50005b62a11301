#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/run/experiment_config.h"
#include "core/run/run_directory.h"

namespace dfq::app {

// Runs `config` into `dir`, from its checkpoint when `resume`: progress on stderr, the first
// Ctrl-C (SIGTERM, SIGHUP) stops it with a checkpoint, and the table of results on stdout.
// Returns the exit status of `dfq run`.
// `continueWith`: how a stopped run is continued, for its last line (default: dfq run --resume).
int runInFolder(const run::ExperimentConfig& config, run::RunDirectory& dir, bool resume,
                const std::string& continueWith = {});

struct SweepArgs {
    std::string spec;  // a sweep spec, or a sweep folder
    std::vector<std::string> sets;
    std::string out;
    int jobs = 0;  // 0: one at a time locally, no throttle on Slurm
    bool slurm = false;
    std::vector<std::string> sbatchArgs;
    int index = -1;
    bool status = false;
    bool markdown = false;
};

// `dfq sweep` (docs/sweeps.md). Returns the exit status.
int runSweep(const SweepArgs& a);

// `dfq analyze` (docs/analysis.md).
struct AnalyzeArgs {
    std::string target;
    std::vector<std::string> sets;
    std::vector<int> bits = {2, 3, 4, 8};
    std::vector<int> candidates;
    std::string source;
    std::string sensitivity = "kl";
    double budgetBits = NAN;
    double budgetKiB = NAN;
    int64_t batches = 8;
    int64_t batchSize = 64;
    int64_t realImages = 512;
    int64_t warmupIterations = -1;
    bool measure = false;
    std::string out;
    bool json = false;
};

// `dfq analyze`: the analysis, its folder, and the table (or --json). Returns the exit status.
int runAnalyze(const AnalyzeArgs& a);

// 1.2k, 3.4M: counts for tables.
std::string humanCount(int64_t n);
// Sets (or, with SIG_DFL, restores) the handler of SIGINT, SIGTERM and SIGHUP.
void handleStopSignals(void (*handler)(int));

}  // namespace dfq::app
