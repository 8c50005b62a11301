#include "real.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "../../data/dataset.h"
#include "../../data/preprocess.h"
#include "../../error.h"
#include "../../run/demo_teacher.h"
#include "../augment.h"

namespace dfq::method {

RealRecipe::RealRecipe(MethodContext& context, const RealOptions& options)
    : ctx_(context), options_(options) {
    if (options.path.empty())
        throw Error("real: give the images with real.path (or data.path)");
    const auto& meta = ctx_.teacherModel().meta();
    data::Dataset d = data::loadDataset(
        options.path, options.trainSplit ? data::Split::Train : data::Split::Test, meta.inputShape);
    d = data::selectImages(d, options.offset, options.stride, 0);
    if (options.images > d.size())
        throw Error("real: " + std::to_string(options.images) + " images asked for, but " +
                    d.source + " has " + std::to_string(d.size()) + " from real.offset " +
                    std::to_string(options.offset) + " with real.stride " +
                    std::to_string(options.stride));
    index_ = std::get<0>(at::randperm(d.size(), at::kLong).narrow(0, 0, options.images).sort());
    // Only the pixels: the labels stay in the dataset, unread.
    pool_ =
        data::preprocess(d.images.index_select(0, index_), meta.inputShape, {meta.mean, meta.std})
            .to(ctx_.device())
            .contiguous(at::MemoryFormat::ChannelsLast);
    order_ = ShuffledBatches(options.images);
}

GeneratorStep RealRecipe::train(double) {
    torch::NoGradGuard noGrad;
    const at::Tensor index = order_.next(ctx_.batchSize());
    GeneratorStep s;
    at::Tensor x = pool_.index_select(0, index.to(pool_.device()));
    if (options_.augment)
        x = randomResizedCropFlip(x, 0.5);
    s.batch.images = x.contiguous(at::MemoryFormat::ChannelsLast);
    MethodContext::TeacherPass t = ctx_.teacherPass(s.batch.images);
    s.batch.labels = t.logits.argmax(1);  // the teacher's classes stand in for the labels
    s.ce = MethodContext::crossEntropy(s.batch, t.logits);
    s.loss = t.bns.loss;
    s.teacherLogits = t.logits;
    s.bns = std::move(t.bns);
    s.bnStats = std::move(t.bnStats);
    return s;
}

at::Tensor RealRecipe::calibrationBatch(int64_t n, at::Generator& rng) {
    const at::Tensor index = at::randint(0, pool_.size(0), {n}, rng, at::kLong);
    return pool_.index_select(0, index.to(pool_.device()));
}

Synthetic RealRecipe::synthesize(int64_t n, bool superposed, at::Generator&) {
    if (superposed)
        throw Error("boundary samples need Qimera's generator (method.generator: qimera)");
    Synthetic s;
    s.images =
        pool_.index_select(0, at::arange(n, at::kLong).remainder(pool_.size(0)).to(pool_.device()));
    s.labels = ctx_.teacherForward(s.images).argmax(1);
    return s;
}

void RealRecipe::save(torch::serialize::OutputArchive& archive) const {
    archive.write("real_index", index_, true);
    archive.write("real_cursor", at::tensor(std::vector<int64_t>{order_.cursor()}), true);
    if (order_.order().defined())
        archive.write("real_order", order_.order(), true);
}

void RealRecipe::load(torch::serialize::InputArchive& archive) {
    at::Tensor index, cursor, order;
    if (!archive.try_read("real_index", index, true))
        throw Error("the checkpoint does not fit this run: it has no real-image pool");
    if (!at::equal(index, index_))
        throw Error("the checkpoint does not fit this run: its pool holds other images");
    archive.read("real_cursor", cursor, true);
    archive.try_read("real_order", order, true);
    order_.restore(order, cursor[0].item<int64_t>());
}

GeneratorEntry realEntry() {
    using K = RecipeKey;
    return {{"real",
             "real images",
             "Real images without their labels: N images drawn at random from a dataset, "
             "learned from the teacher's soft targets; how many real images the data-free "
             "recipes are worth.",
             "real",
             {K::text("real.path", "", "The dataset the images come from; empty: data.path."),
              K::integer("real.images", 100, 1, 1e8, "N: images in the pool."),
              K::integer("real.offset", 0, 0, 1e12,
                         "The pool is drawn from images real.offset, real.offset + real.stride, "
                         "...; keep it apart from the evaluation's (data.offset, data.stride)."),
              K::integer("real.stride", 2, 1, 1e6,
                         "Every how many images the pool's candidates are (2 with offset 0: the "
                         "even ones, leaving the odd ones to data.offset 1, data.stride 2)."),
              K::boolean("real.augment", true,
                         "Crop (area 0.5 to 1) and flip each image of a batch at random.")}},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                RealOptions o;
                o.path = c.recipeText("real.path");
                if (o.path.empty())
                    o.path = c.resolvedDataPath();
                else if (o.path == "fashion-mnist")  // the same name as in data.path
                    o.path = run::kFashionMnistDir;
                o.trainSplit = c.dataSplit == run::DataSplit::Train;
                o.images = static_cast<int64_t>(c.recipeValue("real.images"));
                o.offset = static_cast<int64_t>(c.recipeValue("real.offset"));
                o.stride = static_cast<int64_t>(c.recipeValue("real.stride"));
                o.augment = c.recipeFlag("real.augment");
                return std::make_unique<RealRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
