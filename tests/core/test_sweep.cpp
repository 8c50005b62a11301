// Sweeps: a spec expanded into stable points, refused when bad, the state of each point read
// from its run folder, and the tables over seeds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/run/sweep.h"
#include "core/safe_io.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using dfq::test::errorOf;
using namespace dfq::run;

namespace {

const char* kSpec = R"(name: grid
base: {model: {path: demo}, schedule: {epochs: 3, iterations: 5, warmup_epochs: 1,
          calibration_epochs: 1}}
set: {generator.batch_size: 8}
zip:
  quant.weight_bits: [4, 3]
  quant.activation_bits: [4, 3]
grid:
  method.generator: [gdfq, qimera]
  seed: [1, 2, 3]
)";

void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string summaryJson(const char* status, double last) {
    return std::string(R"({"fp_top1":92,"ptq_top1":80,"best_top1":)") + std::to_string(last + 1) +
           R"(,"last_top1":)" + std::to_string(last) +
           R"(,"iterations":15,"wall_seconds":10,"status":")" + status + R"("})";
}

}  // namespace

TEST(Sweep, ExpandsTheProductInTheFilesOrderWithTheLastKeyFastest) {
    const Sweep s = parseSweepSpec(kSpec, "spec.yaml");
    EXPECT_EQ(s.name, "grid");
    ASSERT_EQ(s.points.size(), 12u);  // 2 zipped x 2 generators x 3 seeds
    EXPECT_EQ(s.keys, (std::vector<std::string>{"quant.weight_bits", "quant.activation_bits",
                                                "method.generator", "seed"}));
    EXPECT_EQ(s.points[0].overrides,
              (std::vector<std::string>{"quant.weight_bits=4", "quant.activation_bits=4",
                                        "method.generator=gdfq", "seed=1"}));
    EXPECT_EQ(s.points[1].value("seed"), "2");
    EXPECT_EQ(s.points[3].value("method.generator"), "qimera");
    EXPECT_EQ(s.points[3].value("seed"), "1");
    EXPECT_EQ(s.points[6].value("quant.weight_bits"), "3");
    EXPECT_EQ(s.points[6].value("quant.activation_bits"), "3");
    EXPECT_EQ(s.points[11].name, "011-weight_bits-3_activation_bits-3_generator-qimera_seed-3");
    EXPECT_EQ(s.points[11].totalSteps, 15);

    // A name too long for key-value pairs keeps the values whole rather than cutting a key.
    const Sweep wide = parseSweepSpec(
        "name: wide\nbase: demo\ngrid:\n"
        "  method.generator: [autorecon]\n"
        "  method.student: [ait]\n"
        "  quant.weight_range: [minmax]\n"
        "  quant.activation_bits: [3]\n",
        "spec.yaml");
    EXPECT_EQ(wide.points[0].name, "000-autorecon_ait_minmax_3");
    EXPECT_EQ(s.sets, (std::vector<std::string>{"generator.batch_size=8"}));
    // Each point is the base with its keys, the sets and a name of its own.
    const ExperimentConfig c = s.config(s.points[10]);
    EXPECT_EQ(c.quantWeightBits, 3);
    EXPECT_EQ(c.methodGenerator, "qimera");
    EXPECT_EQ(c.seed, 2);
    EXPECT_EQ(c.generatorBatchSize, 8);
    EXPECT_EQ(c.scheduleEpochs, 3);
    EXPECT_EQ(c.name, "grid-010");
    // Command-line sets come after the spec's, for every point.
    const Sweep t = parseSweepSpec(kSpec, "spec.yaml", {"generator.batch_size=16"});
    EXPECT_EQ(t.config(t.points[0]).generatorBatchSize, 16);
}

