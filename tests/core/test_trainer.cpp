#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/model/model.h"
#include "core/run/demo_teacher.h"
#include "core/run/eta.h"
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
    dfq::run::BnMatch lastBn;
    dfq::run::RunControl* control = nullptr;
    size_t cancelAfter = 0;
    void onIteration(const dfq::run::IterationStats& s) override {
        iterations.push_back(s);
        if (control && iterations.size() == cancelAfter)
            control->cancel = true;
    }
    std::vector<std::string> logs;
    void onEval(const dfq::run::EvalStats& e) override { evals.push_back(e); }
    void onLog(const std::string& line) override { logs.push_back(line); }
    void onRounding(const dfq::run::RoundingStats& r) override { rounding.push_back(r); }
    void onSamples(const dfq::run::SampleBatch& s) override { samples.push_back(s); }
    void onBnMatch(const dfq::run::BnMatch& m) override {
        ++bnMatches;
        lastBn = m;
    }
};

}  // namespace

TEST(Trainer, MultistepScheduleMatchesTheReference) {
    const std::vector<int64_t> m = {100, 200, 300};
    EXPECT_DOUBLE_EQ(dfq::run::multistepLr(1e-3, 0, m, 0.1), 1e-3);
    EXPECT_DOUBLE_EQ(dfq::run::multistepLr(1e-3, 99, m, 0.1), 1e-3);
    EXPECT_NEAR(dfq::run::multistepLr(1e-3, 100, m, 0.1), 1e-4, 1e-18);
    EXPECT_NEAR(dfq::run::multistepLr(1e-3, 399, m, 0.1), 1e-6, 1e-18);
}

// Cosine: the base rate through the warm-up, then half a cosine over the student's epochs
// (10 epochs, 2 of warm-up: student epoch e of 8 gets (1 + cos(pi e / 8)) / 2).
TEST(Trainer, CosineScheduleEndsSmall) {
    dfq::run::ExperimentConfig c;
    c.scheduleEpochs = 10;
    c.scheduleWarmupEpochs = 2;
    c.scheduleLrDecay = dfq::run::LrDecay::Cosine;
    c.scheduleLrMilestones = {3};
    EXPECT_DOUBLE_EQ(dfq::run::scheduledLr(1.0, 0, c), 1.0);
    EXPECT_DOUBLE_EQ(dfq::run::scheduledLr(1.0, 2, c), 1.0);
    EXPECT_NEAR(dfq::run::scheduledLr(1.0, 6, c), 0.5, 1e-15);
    EXPECT_NEAR(dfq::run::scheduledLr(1.0, 9, c), (1 + std::cos(M_PI * 7 / 8)) / 2, 1e-15);
    c.scheduleLrDecay = dfq::run::LrDecay::Step;
    EXPECT_NEAR(dfq::run::scheduledLr(1.0, 9, c), 0.1, 1e-15);
}

TEST(Trainer, ReportsEveryEventAndWritesTheRunFolder) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const std::string dir = dfq::test::tempDir() + "/run";
    Recorder rec;
    dfq::run::RunDirectory folder("", "", dir);
    dfq::run::Trainer trainer(tinyRun(true), {&rec, &folder});
    const auto summary = trainer.run();
    EXPECT_EQ(summary.status, "finished");
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
    // The demo teacher's 9 BN layers hold 336 channels: all are reported per channel.
    ASSERT_EQ(rec.lastBn.channels.size(), 9u);
    const auto& ch = rec.lastBn.channels[0];
    EXPECT_EQ(ch.layer, rec.lastBn.layers[0]);
    ASSERT_EQ(ch.batchMean.size(), 16u);
    ASSERT_EQ(ch.runningVar.size(), 16u);
    double meanMse = 0;
    for (size_t c = 0; c < 16; ++c)
        meanMse += (ch.batchMean[c] - ch.runningMean[c]) * (ch.batchMean[c] - ch.runningMean[c]);
    EXPECT_NEAR(meanMse / 16, rec.lastBn.meanMse[0], 1e-4 * (1 + meanMse));
    ASSERT_EQ(rec.samples.size(), 3u);
    const auto& s = rec.samples[0];
    EXPECT_EQ(s.count, 16);
    EXPECT_EQ(s.pixels.size(), static_cast<size_t>(16 * 28 * 28));
    EXPECT_EQ(s.topClasses.size(), static_cast<size_t>(16 * 3));
    ASSERT_EQ(rec.evals.size(), 3u);
    EXPECT_GT(summary.fpTop1, 85.0);
    EXPECT_GE(summary.ptqTop1, 0.0);
    EXPECT_DOUBLE_EQ(summary.lastTop1, rec.evals.back().top1);

    for (const char* f :
         {"config.yaml", "metrics.csv", "eval.csv", "bn_match.csv", "bn_channels.csv",
          "rounding.csv", "summary.json", "samples/step-0000000.png", "samples/step-0000008.png"})
        EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
    EXPECT_EQ(lineCount(dir + "/metrics.csv"), 13);
    EXPECT_EQ(lineCount(dir + "/rounding.csv"), 9);
    EXPECT_EQ(lineCount(dir + "/bn_channels.csv"), 1 + 2 * 336);
    EXPECT_NE(readFile(dir + "/config.yaml").find("# model sha256: "), std::string::npos);
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

