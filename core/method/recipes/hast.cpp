#include "hast.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>

#include "../../error.h"
#include "../augment.h"
#include "generator_network.h"

namespace dfq::method {

HastRecipe::HastRecipe(MethodContext& context, const HastOptions& options)
    : ctx_(context), options_(options) {
    const auto& input = ctx_.teacherModel().meta().inputShape;
    if (!options.from.empty()) {
        std::string sha;
        set_ = readFixedSet(options.from, input, ctx_.classes(), sha);
        set_.images = set_.images.to(ctx_.device());
        fromFile_ = true;
        complete_ = true;
        order_ = ShuffledBatches(set_.images.size(0));
        return;
    }
    const int64_t b = options.batch;
    const int64_t n = (std::max<int64_t>(options.images, 1) + b - 1) / b * b;
    if (options.warmupIterations < n / b * options.steps)
        throw Error("hast: the set of " + std::to_string(n) + " images takes " +
                    std::to_string(n / b) + " batches x " + std::to_string(options.steps) +
                    " steps = " + std::to_string(n / b * options.steps) +
                    " warm-up iterations, but schedule.warmup_epochs x schedule.iterations is " +
                    std::to_string(options.warmupIterations) +
                    "; lengthen the warm-up, or lower hast.images or hast.steps");
    std::vector<int64_t> shape{n};
    shape.insert(shape.end(), input.begin(), input.end());
    // Gaussian images in the teacher's normalized input space, as HAST starts, and their
    // classes: HAST draws them at random; balanced, every class is as often, in an order that
    // mixes them in every batch.
    set_.images = at::randn(shape).to(ctx_.device()).contiguous(at::MemoryFormat::ChannelsLast);
    set_.labels = options.randomLabels ? at::randint(0, ctx_.classes(), {n}, at::kLong)
                                       : at::arange(n, at::kLong)
                                             .remainder(ctx_.classes())
                                             .index_select(0, at::randperm(n, at::kLong));
    set_.difficulty = at::zeros({n});
    startBatch();
}

void HastRecipe::startBatch() {
    pixels_ = set_.images.narrow(0, batch_ * options_.batch, options_.batch)
                  .detach()
                  .clone(at::MemoryFormat::ChannelsLast)
                  .requires_grad_(true);
    adam_ = std::make_unique<torch::optim::Adam>(std::vector<at::Tensor>{pixels_},
                                                 torch::optim::AdamOptions(options_.lr));
    step_ = 0;
}

at::Tensor HastRecipe::hardnessCe(const at::Tensor& logits, const at::Tensor& labels,
                                  double gamma) {
    const at::Tensor ce = at::nll_loss(at::log_softmax(logits, 1), labels, {}, at::Reduction::None);
    if (gamma == 0)
        return ce.mean();
    return ((1 - at::exp(-ce)).pow(gamma) * ce).mean();
}

GeneratorStep HastRecipe::train(double) {
    return complete_ ? studentBatch() : synthesisStep();
}

// One Adam step of the batch being made; the batch is reported as it was before the step.
GeneratorStep HastRecipe::synthesisStep() {
    torch::AutoGradMode grad(true);
    GeneratorStep s;
    const at::Tensor labels =
        set_.labels.narrow(0, batch_ * options_.batch, options_.batch).to(ctx_.device());
    MethodContext::TeacherPass t = ctx_.teacherPass(pixels_);
    s.ce = hardnessCe(t.logits, labels, options_.hardness);
    s.loss = t.bns.loss + options_.ceWeight * s.ce;
    s.batch.images = pixels_.detach().clone();
    s.batch.labels = labels;
    s.teacherLogits = t.logits.detach();
    s.bns = std::move(t.bns);
    s.bnStats = std::move(t.bnStats);
    // Cosine decay over the batch's steps: HAST's plateau schedule over 1,000 steps would not
    // act within the few dozen a CPU affords. (ResNet-32, one batch of 256: BN loss 73.7 at the
    // start, 23 after 15 steps at 0.1, 33 at 0.05, 26 at 0.2; 11 after 30 steps, 3.9 after 60.)
    setLr(*adam_, options_.lr * 0.5 * (1 + std::cos(M_PI * step_ / options_.steps)));
    adam_->zero_grad();
    s.loss.backward();
    adam_->step();
    if (++step_ == options_.steps) {
        torch::NoGradGuard noGrad;
        set_.images.narrow(0, batch_ * options_.batch, options_.batch).copy_(pixels_);
        if (++batch_ == batches())
            finish();
        else
            startBatch();
    }
    return s;
}

// The set is made: each image's difficulty, and the first epoch's order.
void HastRecipe::finish() {
    torch::NoGradGuard noGrad;
    pixels_ = at::Tensor();
    adam_.reset();
    std::vector<at::Tensor> difficulty;
    for (int64_t k = 0; k < batches(); ++k) {
        const at::Tensor x = set_.images.narrow(0, k * options_.batch, options_.batch);
        const at::Tensor y = set_.labels.narrow(0, k * options_.batch, options_.batch);
        const at::Tensor p = at::softmax(ctx_.teacherForward(x), 1);
        difficulty.push_back(1 - p.gather(1, y.unsqueeze(1)).squeeze(1));
    }
    set_.difficulty = at::cat(difficulty);
    order_ = ShuffledBatches(set_.images.size(0));
    complete_ = true;
}

// A batch of the fixed set for the student: the next images of this epoch's shuffled order,
// randomly cropped and flipped, and the teacher's view of them.
GeneratorStep HastRecipe::studentBatch() {
    torch::NoGradGuard noGrad;
    const at::Tensor index = order_.next(ctx_.batchSize());
    GeneratorStep s;
    at::Tensor x = set_.images.index_select(0, index.to(set_.images.device()));
    if (options_.augment)
        x = randomResizedCropFlip(x, 0.5);
    s.batch.images = x.contiguous(at::MemoryFormat::ChannelsLast);
    s.batch.labels = set_.labels.index_select(0, index).to(ctx_.device());
    MethodContext::TeacherPass t = ctx_.teacherPass(s.batch.images);
    s.ce = hardnessCe(t.logits, s.batch.labels, options_.hardness);
    s.loss = t.bns.loss + options_.ceWeight * s.ce;
    s.teacherLogits = t.logits;
    s.bns = std::move(t.bns);
    s.bnStats = std::move(t.bnStats);
    return s;
}

at::Tensor HastRecipe::calibrationBatch(int64_t n, at::Generator& rng) {
    // From the images made so far (all of them once the set is complete).
    const int64_t made =
        complete_ ? set_.images.size(0) : std::max<int64_t>(batch_, 1) * options_.batch;
    const at::Tensor index = at::randint(0, made, {n}, rng, at::kLong);
    return set_.images.index_select(0, index.to(set_.images.device())).detach();
}

Synthetic HastRecipe::synthesize(int64_t n, bool superposed, at::Generator&) {
    if (superposed)
        throw Error("boundary samples need Qimera's generator (method.generator: qimera)");
    const at::Tensor index = at::arange(n, at::kLong).remainder(set_.images.size(0));
    Synthetic s;
    s.images = set_.images.index_select(0, index.to(set_.images.device())).detach();
    s.labels = set_.labels.index_select(0, index);
    return s;
}

void HastRecipe::save(torch::serialize::OutputArchive& archive) const {
    archive.write("hast_images", set_.images.detach().cpu(), true);
    archive.write("hast_labels", set_.labels, true);
    archive.write("hast_difficulty", set_.difficulty, true);
    archive.write(
        "hast_state",
        at::tensor(std::vector<int64_t>{batch_, step_, complete_ ? 1 : 0, order_.cursor()}), true);
    if (order_.order().defined())
        archive.write("hast_order", order_.order(), true);
    if (pixels_.defined()) {
        archive.write("hast_pixels", pixels_.detach().cpu(), true);
        torch::serialize::OutputArchive adam;
        adam_->save(adam);
        archive.write("hast_adam", adam);
    }
}

void HastRecipe::load(torch::serialize::InputArchive& archive) {
    at::Tensor images, labels, difficulty, state, order;
    if (!archive.try_read("hast_images", images, true))
        throw Error("the checkpoint does not fit this run: it has no HAST set");
    if (!images.sizes().equals(set_.images.sizes()))
        throw Error("the checkpoint does not fit this run: its HAST set has shape " +
                    c10::str(images.sizes()));
    archive.read("hast_labels", labels, true);
    archive.read("hast_difficulty", difficulty, true);
    archive.read("hast_state", state, true);
    torch::NoGradGuard noGrad;
    set_.images.copy_(images);
    set_.labels = labels;
    set_.difficulty = difficulty;
    batch_ = state[0].item<int64_t>();
    step_ = state[1].item<int64_t>();
    complete_ = state[2].item<int64_t>() != 0;
    order_ = ShuffledBatches(set_.images.size(0));
    archive.try_read("hast_order", order, true);
    order_.restore(order, state[3].item<int64_t>());
    if (!complete_) {
        at::Tensor pixels;
        archive.read("hast_pixels", pixels, true);
        const int64_t step = step_;
        startBatch();
        step_ = step;
        pixels_.copy_(pixels);
        torch::serialize::InputArchive adam;
        archive.read("hast_adam", adam);
        adam_->load(adam);
    } else {
        pixels_ = at::Tensor();
        adam_.reset();
    }
}

GeneratorEntry hastEntry() {
    using K = RecipeKey;
    return {{"hast",
             "HAST",
             "HAST's hard samples: a fixed set of images optimized from noise against every "
             "BatchNorm layer of the teacher and a CE towards each image's class weighted by how "
             "hard the teacher finds it; made during the warm-up (one step of one batch per "
             "iteration), then shuffled, cropped and flipped for the student.",
             "hast",
             {K::integer("hast.images", 5120, 1, 1e7,
                         "Images in the set, rounded up to whole synthesis batches."),
              K::integer("hast.batch", 256, 1, 1e5,
                         "Images optimized together, whose BatchNorm statistics are matched."),
              K::integer("hast.steps", 30, 1, 1e6,
                         "Adam steps per synthesis batch; the warm-up (schedule.warmup_epochs x "
                         "schedule.iterations) must hold batches x steps iterations."),
              K::number("hast.lr", 0.1, 1e-9, 1e3,
                        "Adam's learning rate on the pixels (of the normalized input), decayed "
                        "to 0 over each batch's steps (cosine). HAST's 0.5 suits its 1,000 steps; "
                        "over a few dozen it first doubles the BN loss."),
              K::number("hast.ce_weight", 10, 0, 1e6,
                        "Weight of the difficulty-weighted CE beside the BNS loss (HAST's beta)."),
              K::number("hast.hardness", 2, 0, 100,
                        "gamma: the CE of an image is weighted by (1 - p)^gamma, p the teacher's "
                        "probability of its class; 0 is the plain CE."),
              K::boolean("hast.augment", true,
                         "Crop (area 0.5 to 1) and flip each image of the student's batches at "
                         "random, as HAST's fine-tuning does."),
              K::choice("hast.labels", {"balanced", "random"}, "balanced",
                        "Each image's class: every class equally often, or drawn at random as "
                        "HAST does."),
              K::text("hast.from", "",
                      "A run folder (or its synthetic_set.pt) whose set to reuse instead of "
                      "making one; the warm-up then only calibrates.")}},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                HastOptions o;
                o.images = static_cast<int64_t>(c.recipeValue("hast.images"));
                o.batch = static_cast<int64_t>(c.recipeValue("hast.batch"));
                o.steps = static_cast<int64_t>(c.recipeValue("hast.steps"));
                o.lr = c.recipeValue("hast.lr");
                o.ceWeight = c.recipeValue("hast.ce_weight");
                o.hardness = c.recipeValue("hast.hardness");
                o.augment = c.recipeFlag("hast.augment");
                o.randomLabels = c.recipeText("hast.labels") == "random";
                o.from = c.recipeText("hast.from");
                o.warmupIterations = c.scheduleWarmupEpochs * c.scheduleIterations;
                return std::make_unique<HastRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
