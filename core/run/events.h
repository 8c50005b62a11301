#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfq::run {

// What a run reports, as plain data (no torch types), to the CLI, the run folder and the UI.

struct IterationStats {
    int64_t epoch = 0;      // 0-based
    int64_t iteration = 0;  // within the epoch, 0-based
    int64_t step = 0;       // global, 0-based
    int64_t totalSteps = 0;
    double generatorCe = 0, generatorBns = 0, generatorLoss = 0;
    double studentCe = 0, studentKd = 0, studentLoss = 0;
    double studentCam = 0;  // SynQ's Grad-CAM alignment (0 for other student recipes)
    bool studentTrained = false;
    bool calibrating = false;
    double lrGenerator = 0, lrStudent = 0;
    double iterationsPerSecond = 0;
    double generatorMs = 0, studentMs = 0;
    // Seconds left in the run after this iteration (EtaModel); -1 while unknown. Not stored in
    // the run folder.
    double etaSeconds = -1;
};

struct EvalStats {
    int64_t epoch = 0;  // 0-based epoch just finished
    int64_t step = 0;
    double top1 = 0, top5 = 0;
    double bestTop1 = 0;
    double seconds = 0;
};

// One BN layer's per-channel statistics of a synthetic batch (mean and biased variance of the
// layer's input) beside the layer's running statistics.
struct BnChannels {
    std::string layer;
    std::vector<double> batchMean, batchVar;
    std::vector<double> runningMean, runningVar;
};

// Per BatchNorm layer of the teacher: how far the synthetic batch's statistics are from the
// running statistics; per channel for the requested layers.
struct BnMatch {
    int64_t step = 0;
    std::vector<std::string> layers;
    std::vector<double> meanMse;
    std::vector<double> varMse;
    std::vector<BnChannels> channels;
};

// Fraction of quantized weights whose integer code changed in the last student step.
struct RoundingStats {
    int64_t step = 0;
    std::vector<std::string> layers;
    std::vector<double> perLayer;
    double overall = 0;
    // Gradient inundation (the `ait` student recipe): the step-size factor α per layer and the
    // passing threshold; empty and 0 otherwise.
    std::vector<double> alphas;
    double threshold = 0;
};

// A synthetic batch for display: uint8 pixels N x H x W x C (denormalized), target labels and
// the teacher's top-k classes with probabilities.
struct SampleBatch {
    int64_t step = 0;
    int64_t count = 0, height = 0, width = 0, channels = 0;
    std::vector<uint8_t> pixels;
    std::vector<int64_t> labels;
    int64_t topK = 0;
    std::vector<int64_t> topClasses;  // count x topK
    std::vector<float> topProbs;      // count x topK
    // Qimera's boundary samples: each image superposes mixK labels with these weights (count x
    // mixK); mixK is 0 for a batch of single-label samples, and `labels` holds each boundary
    // sample's heaviest label.
    int64_t mixK = 0;
    std::vector<int64_t> mixLabels;
    std::vector<float> mixWeights;
    // Where the images come from: "" (a generator), "hast", "hast-synthesis" or "real"
    // (GeneratorRecipe::sampleSource), and each image's difficulty for the teacher, 1 - its
    // probability of the image's label (empty for boundary samples).
    std::string source;
    std::vector<float> difficulty;
};

struct RunSummary {
    double fpTop1 = -1;  // -1: no evaluation data
    double ptqTop1 = -1;
    double bestTop1 = -1;
    double lastTop1 = -1;
    int64_t iterations = 0;
    double wallSeconds = 0;
    std::string status = "running";  // finished | cancelled | diverged | failed
    std::string error;               // why, when diverged or failed
    std::string modelSha256;
    // What the run noticed but did not stop for, such as a collapsing generator (CollapseMonitor).
    std::vector<std::string> warnings;
};

// AutoReCon's architecture search: per edge, the candidates' probabilities softmax(logits);
// edges in the order of the text form (up edges 0-5, op edges 0-14, cross edges 0-11).
struct ArchitectureStats {
    int64_t step = 0;
    double temperature = 0;
    std::vector<std::string> edges;                 // "c0 up0", "c1 op2", "c2 n3<n1", ...
    std::vector<std::vector<std::string>> choices;  // candidate names per edge
    std::vector<std::vector<float>> probabilities;  // per edge, per candidate
    std::string architecture;                       // the argmax architecture, in the text form
    bool final = false;  // the search has ended and this architecture is now used
};

// Qimera's boundary between two classes: the teacher's mean p(a) and p(b) on images superposing
// a (weight 1 - t) and b (weight t), for t from 0 to 1.
struct BoundarySweep {
    int64_t step = 0;
    int64_t a = 0, b = 1;
    std::vector<double> t, pa, pb;
};

// The teacher's features (its classifier's input) of synthetic, boundary (Qimera) and real
// images, projected on their first two principal components.
struct FeatureMap {
    int64_t step = 0;
    std::vector<float> x, y;     // per point
    std::vector<int64_t> label;  // the class asked for (boundary: the heaviest), or the true one
    std::vector<int> kind;       // 0 synthetic, 1 boundary, 2 real
    double explained = 0;        // variance share of the two components
};

// The student against the teacher, layer by layer, on the same images (docs/analysis.md): the
// SQNR of each quantized layer's output, and per BatchNorm layer the mean squared distance of the
// student's input mean and variance from the teacher's running statistics. Every
// output.layers_every iterations on the iteration's synthetic batch, and after every evaluation
// on the first evaluation images.
struct LayerStats {
    int64_t step = 0;
    std::string source;               // "synthetic" or "real"
    std::vector<std::string> layers;  // the quantizers, named as the analysis names them
    std::vector<std::string> kinds;   // "weight" or "activation"
    std::vector<double> sqnrDb;
    std::vector<std::string> bnLayers;
    std::vector<double> bnMeanMse, bnVarMse;
};

class Observer {
  public:
    virtual ~Observer() = default;
    // Before onStart when the run continues from a checkpoint after `step` iterations.
    virtual void onResume(int64_t /*step*/, const RunSummary& /*soFar*/) {}
    virtual void onStart(const std::string& /*resolvedConfigYaml*/, int64_t /*totalSteps*/) {}
    virtual void onIteration(const IterationStats&) {}
    virtual void onBaseline(const std::string& /*name: "fp" or "ptq"*/, double /*top1*/) {}
    virtual void onEval(const EvalStats&) {}
    virtual void onBnMatch(const BnMatch&) {}
    virtual void onRounding(const RoundingStats&) {}
    virtual void onSamples(const SampleBatch&) {}
    virtual void onArchitecture(const ArchitectureStats&) {}
    virtual void onBoundary(const BoundarySweep&) {}
    virtual void onFeatures(const FeatureMap&) {}
    virtual void onLayers(const LayerStats&) {}
    virtual void onLog(const std::string&) {}
    virtual void onFinish(const RunSummary&) {}
};

}  // namespace dfq::run
