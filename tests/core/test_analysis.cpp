#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "core/analysis/layer_analyzer.h"
#include "core/analysis/layer_probe.h"
#include "core/analysis/mixed_precision.h"
#include "core/analysis/report_io.h"
#include "core/error.h"
#include "core/method/pipeline.h"
#include "core/model/model.h"
#include "core/quant/uniform_quantizer.h"
#include "core/run/analysis_job.h"
#include "core/run/checkpoint.h"
#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/run/run_directory.h"
#include "core/run/run_setup.h"
#include "core/run/trainer.h"
#include "core/sha256.h"
#include "fixtures.h"

using namespace dfq;
using analysis::QuantizerKind;

namespace {

model::Model cifarResnet(const std::string& file = "cifar_resnet_a.traced.pt") {
    auto m = model::Model::load(test::fixturePath(file));
    model::ModelMeta meta;
    meta.inputShape = {3, 32, 32};
    meta.numClasses = 10;
    m.setMeta(meta);
    return m;
}

std::vector<analysis::InputBatch> randomBatches(int n, int64_t size, uint64_t seed) {
    at::manual_seed(seed);
    std::vector<analysis::InputBatch> out;
    for (int i = 0; i < n; ++i)
        out.push_back({at::randn({size, 3, 32, 32}), {}});
    return out;
}

// Quantizes exactly one layer (its weight, or its activation on a given grid) and records every
// layer's output: the naive way the analysis's figures are defined.
struct OneQuantizer : model::LayerHooks {
    int layer = -1;
    at::Tensor weightQ;
    quant::QuantGrid grid;
    std::vector<at::Tensor> outputs;
    at::Tensor weight(const model::Layer& l, const at::Tensor& w) override {
        return l.index == layer && weightQ.defined() ? weightQ : w;
    }
    at::Tensor output(const model::Layer& l, const at::Tensor& y) override {
        at::Tensor out = y;
        if (l.index == layer && grid.scale.defined())
            out = quant::dequantize(quant::quantizeCodes(y, grid), grid);
        outputs[static_cast<size_t>(l.index)] = out;
        return out;
    }
};

}  // namespace

TEST(Analysis, SqnrAndKlByHand) {
    EXPECT_DOUBLE_EQ(analysis::sqnrDb(100.0, 1.0), 20.0);
    EXPECT_DOUBLE_EQ(analysis::sqnrDb(2.0, 2.0), 0.0);
    EXPECT_TRUE(std::isinf(analysis::sqnrDb(1.0, 0.0)));
    // softmax([0, ln 3]) = (1/4, 3/4); softmax([0, 0]) = (1/2, 1/2).
    const at::Tensor ref = at::tensor({0.0, std::log(3.0)}, at::kDouble).view({1, 2});
    const at::Tensor test = at::zeros({1, 2}, at::kDouble);
    const double expected = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
    EXPECT_NEAR(analysis::klSum(ref, test), expected, 1e-12);
    EXPECT_NEAR(analysis::klSum(ref.repeat({3, 1}), test.repeat({3, 1})), 3 * expected, 1e-12);
    EXPECT_NEAR(analysis::klSum(ref, ref), 0.0, 1e-15);
}

