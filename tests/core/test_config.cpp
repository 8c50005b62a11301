#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/sha256.h"
#include "fixtures.h"

using dfq::run::ExperimentConfig;
using dfq::run::parseExperimentConfig;
using dfq::test::errorOf;

namespace {
void expectError(const std::string& yaml, const std::string& part,
                 const std::vector<std::string>& overrides = {}) {
    const std::string msg = errorOf([&] { parseExperimentConfig(yaml, "exp.yaml", overrides); });
    EXPECT_NE(msg.find(part), std::string::npos) << "\"" << part << "\" not in: " << msg;
}
}  // namespace

TEST(ExperimentConfig, DefaultsAreTheReferenceRecipe) {
    const ExperimentConfig c = parseExperimentConfig("", "empty.yaml");
    EXPECT_EQ(c.scheduleEpochs, 400);
    EXPECT_EQ(c.scheduleIterations, 200);
    EXPECT_EQ(c.scheduleWarmupEpochs, 4);
    EXPECT_EQ(c.scheduleLrMilestones, (std::vector<int64_t>{100, 200, 300}));
    EXPECT_EQ(c.generatorBatchSize, 200);
    EXPECT_DOUBLE_EQ(c.generatorLr, 1e-3);
    EXPECT_EQ(c.generatorBetas, (std::vector<double>{0.5, 0.999}));
    EXPECT_DOUBLE_EQ(c.studentLr, 1e-4);
    EXPECT_DOUBLE_EQ(c.studentTemperature, 20);
    EXPECT_EQ(c.quantWeightBits, 4);
    EXPECT_TRUE(c.quantPerChannel);
    EXPECT_EQ(c.quantFirstLast, dfq::run::FirstLastLayers::Quantized);
}

TEST(ExperimentConfig, ParsesNestedKeysAndRoundTrips) {
    const std::string yaml = R"(
name: demo
seed: 3
model: {path: teacher.pt, input_shape: [1, 28, 28], mean: [0.286], std: [0.353]}
data: {path: fashion-mnist, limit: 2000}
quant:
  weight_bits: 3
  activation_bits: 3
  first_last: 8bit
  layer_bits: {layer1.conv1: 2, fc: 0}
schedule: {epochs: 6, iterations: 200, warmup_epochs: 1, lr_milestones: []}
student: {lr: 0.0005}
)";
    const ExperimentConfig c = parseExperimentConfig(yaml, "exp.yaml");
    EXPECT_EQ(c.name, "demo");
    EXPECT_EQ(c.seed, 3);
    EXPECT_EQ(c.modelInputShape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(c.dataLimit, 2000);
    EXPECT_EQ(c.quantFirstLast, dfq::run::FirstLastLayers::EightBit);
    EXPECT_EQ(c.quantLayerBits.at("layer1.conv1"), 2);
    EXPECT_EQ(c.quantLayerBits.at("fc"), 0);
    EXPECT_TRUE(c.scheduleLrMilestones.empty());
    EXPECT_DOUBLE_EQ(c.studentLr, 5e-4);

    // The resolved YAML holds every key and reads back to the same configuration.
    const std::string resolved = dfq::run::toYaml(c);
    EXPECT_NE(resolved.find("weight_decay"), std::string::npos);
    const ExperimentConfig again = parseExperimentConfig(resolved, "resolved.yaml");
    EXPECT_EQ(dfq::run::toYaml(again), resolved);
    EXPECT_EQ(again.quantLayerBits, c.quantLayerBits);
    EXPECT_EQ(again.modelMean, c.modelMean);
}