TEST(Trainer, FixedSetCalibrationLeavesTheGeneratorsRunUntouched) {
    // The generator never sees the student, so its losses must be the same whatever sets the
    // student's activation ranges: the calibration set has a random stream of its own.
    auto config = [](const std::string& protocol) {
        ExperimentConfig c = tinyRun(true);
        EXPECT_TRUE(dfq::run::parseChoice(protocol, c.quantCalibration)) << protocol;
        c.quantCalibrationBatches = 3;
        return c;
    };
    Recorder ema, mse, mse2;
    const auto sEma = dfq::run::Trainer(config("ema"), {&ema}).run();
    const auto sMse = dfq::run::Trainer(config("mse"), {&mse}).run();
    const auto sMse2 = dfq::run::Trainer(config("mse"), {&mse2}).run();
    ASSERT_EQ(ema.iterations.size(), mse.iterations.size());
    for (size_t i = 0; i < ema.iterations.size(); ++i)
        EXPECT_EQ(ema.iterations[i].generatorLoss, mse.iterations[i].generatorLoss) << i;
    EXPECT_GE(sMse.ptqTop1, 0.0);
    EXPECT_EQ(sMse.ptqTop1, sMse2.ptqTop1);
    EXPECT_EQ(sMse.lastTop1, sMse2.lastTop1);
    EXPECT_GE(sEma.ptqTop1, 0.0);
    // Set once, at the end of the single calibration epoch.
    EXPECT_EQ(std::count_if(mse.logs.begin(), mse.logs.end(),
                            [](const std::string& l) {
                                return l.rfind(
                                           "activation ranges set from 3 generator batches "
                                           "(mse",
                                           0) == 0;
                            }),
              1);
}

TEST(Trainer, EvaluatesFromTheConfiguredEpochAndAlwaysTheLast) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    for (int64_t from : {2, 7}) {
        ExperimentConfig c = tinyRun(true);
        c.scheduleEvalFromEpoch = from;
        Recorder rec;
        const auto summary = dfq::run::Trainer(c, {&rec}).run();
        ASSERT_EQ(rec.evals.size(), 1u) << from;
        EXPECT_EQ(rec.evals[0].epoch, 2);
        EXPECT_GE(summary.ptqTop1, 0.0);
        EXPECT_EQ(summary.lastTop1, rec.evals[0].top1);
    }
}