TEST(Analysis, IsolatedFiguresAreOneQuantizerOnAndTheRestExactlyFp) {
    at::NoGradGuard noGrad;
    auto m = cifarResnet();
    analysis::AnalysisOptions o;
    o.bits = {3};
    o.calibration = quant::Calibration::MinMax;
    analysis::LayerAnalyzer analyzer(m, o);
    const auto batches = randomBatches(2, 8, 5);
    analyzer.setInputs(batches);
    const auto report = analyzer.analyze();
    ASSERT_FALSE(report.layers.empty());
    EXPECT_EQ(report.images, 16);

    model::Interpreter net(m.graph(), &m.params());
    std::vector<at::Tensor> fpOut(m.graph()->layers().size()), fpLogits;
    OneQuantizer fp;
    fp.outputs.resize(fpOut.size());
    net.setHooks(&fp);
    for (const auto& b : batches)
        fpLogits.push_back(net.forward(b.images));
    quant::StudentQuantizer reference(*m.graph(), o.quant);
    const auto refs = analysis::listQuantizers(*m.graph());
    ASSERT_EQ(refs.size(), report.layers.size());
    for (size_t q = 0; q < refs.size(); ++q) {
        const auto& ref = refs[q];
        const auto& row = report.layers[q];
        EXPECT_EQ(row.name, ref.name);
        OneQuantizer one;
        one.layer = ref.layer;
        one.outputs.resize(fpOut.size());
        const model::Layer& l = m.graph()->layers()[static_cast<size_t>(ref.layer)];
        if (ref.kind == QuantizerKind::Weight) {
            const at::Tensor& w = m.params().tensor(static_cast<size_t>(l.weightParam));
            const auto g = reference.weightGrid(w, 3);
            one.weightQ = quant::dequantize(quant::quantizeCodes(w, g), g);
        } else {
            // The range calibrated on the batches: the mean of each batch's min and max.
            double lo = 0, hi = 0;
            for (const auto& b : batches) {
                OneQuantizer probe;
                probe.outputs.resize(fpOut.size());
                net.setHooks(&probe);
                net.forward(b.images);
                lo += probe.outputs[static_cast<size_t>(ref.layer)].min().item<double>() / 2;
                hi += probe.outputs[static_cast<size_t>(ref.layer)].max().item<double>() / 2;
            }
            one.grid = quant::makeGrid(at::scalar_tensor(lo), at::scalar_tensor(hi), 3);
        }
        double signal = 0, noise = 0, kl = 0, agree = 0;
        for (size_t c = 0; c < batches.size(); ++c) {
            fp.outputs.assign(fpOut.size(), at::Tensor());
            net.setHooks(&fp);
            net.forward(batches[c].images);
            net.setHooks(&one);
            const at::Tensor logits = net.forward(batches[c].images);
            // Every layer before the quantized one sees and gives exactly the FP values.
            for (int i = 0; i < ref.layer; ++i) {
                if (fp.outputs[static_cast<size_t>(i)].defined()) {
                    EXPECT_TRUE(at::equal(one.outputs[static_cast<size_t>(i)],
                                          fp.outputs[static_cast<size_t>(i)]))
                        << row.name << ": layer " << i;
                }
            }
            const at::Tensor& y = fp.outputs[static_cast<size_t>(ref.layer)];
            const at::Tensor& yq = one.outputs[static_cast<size_t>(ref.layer)];
            signal += y.square().sum().item<double>();
            noise += (yq - y).square().sum().item<double>();
            kl += analysis::klSum(fpLogits[c], logits);
            agree += (logits.argmax(1) == fpLogits[c].argmax(1)).sum().item<double>();
        }
        const auto& f = row.isolated[0];
        EXPECT_NEAR(f.sqnrDb, analysis::sqnrDb(signal, noise), 1e-3) << row.name;
        EXPECT_NEAR(f.kl, kl / 16, 1e-6) << row.name;
        EXPECT_DOUBLE_EQ(f.agreement, 100.0 * agree / 16) << row.name;
    }
}

