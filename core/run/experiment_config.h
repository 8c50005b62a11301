#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config_choices.h"

namespace dfq::run {

// One experiment, as the YAML file (and the GUI) describe it. Every key, its default and its
// allowed range live in one schema table (experiment_config.cpp), which also writes the
// reference documentation (docs/config.md).
struct ExperimentConfig {
    std::string name = "experiment";
    int64_t seed = 1;
    DeviceChoice device = DeviceChoice::Auto;
    PrecisionChoice precision = PrecisionChoice::Fp32;

    // model
    std::string modelPath = "demo";
    std::vector<int64_t> modelInputShape;  // empty: from dfq_meta.json
    std::vector<double> modelMean;
    std::vector<double> modelStd;
    int64_t modelNumClasses = 0;

    // data (evaluation on real images; optional)
    std::string dataPath;
    DataSplit dataSplit = DataSplit::Test;
    int64_t dataBatchSize = 128;  // data::kDefaultEvalBatch (evaluator.h says why)
    int64_t dataOffset = 0;
    int64_t dataStride = 1;
    int64_t dataLimit = 0;
    bool dataResize = false;

    // method
    std::string methodGenerator = "gdfq";
    std::string methodStudent = "kd";

    // quant
    int64_t quantWeightBits = 4;
    int64_t quantActivationBits = 4;
    bool quantPerChannel = true;
    bool quantSymmetric = false;
    FirstLastLayers quantFirstLast = FirstLastLayers::Quantized;
    std::map<std::string, int64_t> quantLayerBits;
    bool quantReferenceEmaInflation = false;
    double quantActivationMomentum = 0.9;
    WeightRange quantWeightRange = WeightRange::MinMax;
    CalibrationChoice quantCalibration = CalibrationChoice::Ema;
    int64_t quantCalibrationBatches = 32;

    // schedule
    int64_t scheduleEpochs = 400;
    int64_t scheduleIterations = 200;
    int64_t scheduleWarmupEpochs = 4;
    int64_t scheduleCalibrationEpochs = 4;
    std::vector<int64_t> scheduleLrMilestones = {100, 200, 300};
    double scheduleLrGamma = 0.1;
    LrDecay scheduleLrDecay = LrDecay::Step;
    int64_t scheduleEvalFromEpoch = 0;

    // generator
    GeneratorStyle generatorStyle = GeneratorStyle::Auto;
    int64_t generatorBatchSize = 200;
    int64_t generatorLatentDim = 100;
    int64_t generatorChannels = 128;
    double generatorLr = 1e-3;
    std::vector<double> generatorBetas = {0.5, 0.999};
    double generatorBnsWeight = 0.1;

    // qimera (method.generator: qimera)
    double qimeraSuperposeProb = 0.4;
    int64_t qimeraLabelsPerSample = 2;
    EmbeddingInit qimeraEmbeddingInit = EmbeddingInit::Classifier;
    double qimeraNoiseScale = 1.0;
    bool qimeraMapping = true;
    int64_t qimeraMappingDim = 100;
    EmbeddingNormalization qimeraNormalization = EmbeddingNormalization::PerEmbedding;

    // autorecon (method.generator: autorecon)
    std::string autoreconArchitecture = "c10";  // c10 | c100 | r18 | r50 | mbv2 | search | text
    int64_t autoreconSearchEpochs = 4;
    int64_t autoreconChannels = 64;
    double autoreconTemperature = 5.0;
    double autoreconTemperatureDecay = 0.045;
    double autoreconArchLr = 0.01;

    // student
    double studentLr = 1e-4;
    double studentMomentum = 0.9;
    double studentWeightDecay = 1e-4;
    double studentTemperature = 20;
    double studentKdWeight = 1;
    double studentCeWeight = 1;
    double studentEma = 0;
    double studentPassingThreshold = 1e-3;
    int64_t studentAlphaIter = 5;

    // output
    std::string outputDir = "runs";
    int64_t outputSampleEvery = 100;
    int64_t outputBnEvery = 10;
    int64_t outputLayersEvery = 25;
    std::vector<std::string> outputBnChannelLayers;

    // The keys recipes declare themselves (method/registry.h), by full key; a key not set here
    // has its declared default. Numbers, integers and booleans (0 or 1) in recipeValues,
    // choices and texts in recipeTexts.
    std::map<std::string, double> recipeValues;
    std::map<std::string, std::string> recipeTexts;
    // A declared recipe key's value: a number or an integer, a boolean, a choice or a text.
    // Throws dfq::Error for a key no recipe declares, or one of another type.
    double recipeValue(const std::string& key) const;
    bool recipeFlag(const std::string& key) const;
    std::string recipeText(const std::string& key) const;
    // Any declared key's value as the configuration writes it ("0.5", "true", "lowpass").
    std::string recipeString(const std::string& key) const;

    // model.path with `demo` resolved to the built-in teacher's file.
    std::string resolvedModelPath() const;
    // data.path with `fashion-mnist` resolved to the Debian dataset's folder.
    std::string resolvedDataPath() const;
};

// Parses YAML text, applies `key.sub=value` overrides, fills defaults and validates. Throws
// dfq::Error naming `source`, the key and what is allowed: unknown keys, wrong types, values out
// of range, contradictions.
ExperimentConfig parseExperimentConfig(const std::string& yaml, const std::string& source,
                                       const std::vector<std::string>& overrides = {});
ExperimentConfig loadExperimentConfig(const std::string& path,
                                      const std::vector<std::string>& overrides = {});
// The fully resolved configuration as YAML (every key, defaults included).
std::string toYaml(const ExperimentConfig& config);
// Markdown reference of every key: type, default, allowed values, meaning.
std::string configReferenceMarkdown();
// The allowed values of a key with choices (method.generator: the registered recipes); empty
// for other keys.
std::vector<std::string> configKeyChoices(const std::string& key);
// The documentation of one key ("student.lr") with its allowed values; empty for unknown keys.
std::string configKeyDoc(const std::string& key);

}  // namespace dfq::run
