#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/batchnorm.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/error.h"
#include "core/gen/autorecon_generator.h"
#include "core/gen/gdfq_generator.h"
#include "core/method/losses.h"
#include "core/method/nesterov_sgd.h"
#include "core/method/pipeline.h"
#include "core/method/recipes/generator_network.h"
#include "core/method/recipes/zeroq.h"
#include "core/model/model.h"
#include "core/precision.h"
#include "core/run/demo_teacher.h"
#include "fixtures.h"

using dfq::gen::GdfqGenerator;
using dfq::gen::GdfqGeneratorOptions;

TEST(Losses, BnsAgainstHandComputedStatistics) {
    auto model = dfq::model::Model::load(dfq::test::fixturePath("cifar_resnet20_b.traced.pt"));
    auto io = dfq::test::loadFixtureIo(dfq::test::fixturePath("cifar_resnet20_b.io.pt"));
    dfq::model::Interpreter interp(model.graph(), &model.params());
    interp.setBnProbe(true);
    at::Tensor x = io.input.clone().requires_grad_(true);
    interp.forward(x);
    auto bns = dfq::method::bnsLoss(*model.graph(), model.params(), interp.bnStats());

    // The same sum from PyTorch's recorded BN-input statistics and the running statistics.
    double expected = 0;
    const auto& p = model.params();
    for (size_t i = 0; i < io.bnOrder.size(); ++i) {
        const auto rm = p.tensor(p.find(io.bnOrder[i] + ".running_mean"));
        const auto rv = p.tensor(p.find(io.bnOrder[i] + ".running_var"));
        const double m = (io.bnMean[i] - rm).pow(2).mean().item<double>();
        const double v = (io.bnVar[i] - rv).pow(2).mean().item<double>();
        expected += m + v;
        EXPECT_NEAR(bns.meanMse[i].item<double>(), m, 1e-5 * (1 + m));
        EXPECT_NEAR(bns.varMse[i].item<double>(), v, 1e-5 * (1 + v));
    }
    expected /= static_cast<double>(io.bnOrder.size());
    EXPECT_NEAR(bns.loss.item<double>(), expected, 1e-5 * expected);
    EXPECT_EQ(bns.meanMse.size(0), 21);
    bns.loss.backward();
    EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
}

// The BN probe sums (x - running mean) and its square instead of calling var_mean: on inputs
// whose mean is far from zero and whose spread is small, the statistics must still match a
// double-precision var_mean (the plain E[x^2] - E[x]^2 in fp32 would be off by far more).
TEST(Losses, BnProbeStatisticsStayExactFarFromZero) {
    at::manual_seed(5);
    const at::Tensor x =
        1000 + 0.01 * at::randn({8, 3, 5, 5}) + at::tensor({0.0f, 1.0f, -2.0f}).view({1, 3, 1, 1});
    const at::Tensor running = at::tensor({999.5f, 1001.5f, 997.0f});
    const auto st = dfq::model::bnBatchStats(x, running);
    auto [var, mean] = at::var_mean(x.to(at::kDouble), {0, 2, 3}, /*unbiased=*/false);
    EXPECT_EQ(st.var.scalar_type(), at::kFloat);
    EXPECT_LT((st.mean.to(at::kDouble) - mean).abs().max().item<double>(), 1e-4);
    EXPECT_LT((st.var.to(at::kDouble) - var).abs().max().item<double>(), 1e-3 * 1e-4);
    // bf16 input (autocast) gives fp32 statistics; no running mean falls back to var_mean.
    EXPECT_EQ(x.scalar_type(), at::kFloat);
    const auto bf = dfq::model::bnBatchStats((x - 1000).to(at::kBFloat16), at::Tensor());
    EXPECT_EQ(bf.mean.scalar_type(), at::kFloat);
    EXPECT_LT((bf.mean.to(at::kDouble) - (mean - 1000)).abs().max().item<double>(), 0.01);
}

// The probe's one-pass kernel, forward and backward, in both memory formats the interpreter
// uses, against autograd through var_mean in fp64; also when only the variance is used.
TEST(Losses, BnProbeGradientMatchesAutogradInBothLayouts) {
    at::manual_seed(6);
    const at::Tensor base = 0.5 + at::randn({5, 7, 6, 9});
    const at::Tensor running = at::randn({7}) * 0.3;
    const at::Tensor wMean = at::randn({7}), wVar = at::randn({7});
    for (const bool channelsLast : {false, true})
        for (const bool withMean : {true, false}) {
            at::Tensor x = (channelsLast ? base.contiguous(at::MemoryFormat::ChannelsLast) : base)
                               .clone()
                               .requires_grad_(true);
            const auto st = dfq::model::bnBatchStats(x, running);
            at::Tensor loss = (st.var * wVar).sum();
            if (withMean)
                loss = loss + (st.mean * wMean).sum();
            loss.backward();
            at::Tensor x64 = base.to(at::kDouble).requires_grad_(true);
            auto [var, mean] = at::var_mean(x64, {0, 2, 3}, /*unbiased=*/false);
            at::Tensor ref = (var * wVar.to(at::kDouble)).sum();
            if (withMean)
                ref = ref + (mean * wMean.to(at::kDouble)).sum();
            ref.backward();
            SCOPED_TRACE(std::string(channelsLast ? "channels-last" : "NCHW") +
                         (withMean ? ", mean and variance" : ", variance only"));
            EXPECT_LT((st.mean.to(at::kDouble) - mean).abs().max().item<double>(), 1e-6);
            EXPECT_LT((st.var.to(at::kDouble) - var).abs().max().item<double>(), 1e-6);
            const double scale = x64.grad().abs().max().item<double>();
            EXPECT_LT((x.grad().to(at::kDouble) - x64.grad()).abs().max().item<double>(),
                      1e-5 * scale);
            EXPECT_EQ(x.grad().is_contiguous(at::MemoryFormat::ChannelsLast), channelsLast);
        }
}

TEST(Losses, BnsUnavailableWithoutBatchNorm) {
    auto model = dfq::model::Model::load(dfq::test::fixturePath("nobn.traced.pt"));
    const auto msg =
        dfq::test::errorOf([&] { dfq::method::bnsLoss(*model.graph(), model.params(), {}); });
    EXPECT_NE(msg.find("BNS loss is unavailable"), std::string::npos) << msg;
}