TEST(Analysis, ResumedAndWholePassesGiveTheSameTable) {
    auto m = cifarResnet("cifar_resnet_a.scripted.pt");
    analysis::LayerReport with, without;
    for (bool resume : {true, false}) {
        analysis::AnalysisOptions o;
        o.bits = {2, 4};
        o.resume = resume;
        analysis::LayerAnalyzer a(m, o);
        a.setInputs(randomBatches(2, 6, 9));
        (resume ? with : without) = a.analyze();
    }
    ASSERT_EQ(with.layers.size(), without.layers.size());
    for (size_t q = 0; q < with.layers.size(); ++q)
        for (size_t k = 0; k < 2; ++k) {
            EXPECT_DOUBLE_EQ(with.layers[q].isolated[k].kl, without.layers[q].isolated[k].kl);
            EXPECT_DOUBLE_EQ(with.layers[q].cumulative[k].kl, without.layers[q].cumulative[k].kl);
            EXPECT_DOUBLE_EQ(with.layers[q].cumulative[k].sqnrDb,
                             without.layers[q].cumulative[k].sqnrDb);
        }
    // Cumulative at the last quantizer is the whole network quantized: every weight on its
    // 2-bit grid, every activation on the 2-bit grid of its FP range (min/max calibration).
    at::NoGradGuard noGrad;
    analysis::AnalysisOptions o;
    o.bits = {2};
    o.calibration = quant::Calibration::MinMax;
    analysis::LayerAnalyzer a(m, o);
    const auto batches = randomBatches(2, 6, 9);
    a.setInputs(batches);
    const auto report = a.analyze();
    model::Interpreter net(m.graph(), &m.params());
    const auto refs = analysis::listQuantizers(*m.graph());
    const size_t nLayers = m.graph()->layers().size();
    std::vector<double> lo(nLayers, 0.0), hi(nLayers, 0.0);
    std::vector<at::Tensor> fpLogits;
    for (const auto& b : batches) {
        OneQuantizer fp;
        fp.outputs.resize(nLayers);
        net.setHooks(&fp);
        fpLogits.push_back(net.forward(b.images));
        for (const auto& ref : refs)
            if (ref.kind == QuantizerKind::Activation) {
                const auto i = static_cast<size_t>(ref.layer);
                lo[i] += fp.outputs[i].min().item<double>() / 2;
                hi[i] += fp.outputs[i].max().item<double>() / 2;
            }
    }
    struct AllQuantized : model::LayerHooks {
        std::vector<at::Tensor> weights;
        std::vector<quant::QuantGrid> grids;
        at::Tensor weight(const model::Layer& l, const at::Tensor& w) override {
            const auto& q = weights[static_cast<size_t>(l.index)];
            return q.defined() ? q : w;
        }
        at::Tensor output(const model::Layer& l, const at::Tensor& y) override {
            const auto& g = grids[static_cast<size_t>(l.index)];
            return g.scale.defined() ? quant::dequantize(quant::quantizeCodes(y, g), g) : y;
        }
    } all;
    all.weights.resize(nLayers);
    all.grids.resize(nLayers);
    quant::StudentQuantizer reference(*m.graph(), o.quant);
    for (const auto& ref : refs) {
        const auto i = static_cast<size_t>(ref.layer);
        if (ref.kind == QuantizerKind::Weight) {
            const at::Tensor& w =
                m.params().tensor(static_cast<size_t>(m.graph()->layers()[i].weightParam));
            const auto g = reference.weightGrid(w, 2);
            all.weights[i] = quant::dequantize(quant::quantizeCodes(w, g), g);
        } else {
            all.grids[i] = quant::makeGrid(at::scalar_tensor(lo[i]), at::scalar_tensor(hi[i]), 2);
        }
    }
    net.setHooks(&all);
    double kl = 0, agree = 0;
    for (size_t c = 0; c < batches.size(); ++c) {
        const at::Tensor logits = net.forward(batches[c].images);
        kl += analysis::klSum(fpLogits[c], logits);
        agree += (logits.argmax(1) == fpLogits[c].argmax(1)).sum().item<double>();
    }
    EXPECT_NEAR(report.layers.back().cumulative[0].kl, kl / 12, 1e-6);
    EXPECT_DOUBLE_EQ(report.layers.back().cumulative[0].agreement, 100.0 * agree / 12);
    EXPECT_GT(report.layers.back().cumulative[0].kl, report.layers.back().isolated[0].kl);
    std::map<std::string, int> none;
    EXPECT_NEAR(a.evaluate(none, 0).kl, 0.0, 1e-12);
    EXPECT_DOUBLE_EQ(a.evaluate(none, 0).agreement, 100.0);
}

