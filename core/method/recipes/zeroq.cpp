#include "zeroq.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "../../error.h"
#include "generator_network.h"

namespace dfq::method {

ZeroqRecipe::ZeroqRecipe(MethodContext& context, const ZeroqOptions& options)
    : ctx_(context), options_(options) {
    const int64_t b = ctx_.batchSize();
    const int64_t n = (std::max<int64_t>(options.poolSize, 1) + b - 1) / b;
    std::vector<int64_t> shape{b};
    const auto& input = ctx_.teacherModel().meta().inputShape;
    shape.insert(shape.end(), input.begin(), input.end());
    for (int64_t k = 0; k < n; ++k) {
        // Gaussian images in the teacher's normalized input space, as ZeroQ starts.
        batches_.push_back(at::randn(shape).to(ctx_.device()).requires_grad_(true));
        labels_.push_back(
            (at::arange(b, at::kLong) + k * b).remainder(ctx_.classes()).to(ctx_.device()));
        adams_.push_back(std::make_unique<torch::optim::Adam>(
            std::vector<at::Tensor>{batches_.back()}, torch::optim::AdamOptions(options.lr)));
        updates_.push_back(0);
    }
}

int64_t ZeroqRecipe::poolImages() const {
    return static_cast<int64_t>(batches_.size()) * ctx_.batchSize();
}

at::Tensor ZeroqRecipe::pool() const {
    return at::cat(batches_).detach();
}

at::Tensor ZeroqRecipe::assignedLabels() const {
    return at::cat(labels_);
}

GeneratorStep ZeroqRecipe::train(double lr) {
    const size_t k = static_cast<size_t>(next_);
    next_ = (next_ + 1) % static_cast<int64_t>(batches_.size());
    const bool update = updates_[k] < options_.steps;
    torch::AutoGradMode grad(update);
    GeneratorStep s;
    // The batch as it is before the update (a copy that keeps the graph to the pool).
    s.batch.images = update ? batches_[k].clone() : batches_[k].detach();
    MethodContext::TeacherPass t = ctx_.teacherPass(s.batch.images);
    s.batch.labels = options_.ceWeight > 0 ? labels_[k] : t.logits.detach().argmax(1);
    s.ce = MethodContext::crossEntropy(s.batch, t.logits);
    s.loss = t.bns.loss + options_.ceWeight * s.ce;
    s.teacherLogits = t.logits.detach();
    s.bns = std::move(t.bns);
    s.bnStats = std::move(t.bnStats);
    if (update) {
        // zeroq.lr follows the schedule's factor (lr over its start); with generator.lr 0 there
        // is no factor to follow, and zeroq.lr holds.
        setLr(*adams_[k],
              options_.scheduleBase > 0 ? options_.lr * lr / options_.scheduleBase : options_.lr);
        adams_[k]->zero_grad();
        s.loss.backward();
        adams_[k]->step();
        ++updates_[k];
    }
    return s;
}

// Pool images by index, taken from their batches (no copy of the whole pool).
at::Tensor ZeroqRecipe::images(const at::Tensor& index) const {
    const int64_t b = ctx_.batchSize();
    const at::Tensor i = index.contiguous();
    std::vector<at::Tensor> rows;
    for (int64_t k = 0; k < i.numel(); ++k) {
        const int64_t n = i.data_ptr<int64_t>()[k];
        rows.push_back(batches_[static_cast<size_t>(n / b)][n % b].detach());
    }
    return at::stack(rows);
}

at::Tensor ZeroqRecipe::calibrationBatch(int64_t n, at::Generator& rng) {
    return images(at::randint(0, poolImages(), {n}, rng, at::kLong));
}

Synthetic ZeroqRecipe::synthesize(int64_t n, bool superposed, at::Generator&) {
    if (superposed)
        throw Error("boundary samples need Qimera's generator (method.generator: qimera)");
    const at::Tensor index = at::arange(n, at::kLong).remainder(poolImages());
    Synthetic s;
    s.images = images(index);
    s.labels = assignedLabels().cpu().index_select(0, index);
    return s;
}

void ZeroqRecipe::save(torch::serialize::OutputArchive& archive) const {
    archive.write("zeroq_pool", pool().cpu(), true);
    archive.write("zeroq_updates", at::tensor(updates_, at::kLong), true);
    archive.write("zeroq_next", c10::IValue(next_));
    for (size_t k = 0; k < adams_.size(); ++k) {
        torch::serialize::OutputArchive adam;
        adams_[k]->save(adam);
        archive.write("zeroq_adam" + std::to_string(k), adam);
    }
}

void ZeroqRecipe::load(torch::serialize::InputArchive& archive) {
    at::Tensor pool, updates;
    c10::IValue next;
    if (!archive.try_read("zeroq_pool", pool, true))
        throw Error("the checkpoint does not fit this run: it has no ZeroQ pool");
    archive.read("zeroq_updates", updates, true);
    archive.read("zeroq_next", next);
    if (!pool.sizes().equals(this->pool().sizes()))
        throw Error("the checkpoint does not fit this run: its ZeroQ pool has shape " +
                    c10::str(pool.sizes()));
    torch::NoGradGuard noGrad;
    const int64_t b = ctx_.batchSize();
    for (size_t k = 0; k < batches_.size(); ++k) {
        batches_[k].copy_(pool.narrow(0, static_cast<int64_t>(k) * b, b));
        updates_[k] = updates[static_cast<int64_t>(k)].item<int64_t>();
        torch::serialize::InputArchive adam;
        archive.read("zeroq_adam" + std::to_string(k), adam);
        adams_[k]->load(adam);
    }
    next_ = next.toInt();
}

GeneratorEntry zeroqEntry() {
    return {{"zeroq",
             "ZeroQ",
             "ZeroQ's distilled data: a fixed pool of images optimized directly (no generator "
             "network) to match every BatchNorm layer of the teacher, optionally with CE towards "
             "assigned labels; each batch is updated zeroq.steps times, then fixed.",
             "zeroq",
             {RecipeKey::integer(
                  "zeroq.pool_size", 256, 1, 1e7,
                  "Images in the pool, rounded up to whole batches of generator.batch_size."),
              RecipeKey::number("zeroq.lr", 0.1, 1e-9, 1e3,
                                "Adam's learning rate on the pixels (of the normalized input), "
                                "scaled by the run's learning-rate schedule."),
              RecipeKey::integer("zeroq.steps", 50, 0, 1e9,
                                 "Updates of each pool batch before it is fixed; ZeroQ distils "
                                 "before any fine-tuning, so steps x batches = the warm-up's "
                                 "iterations fits it."),
              RecipeKey::number("zeroq.ce_weight", 0, 0, 1e3,
                                "Weight of the CE towards each image's assigned label (image i: "
                                "class i mod classes); 0 is ZeroQ's BNS-only loss, and the labels "
                                "are the teacher's predictions.")}},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                ZeroqOptions o;
                o.poolSize = static_cast<int64_t>(c.recipeValue("zeroq.pool_size"));
                o.lr = c.recipeValue("zeroq.lr");
                o.steps = static_cast<int64_t>(c.recipeValue("zeroq.steps"));
                o.ceWeight = c.recipeValue("zeroq.ce_weight");
                o.scheduleBase = c.generatorLr;
                return std::make_unique<ZeroqRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
