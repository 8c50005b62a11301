#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/model/interpreter.h"
#include "core/model/model.h"
#include "fixtures.h"

using dfq::Error;
using dfq::model::Interpreter;
using dfq::model::LayerRole;
using dfq::model::Model;
using dfq::test::errorOf;
using dfq::test::fixturePath;
using dfq::test::largeFixturePath;
using dfq::test::loadFixtureIo;

namespace {

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
    return (a.detach() - b.detach()).abs().max().item<double>();
}

// Runs the fixture through the Interpreter and checks outputs and BN probes against PyTorch.
void checkImport(const std::string& modelPath, const std::string& ioPath) {
    SCOPED_TRACE(modelPath);
    Model model = Model::load(modelPath);
    auto io = loadFixtureIo(ioPath);
    Interpreter interp(model.graph(), &model.params());
    interp.setBnProbe(true);
    c10::NoGradGuard noGrad;
    at::Tensor out = interp.forward(io.input);
    ASSERT_EQ(out.sizes(), io.output.sizes());
    EXPECT_LE(maxAbsDiff(out, io.output), 1e-4);

    // The BN layers are found in execution order, with their module paths and input statistics.
    std::vector<const dfq::model::Layer*> bns;
    for (const auto& l : model.graph()->layers())
        if (l.role == LayerRole::BatchNorm)
            bns.push_back(&l);
    ASSERT_EQ(bns.size(), io.bnOrder.size());
    for (size_t i = 0; i < bns.size(); ++i) {
        EXPECT_EQ(bns[i]->path, io.bnOrder[i]);
        const auto& stats = interp.bnStats()[bns[i]->roleIndex];
        EXPECT_LE(maxAbsDiff(stats.mean, io.bnMean[i]), 1e-4) << io.bnOrder[i];
        EXPECT_LE(maxAbsDiff(stats.var, io.bnVar[i]), 1e-4) << io.bnOrder[i];
    }
}

class ImportFixture : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

}  // namespace

TEST_P(ImportFixture, MatchesPyTorch) {
    const auto& [name, variant] = GetParam();
    checkImport(fixturePath(name + "." + variant + ".pt"), fixturePath(name + ".io.pt"));
}

