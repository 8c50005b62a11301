#pragma once

#include <array>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "../quant/calibration.h"
#include "context.h"
#include "recipe.h"

namespace dfq::method {

// What one iteration measured.
struct StepStats {
    double generatorCe = 0;
    double generatorBns = 0;
    double generatorLoss = 0;
    double studentCe = 0;
    double studentKd = 0;
    double studentLoss = 0;
    double studentCam = 0;  // SynQ's Grad-CAM alignment, unweighted
    bool studentTrained = false;
    bool superposed = false;      // Qimera: this batch was made of boundary samples
    int64_t teacherClasses = 0;   // distinct classes the teacher predicts on the batch
    double generatorSeconds = 0;  // synthesis, teacher pass, generator update
    double studentSeconds = 0;    // student pass (and update)
};

// One run's method: a generator recipe and a student recipe on a shared context. Each step makes
// a batch and trains the generator recipe on it through the teacher, then (after warm-up) trains
// the student on the same batch against the teacher's logits from that single teacher pass.
class Pipeline {
  public:
    Pipeline(std::unique_ptr<MethodContext> context, std::unique_ptr<GeneratorRecipe> generator,
             std::unique_ptr<StudentRecipe> student);

    // trainStudent false is the warm-up: the generator trains, and the student's forward pass
    // runs only when `calibrate` is on, to update the EMA activation ranges.
    StepStats step(bool trainStudent, bool calibrate, double lrG, double lrS);
    // A step of the generator recipe's architecture search (ArchitectureSearch::searchStep).
    StepStats searchStep(double lrG, int64_t epoch);
    void beginEpoch(const StudentEpoch& epoch) { student_->beginEpoch(epoch); }

    // Sets and freezes the student's activation ranges from a fixed calibration set: `batches`
    // batches drawn by the generator recipe from a generator of their own seeded with `seed`
    // (the run's random stream and the recipe are untouched), passed through the student with
    // weights quantized and activations unquantized.
    void calibrateActivations(int64_t batches, quant::Calibration method, uint64_t seed);
    // Qimera's boundary between classes a and b: for `steps` mixture weights t from 0 to 1, the
    // mean over `samples` images of the teacher's p(a) and p(b), from noise seeded with `seed`.
    // Rows {t, p(a), p(b)}. Throws dfq::Error for a recipe without boundary samples or a class
    // out of range.
    std::vector<std::array<double, 3>> boundarySweep(int64_t a, int64_t b, int steps,
                                                     int64_t samples, uint64_t seed);
    // `n` synthetic images with labels cycling through the classes (or boundary samples), from a
    // generator of their own seeded with `seed`: images on the device, labels on the CPU.
    std::pair<at::Tensor, at::Tensor> synthesize(int64_t n, bool superposed, uint64_t seed);

    at::Tensor teacherFeatures(const at::Tensor& x) { return ctx_->teacherFeatures(x); }
    analysis::LayerProbeResult probeLayers(const at::Tensor& images) {
        return ctx_->probeLayers(images);
    }
    at::Tensor studentForward(const at::Tensor& x) { return ctx_->studentForward(x); }
    // Seconds of one student forward and backward pass on the last batch, plus reading the
    // weight codes, with no effect on the run (gradients returned, not accumulated; activation
    // ranges not updated): what a student step will cost, before the first one. -1 before any
    // step.
    double timeStudentPass();
    at::Tensor teacherForward(const at::Tensor& x) { return ctx_->teacherForward(x); }

    // The last step's synthetic batch (detached), the teacher's logits on it, and its
    // BN-statistics distances and per-channel statistics per teacher BN layer.
    const Synthetic& lastBatch() const { return last_; }
    const at::Tensor& lastImages() const { return last_.images; }
    const at::Tensor& lastLabels() const { return last_.labels; }
    const at::Tensor& lastTeacherLogits() const { return lastTeacherLogits_; }
    const at::Tensor& lastBnMeanMse() const { return lastBnMeanMse_; }
    const at::Tensor& lastBnVarMse() const { return lastBnVarMse_; }
    const std::vector<model::BnBatchStats>& lastBnStats() const { return lastBnStats_; }

    // The student's weights as an exponential moving average over its training steps, with
    // `decay` per step (0: off). Evaluations and the run's result see the average, not the last
    // step's weights: a data-free run cannot pick its best epoch on real data, and the average
    // smooths the last epochs' swings. The decay ramps up as (1 + t) / (10 + t) over the first
    // steps t, so the average is not held at the PTQ weights.
    void setWeightAverage(double decay) { emaDecay_ = decay; }
    bool averagingWeights() const { return emaDecay_ > 0; }
    // Runs fn with the averaged weights in the student, and the live ones back afterwards (bit
    // for bit). Without an average (off, or before the first student step), just runs fn.
    void withAveragedWeights(const std::function<void()>& fn);
    // Puts the averaged weights in the student for good (the end of a run).
    void adoptAveragedWeights();

    // Everything that evolves during a run: the generator recipe's and the student recipe's
    // state, the student's parameters, the activation ranges. Loading throws dfq::Error when the
    // archive does not fit this run.
    void saveState(torch::serialize::OutputArchive& archive) const;
    void loadState(torch::serialize::InputArchive& archive);

    MethodContext& context() { return *ctx_; }
    GeneratorRecipe& generator() { return *generator_; }
    const GeneratorRecipe& generator() const { return *generator_; }
    StudentRecipe& student() { return *student_; }
    quant::StudentQuantizer& quantizer() { return ctx_->quantizer(); }
    model::ParamStore& studentParams() { return ctx_->studentParams(); }
    int64_t classes() const { return ctx_->classes(); }
    c10::Device device() const { return ctx_->device(); }

  private:
    // Keeps the step's batch for lastImages() and friends, and its losses in `stats`.
    void remember(const GeneratorStep& step, StepStats& stats);

    std::unique_ptr<MethodContext> ctx_;
    std::unique_ptr<GeneratorRecipe> generator_;
    std::unique_ptr<StudentRecipe> student_;
    Synthetic last_;
    at::Tensor lastTeacherLogits_, lastBnMeanMse_, lastBnVarMse_;
    std::vector<model::BnBatchStats> lastBnStats_;
    void updateAverage();
    double emaDecay_ = 0;
    int64_t emaSteps_ = 0;
    std::vector<at::Tensor> ema_;  // one per trainable tensor, once the student has trained
};

}  // namespace dfq::method
