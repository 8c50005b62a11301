#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../safe_io.h"
#include "events.h"

namespace dfq::run {

// The run folder, written as the run goes (docs/run-folder.md): config.yaml (resolved),
// metrics.csv, eval.csv, bn_match.csv, bn_channels.csv, rounding.csv, layers.csv, alpha.csv (AIT),
// samples/step-N.png, checkpoints/last.pt, quantized_student.pt, quantized_model.pt and
// summary.json. CSV rows are appended as they come with checked writes (a failed write is an
// error naming the file, and never leaves half a row); every other file is written to a
// temporary name and renamed, so a crash never leaves a half-written file. While a
// RunDirectory exists, its folder is locked (run.lock): no other run writes to it.
class RunDirectory : public Observer {
  public:
    // Creates <parent>/<YYYYMMDD-HHMMSS>-<name>/ exclusively (with a -2, -3 ... suffix when a
    // run of that name started in the same second), or exactly `exactPath` when given.
    RunDirectory(const std::string& parent, const std::string& name,
                 const std::string& exactPath = "");
    ~RunDirectory() override;
    RunDirectory(RunDirectory&&) noexcept;
    RunDirectory& operator=(RunDirectory&&) noexcept;
    // An existing run folder, to continue: its CSVs are cut back to the checkpoint's iteration
    // when the run resumes (onResume), rows a crash tore are dropped, and they are appended to
    // from there. Throws dfq::Error when another process has the folder locked.
    static RunDirectory reopen(const std::string& path);
    const std::string& path() const { return path_; }
    std::string configPath() const { return path_ + "/config.yaml"; }
    std::string checkpointPath() const { return path_ + "/checkpoints/last.pt"; }
    std::string studentPath() const { return path_ + "/quantized_student.pt"; }
    std::string modelPath() const { return path_ + "/quantized_model.pt"; }
    std::string syntheticSetPath() const { return path_ + "/synthetic_set.pt"; }

    void onResume(int64_t step, const RunSummary& soFar) override;
    void onStart(const std::string& resolvedConfigYaml, int64_t totalSteps) override;
    void onIteration(const IterationStats& s) override;
    void onBaseline(const std::string& name, double top1) override;
    void onEval(const EvalStats& s) override;
    void onBnMatch(const BnMatch& m) override;
    void onRounding(const RoundingStats& r) override;
    void onSamples(const SampleBatch& s) override;
    void onArchitecture(const ArchitectureStats& a) override;
    void onBoundary(const BoundarySweep& b) override;
    void onFeatures(const FeatureMap& f) override;
    void onLayers(const LayerStats& l) override;
    void onFinish(const RunSummary& s) override;

  private:
    RunDirectory() = default;
    // Appends a row to one of the CSVs that exist only for some runs (alpha.csv,
    // architecture.csv), opened and given its header on first use.
    void appendOptionalCsv(io::AppendFile& out, bool& header, const char* name,
                           const std::string& headerLine, const std::string& rows);

    std::string path_;
    std::unique_ptr<io::FolderLock> lock_;
    io::AppendFile metrics_, eval_, bnMatch_, bnChannels_, rounding_, alpha_, architecture_,
        boundary_, features_, layers_;
    bool bnHeader_ = false, roundingHeader_ = false, alphaHeader_ = false,
         architectureHeader_ = false, boundaryHeader_ = false, featuresHeader_ = false,
         layersHeader_ = false;
};

// `name` with every character but letters, digits, '-', '_' and '.' replaced by '_'.
std::string safeName(const std::string& name);
// The local time as YYYYMMDD-HHMMSS, the prefix of run folder names.
std::string timestamp();
// Writes `text` to `path` through a temporary file and a rename.
void writeFileAtomically(const std::string& path, const std::string& text);
// A PNG grid of the batch (up to 8 per row, 2-pixel gaps).
void writeSampleGrid(const std::string& path, const SampleBatch& s);

}  // namespace dfq::run
