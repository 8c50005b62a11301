#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <vector>

#include "../../gen/generator.h"
#include "../../run/experiment_config.h"
#include "../context.h"
#include "../recipe.h"

namespace dfq::method {

// The options every generator network shares (docs/methods.md, `gdfq`): the latent size, Adam's
// betas and the weight of the BNS term in the generator's loss CE + bnsWeight * BNS.
struct NetworkOptions {
    int64_t latentDim = 100;
    double adamBeta1 = 0.5;
    double adamBeta2 = 0.999;
    double bnsWeight = 0.1;
};

// A generator network trained with Adam through the teacher on CE + bnsWeight * BNS: what GDFQ,
// Qimera and AutoReCon have in common. Subclasses build the network (setNetwork) and may draw
// their inputs differently (drawLatent).
class NetworkGeneratorRecipe : public GeneratorRecipe {
  public:
    GeneratorStep train(double lr) override;
    at::Tensor calibrationBatch(int64_t n, at::Generator& rng) override;
    Synthetic synthesize(int64_t n, bool superposed, at::Generator& rng) override;
    void save(torch::serialize::OutputArchive& archive) const override;
    void load(torch::serialize::InputArchive& archive) override;

    int64_t latentDim() const { return options_.latentDim; }
    gen::GeneratorBase& network() { return *generator_; }

    // One batch of generator inputs on the device. Single-label: z [B, latent], labels [B].
    // Superposed: z [B, K, latent], labels and weights [B, K], targets [B, classes].
    struct Latent {
        at::Tensor z, labels, weights, targets;
        bool superposed() const { return labels.dim() == 2; }
    };
    // Drawn on the CPU from `rng` (the global generator when null) and moved, so that a seed
    // gives the same batches on every device.
    virtual Latent drawLatent(int64_t batch, at::Generator* rng) const;

  protected:
    NetworkGeneratorRecipe(MethodContext& context, const NetworkOptions& options);
    // The network the recipe trains (moved to the device, in train mode) and the tensors Adam
    // updates; a fresh Adam.
    void setNetwork(std::shared_ptr<gen::GeneratorBase> network, std::vector<at::Tensor> weights);
    // Synthesis from `in`, the teacher's pass, and the loss.
    GeneratorStep pass(const Latent& in);
    torch::optim::Adam& adam() { return *adam_; }

    MethodContext& ctx_;
    NetworkOptions options_;

  private:
    std::shared_ptr<gen::GeneratorBase> generator_;
    std::unique_ptr<torch::optim::Adam> adam_;
};

// The generator.* keys every generator network takes.
NetworkOptions networkOptions(const run::ExperimentConfig& c);

// Sets every parameter group's learning rate.
void setLr(torch::optim::Adam& adam, double lr);

}  // namespace dfq::method
