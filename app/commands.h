#pragma once

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

}  // namespace dfq::app