TEST(Losses, SoftCrossEntropy) {
    at::Tensor logits = at::tensor({0.0, std::log(3.0)}, at::kDouble).view({1, 2});
    at::Tensor targets = at::tensor({0.25, 0.75}, at::kDouble).view({1, 2});
    const double expected = -(0.25 * std::log(0.25) + 0.75 * std::log(0.75));
    EXPECT_NEAR(dfq::method::softCrossEntropy(logits, targets).item<double>(), expected, 1e-12);
    // One-hot targets give the ordinary cross-entropy.
    at::Tensor l2 = at::randn({4, 5}, at::kDouble);
    at::Tensor y = at::tensor({0, 3, 4, 1}, at::kLong);
    EXPECT_NEAR(dfq::method::softCrossEntropy(l2, at::one_hot(y, 5).to(at::kDouble)).item<double>(),
                at::cross_entropy_loss(l2, y).item<double>(), 1e-12);
}

TEST(Losses, KdIsTemperatureSquaredTimesElementMeanKl) {
    at::Tensor student = at::zeros({1, 2}, at::kDouble).requires_grad_(true);
    at::Tensor teacher =
        at::tensor({std::log(3.0), 0.0}, at::kDouble).view({1, 2}).requires_grad_(true);
    // T = 1: p = (3/4, 1/4), q = (1/2, 1/2); the KL sum is divided by B * C = 2.
    const double kl1 = 0.75 * std::log(1.5) + 0.25 * std::log(0.5);
    EXPECT_NEAR(dfq::method::kdLoss(student, teacher, 1.0).item<double>(), kl1 / 2, 1e-12);
    // T = 2: p = softmax(ln3/2, 0) = (sqrt3, 1)/(sqrt3 + 1); times T^2 = 4.
    const double a = std::sqrt(3.0) / (std::sqrt(3.0) + 1), b = 1 - a;
    const double kl2 = a * std::log(2 * a) + b * std::log(2 * b);
    at::Tensor loss = dfq::method::kdLoss(student, teacher, 2.0);
    EXPECT_NEAR(loss.item<double>(), 4 * kl2 / 2, 1e-12);
    loss.backward();
    EXPECT_TRUE(student.grad().defined());
    EXPECT_FALSE(teacher.grad().defined());  // the teacher's logits are targets only
}

TEST(GdfqGenerator, CifarStyleMatchesTheReferenceLayout) {
    GdfqGeneratorOptions o;
    o.outputShape = {3, 32, 32};
    GdfqGenerator g(o);
    int64_t params = 0;
    for (const auto& p : g->parameters())
        params += p.numel();
    // Embedding 10x100, Linear 100 -> 128*8*8, BN 128, conv 128->128, BN, conv 128->64, BN,
    // conv 64->3, BN(affine = false): 1.05 M as in the reference.
    EXPECT_EQ(params, 1000 + (100 * 8192 + 8192) + 256 + (128 * 128 * 9 + 128) + 256 +
                          (128 * 64 * 9 + 64) + 128 + (64 * 3 * 9 + 3));
    for (const auto& [name, eps] :
         std::vector<std::pair<std::string, double>>{{"bn0", 1e-5}, {"bn1", 0.8}, {"bn2", 0.8}}) {
        auto* bn = g->named_children()[name]->as<torch::nn::BatchNorm2dImpl>();
        ASSERT_NE(bn, nullptr) << name;
        EXPECT_DOUBLE_EQ(bn->options.eps(), eps) << name;
    }
    EXPECT_FALSE(GdfqGenerator::Impl::defaultImagenetStyle({3, 32, 32}));
    EXPECT_TRUE(GdfqGenerator::Impl::defaultImagenetStyle({3, 224, 224}));
}

TEST(GdfqGenerator, OutputShapesAndNormalizedChannels) {
    torch::manual_seed(0);
    struct Case {
        std::vector<int64_t> shape;
        bool imagenet;
    };
    for (const auto& c : std::vector<Case>{{{1, 28, 28}, false},
                                           {{3, 32, 32}, false},
                                           {{3, 30, 26}, false},
                                           {{3, 64, 64}, true}}) {
        GdfqGeneratorOptions o;
        o.outputShape = c.shape;
        o.imagenetStyle = c.imagenet;
        o.channels = c.imagenet ? 32 : 128;
        GdfqGenerator g(o);
        g->train();
        const int64_t batch = 16;
        at::Tensor y = at::arange(batch, at::kLong).remainder(10);
        at::Tensor x = g->forward(at::randn({batch, 100}), y);
        ASSERT_EQ(x.sizes(), (std::vector<int64_t>{batch, c.shape[0], c.shape[1], c.shape[2]}));
        if (c.shape[1] % 4 == 0 && c.shape[2] % 4 == 0) {
            // The final BN without affine parameters: zero mean, unit variance per channel.
            at::Tensor mean = x.mean({0, 2, 3});
            at::Tensor var = x.var({0, 2, 3}, /*unbiased=*/false);
            EXPECT_LE(mean.abs().max().item<double>(), 1e-4);
            EXPECT_LE((var - 1).abs().max().item<double>(), 1e-2);
        }
        x.pow(2).sum().backward();
        for (const auto& p : g->parameters())
            EXPECT_TRUE(p.grad().defined());
    }
}

TEST(GdfqGenerator, LabelsCondition) {
    torch::manual_seed(1);
    for (bool imagenet : {false, true}) {
        GdfqGeneratorOptions o;
        o.outputShape = {3, 32, 32};
        o.imagenetStyle = imagenet;
        o.channels = 32;
        GdfqGenerator g(o);
        if (imagenet) {
            // Fresh CBNs are the identity for every class; give class 1 its own scale.
            torch::NoGradGuard noGrad;
            for (auto& p : g->named_parameters())
                if (p.key().find("gamma") != std::string::npos)
                    p.value()[1].fill_(3.0);
        }
        g->eval();
        at::Tensor z = at::randn({1, 100}).repeat({2, 1});
        at::Tensor x = g->forward(z, at::tensor({0, 1}, at::kLong));
        EXPECT_GT((x[0] - x[1]).abs().max().item<double>(), 1e-3) << imagenet;
    }
}