TEST(Trainer, AitReportsAlphaPerLayerWithTheThresholdSchedule) {
    const std::string dir = dfq::test::tempDir() + "/ait";
    ExperimentConfig c = tinyRun(false);
    c.methodStudent = "ait";
    Recorder rec;
    dfq::run::RunDirectory folder("", "", dir);
    dfq::run::Trainer(c, {&rec, &folder}).run();
    // Epochs 1 and 2 train the student (4 steps each); the threshold drops tenfold at the
    // milestone, epoch 2.
    ASSERT_EQ(rec.rounding.size(), 8u);
    for (size_t k = 0; k < rec.rounding.size(); ++k) {
        const auto& r = rec.rounding[k];
        ASSERT_EQ(r.alphas.size(), r.layers.size());
        for (double a : r.alphas)
            EXPECT_GE(a, 1.0);
        EXPECT_DOUBLE_EQ(r.threshold, k < 4 ? 1e-3 : 1e-4);
    }
    // The first student epoch caps the doubling at 128.
    for (size_t k = 0; k < 4; ++k)
        for (double a : rec.rounding[k].alphas)
            EXPECT_LE(a, 128.0);
    EXPECT_EQ(lineCount(dir + "/alpha.csv"), 9);
    EXPECT_EQ(readFile(dir + "/alpha.csv").rfind("step,threshold,conv1,", 0), 0u);
}

TEST(Trainer, CancelLeavesACompleteRunFolder) {
    const std::string dir = dfq::test::tempDir() + "/cancelled";
    Recorder rec;
    dfq::run::RunControl control;
    rec.control = &control;
    rec.cancelAfter = 3;
    dfq::run::RunDirectory folder("", "", dir);
    const auto summary = dfq::run::Trainer(tinyRun(false), {&rec, &folder}).run(&control);
    EXPECT_EQ(summary.status, "cancelled");
    EXPECT_EQ(rec.iterations.size(), 3u);
    EXPECT_EQ(lineCount(dir + "/metrics.csv"), 4);
    EXPECT_NE(readFile(dir + "/summary.json").find("\"status\":\"cancelled\""), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(dir + "/config.yaml"));
}

TEST(Trainer, BadModelIsAnError) {
    auto c = tinyRun(false);
    c.modelPath = dfq::test::fixturePath("nobn.traced.pt");
    c.modelInputShape = {3, 16, 16};
    const auto msg = dfq::test::errorOf([&] { dfq::run::Trainer(c, {}).run(); });
    EXPECT_NE(msg.find("data-free quantization needs BatchNorm layers"), std::string::npos) << msg;
}

namespace {

// The CSV's rows without the columns that measure time.
std::vector<std::string> rowsWithoutTimes(const std::string& path, std::vector<size_t> timeCols) {
    std::vector<std::string> rows;
    std::stringstream in(readFile(path));
    for (std::string line; std::getline(in, line);) {
        std::stringstream fields(line);
        std::string f, row;
        for (size_t i = 0; std::getline(fields, f, ','); ++i)
            if (std::find(timeCols.begin(), timeCols.end(), i) == timeCols.end())
                row += f + ",";
        rows.push_back(row);
    }
    return rows;
}

}  // namespace

TEST(Trainer, ResumeEndsWithTheSameMetricsAsAnUninterruptedRun) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const std::string whole = dfq::test::tempDir() + "/whole",
                      parts = dfq::test::tempDir() + "/parts";
    dfq::run::RunSummary a;
    {
        dfq::run::RunDirectory folder("", "", whole);
        dfq::run::Trainer t(tinyRun(true), {&folder}, {folder.checkpointPath(), "", "", ""});
        a = t.run();
    }
    {
        // Stopped in the middle of the second epoch (the first student epoch).
        Recorder rec;
        dfq::run::RunControl control;
        rec.cancelAfter = 6;
        rec.control = &control;
        dfq::run::RunDirectory folder("", "", parts);
        dfq::run::Trainer t(tinyRun(true), {&rec, &folder}, {folder.checkpointPath(), "", "", ""});
        EXPECT_EQ(t.run(&control).status, "cancelled");
    }
    dfq::run::RunDirectory folder = dfq::run::RunDirectory::reopen(parts);
    const auto config = dfq::run::loadExperimentConfig(folder.configPath());
    Recorder rec;
    dfq::run::Trainer t(
        config, {&rec, &folder},
        {folder.checkpointPath(), folder.checkpointPath(), folder.studentPath(), ""});
    const auto b = t.run();
    EXPECT_EQ(b.status, "finished");
    ASSERT_FALSE(rec.iterations.empty());
    EXPECT_EQ(rec.iterations.front().step, 6);
    EXPECT_EQ(b.iterations, a.iterations);
    EXPECT_EQ(b.fpTop1, a.fpTop1);
    EXPECT_EQ(b.ptqTop1, a.ptqTop1);
    EXPECT_EQ(b.bestTop1, a.bestTop1);
    EXPECT_EQ(b.lastTop1, a.lastTop1);
    // Row by row the same files, but for the timing columns.
    EXPECT_EQ(rowsWithoutTimes(parts + "/metrics.csv", {13, 14, 15}),
              rowsWithoutTimes(whole + "/metrics.csv", {13, 14, 15}));
    EXPECT_EQ(rowsWithoutTimes(parts + "/eval.csv", {5}),
              rowsWithoutTimes(whole + "/eval.csv", {5}));
    EXPECT_EQ(readFile(parts + "/rounding.csv"), readFile(whole + "/rounding.csv"));
    EXPECT_EQ(readFile(parts + "/bn_match.csv"), readFile(whole + "/bn_match.csv"));
    EXPECT_TRUE(std::filesystem::exists(folder.studentPath()));

    // Another configuration cannot continue this checkpoint.
    auto other = config;
    other.studentLr *= 2;
    const auto msg = dfq::test::errorOf([&] {
        dfq::run::Trainer(other, {}, {"", folder.checkpointPath(), "", ""}).run();
    });
    EXPECT_NE(msg.find("another configuration"), std::string::npos) << msg;
}

