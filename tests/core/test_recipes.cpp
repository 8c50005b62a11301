// The recipes for real CIFAR models: HAST's fixed set of hard samples, SynQ's student, the
// label-free real-image recipe, and the typed keys they declare.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/data/dataset.h"
#include "core/error.h"
#include "core/method/augment.h"
#include "core/method/fixed_set.h"
#include "core/method/pipeline.h"
#include "core/method/recipes/hast.h"
#include "core/method/recipes/real.h"
#include "core/method/recipes/synq.h"
#include "core/model/model.h"
#include "core/run/config_schema.h"
#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/run/trainer.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using dfq::method::HastRecipe;
using dfq::method::SynqRecipe;

namespace {

double item(const at::Tensor& t) {
    return t.item<double>();
}

}  // namespace

TEST(RecipeKeys, BooleansChoicesAndTextsAreCheckedWrittenAndRead) {
    const auto c = dfq::run::parseExperimentConfig(
        "name: h\nmethod: {generator: hast, student: synq}\n"
        "hast: {augment: false, labels: random, from: \"runs/a b\"}\nsynq: {cam: false}\n",
        "h.yaml");
    EXPECT_FALSE(c.recipeFlag("hast.augment"));
    EXPECT_TRUE(c.recipeFlag("synq.low_pass"));  // the declared default
    EXPECT_FALSE(c.recipeFlag("synq.cam"));
    EXPECT_EQ(c.recipeText("hast.labels"), "random");
    EXPECT_EQ(c.recipeText("hast.from"), "runs/a b");
    EXPECT_EQ(c.recipeString("hast.steps"), "30");
    EXPECT_EQ(c.recipeString("hast.augment"), "false");
    const std::string yaml = dfq::run::toYaml(c);
    EXPECT_NE(yaml.find("augment: false"), std::string::npos) << yaml;
    EXPECT_NE(yaml.find("labels: \"random\""), std::string::npos) << yaml;
    EXPECT_EQ(dfq::run::toYaml(dfq::run::parseExperimentConfig(yaml, "again")), yaml);
    // A type's reader refuses a key of another type.
    EXPECT_THROW(c.recipeValue("hast.labels"), dfq::Error);
    EXPECT_THROW(c.recipeText("hast.steps"), dfq::Error);

    auto error = [](const std::string& text) {
        return dfq::test::errorOf([&] { dfq::run::parseExperimentConfig(text, "bad.yaml"); });
    };
    EXPECT_NE(error("hast: {augment: 3}").find("'hast.augment' must be true or false"),
              std::string::npos);
    EXPECT_NE(error("hast: {labels: uniform}")
                  .find("'hast.labels' must be balanced or random, got 'uniform'"),
              std::string::npos);
    const auto set = dfq::run::parseExperimentConfig("name: s", "s", {"synq.selective_ce=false"});
    EXPECT_FALSE(set.recipeFlag("synq.selective_ce"));
    const std::string reference = dfq::run::configReferenceMarkdown();
    EXPECT_NE(reference.find("| `hast.labels` | `balanced` | balanced or random |"),
              std::string::npos);
    EXPECT_NE(reference.find("| `synq.cam` | `true` | true or false |"), std::string::npos);
    EXPECT_NE(reference.find("| `hast.from` | `\"\"` | text |"), std::string::npos);
}

TEST(SelectImages, OffsetStrideAndLimitPickDisjointParts) {
    dfq::data::Dataset d;
    d.source = "ten";
    d.images = at::arange(10, at::kByte).view({10, 1, 1, 1});
    d.labels = at::arange(10, at::kLong);
    const auto even = dfq::data::selectImages(d, 0, 2, 0);
    const auto odd = dfq::data::selectImages(d, 1, 2, 3);
    EXPECT_TRUE(at::equal(even.labels, at::tensor({0, 2, 4, 6, 8}, at::kLong)));
    EXPECT_TRUE(at::equal(odd.labels, at::tensor({1, 3, 5}, at::kLong)));
    EXPECT_TRUE(at::equal(odd.images.flatten(), at::tensor({1, 3, 5}, at::kByte)));
    EXPECT_EQ(dfq::data::selectImages(d, 0, 1, 0).size(), 10);
    EXPECT_THROW(dfq::data::selectImages(d, 10, 1, 0), dfq::Error);
    EXPECT_THROW(dfq::data::selectImages(d, 0, 0, 0), dfq::Error);
}