// The generator's convolutions after an upsampling are computed at the low resolution: the
// same values and gradients (input, weight, bias) as conv2d(upsample_nearest_2x(x)), for NCHW
// and channels-last inputs and sizes that are not square.
TEST(GdfqGenerator, ConvolutionAfterUpsamplingAtTheLowResolutionIsTheSame) {
    namespace F = torch::nn::functional;
    at::manual_seed(6);
    for (const bool channelsLast : {false, true}) {
        at::Tensor x = at::randn({3, 5, 4, 7}, at::kDouble);
        if (channelsLast)
            x = x.contiguous(at::MemoryFormat::ChannelsLast);
        x.requires_grad_(true);
        const at::Tensor w = at::randn({6, 5, 3, 3}, at::kDouble).requires_grad_(true);
        const at::Tensor b = at::randn({6}, at::kDouble).requires_grad_(true);
        const at::Tensor up = F::interpolate(x, F::InterpolateFuncOptions()
                                                    .scale_factor(std::vector<double>{2.0, 2.0})
                                                    .mode(torch::kNearest));
        const at::Tensor want = F::conv2d(up, w, F::Conv2dFuncOptions().padding(1).bias(b));
        const at::Tensor got = dfq::gen::upsampledConv3x3(x, w, b);
        ASSERT_EQ(got.sizes(), want.sizes());
        EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
        EXPECT_LT((got - want).abs().max().item<double>(), 1e-12);
        const at::Tensor g = at::randn_like(want);
        const auto gw = torch::autograd::grad({want}, {x, w, b}, {g});
        const auto gg = torch::autograd::grad({got}, {x, w, b}, {g});
        for (size_t i = 0; i < 3; ++i)
            EXPECT_LT((gw[i] - gg[i]).abs().max().item<double>(), 1e-11) << i;
    }
}

TEST(GdfqGenerator, RejectsBadShapes) {
    GdfqGeneratorOptions o;
    o.outputShape = {3, 2, 32};
    EXPECT_THROW(GdfqGenerator{o}, dfq::Error);
    o.outputShape = {32, 32};
    EXPECT_THROW(GdfqGenerator{o}, dfq::Error);
}

TEST(NesterovSgd, MatchesPyTorchsUpdateRule) {
    at::Tensor p = at::tensor({1.0, -2.0}, at::kDouble).requires_grad_(true);
    dfq::method::NesterovSgd sgd({p}, 0.9, 0.1);
    // Step 1: g = grad + wd p = (0.5, 0.5) + (0.1, -0.2) = (0.6, 0.3); buf = g;
    // p -= lr (g + 0.9 buf) = 0.1 * 1.9 g.
    p.mutable_grad() = at::tensor({0.5, 0.5}, at::kDouble);
    sgd.step(0.1);
    EXPECT_NEAR(p[0].item<double>(), 1.0 - 0.1 * 1.9 * 0.6, 1e-12);
    EXPECT_NEAR(p[1].item<double>(), -2.0 - 0.1 * 1.9 * 0.3, 1e-12);
    // Step 2 with zero gradient: g = wd p; buf = 0.9 buf + g.
    const double p0 = p[0].item<double>();
    p.mutable_grad() = at::zeros({2}, at::kDouble);
    sgd.step(0.1);
    const double g = 0.1 * p0, buf = 0.9 * 0.6 + g;
    EXPECT_NEAR(p[0].item<double>(), p0 - 0.1 * (g + 0.9 * buf), 1e-12);
}

TEST(NesterovSgd, ScalesEachParametersStep) {
    at::Tensor a = at::tensor({1.0}, at::kDouble).requires_grad_(true);
    at::Tensor b = at::tensor({1.0}, at::kDouble).requires_grad_(true);
    dfq::method::NesterovSgd sgd({a, b}, 0.9, 0.0);
    a.mutable_grad() = at::tensor({0.5}, at::kDouble);
    b.mutable_grad() = at::tensor({0.5}, at::kDouble);
    // buf = g = 0.5, d = g + 0.9 buf = 0.95; a's step is scaled by 3, b's is not. A parameter
    // without a gradient gets an undefined direction and keeps its value.
    at::Tensor c = at::tensor({2.0}, at::kDouble).requires_grad_(true);
    dfq::method::NesterovSgd withC({a, b, c}, 0.9, 0.0);
    std::vector<double> seen;
    bool cUndefined = false;
    withC.step(0.1, [&](const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& d) {
        EXPECT_EQ(params.size(), 3u);
        for (size_t i = 0; i < 2; ++i)
            seen.push_back(d[i].item<double>());
        cUndefined = !d[2].defined();
        return std::vector<double>{3.0, 1.0, 5.0};
    });
    EXPECT_NEAR(a.item<double>(), 1.0 - 0.1 * 3 * 0.95, 1e-12);
    EXPECT_NEAR(b.item<double>(), 1.0 - 0.1 * 0.95, 1e-12);
    EXPECT_EQ(c.item<double>(), 2.0);
    EXPECT_TRUE(cUndefined);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_NEAR(seen[0], 0.95, 1e-12);
    // One factor per parameter, or a clear error.
    a.mutable_grad() = at::tensor({0.5}, at::kDouble);
    EXPECT_THROW(
        sgd.step(0.1, [](const std::vector<at::Tensor>&,
                         const std::vector<at::Tensor>&) { return std::vector<double>{}; }),
        dfq::Error);
}

TEST(Gdfq, ShortRunBeatsThePtqBaseline) {
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    auto data = dfq::data::loadDataset(dfq::run::kFashionMnistDir, dfq::data::Split::Test);
    data.images = data.images.narrow(0, 0, 2000);
    data.labels = data.labels.narrow(0, 0, 2000);
    const auto& meta = teacher.meta();
    auto accuracy = [&](const dfq::data::ForwardFn& fn) {
        return dfq::data::evaluate(fn, data, meta.inputShape, {meta.mean, meta.std}, 500).top1;
    };

    torch::manual_seed(0);
    const auto pipeline =
        dfq::test::pipelineFor(teacher, {"quant.weight_bits=3", "quant.activation_bits=3",
                                         "generator.batch_size=32", "generator.channels=64"});
    dfq::method::Pipeline& gdfq = *pipeline;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 40; ++i)
        gdfq.step(false, true, 1e-3, 0);
    const double ptq = accuracy([&](const at::Tensor& x) { return gdfq.studentForward(x); });
    dfq::method::StepStats last;
    for (int i = 0; i < 150; ++i)
        last = gdfq.step(true, false, 1e-3, 1e-4);
    const double tuned = accuracy([&](const at::Tensor& x) { return gdfq.studentForward(x); });
    dfq::model::Interpreter fp(teacher.graph(), &teacher.params());
    const double full = accuracy([&](const at::Tensor& x) { return fp.forward(x); });
    std::printf("FP %.2f  PTQ %.2f  GDFQ %.2f  (%.1f s; last G loss %.3f, S loss %.3f)\n", full,
                ptq, tuned,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                last.generatorLoss, last.studentLoss);
    EXPECT_TRUE(last.studentTrained);
    EXPECT_GT(tuned, ptq);
}