TEST(Analysis, KnapsackMatchesBruteForceAndKeepsTheBudget) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 60; ++trial) {
        const int layers = 2 + trial % 5;
        std::vector<analysis::PlanLayer> ls;
        for (int i = 0; i < layers; ++i) {
            analysis::PlanLayer l;
            l.name = "l" + std::to_string(i);
            l.params = 1 + static_cast<int64_t>(rng() % 40) * (1 + trial % 3);
            l.bits = {2, 3, 4, 8};
            double s = 1.0 + (rng() % 1000) / 100.0;
            for (size_t k = 0; k < l.bits.size(); ++k) {
                l.sensitivity.push_back(s);
                s *= (rng() % 100) / 100.0;
            }
            ls.push_back(l);
        }
        double all = 0, least = 0;
        for (const auto& l : ls) {
            all += 8.0 * l.params;
            least += 2.0 * l.params;
        }
        const double budget = least + (all - least) * ((rng() % 100) / 100.0);
        // Brute force over all 4^layers choices.
        double best = HUGE_VAL;
        std::vector<int> choice(layers, 0);
        for (int code = 0; code < (1 << (2 * layers)); ++code) {
            double cost = 0, s = 0;
            for (int i = 0; i < layers; ++i) {
                const int k = (code >> (2 * i)) & 3;
                cost += static_cast<double>(ls[i].params) * ls[i].bits[k];
                s += ls[i].sensitivity[k];
            }
            if (cost <= budget && s < best)
                best = s;
        }
        const auto plan = analysis::planMixedPrecision(ls, budget);
        ASSERT_TRUE(plan.feasible);
        EXPECT_TRUE(plan.exact);
        EXPECT_NEAR(plan.sensitivity, best, 1e-9) << "trial " << trial;
        EXPECT_LE(plan.totalBits, budget + 1e-9);
        double s = 0, cost = 0;
        for (int i = 0; i < layers; ++i) {
            const auto k =
                std::find(ls[i].bits.begin(), ls[i].bits.end(), plan.bits[i]) - ls[i].bits.begin();
            s += ls[i].sensitivity[static_cast<size_t>(k)];
            cost += static_cast<double>(ls[i].params) * plan.bits[i];
        }
        EXPECT_NEAR(s, plan.sensitivity, 1e-9);
        EXPECT_DOUBLE_EQ(cost, plan.totalBits);
    }
}

TEST(Analysis, KnapsackEdgesInfeasibleTiesAndCoarseUnits) {
    std::vector<analysis::PlanLayer> ls = {{"a", 10, {2, 4}, {1.0, 0.5}},
                                           {"b", 30, {2, 4}, {1.0, 1.0}}};
    EXPECT_FALSE(analysis::planMixedPrecision(ls, 79).feasible);  // 2 bits everywhere: 80
    const auto tie = analysis::planMixedPrecision(ls, 200);
    ASSERT_TRUE(tie.feasible);
    EXPECT_EQ(tie.bits, (std::vector<int>{4, 4}));  // b's tie goes to the wider bits
    const auto tight = analysis::planMixedPrecision(ls, 100);
    EXPECT_EQ(tight.bits, (std::vector<int>{4, 2}));
    // A tiny table forces coarser units: still within the budget, marked inexact.
    const auto coarse = analysis::planMixedPrecision(ls, 100, 12);
    ASSERT_TRUE(coarse.feasible);
    EXPECT_FALSE(coarse.exact);
    EXPECT_LE(coarse.totalBits, 100);
    EXPECT_THROW(analysis::planMixedPrecision({{"z", 0, {2}, {1.0}}}, 10), dfq::Error);
    EXPECT_DOUBLE_EQ(analysis::weightBitsForSize(1.0, 64), 8192.0 - 2048.0);
    EXPECT_DOUBLE_EQ(analysis::sizeKiB(8192.0 - 2048.0, 64), 1.0);
}