TEST(ExperimentConfig, ErrorsNameTheKeyAndWhatIsAllowed) {
    expectError("epochs: 3", "unknown key 'epochs'; the keys are: name, seed");
    expectError("schedule: {epoch: 3}",
                "unknown key 'schedule.epoch'; the keys are: schedule.epochs");
    expectError("modle: {path: x}", "unknown key 'modle'");
    expectError("schedule: {epochs: ten}", "'schedule.epochs' must be an integer, got 'ten'");
    expectError("schedule: {epochs: 2.5}", "'schedule.epochs' must be an integer");
    expectError("quant: {weight_bits: 0}", "'quant.weight_bits' is 0; allowed: 1 to 16");
    expectError("device: tpu", "'device' is 'tpu'; allowed: auto, cpu, cuda");
    expectError("quant: {per_channel: maybe}", "'quant.per_channel' must be true or false");
    expectError("model: {input_shape: [28, 28]}", "'model.input_shape' must have 3 entries");
    expectError("generator: {betas: 0.5}", "'generator.betas' must be a list");
    expectError("schedule: {epochs: 2, warmup_epochs: 4}",
                "'schedule.warmup_epochs' (4) exceeds 'schedule.epochs' (2)");
    expectError("[1, 2]", "must be a YAML map");
    expectError("name: [unclosed", "not valid YAML");
}

TEST(ExperimentConfig, CommandLineOverrides) {
    const ExperimentConfig c = parseExperimentConfig(
        "schedule: {epochs: 10}", "exp.yaml",
        {"schedule.epochs=5", "quant.layer_bits={conv1: 8}", "name=quick run"});
    EXPECT_EQ(c.scheduleEpochs, 5);
    EXPECT_EQ(c.quantLayerBits.at("conv1"), 8);
    EXPECT_EQ(c.name, "quick run");
    EXPECT_EQ(c.resolvedModelPath(), dfq::run::demoTeacherPath());
    EXPECT_EQ(parseExperimentConfig("data: {path: fashion-mnist}", "e").resolvedDataPath(),
              dfq::run::kFashionMnistDir);
    expectError("", "--set schedule.epoch=3: unknown key 'schedule.epoch'", {"schedule.epoch=3"});
    expectError("", "--set epochs: expected key.sub=value", {"epochs"});
    expectError("", "'quant.activation_bits' is 17", {"quant.activation_bits=17"});
}

TEST(ExperimentConfig, ReferenceDocumentationIsCurrent) {
    std::ifstream in(std::string(DFQ_SOURCE_DIR) + "/docs/config.md");
    ASSERT_TRUE(in) << "docs/config.md is missing";
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), dfq::run::configReferenceMarkdown())
        << "regenerate it with: build/app/dfq config-reference > docs/config.md";
}