namespace {

GdfqGeneratorOptions qimeraOptions(int64_t mapping) {
    GdfqGeneratorOptions o;
    o.outputShape = {1, 28, 28};
    o.latentDim = 64;
    o.channels = 16;
    o.qimera = true;
    o.mappingDim = mapping;
    return o;
}

}  // namespace

TEST(QimeraGenerator, LayoutWithAndWithoutTheMapping) {
    for (int64_t mapping : {100, 0}) {
        GdfqGenerator g(qimeraOptions(mapping));
        auto params = g->named_parameters();
        EXPECT_EQ(params["embedding.weight"].sizes(), (std::vector<int64_t>{10, 64}));
        EXPECT_EQ(params.contains("mapping.weight"), mapping > 0);
        // The first Linear reads the mapping's 100 outputs, or the 64-wide embedding.
        EXPECT_EQ(params["l1.weight"].size(1), mapping > 0 ? 100 : 64);
        g->train();
        const at::Tensor x = g->forward(at::randn({6, 2, 64}), at::randint(0, 10, {6, 2}),
                                        at::softmax(at::randn({6, 2}), 1));
        EXPECT_EQ(x.sizes(), (std::vector<int64_t>{6, 1, 28, 28}));
    }
}

TEST(QimeraGenerator, SuperpositionIsTheWeightedSumOfNormalizedEmbeddings) {
    torch::manual_seed(3);
    for (int64_t mapping : {0, 100}) {
        GdfqGeneratorOptions o = qimeraOptions(mapping);
        o.noiseScale = 0;  // the embeddings alone
        GdfqGenerator g(o);
        torch::NoGradGuard noGrad;
        const at::Tensor emb = g->named_parameters()["embedding.weight"];
        // One label: the embedding normalized over its own entries (biased variance, eps 1e-5).
        const at::Tensor single = g->qimeraInput(at::zeros({3, 64}), at::tensor({2, 5, 7}), {});
        at::Tensor e = emb.index_select(0, at::tensor({2, 5, 7}));
        e = (e - e.mean(1, true)) / at::sqrt(e.var(1, false, true) + 1e-5);
        if (mapping > 0)
            e = g->named_children()["mapping"]->as<torch::nn::LinearImpl>()->forward(e);
        EXPECT_TRUE(at::allclose(single, e, 1e-5, 1e-5)) << mapping;
        // Two labels with weights w and 1 - w: w * h(a) + (1 - w) * h(b).
        const at::Tensor labels = at::tensor({2, 5, 5, 7, 7, 2}).view({3, 2});
        const at::Tensor w = at::tensor({0.25f, 0.75f, 0.5f, 0.5f, 0.9f, 0.1f}).view({3, 2});
        const at::Tensor mixed = g->qimeraInput(at::zeros({3, 2, 64}), labels, w);
        const at::Tensor h2 = single[0], h5 = single[1], h7 = single[2];
        EXPECT_TRUE(at::allclose(mixed[0], 0.25 * h2 + 0.75 * h5, 1e-5, 1e-5));
        EXPECT_TRUE(at::allclose(mixed[1], 0.5 * h5 + 0.5 * h7, 1e-5, 1e-5));
        EXPECT_TRUE(at::allclose(mixed[2], 0.9 * h7 + 0.1 * h2, 1e-5, 1e-5));
    }
}

TEST(QimeraGenerator, ReferenceNormalizationSpansTheBatch) {
    torch::manual_seed(4);
    GdfqGeneratorOptions o = qimeraOptions(0);
    o.referenceNormalization = true;
    GdfqGenerator g(o);
    torch::NoGradGuard noGrad;
    // With one-hot weights the input is slot 0 alone, normalized over all of the batch's entries.
    const at::Tensor labels = at::randint(0, 10, {8, 2});
    const at::Tensor w = at::tensor({1.0f, 0.0f}).repeat({8, 1});
    const at::Tensor h = g->qimeraInput(at::randn({8, 2, 64}), labels, w);
    EXPECT_NEAR(h.mean().item<double>(), 0.0, 1e-5);
    EXPECT_NEAR(h.var(false).item<double>(), 1.0, 1e-3);
    EXPECT_GT(h.mean(1).abs().max().item<double>(), 1e-3);  // rows are not each normalized
    // Single-label batches are normalized per sample in both modes.
    const at::Tensor s = g->qimeraInput(at::randn({8, 64}), at::randint(0, 10, {8}), {});
    EXPECT_LT(s.mean(1).abs().max().item<double>(), 1e-5);
}

TEST(QimeraGenerator, SuperposedLabelsNeedQimeraAndWeights) {
    GdfqGeneratorOptions o;
    o.outputShape = {1, 28, 28};
    o.channels = 16;
    GdfqGenerator gdfq(o);
    EXPECT_THROW(
        gdfq->forward(at::randn({4, 2, 100}), at::randint(0, 10, {4, 2}), at::full({4, 2}, 0.5)),
        dfq::Error);
    GdfqGenerator qimera(qimeraOptions(100));
    EXPECT_THROW(qimera->forward(at::randn({4, 2, 64}), at::randint(0, 10, {4, 2}), {}),
                 dfq::Error);
}