TEST(Analysis, TheFolderRoundTripsAndThePlanIsAnExperiment) {
    auto m = cifarResnet();
    analysis::AnalysisOptions o;
    o.bits = {2, 4};
    analysis::LayerAnalyzer a(m, o);
    a.setInputs(randomBatches(1, 8, 2));
    analysis::AnalysisResult r;
    r.report = a.analyze();
    r.report.source = "warmup";
    const auto layers = analysis::planLayers(r.report, {});
    const auto plan = analysis::planMixedPrecision(
        layers, analysis::weightBitsForAverage(3, r.report.weightParams()));
    r.points.push_back(analysis::uniformPoint(r.report, 2));
    r.hasPlan = true;
    r.plan = analysis::planPoint(r.report, layers, plan, "plan 3.00 bits");
    r.plan.budgetBits = 3;
    r.plan.predicted = a.evaluate(r.plan.layerBits, 4);
    r.points.push_back(r.plan);
    const std::string dir = test::tempDir() + "/analysis";
    auto config = run::parseExperimentConfig("name: rt", "rt.yaml", {});
    run::writeAnalysis(dir, r, config);
    const auto back = analysis::readAnalysisFolder(dir);
    ASSERT_EQ(back.report.layers.size(), r.report.layers.size());
    EXPECT_EQ(back.report.bits, r.report.bits);
    EXPECT_EQ(back.report.source, "warmup");
    for (size_t q = 0; q < r.report.layers.size(); ++q) {
        const auto& x = r.report.layers[q];
        const auto& y = back.report.layers[q];
        EXPECT_EQ(x.name, y.name);
        EXPECT_EQ(x.kind, y.kind);
        EXPECT_EQ(x.params, y.params);
        for (size_t k = 0; k < 2; ++k) {
            EXPECT_NEAR(x.isolated[k].kl, y.isolated[k].kl, 1e-7 * (1 + x.isolated[k].kl));
            EXPECT_NEAR(x.cumulative[k].agreement, y.cumulative[k].agreement, 1e-6);
        }
        EXPECT_EQ(x.channelMin.size(), y.channelMin.size());
        EXPECT_EQ(x.histFp.size(), y.histFp.size());
        EXPECT_EQ(x.histQuant.size(), y.histQuant.size());
    }
    ASSERT_TRUE(back.hasPlan);
    EXPECT_EQ(back.plan.layerBits, r.plan.layerBits);
    ASSERT_EQ(back.points.size(), 2u);
    EXPECT_TRUE(back.points[0].uniform);
    EXPECT_EQ(back.points[1].layerBits, r.plan.layerBits);
    // mixed-precision.yaml is an experiment whose layer_bits are the plan.
    const auto planned = run::loadExperimentConfig(dir + "/mixed-precision.yaml");
    std::map<std::string, int> bits;
    for (const auto& [k, v] : planned.quantLayerBits)
        bits[k] = static_cast<int>(v);
    EXPECT_EQ(bits, r.plan.layerBits);
    EXPECT_NE(planned.name, config.name);
    EXPECT_THROW(analysis::readAnalysisFolder(test::tempDir()), dfq::Error);
}