TEST(Sweep, RefusesBadSpecsNamingTheKeyAndThePoint) {
    auto bad = [](const std::string& body) {
        return errorOf([&] { parseSweepSpec("base: {model: {path: demo}}\n" + body, "s.yaml"); });
    };
    EXPECT_NE(bad("grid: {quant.weightbits: [4]}").find("grid: unknown key 'quant.weightbits'"),
              std::string::npos);
    EXPECT_NE(bad("grid: {seed: []}").find("grid.seed: the list is empty"), std::string::npos);
    EXPECT_NE(bad("grid: {seed: 3}").find("grid.seed: expected a list"), std::string::npos);
    EXPECT_NE(bad("zip: {quant.weight_bits: [4, 3], quant.activation_bits: [4]}")
                  .find("zip.quant.activation_bits: has 1 values, quant.weight_bits has 2"),
              std::string::npos);
    EXPECT_NE(bad("grid: {seed: [1]}\nzip: {seed: [2]}").find("'seed' varies twice"),
              std::string::npos);
    EXPECT_NE(bad("grid: {seed: [1, 2], quant.weight_bits: [4, 0]}")
                  .find("point 1 (seed=1, quant.weight_bits=0): --set: 'quant.weight_bits' is 0"),
              std::string::npos);
    EXPECT_NE(bad("grids: {seed: [1]}").find("unknown key 'grids'"), std::string::npos);
    EXPECT_NE(errorOf([] { parseSweepSpec("grid: {seed: [1]}", "s.yaml"); }).find("base:"),
              std::string::npos);
}

TEST(Sweep, TheFolderKeepsItsPointsAndRefusesAnotherSweep) {
    const std::string dir = dfq::test::tempDir() + "/sweep";
    const Sweep s = parseSweepSpec(kSpec, "spec.yaml");
    prepareSweepFolder(dir, s);
    EXPECT_TRUE(fs::is_directory(dir + "/runs"));
    const Sweep back = readSweepFolder(dir);
    EXPECT_EQ(back.name, s.name);
    EXPECT_EQ(back.baseYaml, s.baseYaml);
    EXPECT_EQ(back.sets, s.sets);
    EXPECT_EQ(back.keys, s.keys);
    ASSERT_EQ(back.points.size(), s.points.size());
    for (size_t i = 0; i < s.points.size(); ++i) {
        EXPECT_EQ(back.points[i].name, s.points[i].name);
        EXPECT_EQ(back.points[i].overrides, s.points[i].overrides);
        EXPECT_EQ(back.points[i].totalSteps, s.points[i].totalSteps);
    }
    EXPECT_EQ(back.config(back.points[7]).seed, s.config(s.points[7]).seed);
    prepareSweepFolder(dir, s);  // the same sweep again: fine
    const Sweep other = parseSweepSpec(kSpec, "spec.yaml", {"seed=9"});
    EXPECT_NE(errorOf([&] { prepareSweepFolder(dir, other); }).find("was made by another sweep"),
              std::string::npos);
    std::string reordered = kSpec;
    reordered.replace(reordered.find("[1, 2, 3]"), 9, "[2, 1, 3]");
    EXPECT_NE(errorOf([&] {
                  prepareSweepFolder(dir, parseSweepSpec(reordered, "spec.yaml"));
              }).find("point 0 was 000-weight_bits-4_activation_bits-4_generator-gdfq_seed-1"),
              std::string::npos);
}

TEST(Sweep, ReadsEachPointsStateFromItsRunFolder) {
    const std::string dir = dfq::test::tempDir() + "/states";
    const Sweep s = parseSweepSpec(kSpec, "spec.yaml");
    prepareSweepFolder(dir, s);
    auto folder = [&](int i) { return pointFolder(dir, s.points[static_cast<size_t>(i)]); };
    // 0: pending. 1: finished. 2: diverged. 3: stopped with a checkpoint. 4: killed before its
    // first checkpoint. 5: failed. 6: running (its lock held).
    write(folder(1) + "/config.yaml", "seed: 2\n");
    write(folder(1) + "/summary.json", summaryJson("finished", 85));
    write(folder(2) + "/config.yaml", "seed: 3\n");
    write(folder(2) + "/summary.json", summaryJson("diverged", 10));
    write(folder(3) + "/config.yaml", "seed: 1\n");
    write(folder(3) + "/checkpoints/last.pt", "x");
    write(folder(3) + "/metrics.csv", "step,epoch\n0,0\n1,0\n2,0\n3,");
    write(folder(4) + "/config.yaml", "seed: 2\n");
    write(folder(4) + "/metrics.csv", "step,epoch\n0,0\n");
    write(folder(5) + "/config.yaml", "seed: 3\n");
    write(folder(5) + "/summary.json", summaryJson("failed", -1));
    fs::create_directories(folder(6));
    dfq::io::FolderLock lock(folder(6));
    const auto st = sweepStatus(dir, s);
    EXPECT_EQ(st[0].state, PointState::Pending);
    EXPECT_EQ(st[1].state, PointState::Finished);
    EXPECT_EQ(st[2].state, PointState::Diverged);
    EXPECT_EQ(st[3].state, PointState::Cancelled);
    EXPECT_EQ(st[3].step, 3);  // the torn row left out
    EXPECT_EQ(st[4].state, PointState::Failed);
    EXPECT_EQ(st[5].state, PointState::Failed);
    EXPECT_EQ(st[6].state, PointState::Running);
    EXPECT_NE(st[6].owner.find("process " + std::to_string(::getpid())), std::string::npos);
    EXPECT_EQ(pointAction(st[0]), PointAction::Start);
    EXPECT_EQ(pointAction(st[1]), PointAction::Skip);
    EXPECT_EQ(pointAction(st[2]), PointAction::Skip);
    EXPECT_EQ(pointAction(st[3]), PointAction::Resume);
    EXPECT_EQ(pointAction(st[5]), PointAction::Restart);
    EXPECT_EQ(pointAction(st[6]), PointAction::Skip);
    // A failed folder is kept aside, and the point is pending again.
    const std::string aside = setAsideFailedRun(dir, st[5]);
    EXPECT_TRUE(fs::is_regular_file(aside + "/summary.json"));
    EXPECT_EQ(pointStatus(dir, s.points[5]).state, PointState::Pending);
}