TEST(Qimera, BoundaryBatchesSoftTargetsAndEmbeddingFromTheClassifier) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    std::vector<std::string> qimera = {"method.generator=qimera", "generator.batch_size=16",
                                       "generator.channels=16"};
    auto with = [&](std::vector<std::string> more) {
        more.insert(more.begin(), qimera.begin(), qimera.end());
        return dfq::test::pipelineFor(teacher, more);
    };
    auto network = [](dfq::method::Pipeline& p) -> dfq::method::NetworkGeneratorRecipe& {
        return dynamic_cast<dfq::method::NetworkGeneratorRecipe&>(p.generator());
    };
    const auto qp = with({"qimera.superpose_prob=1", "qimera.labels_per_sample=3"});
    dfq::method::Pipeline& q = *qp;
    // The embedding is as wide as the classifier's input and starts as its weight matrix.
    const at::Tensor fc =
        teacher.params().tensor(static_cast<size_t>(teacher.params().find("fc.weight")));
    EXPECT_EQ(network(q).latentDim(), fc.size(1));
    EXPECT_TRUE(at::equal(network(q).network().named_parameters()["embedding.weight"], fc));

    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(5);
    const auto in = network(q).drawLatent(16, &rng);
    ASSERT_TRUE(in.superposed());
    EXPECT_EQ(in.z.sizes(), (std::vector<int64_t>{16, 3, fc.size(1)}));
    EXPECT_EQ(in.labels.sizes(), (std::vector<int64_t>{16, 3}));
    EXPECT_GT(in.weights.min().item<double>(), 0.0);
    EXPECT_TRUE(at::allclose(in.weights.sum(1), at::ones({16}), 1e-6, 1e-6));
    // The soft target: sum_k w_k onehot(y_k), repeated labels adding up.
    at::Tensor expected = at::zeros({16, 10});
    for (int64_t b = 0; b < 16; ++b)
        for (int64_t k = 0; k < 3; ++k)
            expected[b][in.labels[b][k].item<int64_t>()] += in.weights[b][k];
    EXPECT_TRUE(at::allclose(in.targets, expected, 1e-6, 1e-6));

    const auto stats = q.step(true, false, 1e-3, 1e-4);
    EXPECT_TRUE(stats.superposed);
    EXPECT_TRUE(std::isfinite(stats.generatorLoss) && std::isfinite(stats.studentLoss));
    ASSERT_TRUE(q.lastBatch().mixLabels.defined());
    // Each sample's label is its heaviest component.
    const at::Tensor heaviest =
        q.lastBatch().mixLabels.gather(1, q.lastBatch().mixWeights.argmax(1, true)).squeeze(1);
    EXPECT_TRUE(at::equal(q.lastLabels(), heaviest));

    // About a fraction p of the batches are superposed; p = 0 never.
    const auto r = with({"qimera.superpose_prob=0.4", "qimera.embedding_init=random"});
    EXPECT_FALSE(at::equal(network(*r).network().named_parameters()["embedding.weight"], fc));
    int superposed = 0;
    for (int i = 0; i < 1000; ++i)
        superposed += network(*r).drawLatent(1, &rng).superposed();
    EXPECT_NEAR(superposed / 1000.0, 0.4, 0.05);
    const auto never = with({"qimera.superpose_prob=0", "qimera.embedding_init=random"});
    for (int i = 0; i < 50; ++i)
        EXPECT_FALSE(network(*never).drawLatent(2, &rng).superposed());
}

using dfq::gen::AutoReconArch;
using dfq::gen::AutoReconGenerator;
using dfq::gen::AutoReconGeneratorOptions;

TEST(AutoReconArch, NamedArchitecturesRoundTripThroughTheTextForm) {
    EXPECT_EQ(AutoReconArch::names(),
              (std::vector<std::string>{"c10", "c100", "mbv2", "r18", "r50"}));
    for (const auto& name : AutoReconArch::names()) {
        const AutoReconArch a = AutoReconArch::named(name);
        EXPECT_TRUE(AutoReconArch::parse(a.toString()) == a) << name;
    }
    // C10 (docs/methods.md, `autorecon`): c0 near/near | dil5 none dil5 dil3 conv5; c2's up edges
    // bil/near, its cross edges into n3 all bilinear.
    const AutoReconArch c10 = AutoReconArch::named("c10");
    EXPECT_EQ(c10.toString().substr(0, 38), "near/near | dil5 none dil5 dil3 conv5 ");
    EXPECT_EQ(c10.up[4], 1);
    EXPECT_EQ(c10.up[5], 0);
    EXPECT_EQ(c10.op[1], 0);     // none
    EXPECT_EQ(c10.op[4], 4);     // conv5
    EXPECT_EQ(c10.cross[2], 2);  // c1: n2 <- bil(n2 of c0)
    EXPECT_EQ(c10.cross[5], 1);  // c1: n3 <- near(n2 of c0)
    EXPECT_EQ(std::vector<int>(c10.cross.begin() + 9, c10.cross.end()),
              (std::vector<int>{2, 2, 2}));
    for (const char* bad : {"c11", "near/near | dil5",
                            "near/near | dil5 none dil5 dil3 conv7 ; "
                            "a ; b"}) {
        EXPECT_THROW(AutoReconArch::parse(bad), dfq::Error) << bad;
    }
}

TEST(AutoReconGenerator, DerivedCellsBuildOnlyTheirOpsAndGiveTheShape) {
    torch::manual_seed(6);
    for (const auto& name : AutoReconArch::names()) {
        for (const auto& shape :
             std::vector<std::vector<int64_t>>{{3, 32, 32}, {1, 28, 28}, {3, 64, 48}}) {
            AutoReconGeneratorOptions o;
            o.outputShape = shape;
            o.channels = 8;
            o.arch = AutoReconArch::named(name);
            AutoReconGenerator g(o);
            g->train();
            const at::Tensor x = g->forward(at::randn({4, 100}), at::randint(0, 10, {4}));
            EXPECT_EQ(x.sizes(), (std::vector<int64_t>{4, shape[0], shape[1], shape[2]})) << name;
            // One conv per up edge and per op edge that is not none or skip.
            int convs = 0, expected = 6 + 1;  // + to_rgb
            for (int op : o.arch.op)
                expected += op >= 2;
            for (const auto& m : g->named_children())
                convs += m.value()->as<torch::nn::Conv2dImpl>() != nullptr;
            EXPECT_EQ(convs, expected) << name;
            EXPECT_TRUE(g->archParameters().empty());
        }
    }
}