// mean_i (1 - p_i)^gamma CE_i by hand: two images of two classes.
TEST(Hast, HardnessWeightedCeAgainstHandValues) {
    const at::Tensor logits = at::tensor({2.0, 0.0, 0.0, 1.0}, at::kDouble).view({2, 2});
    const at::Tensor labels = at::tensor({0, 0}, at::kLong);
    const double p0 = std::exp(2.0) / (std::exp(2.0) + 1), p1 = 1 / (1 + std::exp(1.0));
    const double ce0 = -std::log(p0), ce1 = -std::log(p1);
    EXPECT_NEAR(item(HastRecipe::hardnessCe(logits, labels, 0)), (ce0 + ce1) / 2, 1e-12);
    EXPECT_NEAR(item(HastRecipe::hardnessCe(logits, labels, 2)),
                ((1 - p0) * (1 - p0) * ce0 + (1 - p1) * (1 - p1) * ce1) / 2, 1e-12);
}

// Two batches of four images, three steps each: each batch's BN loss falls while it is made,
// the set is then complete with a difficulty per image, and the student gets shuffled batches of
// it; the set goes through a checkpoint and a file, and another run reuses the file.
TEST(Hast, TheSetLowersItsBnLossIsCompletedSavedAndReused) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const std::vector<std::string> settings = {"method.generator=hast",
                                               "hast.images=8",
                                               "hast.batch=4",
                                               "hast.steps=3",
                                               "schedule.warmup_epochs=1",
                                               "schedule.iterations=6",
                                               "generator.batch_size=5"};
    torch::manual_seed(3);
    const auto p = dfq::test::pipelineFor(teacher, settings);
    auto& hast = dynamic_cast<HastRecipe&>(p->generator());
    EXPECT_EQ(hast.batches(), 2);
    EXPECT_EQ(hast.synthesisSteps(), 6);
    std::vector<double> bns;
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(p->generator().fixedSet(), nullptr);
        bns.push_back(p->step(false, false, 1e-3, 1e-4).generatorBns);
        EXPECT_EQ(p->lastImages().size(0), 4);  // a synthesis batch
    }
    EXPECT_LT(bns[2], bns[0]);
    EXPECT_LT(bns[5], bns[3]);
    const dfq::method::FixedSet* set = p->generator().fixedSet();
    ASSERT_NE(set, nullptr);
    EXPECT_EQ(set->images.sizes(), (std::vector<int64_t>{8, 1, 28, 28}));
    // Balanced classes, and difficulties in [0, 1] that are 1 - the teacher's probability.
    EXPECT_EQ(at::bincount(set->labels, {}, 10).max().item<int64_t>(), 1);
    const at::Tensor p0 = at::softmax(p->teacherForward(set->images.narrow(0, 0, 1)), 1);
    EXPECT_NEAR(item(set->difficulty[0]), 1 - item(p0[0][set->labels[0].item<int64_t>()]), 1e-5);
    const at::Tensor made = set->images.clone();
    // The student's batches: five images of the set at a time, every image once per epoch.
    p->step(true, false, 1e-3, 1e-4);
    EXPECT_EQ(p->lastImages().size(0), 5);
    EXPECT_TRUE(at::equal(set->images, made));

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
    ASSERT_NE(resumed->generator().fixedSet(), nullptr);
    EXPECT_TRUE(at::equal(resumed->generator().fixedSet()->images, made));

    const std::string file = dfq::test::tempDir() + "/set.pt";
    dfq::method::writeFixedSet(file, *set, "abc");
    auto reused = settings;
    reused.push_back("hast.from=" + file);
    reused.push_back("schedule.warmup_epochs=0");  // a reused set needs no warm-up
    const auto again = dfq::test::pipelineFor(teacher, reused);
    auto& hast2 = dynamic_cast<HastRecipe&>(again->generator());
    EXPECT_EQ(hast2.synthesisSteps(), 0);
    ASSERT_NE(hast2.fixedSet(), nullptr);
    EXPECT_TRUE(at::equal(hast2.fixedSet()->images, made));
    EXPECT_TRUE(at::equal(hast2.fixedSet()->labels, set->labels));

    std::string sha;
    EXPECT_NE(dfq::test::errorOf([&] {
                  dfq::method::readFixedSet(file, {3, 32, 32}, 10, sha);
              }).find("does not fit this model's input [3, 32, 32]"),
              std::string::npos);
    EXPECT_NE(dfq::test::errorOf([&] {
                  dfq::method::readFixedSet(dfq::test::tempDir() + "/none", {1, 28, 28}, 10, sha);
              }).find("cannot read the synthetic set"),
              std::string::npos);
    // Too short a warm-up for the set is an error that says what to change.
    auto shortWarmup = settings;
    shortWarmup.push_back("schedule.iterations=5");
    EXPECT_NE(dfq::test::errorOf([&] {
                  dfq::test::pipelineFor(teacher, shortWarmup);
              }).find("lengthen the warm-up"),
              std::string::npos);
}

