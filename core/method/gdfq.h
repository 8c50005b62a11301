#pragma once

#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "../analysis/layer_probe.h"
#include "../gen/autorecon_generator.h"
#include "../gen/gdfq_generator.h"
#include "../model/interpreter.h"
#include "../model/model.h"
#include "../quant/student_quantizer.h"
#include "gradient_inundation.h"
#include "losses.h"
#include "nesterov_sgd.h"

namespace dfq::method {

// GDFQ's hyperparameters (METHODS.md §1.3, §1.4, §2); the defaults are the CIFAR recipe.
struct GdfqOptions {
    quant::QuantConfig quant;
    c10::Device device = c10::kCPU;
    int64_t batchSize = 200;
    int64_t latentDim = 100;
    int64_t generatorChannels = 128;
    bool imagenetStyle = false;
    double adamBeta1 = 0.5;
    double adamBeta2 = 0.999;
    double lrG = 1e-3;
    double momentum = 0.9;
    double weightDecay = 1e-4;
    double temperature = 20;
    double kdWeight = 1;
    double ceWeight = 1;
    double bnsWeight = 0.1;
    // Qimera's generator recipe (METHODS.md §3): with probability superposeProb a batch is made
    // of boundary samples, each superposing superposeLabels labels with softmax(N(0, 1))
    // weights and trained against the mixture as a soft target. The label embedding has the
    // width of the teacher's classifier input (latentDim when the teacher has no classifier to
    // read it from) and starts from the classifier's weights or N(0, 1).
    bool qimera = false;
    double superposeProb = 0.4;
    int64_t superposeLabels = 2;
    bool embeddingFromClassifier = true;
    double noiseScale = 1.0;
    int64_t mappingDim = 100;  // the disentanglement mapping; 0: off (the released scripts)
    bool referenceNormalization = false;
    // AutoReCon's generator recipe (METHODS.md §4): the cell generator with a derived
    // architecture, or (autoreconSearch) the search space with architecture logits, searched
    // by searchStep() and fixed by deriveArchitecture().
    bool autorecon = false;
    bool autoreconSearch = false;
    gen::AutoReconArch autoreconArch;
    int64_t autoreconChannels = 64;
    // AIT's gradient inundation on every quantized conv/linear weight (METHODS.md §5); the
    // search's bits come from each layer, its threshold and first-epoch cap from
    // setInundation().
    bool gradientInundation = false;
    AlphaSearch alphaSearch;
};

struct GdfqStepStats {
    double generatorCe = 0;
    double generatorBns = 0;
    double generatorLoss = 0;
    double studentCe = 0;
    double studentKd = 0;
    double studentLoss = 0;
    bool studentTrained = false;
    bool superposed = false;      // Qimera: this batch was made of boundary samples
    int64_t teacherClasses = 0;   // distinct classes the teacher predicts on the batch
    double generatorSeconds = 0;  // synthesis, teacher pass, generator update
    double studentSeconds = 0;    // student pass (and update)
};

// One GDFQ run's state: the frozen teacher, the conditional generator with Adam, the quantized
// student with Nesterov SGD. Each step synthesizes one batch, trains the generator on
// CE + bnsWeight * BNS through the teacher, and (after warm-up) trains the student on the same
// batch against the teacher's logits from that single teacher pass.
class Gdfq {
  public:
    Gdfq(const model::Model& teacher, const GdfqOptions& options);

    // trainStudent false is the warm-up: the generator trains, and the student's forward pass
    // runs only when `calibrate` is on, to update the EMA activation ranges.
    GdfqStepStats step(bool trainStudent, bool calibrate, double lrG, double lrS);

