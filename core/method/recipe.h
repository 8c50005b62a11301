#pragma once

#include <ATen/core/Tensor.h>
#include <torch/serialize/archive.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "../model/interpreter.h"
#include "fixed_set.h"
#include "losses.h"

namespace dfq::method {

// The two halves of every method (docs/adding-a-method.md): a generator recipe makes the
// synthetic batches and learns from the teacher (GDFQ, Qimera, AutoReCon, ZeroQ), a student
// recipe fine-tunes the quantized student on them (KD, AIT). Both receive the MethodContext
// (context.h) that holds what they share; the Pipeline (pipeline.h) runs one iteration of the two.

// One synthetic batch.
struct Synthetic {
    at::Tensor images;  // [B, C, H, W]; while training, with the recipe's graph
    at::Tensor labels;  // [B]: the class each image is asked for (a boundary sample's heaviest)
    // A batch of boundary samples (Qimera): each image superposes K labels with these weights
    // [B, K], and `targets` [B, classes] is the mixture. Undefined for single-label batches.
    at::Tensor mixLabels, mixWeights, targets;
    bool superposed() const { return targets.defined(); }
};

// What one generator step made and measured.
struct GeneratorStep {
    Synthetic batch;                           // the batch made before the update
    at::Tensor teacherLogits;                  // on the batch, detached
    at::Tensor ce, loss;                       // the recipe's CE term and its whole loss
    BnsLoss bns;                               // the batch against the teacher's BN statistics
    std::vector<model::BnBatchStats> bnStats;  // per teacher BN layer, detached
};

// An architecture search before the schedule (AutoReCon): its steps come first in the run.
class ArchitectureSearch {
  public:
    virtual ~ArchitectureSearch() = default;
    virtual bool searching() const = 0;
    // Epochs of the search (of schedule.iterations each), before the schedule's epochs.
    virtual int64_t searchEpochs() const = 0;
    // The Gumbel-softmax temperature in a (0-based) search epoch.
    virtual double temperature(int64_t epoch) const = 0;
    // One step of the weights (learning rate lr) on a batch and one of the architecture on a
    // fresh batch, in search epoch `epoch`; the first batch is reported.
    virtual GeneratorStep searchStep(double lr, int64_t epoch) = 0;
    // Ends the search: the argmax architecture built afresh; its text form.
    virtual std::string derive() = 0;
    // The candidates' probabilities per edge: up [6, 2], op [15, 7], cross [12, 3] (undefined
    // when not searching).
    virtual std::array<at::Tensor, 3> probabilities() const = 0;
};

class GeneratorRecipe {
  public:
    virtual ~GeneratorRecipe() = default;
    // One training step at learning rate lr.
    virtual GeneratorStep train(double lr) = 0;
    // `n` images drawn the way training draws them, from `rng`, without gradients; the recipe's
    // state (its BN statistics included) is left as it was. The fixed calibration set.
    virtual at::Tensor calibrationBatch(int64_t n, at::Generator& rng) = 0;
    // `n` images with labels cycling through the classes, from `rng`, state left as it was; with
    // `superposed` boundary samples of two labels each (only where boundarySamples()).
    virtual Synthetic synthesize(int64_t n, bool superposed, at::Generator& rng) = 0;
    // Boundary samples (Qimera): images superposing classes a (weight 1 - t) and b (weight t),
    // `samples` per t, the same noise from `rng` for every t; one batch per t.
    virtual bool boundarySamples() const { return false; }
    virtual std::vector<at::Tensor> boundaryImages(int64_t a, int64_t b,
                                                   const std::vector<double>& t, int64_t samples,
                                                   at::Generator& rng);
    // The architecture search, when the recipe has one; the architecture in use as text ("" for
    // recipes without one).
    virtual ArchitectureSearch* search() { return nullptr; }
    virtual std::string architecture() const { return ""; }
    // A fixed set of images the recipe makes before the student trains (HAST), once it is
    // complete; nullptr for recipes that have none, or before. The run folder keeps it.
    virtual const FixedSet* fixedSet() const { return nullptr; }
    // What the recipe's batches are, for the samples view: "" (a generator's images), "hast"
    // (a fixed set the student draws from), "hast-synthesis" (that set being optimized) or
    // "real" (a pool of real images).
    virtual std::string sampleSource() const { return ""; }
    // Whether calibration batches are what the student will train on: false while a fixed set
    // is still being made (HAST), and the calibration then waits for the end of the epoch that
    // completes it.
    virtual bool calibrationReady() const { return true; }
    // Everything that evolves (tensors stored on the CPU); load throws dfq::Error when the
    // archive does not fit this recipe.
    virtual void save(torch::serialize::OutputArchive& archive) const = 0;
    virtual void load(torch::serialize::InputArchive& archive) = 0;
};

// Where the schedule stands at the start of a student epoch.
struct StudentEpoch {
    int64_t epoch = 0;
    bool first = false;  // the first epoch in which the student trains
    // A base value under the run's learning-rate schedule at this epoch (schedule.lr_decay:
    // the milestones' steps, or the cosine).
    std::function<double(double)> scheduled;
};

// AIT's report of the last student step.
struct InundationReport {
    std::vector<double> alphas;  // per quantized conv/linear weight, in quantizer order
    int capped = 0;              // how many hit the hard cap
    double threshold = 0;        // the passing threshold of this epoch
};

struct StudentStep {
    at::Tensor ce, kd, loss;
    // SynQ's Grad-CAM alignment, unweighted (undefined for recipes without it).
    at::Tensor cam;
};

class StudentRecipe {
  public:
    virtual ~StudentRecipe() = default;
    virtual void beginEpoch(const StudentEpoch&) {}
    // One update of the student on the batch against the teacher's logits on it.
    virtual StudentStep train(const Synthetic& batch, const at::Tensor& teacherLogits,
                              double lr) = 0;
    virtual const InundationReport* inundation() const { return nullptr; }
    virtual void save(torch::serialize::OutputArchive& archive) const = 0;
    virtual void load(torch::serialize::InputArchive& archive) = 0;
};

}  // namespace dfq::method
