#pragma once

#include <memory>
#include <string>
#include <vector>

namespace dfq::run {
struct ExperimentConfig;
}

namespace dfq::method {

class MethodContext;
class GeneratorRecipe;
class StudentRecipe;

// A number a recipe declares as its own configuration key (`zeroq.pool_size`): parsed, checked,
// written to config.yaml when the recipe is chosen, documented and offered by the form, all
// from this declaration (ExperimentConfig::recipeValue reads it).
struct RecipeKey {
    std::string key;  // "<section>.<name>"
    double defaultValue = 0;
    double min = 0, max = 0;
    bool integer = false;
    std::string doc;
};

// What the configuration, the CLI, the form and docs/config.md know of a recipe. Torch-free:
// the window includes it.
struct RecipeInfo {
    std::string name;     // the configuration's value, e.g. "qimera"
    std::string title;    // as a person writes it, e.g. "Qimera"
    std::string doc;      // what it does, one or two sentences
    std::string section;  // the configuration section of its own keys ("" when it has none)
    std::vector<RecipeKey> keys = {};  // its own keys declared here (older recipes' keys are in
                                       // the schema table of experiment_config.cpp)
};

// The recipes, in the order the choices are offered (registry.cpp: one line each).
const std::vector<RecipeInfo>& generatorRecipes();
const std::vector<RecipeInfo>& studentRecipes();
std::vector<std::string> recipeNames(const std::vector<RecipeInfo>& recipes);
// nullptr for a name that is not there.
const RecipeInfo* findRecipe(const std::vector<RecipeInfo>& recipes, const std::string& name);
// The declared key of any recipe; nullptr when no recipe declares it.
const RecipeKey* findRecipeKey(const std::string& key);
// "GDFQ", "Qimera+AIT": the method a generator and a student recipe make (the student's title
// left out for the default `kd`).
std::string methodTitle(const std::string& generator, const std::string& student);

// The recipes the configuration names (method.generator, method.student), built for `context`
// from their keys. Throws dfq::Error for an unknown name.
std::unique_ptr<GeneratorRecipe> makeGeneratorRecipe(MethodContext& context,
                                                     const run::ExperimentConfig& config);
std::unique_ptr<StudentRecipe> makeStudentRecipe(MethodContext& context,
                                                 const run::ExperimentConfig& config);

}  // namespace dfq::method
