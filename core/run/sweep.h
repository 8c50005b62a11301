#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "events.h"
#include "experiment_config.h"

namespace dfq::run {

// A sweep: many runs of one base experiment, each with some keys set otherwise (docs/sweeps.md).
// No Qt, no LibTorch: the command line and the window share it.

// One point of the grid: its index (stable: the order of sweep.yaml), its run folder's name
// under runs/ and the keys it sets, as `key=value` overrides in the spec's order.
struct SweepPoint {
    int index = 0;
    std::string name;                    // "003-generator-qimera_seed-2"
    std::vector<std::string> overrides;  // "method.generator=qimera", "seed=2"
    int64_t totalSteps = 0;              // the iterations the run will take
    // The value this point gives `key`; empty when the key does not vary.
    std::string value(const std::string& key) const;
};

struct Sweep {
    std::string name = "sweep";
    std::string baseYaml;            // the base experiment, as YAML text
    std::string baseSource;          // where it came from: a file, or the spec for inline keys
    std::vector<std::string> sets;   // `key=value` for every point (the spec's set: and --set)
    std::vector<std::string> keys;   // the keys that vary, in the spec's order
    std::vector<SweepPoint> points;  // the cartesian product; the last key varies fastest

    // Every override of a point: the sets, the point's keys, and its run's name.
    std::vector<std::string> overrides(const SweepPoint& p) const;
    // The point's experiment. Throws dfq::Error naming the point.
    ExperimentConfig config(const SweepPoint& p) const;
    // The sweep.yaml text: everything a later `dfq sweep`, a Slurm task or the window needs,
    // written once, so the indices never change.
    std::string toYaml() const;
};

// A sweep spec (YAML): `name:`, `base:` (an experiment file, relative to the spec's folder, or
// 'demo', or a map of keys), optional `set:` (a map of keys for every point), `grid:` (key: list
// of values; the cartesian product) and `zip:` (a map of equally long lists that vary together,
// or a list of such maps). Every point is checked against the schema before anything runs:
// throws dfq::Error naming the key, and the point when a value is refused.
Sweep parseSweepSpec(const std::string& yaml, const std::string& source,
                     const std::vector<std::string>& sets = {});
Sweep loadSweepSpec(const std::string& path, const std::vector<std::string>& sets = {});
// A sweep folder's sweep.yaml. Throws dfq::Error when there is none or it cannot be read.
Sweep readSweepFolder(const std::string& dir);
bool isSweepFolder(const std::string& dir);
// Makes the sweep folder (runs/, logs/) and writes sweep.yaml when it has none; when it has one,
// checks that it holds the same points and throws dfq::Error naming the first difference.
void prepareSweepFolder(const std::string& dir, const Sweep& sweep);

enum class PointState { Pending, Running, Finished, Cancelled, Failed, Diverged };
const char* stateName(PointState s);

struct PointStatus {
    PointState state = PointState::Pending;
    std::string folder;  // <dir>/runs/<name>
    std::optional<RunSummary> summary;
    int64_t step = 0;        // iterations written to metrics.csv
    int64_t totalSteps = 0;  // the iterations the run takes
    bool resumable = false;  // a checkpoint to continue from
    std::string owner;       // who holds run.lock, while running
    double wallSeconds = 0;  // the summary's, or since the folder was made while running
    // Whether `dfq sweep` has nothing more to do for it (finished or diverged: a diverged run
    // diverges again with the same seed).
    bool done() const { return state == PointState::Finished || state == PointState::Diverged; }
};

std::string pointFolder(const std::string& dir, const SweepPoint& p);
// The point's state from its run folder: no folder or no config.yaml: pending; run.lock held:
// running; summary.json: its status; a folder without a summary (a killed run): cancelled when
// it has a checkpoint to resume from, failed otherwise.
PointStatus pointStatus(const std::string& dir, const SweepPoint& p);
std::vector<PointStatus> sweepStatus(const std::string& dir, const Sweep& sweep);

// A group of points that differ only in their seed: mean, standard deviation (n-1) and n of the
// finished ones.
struct SweepGroup {
    std::vector<std::string> values;  // one per key but `seed`, in the sweep's order
    int points = 0;
    int finished = 0;
    struct Stat {
        double mean = NAN, std = NAN;
        int n = 0;
    };
    Stat fp, ptq, best, last, wall;
};
std::vector<std::string> groupKeys(const Sweep& sweep);  // the keys but `seed`
std::vector<SweepGroup> groupOverSeeds(const Sweep& sweep, const std::vector<PointStatus>& status);

// sweep.csv (one row per point) and summary.csv (one per group), each written atomically while
// holding <dir>/sweep.lock, so runs that end at once on several nodes do not interleave.
std::string sweepCsv(const Sweep& sweep, const std::vector<PointStatus>& status);
std::string summaryCsv(const Sweep& sweep, const std::vector<SweepGroup>& groups);
void writeSweepResults(const std::string& dir, const Sweep& sweep);

// What a sweep run does with a point: nothing (done, or running elsewhere), start it, resume it
// from its checkpoint, or start it again after moving its failed folder to <dir>/failed/.
enum class PointAction { Skip, Start, Resume, Restart };
PointAction pointAction(const PointStatus& s);
// Moves a failed point's folder to <dir>/failed/<name>-<time>, keeping what it wrote; returns the
// new path.
std::string setAsideFailedRun(const std::string& dir, const PointStatus& s);

}  // namespace dfq::run