TEST(Augment, CropsAndFlipsStayWithinTheImage) {
    torch::manual_seed(1);
    // A horizontal ramp: every crop of it, flipped or not, is a ramp between 0 and 1 whose rows
    // are all alike.
    const at::Tensor ramp = at::linspace(0, 1, 16).view({1, 1, 1, 16}).expand({8, 2, 16, 16});
    const at::Tensor out = dfq::method::randomResizedCropFlip(ramp.contiguous(), 0.5);
    EXPECT_EQ(out.sizes(), ramp.sizes());
    EXPECT_GE(out.min().item<float>(), -1e-6);
    EXPECT_LE(out.max().item<float>(), 1 + 1e-6);
    EXPECT_TRUE(at::allclose(out, out.narrow(2, 0, 1).expand_as(out), 1e-5, 1e-5));
    // At least one image is flipped (falling along the row) and one is not.
    const at::Tensor slope =
        out.select(1, 0).select(1, 0).select(1, 15) - out.select(1, 0).select(1, 0).select(1, 0);
    EXPECT_TRUE((slope < 0).any().item<bool>());
    EXPECT_TRUE((slope > 0).any().item<bool>());
}

// A cosine of k cycles per image keeps exp(-k^2 / (2 D0^2)) of its amplitude; a constant image
// keeps all of it.
TEST(Synq, LowPassFilterAgainstHandValues) {
    const double d0 = 4;
    const at::Tensor x = at::arange(16, at::kFloat);
    const at::Tensor wave =
        at::cos(x * (2 * M_PI * 3 / 16)).view({1, 1, 1, 16}).expand({1, 1, 16, 16});
    const at::Tensor out = SynqRecipe::lowPass(wave.contiguous(), d0);
    EXPECT_TRUE(at::allclose(out, wave * std::exp(-9 / (2 * d0 * d0)), 1e-5, 1e-5));
    const at::Tensor flat = at::full({2, 3, 8, 8}, 0.7);
    EXPECT_TRUE(at::allclose(SynqRecipe::lowPass(flat, d0), flat, 1e-6, 1e-6));
}

TEST(Synq, SelectiveCeCountsOnlyConfidentImagesOverTheWholeBatch) {
    const at::Tensor student = at::tensor({1.0, 0.0, 0.0, 2.0, 3.0, 0.0}, at::kDouble).view({3, 2});
    // The teacher gives class 0 probabilities 0.9, 0.4 and 0.6.
    const at::Tensor teacher =
        at::log(at::tensor({0.9, 0.1, 0.4, 0.6, 0.6, 0.4}, at::kDouble)).view({3, 2});
    const at::Tensor labels = at::zeros({3}, at::kLong);
    auto ce = [&](int i) {
        const double a = student[i][0].item<double>(), b = student[i][1].item<double>();
        return -a + std::log(std::exp(a) + std::exp(b));
    };
    EXPECT_NEAR(item(SynqRecipe::selectiveCe(student, teacher, labels, 0.5)), (ce(0) + ce(2)) / 3,
                1e-12);
    EXPECT_NEAR(item(SynqRecipe::selectiveCe(student, teacher, labels, 0.95)), 0.0, 1e-12);
}

// Two channels whose gradients' spatial means are 1 and -1 (clamped to 1e-10): the map is the
// first channel, ReLU'd, resized and scaled to [0, 1].
TEST(Synq, GradCamAgainstHandValues) {
    const at::Tensor a = at::tensor({0.0, 1.0, 2.0, -1.0}, at::kDouble).view({1, 1, 2, 2});
    const at::Tensor b = at::tensor({5.0, 5.0, 5.0, 5.0}, at::kDouble).view({1, 1, 2, 2});
    const at::Tensor feature = at::cat({a, b}, 1).requires_grad_(true);
    // Logits whose argmax (class 1) is channel 0's sum minus channel 1's: gradients 1 and -1 at
    // every pixel.
    const at::Tensor pooled = feature.sum({2, 3});
    const at::Tensor logits = at::stack(
        {at::zeros({1}, at::kDouble), pooled.select(1, 0) - pooled.select(1, 1) + 100}, 1);
    const at::Tensor cam = SynqRecipe::gradCam(logits, feature, {2, 2}, false);
    const at::Tensor want = at::tensor({0.0, 0.5, 1.0, 0.0}, at::kDouble).view({1, 1, 2, 2});
    EXPECT_TRUE(at::allclose(cam, want, 1e-6, 1e-6)) << cam;
    EXPECT_FALSE(cam.requires_grad());
}

