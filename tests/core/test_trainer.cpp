#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/run/run_directory.h"
#include "core/run/trainer.h"
#include "fixtures.h"

using dfq::run::ExperimentConfig;

namespace {

// A few iterations of GDFQ on the demo teacher with a small generator.
ExperimentConfig tinyRun(bool withData) {
    std::vector<std::string> sets = {"schedule.epochs=3",        "schedule.iterations=4",
                                     "schedule.warmup_epochs=1", "schedule.calibration_epochs=1",
                                     "generator.batch_size=16",  "generator.channels=16",
                                     "output.sample_every=4",    "schedule.lr_milestones=[2]"};
    if (withData) {
        sets.push_back("data.path=fashion-mnist");
        sets.push_back("data.limit=300");
    }
    return dfq::run::parseExperimentConfig("name: tiny", "tiny.yaml", sets);
}

std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

int lineCount(const std::string& path) {
    const std::string text = readFile(path);
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

struct Recorder : dfq::run::Observer {
    std::vector<dfq::run::IterationStats> iterations;
    std::vector<dfq::run::EvalStats> evals;
    std::vector<dfq::run::RoundingStats> rounding;
    std::vector<dfq::run::SampleBatch> samples;
    int bnMatches = 0;
    dfq::run::RunControl* cancelAfter3 = nullptr;
    void onIteration(const dfq::run::IterationStats& s) override {
        iterations.push_back(s);
        if (cancelAfter3 && iterations.size() == 3)
            cancelAfter3->cancel = true;
    }
    void onEval(const dfq::run::EvalStats& e) override { evals.push_back(e); }
    void onRounding(const dfq::run::RoundingStats& r) override { rounding.push_back(r); }
    void onSamples(const dfq::run::SampleBatch& s) override { samples.push_back(s); }
    void onBnMatch(const dfq::run::BnMatch&) override { ++bnMatches; }
};

}  // namespace

TEST(Trainer, MultistepScheduleMatchesTheReference) {
    const std::vector<int64_t> m = {100, 200, 300};
    EXPECT_DOUBLE_EQ(dfq::run::multistepLr(1e-3, 0, m, 0.1), 1e-3);
    EXPECT_DOUBLE_EQ(dfq::run::multistepLr(1e-3, 99, m, 0.1), 1e-3);
    EXPECT_NEAR(dfq::run::multistepLr(1e-3, 100, m, 0.1), 1e-4, 1e-18);
    EXPECT_NEAR(dfq::run::multistepLr(1e-3, 399, m, 0.1), 1e-6, 1e-18);
}

TEST(Trainer, ReportsEveryEventAndWritesTheRunFolder) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const std::string dir = dfq::test::tempDir() + "/run";
    Recorder rec;
    dfq::run::RunDirectory folder("", "", dir);
    dfq::run::Trainer trainer(tinyRun(true), {&rec, &folder});
    const auto summary = trainer.run();
    EXPECT_FALSE(summary.cancelled);
    EXPECT_EQ(summary.iterations, 12);
    ASSERT_EQ(rec.iterations.size(), 12u);
    EXPECT_FALSE(rec.iterations[3].studentTrained);  // warm-up epoch
    EXPECT_TRUE(rec.iterations[3].calibrating);
    EXPECT_TRUE(rec.iterations[4].studentTrained);
    EXPECT_FALSE(rec.iterations[4].calibrating);
    EXPECT_DOUBLE_EQ(rec.iterations[4].lrStudent, 1e-4);
    EXPECT_NEAR(rec.iterations[11].lrStudent, 1e-5, 1e-15);  // after the milestone at epoch 2
    EXPECT_EQ(rec.rounding.size(), 8u);                      // one per student step
    EXPECT_EQ(rec.rounding[0].layers.size(), 10u);
    EXPECT_EQ(rec.bnMatches, 2);  // steps 0 and 10
    ASSERT_EQ(rec.samples.size(), 3u);
    const auto& s = rec.samples[0];
    EXPECT_EQ(s.count, 16);
    EXPECT_EQ(s.pixels.size(), static_cast<size_t>(16 * 28 * 28));
    EXPECT_EQ(s.topClasses.size(), static_cast<size_t>(16 * 3));
    ASSERT_EQ(rec.evals.size(), 3u);
    EXPECT_GT(summary.fpTop1, 85.0);
    EXPECT_GE(summary.ptqTop1, 0.0);
    EXPECT_DOUBLE_EQ(summary.lastTop1, rec.evals.back().top1);

    for (const char* f : {"config.yaml", "metrics.csv", "eval.csv", "bn_match.csv", "rounding.csv",
                          "summary.json", "samples/step-0000000.png", "samples/step-0000008.png"})
        EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
    EXPECT_EQ(lineCount(dir + "/metrics.csv"), 13);
    EXPECT_EQ(lineCount(dir + "/rounding.csv"), 9);
    const std::string summaryJson = readFile(dir + "/summary.json");
    for (const char* key : {"\"fp_top1\"", "\"ptq_top1\"", "\"best_top1\"", "\"last_top1\"",
                            "\"iterations\":12", "\"wall_seconds\""})
        EXPECT_NE(summaryJson.find(key), std::string::npos) << key;
    // The resolved config reads back to the same experiment.
    const auto again = dfq::run::loadExperimentConfig(dir + "/config.yaml");
    EXPECT_EQ(dfq::run::toYaml(again), dfq::run::toYaml(tinyRun(true)));
}

TEST(Trainer, SameSeedSameMetrics) {
    Recorder a, b;
    dfq::run::Trainer(tinyRun(false), {&a}).run();
    dfq::run::Trainer(tinyRun(false), {&b}).run();
    ASSERT_EQ(a.iterations.size(), b.iterations.size());
    for (size_t i = 0; i < a.iterations.size(); ++i) {
        EXPECT_EQ(a.iterations[i].generatorLoss, b.iterations[i].generatorLoss) << i;
        EXPECT_EQ(a.iterations[i].studentLoss, b.iterations[i].studentLoss) << i;
    }
    EXPECT_EQ(a.rounding.back().overall, b.rounding.back().overall);
}

TEST(Trainer, CancelLeavesACompleteRunFolder) {
    const std::string dir = dfq::test::tempDir() + "/cancelled";
    Recorder rec;
    dfq::run::RunControl control;
    rec.cancelAfter3 = &control;
    dfq::run::RunDirectory folder("", "", dir);
    const auto summary = dfq::run::Trainer(tinyRun(false), {&rec, &folder}).run(&control);
    EXPECT_TRUE(summary.cancelled);
    EXPECT_EQ(rec.iterations.size(), 3u);
    EXPECT_EQ(lineCount(dir + "/metrics.csv"), 4);
    EXPECT_NE(readFile(dir + "/summary.json").find("\"cancelled\":true"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(dir + "/config.yaml"));
}

TEST(Trainer, BadModelIsAnError) {
    auto c = tinyRun(false);
    c.modelPath = dfq::test::fixturePath("nobn.traced.pt");
    c.modelInputShape = {3, 16, 16};
    const auto msg = dfq::test::errorOf([&] { dfq::run::Trainer(c, {}).run(); });
    EXPECT_NE(msg.find("GDFQ needs BatchNorm layers"), std::string::npos) << msg;
}
