#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/import.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/model/interpreter.h"
#include "core/model/model.h"
#include "core/run/demo_teacher.h"
#include "fixtures.h"

namespace {

YAML::Node rawMeta(const std::string& path) {
    torch::jit::ExtraFilesMap extra{{"dfq_meta.json", ""}};
    torch::jit::load(path, at::kCPU, extra);
    return YAML::Load(extra["dfq_meta.json"]);
}

// Ten classes that a tiny network can tell apart: class k has mean brightness 24k + 20.
void writeBrightnessClasses(const std::string& dir, int64_t train, int64_t test) {
    for (auto [prefix, n] : {std::pair<std::string, int64_t>{"train", train}, {"t10k", test}}) {
        at::Tensor labels = at::arange(n, at::kLong).remainder(10);
        at::Tensor noise = at::randint(-12, 13, {n, 28, 28}, at::kLong);
        at::Tensor images = (labels.view({n, 1, 1}) * 24 + 20 + noise).clamp(0, 255);
        dfq::test::writeIdx(dir + "/" + prefix + "-images-idx3-ubyte",
                            dir + "/" + prefix + "-labels-idx1-ubyte", images, labels);
    }
}

}  // namespace

TEST(DemoTeacher, ShippedModelMatchesRecordedAccuracy) {
    const std::string path = dfq::run::demoTeacherPath();
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    if (!std::filesystem::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const double recorded = rawMeta(path)["test_top1"].as<double>();
    EXPECT_GE(recorded, 92.0);

    auto model = dfq::model::Model::load(path);
    EXPECT_EQ(model.meta().inputShape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(model.meta().numClasses, 10);
    EXPECT_EQ(model.meta().classNames.at(9), "Ankle boot");
    EXPECT_TRUE(model.hasBatchNorm());
    auto data = dfq::data::loadDataset(dfq::run::kFashionMnistDir, dfq::data::Split::Test);
    dfq::model::Interpreter interp(model.graph(), &model.params());
    auto r = dfq::data::evaluate([&](const at::Tensor& x) { return interp.forward(x); }, data,
                                 model.meta().inputShape, {model.meta().mean, model.meta().std});
    EXPECT_EQ(r.images, 10000);
    // One image is 0.01 points; the figure is exact up to the JSON's rounding.
    EXPECT_NEAR(r.top1, recorded, 1e-6);
}

TEST(DemoTeacher, TrainsDeterministicallyAndWritesTorchScript) {
    const std::string dir = dfq::test::tempDir();
    at::manual_seed(7);
    writeBrightnessClasses(dir, 640, 200);
    dfq::run::DemoTeacherOptions o;
    o.dataDir = dir;
    o.epochs = 4;
    o.batchSize = 32;
    o.widths = {8, 8, 8};
    o.outPath = dir + "/a/teacher.pt";
    int epochsSeen = 0;
    dfq::run::DemoTeacherCallbacks cb;
    cb.epochEnd = [&](const dfq::run::DemoTeacherEpoch&) { ++epochsSeen; };
    auto first = dfq::run::trainDemoTeacher(o, cb);
    EXPECT_EQ(epochsSeen, 4);
    EXPECT_GT(first.testTop1, 50.0);  // chance is 10 %

    o.outPath = dir + "/b/teacher.pt";
    auto second = dfq::run::trainDemoTeacher(o);
    EXPECT_EQ(first.testTop1, second.testTop1);
    auto a = dfq::model::Model::load(dir + "/a/teacher.pt");
    auto b = dfq::model::Model::load(dir + "/b/teacher.pt");
    ASSERT_EQ(a.params().size(), b.params().size());
    for (size_t i = 0; i < a.params().size(); ++i)
        EXPECT_TRUE(at::equal(a.params().tensor(i), b.params().tensor(i))) << a.params().name(i);

    // The written file is an ordinary TorchScript classifier with metadata and BN layers.
    EXPECT_EQ(a.meta().inputShape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(a.meta().dataset, "Fashion-MNIST");
    EXPECT_EQ(a.graph()->countRole(dfq::model::LayerRole::BatchNorm), 9);
    EXPECT_GE(a.params().find("layer2.downsample.conv.weight"), 0);
    EXPECT_DOUBLE_EQ(rawMeta(dir + "/a/teacher.pt")["test_top1"].as<double>(), first.testTop1);
    auto data = dfq::data::loadDataset(dir, dfq::data::Split::Test);
    dfq::model::Interpreter interp(a.graph(), &a.params());
    auto r = dfq::data::evaluate([&](const at::Tensor& x) { return interp.forward(x); }, data,
                                 a.meta().inputShape, {a.meta().mean, a.meta().std});
    EXPECT_NEAR(r.top1, first.testTop1, 1e-9);
}