// With the filter, the selective CE and the Grad-CAM term off, a SynQ student step is a KD step:
// the same loss and the same student after it.
TEST(Synq, EveryTermOffIsTheKdStudentExactly) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const std::vector<std::string> common = {"generator.batch_size=6", "generator.channels=16"};
    std::vector<double> cams;
    auto run = [&](const std::string& student, std::vector<std::string> more) {
        more.insert(more.end(), common.begin(), common.end());
        more.push_back("method.student=" + student);
        torch::manual_seed(7);
        auto p = dfq::test::pipelineFor(teacher, more);
        std::vector<double> losses;
        for (int i = 0; i < 3; ++i) {
            const auto s = p->step(true, false, 1e-3, 1e-3);
            losses.push_back(s.studentLoss);
            cams.push_back(s.studentCam);
        }
        std::vector<at::Tensor> params;
        for (size_t i = 0; i < p->studentParams().size(); ++i)
            params.push_back(p->studentParams().tensor(i).detach().clone());
        return std::make_pair(losses, params);
    };
    const auto kd = run("kd", {});
    const auto off =
        run("synq", {"synq.low_pass=false", "synq.selective_ce=false", "synq.cam=false"});
    EXPECT_EQ(kd.first, off.first);
    ASSERT_EQ(kd.second.size(), off.second.size());
    for (size_t i = 0; i < kd.second.size(); ++i)
        EXPECT_TRUE(at::equal(kd.second[i], off.second[i])) << i;
    EXPECT_EQ(cams, std::vector<double>(6, 0.0));
    // With its terms on, the step differs, and the Grad-CAM term is reported.
    const auto on = run("synq", {});
    EXPECT_NE(on.first, kd.first);
    ASSERT_EQ(cams.size(), 9u);
    for (size_t i = 6; i < 9; ++i)
        EXPECT_GT(cams[i], 0.0) << i;
}

