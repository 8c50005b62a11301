#include "generator_network.h"

#include <ATen/ATen.h>

#include "../../error.h"
#include "../scope_guards.h"

namespace dfq::method {

void setLr(torch::optim::Adam& adam, double lr) {
    for (auto& group : adam.param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

NetworkOptions networkOptions(const run::ExperimentConfig& c) {
    NetworkOptions o;
    o.latentDim = c.generatorLatentDim;
    o.adamBeta1 = c.generatorBetas.at(0);
    o.adamBeta2 = c.generatorBetas.at(1);
    o.bnsWeight = c.generatorBnsWeight;
    return o;
}

NetworkGeneratorRecipe::NetworkGeneratorRecipe(MethodContext& context,
                                               const NetworkOptions& options)
    : ctx_(context), options_(options) {}

void NetworkGeneratorRecipe::setNetwork(std::shared_ptr<gen::GeneratorBase> network,
                                        std::vector<at::Tensor> weights) {
    generator_ = std::move(network);
    generator_->to(ctx_.device());
    generator_->train();
    adam_ = std::make_unique<torch::optim::Adam>(
        weights, torch::optim::AdamOptions(1e-3).betas({options_.adamBeta1, options_.adamBeta2}));
}

NetworkGeneratorRecipe::Latent NetworkGeneratorRecipe::drawLatent(int64_t b,
                                                                  at::Generator* rng) const {
    const c10::optional<at::Generator> gen =
        rng ? c10::optional<at::Generator>(*rng) : c10::nullopt;
    Latent in;
    in.z = at::randn({b, options_.latentDim}, gen).to(ctx_.device());
    in.labels = at::randint(0, ctx_.classes(), {b}, gen, at::kLong).to(ctx_.device());
    return in;
}

GeneratorStep NetworkGeneratorRecipe::pass(const Latent& in) {
    GeneratorStep s;
    Synthetic& batch = s.batch;
    // The label each sample is asked for: its heaviest component when superposed.
    batch.labels =
        in.superposed() ? in.labels.gather(1, in.weights.argmax(1, true)).squeeze(1) : in.labels;
    if (in.superposed()) {
        batch.mixLabels = in.labels;
        batch.mixWeights = in.weights;
        batch.targets = in.targets;
    }
    batch.images = generator_->forward(in.z, in.labels, in.weights);
    MethodContext::TeacherPass t = ctx_.teacherPass(batch.images);
    s.ce = MethodContext::crossEntropy(batch, t.logits);
    s.loss = s.ce + options_.bnsWeight * t.bns.loss;
    s.teacherLogits = t.logits.detach();
    s.bns = std::move(t.bns);
    s.bnStats = std::move(t.bnStats);
    return s;
}

GeneratorStep NetworkGeneratorRecipe::train(double lr) {
    const Latent in = drawLatent(ctx_.batchSize(), nullptr);
    GeneratorStep s = pass(in);
    setLr(*adam_, lr);
    adam_->zero_grad();
    s.loss.backward();
    adam_->step();
    return s;
}

at::Tensor NetworkGeneratorRecipe::calibrationBatch(int64_t n, at::Generator& rng) {
    const BufferRestore keepGenerator(*generator_);
    const Latent in = drawLatent(n, &rng);
    return generator_->forward(in.z, in.labels, in.weights);
}

Synthetic NetworkGeneratorRecipe::synthesize(int64_t n, bool superposed, at::Generator& rng) {
    if (superposed && !boundarySamples())
        throw Error("boundary samples need Qimera's generator (method.generator: qimera)");
    const BufferRestore keepGenerator(*generator_);
    const int64_t classes = ctx_.classes();
    const c10::Device device = ctx_.device();
    Synthetic s;
    s.labels = at::arange(n, at::kLong).remainder(classes);
    if (superposed) {
        const at::Tensor pair = at::stack(
            {s.labels,
             (s.labels + 1 + at::randint(0, std::max<int64_t>(classes - 1, 1), {n}, rng, at::kLong))
                 .remainder(classes)},
            1);
        const at::Tensor w = at::softmax(at::randn({n, 2}, rng), 1);
        const at::Tensor z = at::randn({n, 2, options_.latentDim}, rng).to(device);
        s.images = generator_->forward(z, pair.to(device), w.to(device));
        s.labels = pair.gather(1, w.argmax(1, true)).squeeze(1);
        s.mixLabels = pair;
        s.mixWeights = w;
    } else {
        const at::Tensor z = at::randn({n, options_.latentDim}, rng).to(device);
        s.images = generator_->forward(z, s.labels.to(device));
    }
    return s;
}

void NetworkGeneratorRecipe::save(torch::serialize::OutputArchive& archive) const {
    torch::serialize::OutputArchive gen, adam;
    generator_->save(gen);
    adam_->save(adam);
    archive.write("generator", gen);
    archive.write("adam", adam);
}

void NetworkGeneratorRecipe::load(torch::serialize::InputArchive& archive) {
    torch::serialize::InputArchive gen, adam;
    archive.read("generator", gen);
    archive.read("adam", adam);
    try {
        generator_->load(gen);
    } catch (const c10::Error& e) {
        throw Error("the checkpoint's generator does not fit this run (" +
                    std::string(e.what_without_backtrace()) + ")");
    }
    generator_->to(ctx_.device());
    adam_->load(adam);
}

}  // namespace dfq::method