TEST(Trainer, ExportsTheQuantizedStudent) {
    const std::string path = dfq::test::tempDir() + "/student.pt";
    auto c = tinyRun(false);
    c.scheduleEpochs = 2;
    dfq::run::Trainer(c, {}, {"", "", path, ""}).run();
    torch::serialize::InputArchive archive, quantizers, first, activations;
    archive.load_from(path);
    archive.read("weight_quantizers", quantizers);
    c10::IValue count;
    quantizers.read("count", count);
    EXPECT_EQ(count.toInt(), 10);  // every conv and the classifier
    quantizers.read("0", first);
    at::Tensor codes, inverseStep, zero;
    first.read("codes", codes, true);
    first.read("inverse_step", inverseStep, true);
    first.read("zero", zero, true);
    EXPECT_EQ(codes.scalar_type(), at::kChar);
    EXPECT_GE(codes.min().item<int>(), -8);
    EXPECT_LE(codes.max().item<int>(), 7);
    EXPECT_EQ(inverseStep.numel(), codes.size(0));  // per output channel
    // The stored parameter is the dequantized weight: (q + z) / s.
    torch::serialize::InputArchive params, entry;
    archive.read("parameters", params);
    c10::IValue layerName;
    first.read("layer", layerName);
    c10::IValue n;
    params.read("count", n);
    bool found = false;
    for (int64_t i = 0; i < n.toInt(); ++i) {
        params.read(std::to_string(i), entry);
        c10::IValue name;
        entry.read("name", name);
        if (name.toStringRef() != layerName.toStringRef() + ".weight")
            continue;
        at::Tensor w;
        entry.read("value", w, true);
        const auto shape = std::vector<int64_t>{-1, 1, 1, 1};
        const at::Tensor expected =
            (codes.to(at::kFloat) + zero.view(shape)) / inverseStep.view(shape);
        EXPECT_TRUE(at::allclose(w, expected, 1e-5, 1e-6));
        found = true;
    }
    EXPECT_TRUE(found) << layerName.toStringRef();
    archive.read("activation_quantizers", activations);
    activations.read("count", count);
    EXPECT_EQ(count.toInt(), 7);  // after every ReLU
}