TEST(Sweep, TablesGroupTheFinishedPointsOverSeeds) {
    const std::string dir = dfq::test::tempDir() + "/tables";
    const Sweep s = parseSweepSpec(kSpec, "spec.yaml");
    prepareSweepFolder(dir, s);
    // Group (4, 4, gdfq): seeds 1, 2, 3 at last top-1 80, 84 and one still pending.
    write(pointFolder(dir, s.points[0]) + "/config.yaml", "x: 1\n");
    write(pointFolder(dir, s.points[0]) + "/summary.json", summaryJson("finished", 80));
    write(pointFolder(dir, s.points[1]) + "/config.yaml", "x: 1\n");
    write(pointFolder(dir, s.points[1]) + "/summary.json", summaryJson("finished", 84));
    writeSweepResults(dir, s);
    const auto groups = groupOverSeeds(s, sweepStatus(dir, s));
    ASSERT_EQ(groups.size(), 4u);
    EXPECT_EQ(groups[0].values, (std::vector<std::string>{"4", "4", "gdfq"}));
    EXPECT_EQ(groups[0].points, 3);
    EXPECT_EQ(groups[0].finished, 2);
    EXPECT_DOUBLE_EQ(groups[0].last.mean, 82);
    EXPECT_NEAR(groups[0].last.std, 2.8284271, 1e-6);  // sqrt(((80-82)^2 + (84-82)^2) / 1)
    EXPECT_DOUBLE_EQ(groups[0].best.mean, 83);
    EXPECT_EQ(groups[1].finished, 0);
    EXPECT_TRUE(std::isnan(groups[1].last.mean));

    std::ifstream sweepCsvFile(dir + "/sweep.csv");
    std::string header, row0, row2;
    std::getline(sweepCsvFile, header);
    std::getline(sweepCsvFile, row0);
    std::getline(sweepCsvFile, row2);
    std::getline(sweepCsvFile, row2);
    EXPECT_EQ(header,
              "index,name,quant.weight_bits,quant.activation_bits,method.generator,seed,status,"
              "fp_top1,ptq_top1,best_top1,last_top1,iterations,wall_seconds");
    EXPECT_EQ(row0,
              "0,000-weight_bits-4_activation_bits-4_generator-gdfq_seed-1,4,4,gdfq,1,finished,"
              "92.0000,80.0000,81.0000,80.0000,15,10.0000");
    EXPECT_EQ(row2,
              "2,002-weight_bits-4_activation_bits-4_generator-gdfq_seed-3,4,4,gdfq,3,"
              "pending,,,,,0,");
    std::ifstream summary(dir + "/summary.csv");
    std::string sh, s0;
    std::getline(summary, sh);
    std::getline(summary, s0);
    EXPECT_EQ(sh,
              "quant.weight_bits,quant.activation_bits,method.generator,points,n,fp_top1_mean,"
              "ptq_top1_mean,ptq_top1_std,best_top1_mean,best_top1_std,last_top1_mean,"
              "last_top1_std,wall_seconds_mean");
    EXPECT_EQ(s0, "4,4,gdfq,3,2,92.0000,80.0000,0.0000,83.0000,2.8284,82.0000,2.8284,10.0000");
}
