#pragma once

#include "../../gen/autorecon_generator.h"
#include "../registry_entry.h"
#include "generator_network.h"

namespace dfq::method {

// AutoReCon's generator recipe (docs/methods.md, `autorecon`): the cell generator with a derived
// architecture, or (search) the search space with architecture logits, searched for the first
// epochs and then fixed at its argmax, built afresh. Trained like GDFQ's generator.
struct AutoReconOptions {
    NetworkOptions network;
    bool search = false;
    gen::AutoReconArch arch;  // when not searching
    int64_t channels = 64;
    // The search: epochs, the temperature tau0 * exp(-decay * epoch), the logits' learning rate.
    int64_t searchEpochs = 4;
    double temperature = 5.0;
    double temperatureDecay = 0.045;
    double archLr = 0.01;
};

class AutoReconRecipe : public NetworkGeneratorRecipe, public ArchitectureSearch {
  public:
    AutoReconRecipe(MethodContext& context, const AutoReconOptions& options);

    ArchitectureSearch* search() override { return options_.search ? this : nullptr; }
    std::string architecture() const override;
    bool searching() const override { return autorecon_->options().search; }
    int64_t searchEpochs() const override { return options_.searchEpochs; }
    double temperature(int64_t epoch) const override;
    GeneratorStep searchStep(double lr, int64_t epoch) override;
    std::string derive() override;
    std::array<at::Tensor, 3> probabilities() const override;

    void save(torch::serialize::OutputArchive& archive) const override;
    void load(torch::serialize::InputArchive& archive) override;

  private:
    // The generator the options name, or the derived architecture when given, with its Adam(s).
    void build(const gen::AutoReconArch* derived);

    AutoReconOptions options_;
    std::shared_ptr<gen::AutoReconGeneratorImpl> autorecon_;
    std::unique_ptr<torch::optim::Adam> archAdam_;  // the search only
};

GeneratorEntry autoreconEntry();

}  // namespace dfq::method