    // AutoReCon's search (§10): one Adam step of the generator's weights on a batch, then one
    // Adam step (lrArch) of the architecture logits on a fresh batch, both on the generator
    // loss, with Gumbel-softmax temperature tau. The student does not train.
    GdfqStepStats searchStep(double lrG, double lrArch, double tau);
    // Ends the search: the argmax architecture, built afresh (new weights, new Adam).
    gen::AutoReconArch deriveArchitecture();
    bool searching() const { return autorecon_ && autorecon_->options().search; }
    // The search's candidate probabilities softmax(logits) per edge: up [6, 2], op [15, 7],
    // cross [12, 3] (undefined when not searching); the architecture in use or searched.
    std::array<at::Tensor, 3> architectureProbabilities() const;
    gen::AutoReconArch architecture() const;

    // AIT's schedule: the passing threshold, and whether this is the first student epoch.
    void setInundation(double threshold, bool firstEpochCap);
    // The last student step's α per quantized conv/linear weight (in quantizer order; empty
    // without gradient inundation), and how many of them hit the hard cap.
    const std::vector<double>& lastAlphas() const { return lastAlphas_; }
    int lastCappedAlphas() const { return lastCapped_; }

    // Sets and freezes the student's activation ranges from a fixed calibration set: `batches`
    // generator batches drawn from a generator of their own seeded with `seed` (the run's random
    // stream is untouched, and the generator's BN statistics are restored afterwards), passed
    // through the student with weights quantized and activations unquantized.
    void calibrateActivations(int64_t batches, quant::Calibration method, uint64_t seed);

    // Qimera's boundary between classes a and b: for `steps` mixture weights t from 0 to 1, the
    // mean over `samples` images superposing a (weight 1 - t) and b (weight t), all from the same
    // noise, of the teacher's p(a) and p(b). The noise comes from a generator of its own seeded
    // with `seed`; the generator's BN statistics are restored afterwards. Rows {t, p(a), p(b)}.
    // Throws dfq::Error for a generator without Qimera's input path or a class out of range.
    std::vector<std::array<double, 3>> boundarySweep(int64_t a, int64_t b, int steps,
                                                     int64_t samples, uint64_t seed);

    // The teacher's features (the input of its classifier, flattened) for images on any device,
    // on the CPU; undefined when the teacher has no classifier layer to read them at.
    at::Tensor teacherFeatures(const at::Tensor& x);
    // A batch of `n` generator images with labels cycling through the classes (or, `superposed`,
    // Qimera's boundary samples: two labels each, their heaviest as the label), from noise of a
    // generator of its own seeded with `seed`; the generator's BN statistics are restored.
    // Returns the images (on the device) and labels (CPU).
    std::pair<at::Tensor, at::Tensor> synthesize(int64_t n, bool superposed, uint64_t seed);

    // The student against the teacher, layer by layer, on `images` (any device): per quantized
    // layer the SQNR of its output, per BN layer the student's input statistics against the
    // running ones. Leaves the activation ranges as they are.
    analysis::LayerProbeResult probeLayers(const at::Tensor& images);

    // Student and teacher logits for real images (on the CPU), without gradients; the images
    // may be on any device, the logits come back on the CPU.
    at::Tensor studentForward(const at::Tensor& x);
    at::Tensor teacherForward(const at::Tensor& x);

    // The last step's synthetic batch (detached), its labels, the teacher's logits on it, and
    // its BN-statistics distances per teacher BN layer. For a superposed batch the labels are
    // each sample's heaviest component, and lastMixLabels/lastMixWeights [B, K] its mixture
    // (undefined otherwise).
    const at::Tensor& lastImages() const { return lastImages_; }
    const at::Tensor& lastLabels() const { return lastLabels_; }
    const at::Tensor& lastMixLabels() const { return lastMix_.labels; }
    const at::Tensor& lastMixWeights() const { return lastMix_.weights; }
    const at::Tensor& lastTeacherLogits() const { return lastTeacherLogits_; }
    const at::Tensor& lastBnMeanMse() const { return lastBnMeanMse_; }
    const at::Tensor& lastBnVarMse() const { return lastBnVarMse_; }
    // Per teacher BN layer (in BN order): the last batch's per-channel mean and variance.
    const std::vector<model::BnBatchStats>& lastBnStats() const { return lastBnStats_; }

