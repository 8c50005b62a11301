#pragma once

#include <functional>
#include <memory>

#include "../run/experiment_config.h"
#include "context.h"
#include "recipe.h"
#include "registry.h"

namespace dfq::method {

// One line of the registry (registry.cpp): a recipe's description and how to build it from the
// configuration. Each recipe's file defines a function returning its entry.
template <typename Recipe>
struct RegistryEntry {
    RecipeInfo info;
    std::function<std::unique_ptr<Recipe>(MethodContext&, const run::ExperimentConfig&)> make;
};
using GeneratorEntry = RegistryEntry<GeneratorRecipe>;
using StudentEntry = RegistryEntry<StudentRecipe>;

}  // namespace dfq::method