TEST(Trainer, ExportsATorchScriptModelThatScoresLikeTheStudent) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const std::string path = dfq::test::tempDir() + "/quantized_model.pt";
    const auto c = tinyRun(true);
    const auto summary = dfq::run::Trainer(c, {}, {"", "", "", path}).run();

    // A TorchScript module with its metadata, a fake-quant node after every ReLU, and the
    // weights on their 4-bit grids: at most 16 distinct values per output channel.
    const auto model = dfq::model::Model::load(path);
    EXPECT_EQ(model.meta().numClasses, 10);
    int fakeQuant = 0;
    for (const auto* n : model.module().get_method("forward").graph()->nodes())
        fakeQuant += n->kind() == c10::Symbol::aten("fake_quantize_per_tensor_affine");
    EXPECT_EQ(fakeQuant, 7);
    EXPECT_TRUE(model.graph()->fakeQuantized());  // so `dfq eval` gives it NCHW batches
    // Parameters in the order the graph reads them, the stem's first.
    EXPECT_EQ((*model.module().named_parameters().begin()).name, "conv1_weight");
    const at::Tensor w = model.module().attr("conv1_weight").toTensor();
    for (int64_t ch = 0; ch < w.size(0); ++ch)
        EXPECT_LE(std::get<0>(at::_unique(w[ch])).numel(), 16) << ch;

    // Evaluated like any model, it scores what the run reported for its last epoch.
    auto data = dfq::data::loadDataset(c.resolvedDataPath(), dfq::data::Split::Test,
                                       model.meta().inputShape);
    data.images = data.images.narrow(0, 0, c.dataLimit);
    data.labels = data.labels.narrow(0, 0, c.dataLimit);
    auto module = model.module();
    const auto r =
        dfq::data::evaluate([&](const at::Tensor& x) { return module.forward({x}).toTensor(); },
                            data, model.meta().inputShape, {model.meta().mean, model.meta().std});
    EXPECT_NEAR(r.top1, summary.lastTop1, 100.0 / 300 + 1e-9);
}

TEST(Trainer, AnAutoReconSearchResumesBeforeAndAfterItsDerivation) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    auto config = tinyRun(true);
    config.methodGenerator = "autorecon";
    config.autoreconArchitecture = "search";
    config.autoreconSearchEpochs = 2;
    config.autoreconChannels = 4;
    config.scheduleEpochs = 2;
    config.dataLimit = 100;
    const std::string whole = dfq::test::tempDir() + "/ar-whole";
    dfq::run::RunSummary a;
    {
        dfq::run::RunDirectory folder("", "", whole);
        Recorder rec;
        dfq::run::Trainer t(config, {&rec, &folder}, {folder.checkpointPath(), "", "", ""});
        a = t.run();
        // 8 search steps, then the schedule's 8.
        EXPECT_EQ(rec.iterations.size(), 16u);
        EXPECT_EQ(a.iterations, 16);
    }
    EXPECT_EQ(lineCount(whole + "/architecture.csv"), 1 + 2);  // steps 0 and 7
    // Stopped inside the search (step 3) and after the derivation (step 10).
    for (size_t stopAt : {3u, 10u}) {
        SCOPED_TRACE(stopAt);
        const std::string parts = dfq::test::tempDir() + "/ar-parts" + std::to_string(stopAt);
        {
            Recorder rec;
            dfq::run::RunControl control;
            rec.cancelAfter = stopAt;
            rec.control = &control;
            dfq::run::RunDirectory folder("", "", parts);
            dfq::run::Trainer t(config, {&rec, &folder}, {folder.checkpointPath(), "", "", ""});
            EXPECT_EQ(t.run(&control).status, "cancelled");
        }
        dfq::run::RunDirectory folder = dfq::run::RunDirectory::reopen(parts);
        dfq::run::Trainer t(dfq::run::loadExperimentConfig(folder.configPath()), {&folder},
                            {folder.checkpointPath(), folder.checkpointPath(), "", ""});
        const auto b = t.run();
        EXPECT_EQ(b.status, "finished");
        EXPECT_EQ(b.ptqTop1, a.ptqTop1);
        EXPECT_EQ(b.lastTop1, a.lastTop1);
        EXPECT_EQ(readFile(parts + "/architecture.txt"), readFile(whole + "/architecture.txt"));
        EXPECT_EQ(readFile(parts + "/architecture.csv"), readFile(whole + "/architecture.csv"));
        EXPECT_EQ(rowsWithoutTimes(parts + "/metrics.csv", {13, 14, 15}),
                  rowsWithoutTimes(whole + "/metrics.csv", {13, 14, 15}));
    }
}

namespace {

// A schedule of `epochs` x `iterations`, the first `warmup` epochs without the student.
dfq::run::EtaModel::Schedule etaSchedule(int64_t epochs, int64_t iterations, int64_t warmup) {
    dfq::run::EtaModel::Schedule s;
    s.epochs = epochs;
    s.iterations = iterations;
    s.warmupEpochs = warmup;
    return s;
}

}  // namespace

