#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <string>

#include "../fixed_set.h"
#include "../registry_entry.h"

namespace dfq::method {

// HAST's synthetic data (Li et al., CVPR 2023; docs/methods.md): a fixed set of images optimized
// directly from Gaussian noise, batch by batch, against the teacher's BatchNorm statistics and a
// cross-entropy towards each image's class weighted by its difficulty, (1 - p)^gamma, so that
// the set holds hard samples rather than only the easiest ones. The set is made in the run's
// warm-up (one Adam step of one batch per iteration), then fixed: the student draws shuffled
// batches from it, each image randomly cropped and flipped. Runs write it to their folder
// (synthetic_set.pt); `hast.from` reuses another run's.
struct HastOptions {
    int64_t images = 5120;      // the set's size, rounded up to whole synthesis batches
    int64_t batch = 256;        // images optimized together (their BN statistics are matched)
    int64_t steps = 30;         // Adam steps per synthesis batch
    double lr = 0.1;            // Adam's learning rate on the pixels, cosine-decayed over the steps
    double ceWeight = 10;       // beta: weight of the difficulty-weighted CE
    double hardness = 2;        // gamma: the CE of image i is weighted by (1 - p_i)^gamma
    bool augment = true;        // random resized crop (area 0.5 to 1) and flip for the student
    bool randomLabels = false;  // each image's class drawn at random (HAST), not balanced
    std::string from;           // a run folder (or its synthetic_set.pt) whose set to reuse
    int64_t warmupIterations = 0;  // the run's warm-up, which must fit the synthesis
};

class HastRecipe : public GeneratorRecipe {
  public:
    HastRecipe(MethodContext& context, const HastOptions& options);
    GeneratorStep train(double lr) override;
    at::Tensor calibrationBatch(int64_t n, at::Generator& rng) override;
    Synthetic synthesize(int64_t n, bool superposed, at::Generator& rng) override;
    const FixedSet* fixedSet() const override { return complete_ ? &set_ : nullptr; }
    bool calibrationReady() const override { return complete_; }
    std::string sampleSource() const override { return complete_ ? "hast" : "hast-synthesis"; }
    void save(torch::serialize::OutputArchive& archive) const override;
    void load(torch::serialize::InputArchive& archive) override;

    int64_t batches() const { return set_.images.size(0) / options_.batch; }
    // Adam steps the whole set takes: batches x steps (0 for a reused set).
    int64_t synthesisSteps() const { return fromFile_ ? 0 : batches() * options_.steps; }
    bool complete() const { return complete_; }

    // The difficulty-weighted CE of logits against labels: mean_i (1 - p_i)^gamma CE_i, where p_i
    // is the probability of image i's class.
    static at::Tensor hardnessCe(const at::Tensor& logits, const at::Tensor& labels, double gamma);

  private:
    GeneratorStep synthesisStep();
    GeneratorStep studentBatch();
    void finish();
    void startBatch();

    MethodContext& ctx_;
    HastOptions options_;
    FixedSet set_;  // images on the device; labels and difficulty on the CPU
    bool fromFile_ = false;
    bool complete_ = false;
    // The synthesis: the batch being optimized, its Adam step, its pixels and optimizer.
    int64_t batch_ = 0, step_ = 0;
    at::Tensor pixels_;
    std::unique_ptr<torch::optim::Adam> adam_;
    ShuffledBatches order_{0};  // the student's epochs over the set
};

GeneratorEntry hastEntry();

}  // namespace dfq::method