// A nearest up edge runs its BatchNorm, LeakyReLU and 1x1 convolution before the upsampling: the
// same images and parameter gradients as after it, in double precision, derived and searching.
TEST(AutoReconGenerator, NearestUpEdgesAtTheLowResolutionAreTheSame) {
    for (const bool search : {false, true}) {
        std::vector<at::Tensor> images;
        std::vector<std::vector<at::Tensor>> grads;
        for (const bool late : {false, true}) {
            torch::manual_seed(8);
            AutoReconGeneratorOptions o;
            o.outputShape = {3, 32, 32};
            o.channels = 8;
            o.arch = AutoReconArch::named("c10");  // 5 of its 6 up edges nearest
            o.search = search;
            o.upsampleLate = late;
            AutoReconGenerator g(o);
            g->to(at::kDouble);
            g->train();
            torch::manual_seed(9);  // the same Gumbel noise
            const at::Tensor x =
                g->forward(at::randn({6, 100}, at::kDouble), at::randint(0, 10, {6}));
            const auto params = g->parameters();
            images.push_back(x.detach());
            grads.push_back(torch::autograd::grad({(x * x.detach().cos()).sum()}, params));
        }
        EXPECT_LT((images[0] - images[1]).abs().max().item<double>(), 1e-10) << search;
        ASSERT_EQ(grads[0].size(), grads[1].size());
        for (size_t i = 0; i < grads[0].size(); ++i)
            EXPECT_LT((grads[0][i] - grads[1][i]).abs().max().item<double>(), 1e-9)
                << search << " " << i;
    }
}

TEST(AutoReconGenerator, GumbelSoftmaxSamplesTheLogitsDistribution) {
    torch::manual_seed(7);
    const at::Tensor p = at::tensor({0.6f, 0.3f, 0.1f});
    const at::Tensor logits = p.log();
    at::Tensor wins = at::zeros({3});
    for (int i = 0; i < 4000; ++i) {
        const at::Tensor g = dfq::gen::gumbelSoftmax(logits, 0.05);
        EXPECT_NEAR(g.sum().item<double>(), 1.0, 1e-5);
        wins[g.argmax().item<int64_t>()] += 1;
    }
    // At a low temperature the weights are nearly one-hot and the argmax follows softmax(logits).
    EXPECT_TRUE(at::allclose(wins / 4000, p, 0, 0.03)) << wins / 4000;
    // At a high temperature they flatten.
    EXPECT_LT(dfq::gen::gumbelSoftmax(logits, 100).max().item<double>(), 0.4);
}

TEST(AutoReconGenerator, SearchMixesEveryCandidateAndDerivesTheArgmax) {
    torch::manual_seed(8);
    AutoReconGeneratorOptions o;
    o.outputShape = {1, 16, 16};
    o.channels = 4;
    o.search = true;
    AutoReconGenerator g(o);
    const auto arch = g->archParameters();
    ASSERT_EQ(arch.size(), 3u);
    EXPECT_EQ(arch[1].sizes(), (std::vector<int64_t>{15, 7}));
    // Every candidate's conv exists; logits start uniform.
    EXPECT_TRUE(at::allclose(g->probabilities()[1], at::full({15, 7}, 1.0 / 7)));
    g->forward(at::randn({4, 100}), at::randint(0, 10, {4})).square().mean().backward();
    for (const auto& a : arch) {
        ASSERT_TRUE(a.grad().defined());
        EXPECT_GT(a.grad().abs().sum().item<double>(), 0.0);
    }
    {
        torch::NoGradGuard noGrad;
        arch[1][3][6] = 2.0;  // c0 op3: dil5
        arch[2][4][2] = 1.0;  // c1: n3 <- bil(n1)
        arch[0][5][1] = 0.5;  // c2 up1: bil
    }
    const AutoReconArch d = g->derived();
    EXPECT_EQ(d.op[3], 6);
    EXPECT_EQ(d.cross[4], 2);
    EXPECT_EQ(d.up[5], 1);
    EXPECT_EQ(d.op[0], 0);  // ties go to the first candidate
}

TEST(AutoRecon, SearchStepsMoveTheLogitsAndDerivationRebuildsTheGenerator) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const std::vector<std::string> settings = {
        "method.generator=autorecon", "autorecon.architecture=search", "autorecon.channels=4",
        "generator.batch_size=8",     "autorecon.arch_lr=0.05",        "autorecon.temperature=5"};
    const auto gp = dfq::test::pipelineFor(teacher, settings);
    dfq::method::Pipeline& g = *gp;
    dfq::method::ArchitectureSearch* search = g.generator().search();
    ASSERT_TRUE(search && search->searching());
    const at::Tensor before = search->probabilities()[1].clone();
    for (int i = 0; i < 3; ++i) {
        const auto s = g.searchStep(1e-3, 0);
        EXPECT_TRUE(std::isfinite(s.generatorLoss));
    }
    EXPECT_GT((search->probabilities()[1] - before).abs().max().item<double>(), 1e-4);
    const std::string expected = g.generator().architecture();
    torch::serialize::OutputArchive during;
    g.saveState(during);
    const std::string derived = search->derive();
    EXPECT_EQ(derived, expected);
    EXPECT_FALSE(search->searching());
    EXPECT_EQ(g.generator().architecture(), derived);
    EXPECT_THROW(g.searchStep(1e-3, 0), dfq::Error);
    const auto s = g.step(true, false, 1e-3, 1e-4);
    EXPECT_TRUE(s.studentTrained && std::isfinite(s.studentLoss));
    EXPECT_EQ(g.lastImages().sizes(), (std::vector<int64_t>{8, 1, 28, 28}));

    // A checkpoint after the derivation restores the derived generator into a searching run.
    std::stringstream buffer;
    {
        torch::serialize::OutputArchive after;
        g.saveState(after);
        after.save_to(buffer);
    }
    const auto resumed = dfq::test::pipelineFor(teacher, settings);
    torch::serialize::InputArchive in;
    in.load_from(buffer);
    resumed->loadState(in);
    EXPECT_FALSE(resumed->generator().search()->searching());
    EXPECT_EQ(resumed->generator().architecture(), derived);
    auto net = [](dfq::method::Pipeline& p) -> dfq::gen::GeneratorBase& {
        return dynamic_cast<dfq::method::NetworkGeneratorRecipe&>(p.generator()).network();
    };
    for (const auto& p : net(g).named_parameters())
        EXPECT_TRUE(at::equal(p.value(), net(*resumed).named_parameters()[p.key()])) << p.key();
}