// The recipe never reads the dataset's labels: the same images under labels that are all wrong
// give the same run, number for number.
TEST(Real, ARunIsTheSameWhateverTheLabelsSay) {
    if (!fs::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const auto data = dfq::data::loadDataset(dfq::run::kFashionMnistDir);
    const at::Tensor images = data.images.narrow(0, 0, 60);
    const std::string dir = dfq::test::tempDir();
    fs::create_directories(dir + "/right");
    fs::create_directories(dir + "/wrong");
    dfq::test::writeIdx(dir + "/right/t10k-images-idx3-ubyte",
                        dir + "/right/t10k-labels-idx1-ubyte", images,
                        data.labels.narrow(0, 0, 60));
    dfq::test::writeIdx(dir + "/wrong/t10k-images-idx3-ubyte",
                        dir + "/wrong/t10k-labels-idx1-ubyte", images,
                        (data.labels.narrow(0, 0, 60) + 1).remainder(10));
    struct Losses : dfq::run::Observer {
        std::vector<double> values;
        void onIteration(const dfq::run::IterationStats& s) override {
            values.push_back(s.generatorLoss);
            values.push_back(s.studentLoss);
        }
    };
    auto run = [&](const std::string& folder) {
        const auto c = dfq::run::parseExperimentConfig(
            "name: real", "real",
            {"model.path=demo", "data.path=", "method.generator=real", "real.path=" + folder,
             "real.images=20", "generator.batch_size=8", "schedule.epochs=2",
             "schedule.iterations=3", "schedule.warmup_epochs=1", "schedule.calibration_epochs=1",
             "output.layers_every=0"});
        Losses l;
        dfq::run::Trainer(c, {&l}).run();
        return l.values;
    };
    const auto right = run(dir + "/right"), wrong = run(dir + "/wrong");
    EXPECT_EQ(right.size(), 12u);
    EXPECT_EQ(right, wrong);
}

TEST(Real, ThePoolIsDrawnFromItsOwnPartOfTheData) {
    if (!fs::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    const auto p = dfq::test::pipelineFor(
        teacher, {"method.generator=real", "real.path=fashion-mnist", "real.images=50",
                  "real.offset=0", "real.stride=2", "generator.batch_size=8"});
    auto& real = dynamic_cast<dfq::method::RealRecipe&>(p->generator());
    EXPECT_EQ(real.pool().size(0), 50);
    EXPECT_EQ(std::get<0>(at::_unique(real.sourceIndex())).size(0), 50);
    // Indices into the even images: image 2 i of the file.
    const auto data = dfq::data::loadDataset(dfq::run::kFashionMnistDir);
    const int64_t i = real.sourceIndex()[0].item<int64_t>();
    const at::Tensor first = data.images[2 * i].to(at::kFloat).div(255);
    const auto& meta = teacher.meta();
    const at::Tensor want = (first - meta.mean.at(0)) / meta.std.at(0);
    EXPECT_TRUE(at::allclose(real.pool()[0].cpu(), want, 1e-5, 1e-5));
    // The labels the student is asked for are the teacher's classes.
    p->step(false, false, 1e-3, 1e-4);
    EXPECT_TRUE(at::equal(p->lastLabels(), p->lastTeacherLogits().argmax(1)));
}

// With a calibration that reads fixed batches (mse), a HAST run calibrates once its set is made,
// not on the noise of the first batches: here the set's 2 batches x 3 steps end in the second
// warm-up epoch, and both warm-up epochs are calibration epochs.
TEST(Hast, CalibrationWaitsForTheSet) {
    struct Logs : dfq::run::Observer {
        std::vector<std::string> lines;
        void onLog(const std::string& line) override { lines.push_back(line); }
    };
    const auto c = dfq::run::parseExperimentConfig(
        "name: hast", "hast",
        {"model.path=demo", "data.path=", "method.generator=hast", "hast.images=16", "hast.batch=8",
         "hast.steps=3", "generator.batch_size=8", "schedule.epochs=3", "schedule.iterations=4",
         "schedule.warmup_epochs=2", "schedule.calibration_epochs=2", "quant.calibration=mse",
         "quant.calibration_batches=2", "output.layers_every=0"});
    Logs l;
    dfq::run::Trainer(c, {&l}).run();
    size_t calibrations = 0;
    for (const std::string& line : l.lines)
        calibrations += line.rfind("activation ranges set", 0) == 0 ? 1 : 0;
    EXPECT_EQ(calibrations, 1u);
}

// The student's weight average: evaluations see it, the live weights come back bit for bit, and
// the average lags the live weights.
TEST(WeightAverage, EvaluationsSeeTheAverageAndTheLiveWeightsComeBack) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    auto p = dfq::test::pipelineFor(
        teacher, {"generator.batch_size=6", "generator.channels=16", "student.ema=0.5"});
    ASSERT_TRUE(p->averagingWeights());
    for (int i = 0; i < 3; ++i)
        p->step(true, false, 1e-3, 1e-2);
    const at::Tensor w = p->context().trainable()[0];
    const at::Tensor live = w.detach().clone();
    at::Tensor seen;
    p->withAveragedWeights([&] { seen = w.detach().clone(); });
    EXPECT_TRUE(at::equal(w, live));
    EXPECT_FALSE(at::equal(seen, live));
    p->adoptAveragedWeights();
    EXPECT_TRUE(at::equal(w, seen));
}

// Without gradients the student's quantized weights are reused until the weights change: the
// same outputs as quantizing them anew, and a training step is seen at once.
TEST(QuantizedWeights, ReusedWithoutGradientsUntilTheWeightsChange) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    auto p = dfq::test::pipelineFor(
        teacher, {"generator.batch_size=6", "generator.channels=16", "quant.weight_range=mse"});
    p->step(true, false, 1e-3, 1e-2);
    const at::Tensor x = at::randn({4, 1, 28, 28});
    auto outputs = [&] {
        at::Tensor cached, fresh;
        {
            at::NoGradGuard noGrad;
            p->studentForward(x);  // fills the cache
            cached = p->studentForward(x);
        }
        fresh = p->context().studentLogits(x).detach();  // with gradients: quantized anew
        return std::make_pair(cached, fresh);
    };
    const auto [a, b] = outputs();
    EXPECT_TRUE(at::equal(a, b));
    p->step(true, false, 1e-3, 1e-2);
    const auto [c, d] = outputs();
    EXPECT_TRUE(at::equal(c, d));
    EXPECT_FALSE(at::equal(a, c));
}