    // Everything that evolves during a run: generator with its BN statistics, Adam's moments,
    // the student's parameters, SGD's momentum, the activation ranges. Tensors are stored on the
    // CPU and loaded onto this run's device.
    void saveState(torch::serialize::OutputArchive& archive) const;
    // Throws dfq::Error when the archive does not fit this run (another model or generator).
    void loadState(torch::serialize::InputArchive& archive);

    std::shared_ptr<gen::GeneratorBase>& generator() { return generator_; }
    quant::StudentQuantizer& quantizer() { return *quantizer_; }
    model::ParamStore& studentParams() { return student_; }
    const model::ParamStore& teacherParams() const { return *teacherParams_; }
    int64_t classes() const { return classes_; }
    const GdfqOptions& options() const { return options_; }
    // The latent size: latentDim, or with qimera the label embedding's width.
    int64_t latentDim() const { return latentDim_; }

    // One batch of generator inputs on this run's device. Single-label: z [B, latent], labels
    // [B]. Superposed: z [B, K, latent], labels and weights [B, K]; `targets` [B, classes] is the
    // mixture (defined only when superposed).
    struct Latent {
        at::Tensor z, labels, weights, targets;
        bool superposed() const { return labels.dim() == 2; }
    };
    // Drawn on the CPU from `rng` (the global generator when null) and moved, so a seed gives
    // the same batches on every device. With qimera a batch is superposed with probability
    // superposeProb.
    Latent drawLatent(int64_t batch, at::Generator* rng = nullptr) const;

  private:
    const model::Model& teacherModel_;
    GdfqOptions options_;
    int64_t classes_ = 0;
    model::ParamStore teacherOnDevice_;       // empty on the CPU
    const model::ParamStore* teacherParams_;  // the teacher's own store, or teacherOnDevice_
    model::Interpreter teacher_;
    model::ParamStore student_;
    std::unique_ptr<quant::StudentQuantizer> quantizer_;
    model::Interpreter studentNet_;
    struct GeneratorPass {
        at::Tensor labels, images, teacherLogits, ce, loss;
        BnsLoss bns;
    };
    // Synthesis, the teacher's pass and the generator loss CE + bnsWeight * BNS.
    GeneratorPass generatorPass(const Latent& in);
    at::Tensor crossEntropy(const Latent& in, const at::Tensor& labels,
                            const at::Tensor& logits) const;
    // Keeps the batch for lastImages() and friends, and its losses in `stats`.
    void remember(const Latent& in, const GeneratorPass& pass, GdfqStepStats& stats);
    // Builds the generator the options name (a derived AutoReCon architecture when `derived`
    // is given) on the device, in train mode, with its Adam.
    void buildGenerator(const gen::AutoReconArch* derived, const at::Tensor& classifier);
    std::shared_ptr<gen::GeneratorBase> generator_;
    std::shared_ptr<gen::AutoReconGeneratorImpl> autorecon_;  // generator_, when AutoReCon
    std::unique_ptr<torch::optim::Adam> adam_;
    std::unique_ptr<torch::optim::Adam> archAdam_;  // AutoReCon's search only
    std::unique_ptr<NesterovSgd> sgd_;
    std::unique_ptr<analysis::LayerProbe> probe_;
    int64_t latentDim_ = 0;
    int classifierLayer_ = -1;  // index in the graph's layers of the teacher's classifier
    at::Tensor lastImages_, lastLabels_, lastTeacherLogits_, lastBnMeanMse_, lastBnVarMse_;
    Latent lastMix_;  // labels and weights of the last batch when it was superposed
    std::vector<model::BnBatchStats> lastBnStats_;
    std::vector<int> giSlot_;  // per SGD parameter: position in lastAlphas_, or -1
    std::vector<int> giBits_;  // per SGD parameter: weight bits for the search
    std::vector<double> lastAlphas_;
    int lastCapped_ = 0;
};

}  // namespace dfq::method