TEST(Sha256, KnownDigests) {
    EXPECT_EQ(dfq::sha256Hex(""),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(dfq::sha256Hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // Two blocks of padding.
    EXPECT_EQ(dfq::sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(dfq::sha256Hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Device, ResolvesAutoAndRefusesMissingCuda) {
    EXPECT_TRUE(dfq::resolveDevice("cpu").is_cpu());
    EXPECT_EQ(dfq::resolveDevice("auto").is_cuda(), dfq::cudaAvailable());
    if (!dfq::cudaAvailable()) {
        const auto msg = dfq::test::errorOf([] { dfq::resolveDevice("cuda"); });
        EXPECT_NE(msg.find("no CUDA support"), std::string::npos) << msg;
    }
}

TEST(Presets, EveryPresetIsValid) {
    int count = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(dfq::run::resourceDir() + "/presets")) {
        SCOPED_TRACE(entry.path().string());
        const auto c = dfq::run::loadExperimentConfig(entry.path().string());
        EXPECT_EQ(c.name + ".yaml", entry.path().filename().string());
        ++count;
    }
    EXPECT_GE(count, 4);
}

TEST(Presets, PaperRecipesHaveTheReferenceHyperparameters) {
    const auto cifar = dfq::run::loadExperimentConfig(dfq::run::resourceDir() +
                                                      "/presets/cifar10-resnet20-gdfq-w4a4.yaml");
    EXPECT_EQ(cifar.scheduleEpochs * cifar.scheduleIterations, 80000);
    EXPECT_EQ(cifar.generatorBatchSize, 200);
    EXPECT_EQ(cifar.scheduleWarmupEpochs, 4);
    EXPECT_DOUBLE_EQ(cifar.studentLr, 1e-4);
    EXPECT_EQ(cifar.generatorStyle, dfq::run::GeneratorStyle::Cifar);
    const auto in = dfq::run::loadExperimentConfig(dfq::run::resourceDir() +
                                                   "/presets/imagenet-resnet18-gdfq-w4a4.yaml");
    EXPECT_EQ(in.generatorBatchSize, 16);
    EXPECT_EQ(in.scheduleWarmupEpochs, 50);
    EXPECT_EQ(in.scheduleCalibrationEpochs, 4);
    EXPECT_DOUBLE_EQ(in.studentLr, 1e-6);
    EXPECT_EQ(in.generatorStyle, dfq::run::GeneratorStyle::Imagenet);
    EXPECT_EQ(in.scheduleEvalFromEpoch, 49);
    EXPECT_EQ(cifar.scheduleEvalFromEpoch, 0);
    for (const auto* c : {&cifar, &in}) {
        EXPECT_EQ(c->scheduleLrMilestones, (std::vector<int64_t>{100, 200, 300}));
        EXPECT_DOUBLE_EQ(c->generatorLr, 1e-3);
        EXPECT_DOUBLE_EQ(c->studentTemperature, 20);
        EXPECT_DOUBLE_EQ(c->generatorBnsWeight, 0.1);
        EXPECT_DOUBLE_EQ(c->studentWeightDecay, 1e-4);
        EXPECT_DOUBLE_EQ(c->quantActivationMomentum, 0.9);
        EXPECT_EQ(c->quantCalibration, dfq::run::CalibrationChoice::Ema);
        EXPECT_EQ(c->quantWeightRange, dfq::run::WeightRange::MinMax);
    }
}

TEST(Presets, AitPaperRecipeHasTheReferenceHyperparameters) {
    const auto gdfq = dfq::run::loadExperimentConfig(dfq::run::resourceDir() +
                                                     "/presets/cifar10-resnet20-gdfq-w4a4.yaml");
    auto ait = dfq::run::loadExperimentConfig(dfq::run::resourceDir() +
                                              "/presets/cifar10-resnet20-gdfq-ait-w4a4.yaml");
    EXPECT_EQ(ait.methodStudent, "ait");
    EXPECT_DOUBLE_EQ(ait.studentPassingThreshold, 1e-3);
    EXPECT_EQ(ait.studentAlphaIter, 5);
    EXPECT_DOUBLE_EQ(ait.studentWeightDecay, 0);
    EXPECT_DOUBLE_EQ(ait.studentCeWeight, 0);
    EXPECT_DOUBLE_EQ(ait.studentLr, 1e-4);
    // Everything else is GDFQ's recipe.
    ait.name = gdfq.name;
    ait.methodStudent = gdfq.methodStudent;
    ait.studentWeightDecay = gdfq.studentWeightDecay;
    ait.studentCeWeight = gdfq.studentCeWeight;
    EXPECT_EQ(dfq::run::toYaml(ait), dfq::run::toYaml(gdfq));
}

TEST(Presets, QimeraPresetsAreTheirGdfqPresetsWithQimerasGenerator) {
    const std::string dir = dfq::run::resourceDir() + "/presets/";
    for (const std::string student : {"", "-ait"}) {
        for (const std::string base : {"cifar10-resnet20-", "demo-fmnist-"}) {
            SCOPED_TRACE(base + student);
            const auto gdfq =
                dfq::run::loadExperimentConfig(dir + base + "gdfq" + student + "-w4a4.yaml");
            auto qimera =
                dfq::run::loadExperimentConfig(dir + base + "qimera" + student + "-w4a4.yaml");
            EXPECT_EQ(qimera.methodGenerator, "qimera");
            EXPECT_DOUBLE_EQ(qimera.qimeraSuperposeProb, 0.4);
            EXPECT_EQ(qimera.qimeraLabelsPerSample, 2);
            // The CIFAR-10 scripts: no disentanglement mapping; Qimera's starts the embedding at
            // random, Qimera_AIT's from the classifier.
            const bool paper = base == "cifar10-resnet20-";
            EXPECT_EQ(qimera.qimeraEmbeddingInit, paper && student.empty()
                                                      ? dfq::run::EmbeddingInit::Random
                                                      : dfq::run::EmbeddingInit::Classifier);
            EXPECT_EQ(qimera.qimeraMapping, !paper);
            qimera.name = gdfq.name;
            qimera.methodGenerator = gdfq.methodGenerator;
            qimera.qimeraEmbeddingInit = gdfq.qimeraEmbeddingInit;
            qimera.qimeraMapping = gdfq.qimeraMapping;
            EXPECT_EQ(dfq::run::toYaml(qimera), dfq::run::toYaml(gdfq));
        }
    }
}

TEST(Presets, QimeraAitW3a3IsTheW4a4DemoAtThreeBits) {
    const std::string dir = dfq::run::resourceDir() + "/presets/";
    const auto w4 = dfq::run::loadExperimentConfig(dir + "demo-fmnist-qimera-ait-w4a4.yaml");
    auto w3 = dfq::run::loadExperimentConfig(dir + "demo-fmnist-qimera-ait-w3a3.yaml");
    EXPECT_EQ(w3.quantWeightBits, 3);
    EXPECT_EQ(w3.quantActivationBits, 3);
    w3.name = w4.name;
    w3.quantWeightBits = w4.quantWeightBits;
    w3.quantActivationBits = w4.quantActivationBits;
    EXPECT_EQ(dfq::run::toYaml(w3), dfq::run::toYaml(w4));
}

TEST(Presets, AutoReconPresetsNameTheDerivedArchitectures) {
    const std::string dir = dfq::run::resourceDir() + "/presets/";
    const std::vector<std::pair<std::string, std::string>> presets = {
        {"cifar10-resnet20-autorecon-w4a4", "c10"},
        {"cifar10-resnet20-autorecon-ait-w4a4", "c10"},
        {"cifar100-resnet20-autorecon-w4a4", "c100"},
        {"imagenet-resnet18-autorecon-w4a4", "r18"},
        {"imagenet-resnet50-autorecon-w4a4", "r50"},
        {"imagenet-mobilenetv2-autorecon-w4a4", "mbv2"},
        {"demo-fmnist-autorecon-w4a4", "c10"},
        {"demo-fmnist-autorecon-ait-w4a4", "c10"}};
    for (const auto& [name, arch] : presets) {
        SCOPED_TRACE(name);
        const auto c = dfq::run::loadExperimentConfig(dir + name + ".yaml");
        EXPECT_EQ(c.methodGenerator, "autorecon");
        EXPECT_EQ(c.autoreconArchitecture, arch);
        EXPECT_EQ(c.generatorLr, 1e-3);
        EXPECT_EQ(c.generatorBnsWeight, 0.1);
        if (name.rfind("demo", 0) != 0) {
            EXPECT_EQ(c.autoreconChannels, 64);
            EXPECT_EQ(c.scheduleEpochs * c.scheduleIterations, 80000);
        }
    }
}

TEST(Config, AutoReconArchitectureIsValidated) {
    const auto c = dfq::run::parseExperimentConfig(
        "method: {generator: autorecon}\nautorecon: {architecture: 'bil/bil | dil5 dil5 dil5 dil5 "
        "dil5 ; bil/bil | dil5 dil5 dil5 dil5 dil3 | near bil near / bil bil near ; bil/bil | "
        "dil5 dil5 conv5 dil3 dil3 | bil bil near / near bil near'}\n",
        "test");
    EXPECT_EQ(c.autoreconArchitecture.substr(0, 7), "bil/bil");
    try {
        dfq::run::parseExperimentConfig("autorecon: {architecture: c11}\n", "x.yaml");
        FAIL() << "no error";
    } catch (const dfq::Error& e) {
        EXPECT_NE(std::string(e.what()).find("'autorecon.architecture'"), std::string::npos)
            << e.what();
    }
}

TEST(ExperimentConfig, InputsThatAreNoExperimentAreRefusedNamingTheCause) {
    auto parse = [](const std::string& yaml, std::vector<std::string> sets = {}) {
        return errorOf([&] { parseExperimentConfig(yaml, "exp.yaml", sets); });
    };
    EXPECT_EQ(parse("name: a\nschedule:\n  epochs: 2\nname: b\n"),
              "exp.yaml: line 4: 'name' is given twice");
    EXPECT_EQ(parse("schedule: {epochs: 2}\nschedule: {iterations: 3}\n"),
              "exp.yaml: line 2: 'schedule' is given twice");
    EXPECT_EQ(parse("x: " + std::string(40, '[') + std::string(40, ']') + "\n"),
              "exp.yaml: lists or maps nested more than 32 levels deep; an experiment needs two");
    EXPECT_EQ(parse("quant: [1, 2]\n")
                  .rfind("exp.yaml: 'quant' is a section; give its keys under "
                         "it (quant.weight_bits, quant.activation_bits",
                         0),
              0u);
    EXPECT_EQ(parse("name: " + std::string(300 * 1024, 'x') + "\n"),
              "exp.yaml: 300 KiB is too large for an experiment (at most 256 KiB); is it the "
              "right file?");
    std::string list = "schedule: {lr_milestones: [";
    for (int i = 0; i < 10001; ++i)
        list += (i ? "," : "") + std::to_string(i + 1);
    EXPECT_EQ(parse(list + "]}\n"),
              "exp.yaml: 'schedule.lr_milestones' has 10001 entries; at most 10000 are allowed");
    EXPECT_EQ(parse(std::string("name: a\0b", 9)),
              "exp.yaml: not a YAML text file (it holds binary data)");
    EXPECT_EQ(parse("name: a\n", {"name=" + std::string(300 * 1024, 'x')}),
              "--set name: 300 KiB is too large for an experiment (at most 256 KiB); is it the "
              "right file?");
    EXPECT_EQ(parse("model: {input_shape: [3, 100000, 100000]}\n"),
              "exp.yaml: 'model.input_shape' is 100000; allowed: 1 to 16384");
}

TEST(ExperimentConfig, FilesThatAreNoExperimentAreRefusedNamingTheCause) {
    const std::string dir = dfq::test::tempDir() + "/not-experiments";
    std::filesystem::create_directories(dir + "/run");
    auto load = [](const std::string& path) {
        return errorOf([&] { dfq::run::loadExperimentConfig(path); });
    };
    EXPECT_EQ(load(dir), dir + ": is a folder, not an experiment file");
    std::ofstream(dir + "/run/config.yaml") << "name: x\n";
    EXPECT_EQ(load(dir + "/run"),
              dir +
                  "/run: is a run folder, not an experiment file; continue it with --resume, or "
                  "give its config.yaml to start a new run like it");
    EXPECT_EQ(load(dir + "/missing.yaml"), dir + "/missing.yaml: no such experiment file");
    // Cut short: the model is not named, so every key would be a default.
    for (const std::string& text : {std::string(), std::string("name: cut\nschedule:\n")}) {
        std::ofstream(dir + "/cut.yaml", std::ios::trunc) << text;
        EXPECT_EQ(load(dir + "/cut.yaml"),
                  dir +
                      "/cut.yaml: the experiment names no model (model.path); is the file empty "
                      "or cut short? Write `model: {path: demo}` for the built-in teacher");
    }
    EXPECT_EQ(load(dfq::test::fixturePath("nobn.traced.pt")),
              dfq::test::fixturePath("nobn.traced.pt") +
                  ": is a zip archive (a TorchScript model?), not an experiment file; give a "
                  "model as model.path in an experiment");
    // Every preset names its model and loads.
    for (const auto& e : std::filesystem::directory_iterator(dfq::run::resourceDir() + "/presets"))
        EXPECT_NO_THROW(dfq::run::loadExperimentConfig(e.path().string())) << e.path();
}