INSTANTIATE_TEST_SUITE_P(
    Small, ImportFixture,
    ::testing::Combine(::testing::Values("cifar_resnet20_b", "cifar_resnet_a", "lenet_bn1d",
                                         "ops_pool_cat", "ops_activations", "nobn", "with_meta"),
                       ::testing::Values("traced", "scripted")),
    [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

class ImportLargeFixture : public ImportFixture {};

TEST_P(ImportLargeFixture, MatchesPyTorch) {
    const auto& [name, variant] = GetParam();
    const std::string model = largeFixturePath(name + "." + variant + ".pt");
    if (!std::filesystem::exists(model))
        GTEST_SKIP() << model << " was not generated (needs /usr/bin/python3 with torchvision)";
    checkImport(model, largeFixturePath(name + ".io.pt"));
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ImportLargeFixture,
                         ::testing::Combine(::testing::Values("resnet18", "mobilenet_v2"),
                                            ::testing::Values("traced", "scripted")),
                         [](const auto& info) {
                             return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

TEST(ModelImport, GradientsMatchTheJit) {
    // Generator training backpropagates through the interpreter, BN probes included.
    Model model = Model::load(fixturePath("cifar_resnet20_b.traced.pt"));
    auto io = loadFixtureIo(fixturePath("cifar_resnet20_b.io.pt"));
    auto jit = torch::jit::load(fixturePath("cifar_resnet20_b.traced.pt"));
    jit.eval();
    at::Tensor xJit = io.input.clone().requires_grad_(true);
    jit.forward({xJit}).toTensor().pow(2).sum().backward();

    Interpreter interp(model.graph(), &model.params());
    at::Tensor x = io.input.clone().requires_grad_(true);
    interp.forward(x).pow(2).sum().backward();
    EXPECT_LE(maxAbsDiff(x.grad(), xJit.grad()), 1e-4 * xJit.grad().abs().max().item<double>());

    interp.setBnProbe(true);
    at::Tensor xBn = io.input.clone().requires_grad_(true);
    interp.forward(xBn);
    at::Tensor bnLoss = at::zeros({});
    for (const auto& s : interp.bnStats())
        bnLoss = bnLoss + s.mean.pow(2).sum() + s.var.sum();
    bnLoss.backward();
    ASSERT_TRUE(xBn.grad().defined());
    EXPECT_GT(xBn.grad().abs().sum().item<double>(), 0.0);
}

TEST(ModelImport, ParametersAreNamedLikePyTorch) {
    Model model = Model::load(fixturePath("cifar_resnet20_b.scripted.pt"));
    const auto& p = model.params();
    EXPECT_GE(p.find("conv1.weight"), 0);
    EXPECT_GE(p.find("layer2.0.shortcut.0.weight"), 0);
    const int rm = p.find("layer1.0.bn1.running_mean");
    ASSERT_GE(rm, 0);
    EXPECT_TRUE(p.isBuffer(rm));
    EXPECT_FALSE(p.isBuffer(p.find("linear.weight")));
    auto jit = torch::jit::load(fixturePath("cifar_resnet20_b.scripted.pt"));
    int64_t expected = 0;
    for (const auto& t : jit.parameters())
        expected += t.numel();
    EXPECT_EQ(model.parameterCount(), expected);
}

TEST(ModelImport, StudentStoreIsIndependent) {
    Model model = Model::load(fixturePath("nobn.traced.pt"));
    auto io = loadFixtureIo(fixturePath("nobn.io.pt"));
    c10::NoGradGuard noGrad;
    auto student = model.params().clone();
    for (size_t i = 0; i < student.size(); ++i)
        student.tensor(i).zero_();
    Interpreter teacher(model.graph(), &model.params());
    Interpreter zeroed(model.graph(), &student);
    EXPECT_LE(maxAbsDiff(teacher.forward(io.input), io.output), 1e-4);
    EXPECT_EQ(zeroed.forward(io.input).abs().max().item<double>(), 0.0);
}

TEST(ModelImport, HooksSeeEveryLayer) {
    struct Counting : dfq::model::LayerHooks {
        int weights = 0, outputs = 0;
        at::Tensor weight(const dfq::model::Layer&, const at::Tensor& w) override {
            ++weights;
            return w * 0;
        }
        at::Tensor output(const dfq::model::Layer&, const at::Tensor& y) override {
            ++outputs;
            return y;
        }
    } hooks;
    Model model = Model::load(fixturePath("nobn.scripted.pt"));
    auto io = loadFixtureIo(fixturePath("nobn.io.pt"));
    Interpreter interp(model.graph(), &model.params());
    interp.setHooks(&hooks);
    c10::NoGradGuard noGrad;
    at::Tensor out = interp.forward(io.input);
    EXPECT_EQ(hooks.weights, 3);  // conv1, conv2, fc
    EXPECT_EQ(hooks.outputs, static_cast<int>(model.graph()->layers().size()));
    // With zero weights only the last layer's bias reaches the output.
    at::Tensor bias = model.params().tensor(model.params().find("fc.bias"));
    EXPECT_LE(maxAbsDiff(out, bias.expand_as(out)), 1e-6);
}

TEST(ModelMetadata, ReadFromExtraFile) {
    for (const char* variant : {"traced", "scripted"}) {
        Model model = Model::load(fixturePath(std::string("with_meta.") + variant + ".pt"));
        const auto& meta = model.meta();
        EXPECT_EQ(meta.inputShape, (std::vector<int64_t>{1, 28, 28}));
        ASSERT_EQ(meta.mean.size(), 1u);
        EXPECT_NEAR(meta.mean[0], 0.286, 1e-9);
        EXPECT_NEAR(meta.std[0], 0.353, 1e-9);
        EXPECT_EQ(meta.numClasses, 10);
        ASSERT_EQ(meta.classNames.size(), 10u);
        EXPECT_EQ(meta.classNames[0], "T-shirt/top");
        EXPECT_EQ(meta.classNames[9], "Ankle boot");
        EXPECT_EQ(meta.dataset, "Fashion-MNIST");
    }
    EXPECT_FALSE(Model::load(fixturePath("nobn.traced.pt")).meta().hasInputShape());
}

TEST(ModelMetadata, ValidationNamesTheProblem) {
    using dfq::model::ModelMeta;
    auto parsed = ModelMeta::fromJson(
        R"({"input_shape":[3,32,32],"mean":[0.5,0.5,0.5],"std":[0.25,0.25,0.25],"extra":{"a":1}})",
        "m.pt");
    EXPECT_EQ(parsed.inputShape[0], 3);
    EXPECT_EQ(parsed.numClasses, 0);
    try {
        ModelMeta::fromJson(R"({"input_shape":[3,32,32],"mean":[0.5,0.5]})", "m.pt");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'mean' has 2 numbers"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(ModelMeta::fromJson(R"({"input_shape":[28,28]})", "m.pt"), Error);
    EXPECT_THROW(ModelMeta::fromJson(R"({"std":[0]})", "m.pt"), Error);
    EXPECT_THROW(ModelMeta::fromJson(R"({"num_classes":3,"class_names":["a"]})", "m.pt"), Error);
    EXPECT_THROW(ModelMeta::fromJson(R"([1,2])", "m.pt"), Error);
    EXPECT_THROW(ModelMeta::fromJson(R"({"input_shape":"big"})", "m.pt"), Error);
    auto roundTrip = ModelMeta::fromJson(parsed.toJson(), "x");
    EXPECT_EQ(roundTrip.inputShape, parsed.inputShape);
    EXPECT_EQ(roundTrip.std, parsed.std);
}

TEST(LayerListing, CifarResNet20) {
    Model model = Model::load(fixturePath("cifar_resnet20_b.traced.pt"));
    dfq::model::ModelMeta meta;
    meta.inputShape = {3, 32, 32};
    model.setMeta(meta);
    auto layers = model.layerInfos();
    int convs = 0, linears = 0, bns = 0, relus = 0;
    int64_t macs = 0, params = 0;
    for (const auto& l : layers) {
        convs += l.kind == "Conv2d";
        linears += l.kind == "Linear";
        bns += l.kind == "BatchNorm2d";
        relus += l.kind == "ReLU";
        macs += l.macs;
        params += l.params;
    }
    EXPECT_EQ(convs, 21);  // stem + 18 in blocks + 2 projections
    EXPECT_EQ(linears, 1);
    EXPECT_EQ(bns, 21);
    EXPECT_EQ(relus, 19);
    EXPECT_EQ(params, model.parameterCount());
    const auto& stem = layers.front();
    EXPECT_EQ(stem.path, "conv1");
    EXPECT_EQ(stem.weightShape, (std::vector<int64_t>{16, 3, 3, 3}));
    EXPECT_EQ(stem.outputShape, (std::vector<int64_t>{16, 32, 32}));
    EXPECT_EQ(stem.params, 16 * 3 * 9);
    EXPECT_EQ(stem.macs, 32 * 32 * 16 * 3 * 9);
    EXPECT_TRUE(stem.quantizable);
    const auto& fc = layers.back();
    EXPECT_EQ(fc.path, "linear");
    EXPECT_EQ(fc.macs, 64 * 10);
    EXPECT_EQ(fc.params, 64 * 10 + 10);
    // Hand count: per stage (blocks * 2 convs) at its resolution, plus the 1x1 projections.
    const int64_t expectedConvMacs = 32 * 32 * 16 * 27 + 6 * (32 * 32 * 16 * 16 * 9) +
                                     (16 * 16 * 32 * 16 * 9) + 5 * (16 * 16 * 32 * 32 * 9) +
                                     (16 * 16 * 32 * 16) + (8 * 8 * 64 * 32 * 9) +
                                     5 * (8 * 8 * 64 * 64 * 9) + (8 * 8 * 64 * 32);
    EXPECT_EQ(macs, expectedConvMacs + 640);
    const auto bn = std::find_if(layers.begin(), layers.end(),
                                 [](const auto& l) { return l.path == "layer1.0.bn1"; });
    ASSERT_NE(bn, layers.end());
    const auto& rm = model.params().tensor(model.params().find("layer1.0.bn1.running_mean"));
    ASSERT_EQ(bn->runningMean.size(), 16u);
    EXPECT_FLOAT_EQ(bn->runningMean[3], rm[3].item<float>());
    EXPECT_EQ(bn->runningVar.size(), 16u);
}

TEST(LayerListing, DepthwiseAndActivations) {
    Model model = Model::load(fixturePath("ops_activations.scripted.pt"));
    dfq::model::ModelMeta meta;
    meta.inputShape = {3, 16, 16};
    model.setMeta(meta);
    std::vector<std::string> kinds;
    for (const auto& l : model.layerInfos())
        kinds.push_back(l.kind);
    auto has = [&](const std::string& k) {
        return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
    };
    EXPECT_TRUE(has("Conv2d (depthwise)"));
    EXPECT_TRUE(has("ReLU6"));
    EXPECT_TRUE(has("Hardswish"));
    EXPECT_TRUE(has("Sigmoid"));
    EXPECT_TRUE(has("ReLU"));
}

TEST(LayerListing, WithoutInputShapeHasNoMacs) {
    Model model = Model::load(fixturePath("nobn.traced.pt"));
    EXPECT_FALSE(model.hasBatchNorm());
    auto layers = model.layerInfos();
    ASSERT_FALSE(layers.empty());
    EXPECT_EQ(layers[0].macs, -1);
    EXPECT_EQ(layers[0].weightShape, (std::vector<int64_t>{4, 3, 3, 3}));
}

TEST(ModelErrors, MissingFile) {
    auto msg = errorOf([] { Model::load("/nonexistent/model.pt"); });
    EXPECT_NE(msg.find("/nonexistent/model.pt: no such file"), std::string::npos) << msg;
}

TEST(ModelErrors, NotTorchScript) {
    const std::string dir = dfq::test::tempDir();
    const std::string text = dir + "/notes.pt";
    std::ofstream(text) << "this is not a model\n";
    auto msg = errorOf([&] { Model::load(text); });
    EXPECT_NE(msg.find(text + ": not a TorchScript file"), std::string::npos) << msg;
    // A zip that is not a TorchScript archive (the io holders are; a truncated copy is not).
    const std::string truncated = dir + "/truncated.pt";
    {
        std::ifstream in(fixturePath("nobn.traced.pt"), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    }
    msg = errorOf([&] { Model::load(truncated); });
    EXPECT_NE(msg.find(truncated + ": the file is damaged (no zip directory at its end"),
              std::string::npos)
        << msg;
    msg = errorOf([&] { Model::load(dir); });
    EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;
}

TEST(ModelErrors, NoForward) {
    auto msg = errorOf([] { Model::load(fixturePath("no_forward.scripted.pt")); });
    EXPECT_NE(msg.find("no forward()"), std::string::npos) << msg;
}

TEST(ModelErrors, WrongInputShape) {
    Model model = Model::load(fixturePath("with_meta.traced.pt"));
    auto msg = errorOf([&] { model.checkInputShape({2, 3, 28, 28}); });
    EXPECT_NE(msg.find("wrong input shape [2, 3, 28, 28]"), std::string::npos) << msg;
    EXPECT_NO_THROW(model.checkInputShape({5, 1, 28, 28}));
    // Running it anyway fails inside the first conv, and the error says where.
    Interpreter interp(model.graph(), &model.params());
    msg = errorOf([&] { interp.forward(at::zeros({2, 3, 28, 28})); });
    EXPECT_NE(msg.find("with_meta.traced.pt: conv"), std::string::npos) << msg;
}

TEST(ModelErrors, OpFailsAtRunTime) {
    for (const char* variant : {"traced", "scripted"}) {
        Model model = Model::load(fixturePath(std::string("runtime_error.") + variant + ".pt"));
        auto io = loadFixtureIo(fixturePath("runtime_error.io.pt"));
        Interpreter interp(model.graph(), &model.params());
        auto msg = errorOf([&] { interp.forward(io.input); });
        EXPECT_NE(msg.find("aten::view"), std::string::npos) << msg;
        EXPECT_NE(msg.find("999"), std::string::npos) << msg;
    }
}

TEST(ModelErrors, NoBatchNormLoads) {
    Model model = Model::load(fixturePath("nobn.scripted.pt"));
    EXPECT_FALSE(model.hasBatchNorm());
    Interpreter interp(model.graph(), &model.params());
    interp.setBnProbe(true);
    c10::NoGradGuard noGrad;
    interp.forward(loadFixtureIo(fixturePath("nobn.io.pt")).input);
    EXPECT_TRUE(interp.bnStats().empty());
}

// Without gradients the ReLUs and residual additions write into their input when nothing else
// holds it; a tensor a hook keeps (here every BatchNorm's output, which a ReLU reads next) must
// keep its values, and the output must not change.
TEST(Interpreter, InPlaceOpsLeaveTensorsOthersHoldUntouched) {
    struct KeepOutputs : dfq::model::LayerHooks {
        std::vector<at::Tensor> kept;
        at::Tensor output(const dfq::model::Layer& l, const at::Tensor& y) override {
            if (l.role == LayerRole::BatchNorm) {
                kept.push_back(y);
                copies.push_back(y.clone());
            }
            return y;
        }
        std::vector<at::Tensor> copies;
    };
    at::NoGradGuard noGrad;
    for (const char* file : {"cifar_resnet_a.traced.pt", "cifar_resnet20_b.scripted.pt"}) {
        auto m = dfq::model::Model::load(dfq::test::fixturePath(file));
        EXPECT_FALSE(m.graph()->fakeQuantized()) << file;
        dfq::model::Interpreter net(m.graph(), &m.params());
        at::manual_seed(5);
        const at::Tensor x = at::randn({4, 3, 32, 32});
        const at::Tensor plain = net.forward(x);
        KeepOutputs keep;
        net.setHooks(&keep);
        EXPECT_TRUE(at::equal(net.forward(x), plain)) << file;
        ASSERT_FALSE(keep.kept.empty()) << file;
        for (size_t i = 0; i < keep.kept.size(); ++i) {
            EXPECT_TRUE(at::equal(keep.kept[i], keep.copies[i])) << file << " BN output " << i;
            EXPECT_LT(keep.kept[i].min().item<double>(), 0.0) << file << " BN output " << i;
        }
    }
}

TEST(Interpreter, ResumingASnapshotGivesTheWholeForwardPass) {
    at::NoGradGuard noGrad;
    for (const char* file : {"cifar_resnet_a.traced.pt", "cifar_resnet_a.scripted.pt"}) {
        auto m = dfq::model::Model::load(dfq::test::fixturePath(file));
        dfq::model::Interpreter net(m.graph(), &m.params());
        ASSERT_TRUE(net.resumable()) << file;
        at::manual_seed(3);
        const at::Tensor x = at::randn({4, 3, 32, 32});
        const at::Tensor full = net.forward(x);
        std::vector<int> positions;
        for (const auto& l : m.graph()->layers())
            positions.push_back(net.positionOf(l.index));
        std::sort(positions.begin(), positions.end());
        std::vector<dfq::model::Interpreter::Snapshot> snaps;
        EXPECT_TRUE(at::equal(net.forward(x, positions, snaps), full)) << file;
        ASSERT_EQ(snaps.size(), positions.size()) << file;
        for (const auto& s : snaps)
            EXPECT_TRUE(at::equal(net.resume(s), full)) << file << " from " << s.position;
        // A resumed pass records later snapshots that resume to the same output.
        std::vector<dfq::model::Interpreter::Snapshot> later;
        net.resume(snaps.front(), {positions.back()}, &later);
        ASSERT_EQ(later.size(), 1u);
        EXPECT_TRUE(at::equal(net.resume(later.front()), full)) << file;
    }
}