TEST(Qimera, BoundarySweepLeavesTheGeneratorAsItWas) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const std::vector<std::string> small = {"generator.batch_size=8", "generator.channels=16"};
    auto withGenerator = [&](const std::string& name) {
        std::vector<std::string> s = small;
        s.push_back("method.generator=" + name);
        return dfq::test::pipelineFor(teacher, s);
    };
    const auto qp = withGenerator("qimera");
    dfq::method::Pipeline& q = *qp;
    auto& qNet = dynamic_cast<dfq::method::NetworkGeneratorRecipe&>(q.generator()).network();
    std::vector<at::Tensor> before;
    for (const auto& b : qNet.buffers())
        before.push_back(b.clone());
    const auto rows = q.boundarySweep(2, 7, 5, 6, 11);
    ASSERT_EQ(rows.size(), 5u);
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_DOUBLE_EQ(rows[i][0], i / 4.0);
        EXPECT_GE(rows[i][1], 0.0);
        EXPECT_GE(rows[i][2], 0.0);
        EXPECT_LE(rows[i][1] + rows[i][2], 1.0 + 1e-6);
    }
    const auto again = q.boundarySweep(2, 7, 5, 6, 11);
    EXPECT_EQ(again, rows);
    const auto buffers = qNet.buffers();
    for (size_t i = 0; i < buffers.size(); ++i)
        EXPECT_TRUE(at::equal(buffers[i], before[i]));
    EXPECT_THROW(q.boundarySweep(2, 10, 5, 6, 11), dfq::Error);
    EXPECT_THROW(withGenerator("gdfq")->boundarySweep(0, 1, 5, 6, 11), dfq::Error);
}

TEST(Gdfq, TeacherFeaturesAreTheClassifiersInputAndSynthesisIsSideEffectFree) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const auto gp = dfq::test::pipelineFor(
        teacher, {"method.generator=qimera", "generator.batch_size=8", "generator.channels=16"});
    dfq::method::Pipeline& g = *gp;
    auto& gNet = dynamic_cast<dfq::method::NetworkGeneratorRecipe&>(g.generator()).network();
    torch::manual_seed(12);
    const at::Tensor x = at::randn({4, 1, 28, 28});
    const at::Tensor f = g.teacherFeatures(x);
    const auto& p = teacher.params();
    const at::Tensor w = p.tensor(static_cast<size_t>(p.find("fc.weight")));
    const at::Tensor b = p.tensor(static_cast<size_t>(p.find("fc.bias")));
    ASSERT_EQ(f.sizes(), (std::vector<int64_t>{4, w.size(1)}));
    EXPECT_TRUE(at::allclose(f.matmul(w.t()) + b, g.teacherForward(x), 1e-4, 1e-4));

    std::vector<at::Tensor> before;
    for (const auto& t : gNet.buffers())
        before.push_back(t.clone());
    const auto [images, labels] = g.synthesize(12, false, 3);
    EXPECT_EQ(images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
    EXPECT_TRUE(at::equal(labels, at::arange(12, at::kLong).remainder(10)));
    EXPECT_TRUE(at::equal(g.synthesize(12, false, 3).first, images));
    const auto [mixed, heaviest] = g.synthesize(12, true, 3);
    EXPECT_EQ(mixed.sizes(), images.sizes());
    EXPECT_EQ(heaviest.size(0), 12);
    const auto buffers = gNet.buffers();
    for (size_t i = 0; i < buffers.size(); ++i)
        EXPECT_TRUE(at::equal(buffers[i], before[i]));
}

// ZeroQ's distilled data: the pool's batches move towards the teacher's BN statistics while they
// have updates left and are fixed after, the student gets each batch as it was before its update,
// labels are the teacher's predictions without CE, and a checkpoint restores the pool.
TEST(ZeroQ, ThePoolLearnsTheBnStatisticsThenStaysFixedAndIsCheckpointed) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const std::vector<std::string> settings = {"method.generator=zeroq", "generator.batch_size=8",
                                               "zeroq.pool_size=12", "zeroq.steps=6",
                                               "zeroq.lr=0.1"};
    torch::manual_seed(3);
    const auto p = dfq::test::pipelineFor(teacher, settings);
    auto& zeroq = dynamic_cast<dfq::method::ZeroqRecipe&>(p->generator());
    ASSERT_EQ(zeroq.poolImages(), 16);  // rounded up to two batches of 8
    EXPECT_TRUE(at::equal(zeroq.assignedLabels().cpu(), at::arange(16).remainder(10)));
    const at::Tensor start = zeroq.pool().clone();
    std::vector<double> bns;
    for (int i = 0; i < 12; ++i) {
        const at::Tensor before = zeroq.pool().clone();
        const auto s = p->step(i >= 4, false, 1e-3, 1e-4);
        bns.push_back(s.generatorBns);
        // The batch the student saw is the pool's batch before this update.
        EXPECT_TRUE(at::equal(p->lastImages(), before.narrow(0, (i % 2) * 8, 8)));
        // Without CE the labels are the teacher's predictions.
        EXPECT_TRUE(at::equal(p->lastLabels(), p->lastTeacherLogits().argmax(1)));
    }
    EXPECT_EQ(zeroq.updates(), (std::vector<int64_t>{6, 6}));
    // Batch 0's BNS fell over its six updates.
    EXPECT_LT(bns[10], 0.5 * bns[0]);
    EXPECT_FALSE(at::equal(zeroq.pool(), start));
    const at::Tensor distilled = zeroq.pool().clone();
    for (int i = 0; i < 4; ++i)
        p->step(true, false, 1e-3, 1e-4);
    EXPECT_TRUE(at::equal(zeroq.pool(), distilled));

    std::stringstream buffer;
    {
        torch::serialize::OutputArchive out;
        p->saveState(out);
        out.save_to(buffer);
    }
    torch::manual_seed(4);
    const auto resumed = dfq::test::pipelineFor(teacher, settings);
    torch::serialize::InputArchive in;
    in.load_from(buffer);
    resumed->loadState(in);
    auto& again = dynamic_cast<dfq::method::ZeroqRecipe&>(resumed->generator());
    EXPECT_TRUE(at::equal(again.pool(), distilled));
    EXPECT_EQ(again.updates(), zeroq.updates());
    // Synthesis and calibration take images from the pool; boundary samples are not offered.
    const auto [x, labels] = resumed->synthesize(20, false, 1);
    EXPECT_TRUE(at::equal(x.narrow(0, 0, 16), distilled));
    EXPECT_TRUE(at::equal(labels, at::arange(20).remainder(16).remainder(10)));
    EXPECT_THROW(resumed->synthesize(4, true, 1), dfq::Error);
    EXPECT_THROW(resumed->boundarySweep(0, 1, 3, 2, 1), dfq::Error);
}

