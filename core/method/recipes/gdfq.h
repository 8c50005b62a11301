#pragma once

#include "../../gen/gdfq_generator.h"
#include "../registry_entry.h"
#include "generator_network.h"

namespace dfq::method {

// GDFQ's generator recipe (docs/methods.md, `gdfq`): the conditional generator, CIFAR or ImageNet
// style, on CE + bnsWeight * BNS.
struct GdfqOptions {
    NetworkOptions network;
    int64_t channels = 128;
    bool imagenetStyle = false;
};

class GdfqRecipe : public NetworkGeneratorRecipe {
  public:
    GdfqRecipe(MethodContext& context, const GdfqOptions& options);

  protected:
    // For recipes that feed the same generator differently (Qimera): builds nothing yet.
    GdfqRecipe(MethodContext& context, const NetworkOptions& network);
    gen::GdfqGeneratorOptions generatorOptions(const GdfqOptions& options) const;
};

GdfqOptions gdfqOptions(const run::ExperimentConfig& c, const std::vector<int64_t>& inputShape);
GeneratorEntry gdfqEntry();

}  // namespace dfq::method