TEST(Analysis, SpearmanByHand) {
    EXPECT_DOUBLE_EQ(analysis::spearman({1, 2, 3, 4}, {10, 20, 30, 45}), 1.0);
    EXPECT_DOUBLE_EQ(analysis::spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
    // Ties share their mean rank: (1, 2.5, 2.5, 4) against (1, 3, 2, 4) gives 4.5 / sqrt(4.5 * 5).
    EXPECT_NEAR(analysis::spearman({1, 2, 2, 3}, {1, 3, 2, 4}), 4.5 / std::sqrt(22.5), 1e-12);
    // Pairs with a NaN are left out; fewer than 3 pairs or a constant series: NaN.
    const double nan = analysis::kNoValue;
    EXPECT_DOUBLE_EQ(analysis::spearman({1, nan, 2, 3}, {5, 1, 6, 7}), 1.0);
    EXPECT_TRUE(std::isnan(analysis::spearman({1, 2}, {1, 2})));
    EXPECT_TRUE(std::isnan(analysis::spearman({1, 1, 1}, {1, 2, 3})));
}

// The real images' KL per quantizer, and the rank correlation that says how well the batches
// predict it: with the batches themselves as the "real" images, the KL is the same number and
// the ranking agrees perfectly; the folder keeps the figure.
TEST(Analysis, RealKlAndTheRankCorrelationOfTheBatches) {
    auto m = cifarResnet();
    analysis::AnalysisOptions o;
    o.bits = {2, 4};
    o.calibration = quant::Calibration::MinMax;
    analysis::LayerAnalyzer a(m, o);
    auto batches = randomBatches(2, 4, 7);
    std::vector<analysis::InputBatch> real;
    for (const auto& b : batches)
        real.push_back({b.images, at::randint(0, 10, {b.images.size(0)}, at::kLong)});
    a.setInputs(batches, real);
    analysis::AnalysisResult r;
    r.report = a.analyze();
    r.report.source = "warmup";
    EXPECT_EQ(r.report.realImages, 8);
    for (const auto& l : r.report.layers)
        for (size_t k = 0; k < 2; ++k)
            EXPECT_NEAR(l.isolated[k].realKl, l.isolated[k].kl, 1e-9 * (1 + l.isolated[k].kl))
                << l.name;
    EXPECT_NEAR(r.report.realRankCorrelation(0), 1.0, 1e-12);
    EXPECT_NEAR(r.report.realRankCorrelation(1), 1.0, 1e-12);
    // Other images rank the quantizers differently, but by a correlation in [-1, 1].
    analysis::LayerAnalyzer other(m, o);
    std::vector<analysis::InputBatch> otherReal;
    for (const auto& b : randomBatches(2, 4, 8))
        otherReal.push_back({b.images * 2, at::randint(0, 10, {4}, at::kLong)});
    other.setInputs(batches, otherReal);
    const double rho = other.analyze().realRankCorrelation(0);
    EXPECT_TRUE(rho >= -1 && rho < 1 - 1e-9) << rho;

    const std::string dir = test::tempDir() + "/analysis-real";
    run::writeAnalysis(dir, r, run::parseExperimentConfig("name: rk", "rk.yaml", {}));
    const auto back = analysis::readAnalysisFolder(dir);
    ASSERT_EQ(back.report.layers.size(), r.report.layers.size());
    for (size_t q = 0; q < r.report.layers.size(); ++q)
        EXPECT_NEAR(back.report.layers[q].isolated[0].realKl, r.report.layers[q].isolated[0].realKl,
                    1e-7 * (1 + r.report.layers[q].isolated[0].realKl));
    EXPECT_NEAR(back.report.realRankCorrelation(0), 1.0, 1e-12);
    std::ifstream json(dir + "/analysis.json");
    const std::string text((std::istreambuf_iterator<char>(json)), {});
    EXPECT_NE(text.find("\"real_rank_correlation\":[1,1]"), std::string::npos);
}

TEST(Analysis, ARunFoldersAnalysisUsesThatRunsGenerator) {
    const std::string out = test::tempDir();
    auto config = run::parseExperimentConfig(
        "name: gen", "gen.yaml",
        {"schedule.epochs=2", "schedule.iterations=3", "schedule.warmup_epochs=1",
         "schedule.calibration_epochs=1", "generator.batch_size=8", "generator.channels=16"});
    run::RunDirectory dir(out, "gen");
    run::TrainerFiles files;
    files.checkpoint = dir.checkpointPath();
    run::Trainer(config, {&dir}, files).run();

    run::AnalysisRequest q;
    q.config = run::loadExperimentConfig(dir.configPath());
    q.runFolder = dir.path();
    q.bits = {4};
    q.batches = 1;
    q.batchSize = 6;
    run::AnalysisJob job(q);
    const auto viaJob = job.run();
    EXPECT_EQ(viaJob.report.source, "run");

    // The same batch, made by hand from the run's checkpoint.
    model::Model teacher = model::Model::load(config.resolvedModelPath());
    teacher.setMeta(run::resolvedMeta(teacher, config));
    const auto pipeline = run::makePipeline(teacher, config);
    method::Pipeline& gdfq = *pipeline;
    run::loadCheckpoint(dir.checkpointPath(), run::toYaml(config), sha256File(teacher.path()),
                        gdfq);
    const at::Tensor x = gdfq.synthesize(6, false, static_cast<uint64_t>(config.seed) + 1000).first;
    analysis::AnalysisOptions o;
    o.bits = {4};
    o.quant = run::quantConfig(config);
    o.calibration = run::calibration(config);
    o.seed = static_cast<uint64_t>(config.seed);
    analysis::LayerAnalyzer a(teacher, o);
    a.setInputs({{x, {}}});
    const auto byHand = a.analyze();
    ASSERT_EQ(byHand.layers.size(), viaJob.report.layers.size());
    for (size_t i = 0; i < byHand.layers.size(); ++i) {
        EXPECT_DOUBLE_EQ(byHand.layers[i].isolated[0].kl, viaJob.report.layers[i].isolated[0].kl);
        EXPECT_DOUBLE_EQ(byHand.layers[i].isolated[0].sqnrDb,
                         viaJob.report.layers[i].isolated[0].sqnrDb);
    }
    // Another seed draws another batch.
    q.config.seed = 2;
    run::AnalysisJob other(q);
    EXPECT_NE(other.run().report.layers[0].isolated[0].sqnrDb,
              viaJob.report.layers[0].isolated[0].sqnrDb);
    // A folder without a checkpoint says so.
    q.runFolder = out;
    EXPECT_NE(test::errorOf([&] { run::AnalysisJob(q).run(); }).find("config.yaml"),
              std::string::npos);
}

TEST(Analysis, AJobPlansForItsBudgetAndMeasuresOnRealData) {
    run::AnalysisRequest q;
    q.config = run::parseExperimentConfig("name: plan", "plan.yaml",
                                          {"data.path=fashion-mnist", "data.limit=200",
                                           "quant.activation_bits=4", "schedule.warmup_epochs=0"});
    q.bits = {2, 4, 8};
    q.batches = 2;
    q.batchSize = 16;
    q.realImages = 32;
    q.budgetBits = 3;
    run::AnalysisJob job(q);
    const auto r = job.run();
    EXPECT_EQ(r.report.source, "warmup");
    EXPECT_EQ(r.report.images, 32);
    EXPECT_EQ(r.report.realImages, 32);
    EXPECT_GT(r.report.fpRealTop1, 50.0);
    ASSERT_TRUE(r.hasPlan);
    EXPECT_LE(r.plan.avgWeightBits, 3.0 + 1e-9);
    EXPECT_GT(r.plan.avgWeightBits, 2.0);
    EXPECT_TRUE(std::isfinite(r.plan.predicted.agreement));
    EXPECT_TRUE(std::isfinite(r.plan.predicted.realTop1));
    // Uniform points at each bit-width, and plans between 2 and 8 bits.
    int uniform = 0;
    for (const auto& p : r.points)
        uniform += p.uniform;
    EXPECT_EQ(uniform, 3);
    std::vector<analysis::PlanPoint> points = {r.points.front(), r.plan};
    job.measure(points);
    for (const auto& p : points)
        EXPECT_TRUE(p.measuredTop1 >= 0 && p.measuredTop1 <= 100) << p.label;
    const auto more = job.plan(5, analysis::kNoValue);
    ASSERT_TRUE(more.has_value());
    EXPECT_LE(more->avgWeightBits, 5.0 + 1e-9);
    EXPECT_FALSE(job.plan(1, analysis::kNoValue).has_value());
    // A budget below every plan says what the smallest plan needs, and keeps the rest.
    q.budgetBits = 1.5;
    const auto tooSmall = run::AnalysisJob(q).run();
    EXPECT_FALSE(tooSmall.hasPlan);
    EXPECT_NE(tooSmall.planError.find("2.00 bits on average"), std::string::npos);
    EXPECT_FALSE(tooSmall.report.layers.empty());
    EXPECT_FALSE(tooSmall.points.empty());
}

TEST(Analysis, TheLiveProbeComparesTheStudentWithTheTeacher) {
    auto teacher = model::Model::load(run::demoTeacherPath());
    at::manual_seed(1);
    const auto pipeline =
        test::pipelineFor(teacher, {"generator.batch_size=8", "generator.channels=16",
                                    "quant.weight_bits=4", "quant.activation_bits=4"});
    method::Pipeline& g = *pipeline;
    g.step(false, true, 1e-3, 0);  // calibrates the activation ranges on one batch
    const at::Tensor x = g.lastImages();
    const auto r = g.probeLayers(x);
    const auto all = analysis::listQuantizers(*teacher.graph());
    ASSERT_EQ(r.names.size(), all.size());
    EXPECT_EQ(r.bnNames.size(),
              static_cast<size_t>(teacher.graph()->countRole(model::LayerRole::BatchNorm)));
    // The first conv's output by hand: FP input, weights on the 4-bit grid.
    at::NoGradGuard noGrad;
    const model::Layer* first = nullptr;
    for (const auto& l : teacher.graph()->layers())
        if (l.role == model::LayerRole::Conv && !first)
            first = &l;
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(r.names[0], first->path);
    const at::Tensor& w = teacher.params().tensor(static_cast<size_t>(first->weightParam));
    const auto grid = g.quantizer().weightGrid(w, 4);
    const at::Tensor wq = quant::dequantize(quant::quantizeCodes(w, grid), grid);
    const at::Tensor y = at::conv2d(x, w, {}, 1, 1), yq = at::conv2d(x, wq, {}, 1, 1);
    EXPECT_NEAR(
        r.sqnrDb[0],
        analysis::sqnrDb(y.square().sum().item<double>(), (yq - y).square().sum().item<double>()),
        1e-3);
    for (double v : r.sqnrDb)
        EXPECT_TRUE(std::isfinite(v) && v > 0);
    for (size_t i = 0; i < r.bnMeanMse.size(); ++i)
        EXPECT_TRUE(r.bnMeanMse[i] >= 0 && r.bnVarMse[i] >= 0);
    // The probe leaves the student's activation ranges as they were.
    const auto before = g.quantizer().activationRanges()[0].state();
    g.probeLayers(x);
    EXPECT_EQ(g.quantizer().activationRanges()[0].state().updates, before.updates);
}

TEST(Analysis, ARunReportsItsLayersLiveIntoLayersCsv) {
    const std::string out = test::tempDir();
    auto config = run::parseExperimentConfig(
        "name: live", "live.yaml",
        {"schedule.epochs=2", "schedule.iterations=4", "schedule.warmup_epochs=1",
         "schedule.calibration_epochs=1", "generator.batch_size=8", "generator.channels=16",
         "data.path=fashion-mnist", "data.limit=100", "output.layers_every=3"});
    struct Layers : run::Observer {
        std::vector<run::LayerStats> seen;
        void onLayers(const run::LayerStats& l) override { seen.push_back(l); }
    } rec;
    run::RunDirectory dir(out, "live");
    run::Trainer(config, {&dir, &rec}).run();
    // Synthetic reports at steps 0, 3, 6; real ones after the two evaluations.
    std::vector<int64_t> synthetic, real;
    for (const auto& l : rec.seen)
        (l.source == "synthetic" ? synthetic : real).push_back(l.step);
    EXPECT_EQ(synthetic, (std::vector<int64_t>{0, 3, 6}));
    EXPECT_EQ(real, (std::vector<int64_t>{3, 7}));
    const auto& last = rec.seen.back();
    auto teacher = model::Model::load(run::demoTeacherPath());
    EXPECT_EQ(last.layers.size(), analysis::listQuantizers(*teacher.graph()).size());
    EXPECT_EQ(last.kinds.front(), "weight");
    EXPECT_EQ(last.bnLayers.size(),
              static_cast<size_t>(teacher.graph()->countRole(model::LayerRole::BatchNorm)));
    for (double v : last.sqnrDb)
        EXPECT_TRUE(std::isfinite(v));
    // layers.csv: one row per quantizer and per BN layer of each report.
    std::ifstream in(dir.path() + "/layers.csv");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "step,source,layer,kind,sqnr_db,bn_mean_mse,bn_var_mse");
    size_t rows = 0;
    while (std::getline(in, line))
        ++rows;
    EXPECT_EQ(rows, rec.seen.size() * (last.layers.size() + last.bnLayers.size()));
    // Never: no reports, no file.
    const std::string quiet = test::tempDir();
    run::RunDirectory none(quiet, "quiet");
    run::Trainer(run::parseExperimentConfig(run::toYaml(config), "q", {"output.layers_every=0"}),
                 {&none})
        .run();
    EXPECT_FALSE(std::filesystem::exists(none.path() + "/layers.csv"));
}