// ZeroQ has no generator network, so generator.lr 0 is a plausible setting: the pixels keep
// zeroq.lr instead of a 0 / 0 schedule factor.
TEST(ZeroQ, AGeneratorLearningRateOfZeroLeavesZeroqsOwnRate) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    torch::manual_seed(3);
    const auto p = dfq::test::pipelineFor(
        teacher, {"method.generator=zeroq", "generator.batch_size=8", "zeroq.pool_size=8",
                  "zeroq.steps=2", "zeroq.lr=0.1", "generator.lr=0"});
    auto& zeroq = dynamic_cast<dfq::method::ZeroqRecipe&>(p->generator());
    const at::Tensor start = zeroq.pool().clone();
    for (int i = 0; i < 2; ++i)
        p->step(false, false, 0.0, 1e-4);
    EXPECT_TRUE(zeroq.pool().isfinite().all().item<bool>());
    EXPECT_FALSE(at::equal(zeroq.pool(), start));
}

TEST(ZeroQ, ItsKeysAreCheckedWrittenAndDocumentedFromItsDeclaration) {
    const auto c = dfq::run::parseExperimentConfig(
        "name: z\nmethod: {generator: zeroq}\nzeroq: {pool_size: 128, ce_weight: 0.5}\n", "z.yaml");
    EXPECT_EQ(c.recipeValue("zeroq.pool_size"), 128);
    EXPECT_EQ(c.recipeValue("zeroq.steps"), 50);  // the declared default
    const std::string yaml = dfq::run::toYaml(c);
    EXPECT_NE(yaml.find("zeroq:"), std::string::npos);
    EXPECT_EQ(dfq::run::toYaml(dfq::run::parseExperimentConfig(yaml, "again")), yaml);
    // Only the chosen recipe's section is written.
    EXPECT_EQ(dfq::run::toYaml(dfq::run::parseExperimentConfig("name: g", "g")).find("zeroq:"),
              std::string::npos);
    auto error = [](const std::string& text) {
        return dfq::test::errorOf([&] { dfq::run::parseExperimentConfig(text, "bad.yaml"); });
    };
    EXPECT_NE(error("zeroq: {pool_size: 2.5}").find("'zeroq.pool_size' must be an integer"),
              std::string::npos);
    EXPECT_NE(error("zeroq: {lr: -1}").find("'zeroq.lr' is -1"), std::string::npos);
    EXPECT_NE(error("zeroq: {pool: 3}").find("zeroq.pool_size"), std::string::npos);
    EXPECT_NE(dfq::run::configReferenceMarkdown().find("| `zeroq.steps` | `50` |"),
              std::string::npos);
}

// precision: bf16 is refused on a CPU without native bfloat16, with the reason; fp32 never is.
TEST(Precision, Bf16IsRefusedOnACpuWithoutNativeSupport) {
    dfq::CpuBf16Support none;
    none.onednn = true;
    const auto msg =
        dfq::test::errorOf([&] { dfq::computeType("bf16", c10::Device(c10::kCPU), none); });
    EXPECT_NE(msg.find("AVX512-BF16 or AMX-BF16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("precision: fp32"), std::string::npos) << msg;
    dfq::CpuBf16Support avx512 = none;
    avx512.avx512Bf16 = true;
    EXPECT_EQ(dfq::computeType("bf16", c10::Device(c10::kCPU), avx512), at::kBFloat16);
    EXPECT_EQ(dfq::computeType("fp32", c10::Device(c10::kCPU), none), at::kFloat);
    EXPECT_EQ(avx512.describe(), "native (AVX512-BF16)");
    avx512.onednn = false;
    EXPECT_FALSE(avx512.native());
}

// Under bf16 the training passes autocast, but what the losses, the BN statistics and the
// quantizer see stays fp32, and the first step's losses are those of fp32 to within bf16's
// rounding. Needs a CPU with native bfloat16.
TEST(Precision, Bf16StepKeepsFp32LossesAndStatistics) {
    if (!dfq::cpuBf16Support().native())
        GTEST_SKIP() << "this CPU has no native bfloat16";
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    std::vector<dfq::method::StepStats> steps;
    std::vector<at::Tensor> images;
    for (const std::string precision : {"fp32", "bf16"}) {
        at::manual_seed(3);
        auto p = dfq::test::pipelineFor(
            teacher,
            {"precision=" + precision, "generator.batch_size=32", "generator.channels=32"});
        steps.push_back(p->step(false, true, 1e-3, 1e-4));
        steps.push_back(p->step(true, false, 1e-3, 1e-4));
        images.push_back(p->lastImages());
        EXPECT_EQ(p->lastImages().scalar_type(), at::kFloat);
    }
    for (int k : {0, 1}) {
        const auto &a = steps[k], &b = steps[k + 2];
        EXPECT_NEAR(b.generatorBns, a.generatorBns, 0.05 * a.generatorBns) << k;
        EXPECT_NEAR(b.generatorCe, a.generatorCe, 0.05 * a.generatorCe + 0.05) << k;
    }
    EXPECT_TRUE(steps[3].studentTrained);
    EXPECT_NEAR(steps[3].studentLoss, steps[1].studentLoss, 0.1 * steps[1].studentLoss + 0.05);
    // The synthetic images (BN-normalized, about unit spread) after one generator update.
    EXPECT_LT((images[1] - images[0]).abs().mean().item<double>(), 0.05);
    EXPECT_LT((images[1] - images[0]).abs().max().item<double>(), 0.5);
}

// The ETA's trial student pass leaves the run as it was: the same steps with and without it
// report the same numbers, bit for bit, and the student's gradients are not touched.
TEST(Pipeline, TheTrialStudentPassChangesNothing) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    std::vector<std::vector<double>> losses;
    for (const bool trial : {false, true}) {
        at::manual_seed(4);
        auto p =
            dfq::test::pipelineFor(teacher, {"generator.batch_size=16", "generator.channels=16"});
        std::vector<double> l;
        for (int i = 0; i < 4; ++i) {
            if (trial && i == 2) {
                EXPECT_GT(p->timeStudentPass(), 0.0);
                const auto& store = p->studentParams();
                for (size_t k = 0; k < store.size(); ++k) {
                    const at::Tensor g = store.tensor(k).grad();
                    EXPECT_FALSE(g.defined() && g.abs().sum().item<double>() > 0);
                }
            }
            const auto s = p->step(i >= 2, i < 2, 1e-3, 1e-4);
            l.insert(l.end(), {s.generatorLoss, s.generatorBns, s.studentLoss});
        }
        losses.push_back(l);
    }
    EXPECT_EQ(losses[0], losses[1]);
}