// The ETA models the phases ahead: before any student iteration it estimates one from the
// warm-up's (iteration plus a share of the generator step), adds the evaluations, calibrations
// and checkpoints still due, and once the student phase is measured it is exact for constant
// costs.
TEST(Eta, ModelsWarmupStudentEvaluationsAndCheckpoints) {
    using dfq::run::EtaModel;
    EtaModel::Schedule s = etaSchedule(4, 10, 1);
    s.evaluatedEpochs = {true, true, true, true};
    s.ptqBaseline = true;
    s.calibratedEpochs = {true, false, false, false};
    s.calibrationBatches = 8;
    EtaModel eta(s);
    EXPECT_EQ(eta.remaining(0), -1);  // nothing measured yet
    eta.teacherEvaluation(2.0);
    // Warm-up: 1 s per iteration, 0.5 s of it the generator step.
    for (int i = 0; i < 5; ++i)
        eta.iteration(EtaModel::Phase::Warmup, 1.0, 0.5);
    // Left after step 5: 5 warm-up iterations, 30 student ones at 1 + 0.45 * 0.5, five student
    // evaluations (4 epochs and the PTQ baseline) at 1.3 x the teacher's, one calibration of 8
    // batches at half a warm-up iteration each.
    const double student = 1.0 + EtaModel::kStudentShare * 0.5;
    const double eval = EtaModel::kStudentEvalFactor * 2.0;
    EXPECT_NEAR(eta.remaining(5), 5 * 1.0 + 30 * student + 5 * eval + 4.0, 1e-9);
    // A trial student pass replaces the share.
    eta.studentPass(0.75);
    EXPECT_NEAR(eta.remaining(5), 5 * 1.0 + 30 * 1.75 + 5 * eval + 4.0, 1e-9);
    eta.calibration(3.0);
    eta.checkpoint(0.25);
    eta.studentEvaluation(3.0);
    eta.ptqDone();
    for (int i = 0; i < 3; ++i)
        eta.iteration(EtaModel::Phase::Student, 2.0, 0.5);
    // At step 13 (epoch 1): 27 student iterations at 2 s, evaluations and checkpoints of epochs
    // 1..3, no calibration left.
    EXPECT_NEAR(eta.remaining(13), 27 * 2.0 + 3 * 3.0 + 3 * 0.25, 1e-9);
    // After the last iteration of an epoch, that epoch's evaluation and checkpoint are still
    // ahead; after the run's last, only those.
    EXPECT_NEAR(eta.remaining(20), 20 * 2.0 + 3 * 3.0 + 3 * 0.25, 1e-9);  // epochs 1, 2, 3
    EXPECT_NEAR(eta.remaining(40), 3.0 + 0.25, 1e-9);
}

// Without warm-up (and search) the first student iteration is enough.
TEST(Eta, RunsWithoutWarmup) {
    using dfq::run::EtaModel;
    EtaModel::Schedule s = etaSchedule(2, 10, 0);
    s.evaluatedEpochs = {true, true};
    EtaModel eta(s);
    EXPECT_EQ(eta.remaining(0), -1);
    eta.iteration(EtaModel::Phase::Student, 2.0, 1.0);
    eta.teacherEvaluation(1.0);
    EXPECT_NEAR(eta.remaining(1), 19 * 2.0 + 2 * EtaModel::kStudentEvalFactor, 1e-9);
    EXPECT_NEAR(eta.remaining(20), EtaModel::kStudentEvalFactor, 1e-9);
}

// An architecture search comes first; the warm-up's cost is taken from it until measured.
TEST(Eta, SearchStepsComeFirst) {
    using dfq::run::EtaModel;
    EtaModel::Schedule s = etaSchedule(2, 10, 1);
    s.searchSteps = 20;
    EtaModel eta(s);
    eta.iteration(EtaModel::Phase::Search, 0.5, 0.5);
    EXPECT_NEAR(eta.remaining(10), 10 * 0.5 + 10 * 0.5 + 10 * (0.5 + EtaModel::kStudentShare * 0.5),
                1e-9);
}
