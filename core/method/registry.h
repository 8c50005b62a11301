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

// A key a recipe declares as its own (`zeroq.pool_size`): parsed, checked, written to
// config.yaml when the recipe is chosen, documented and offered by the form, all from this
// declaration (ExperimentConfig::recipeValue, recipeFlag and recipeText read it). Declared with
// the helpers below.
struct RecipeKey {
    enum class Type { Number, Integer, Boolean, Choice, Text };
    std::string key;  // "<section>.<name>"
    Type type = Type::Number;
    double defaultValue = 0;           // Number, Integer; Boolean as 0 or 1
    double min = 0, max = 0;           // Number, Integer
    std::vector<std::string> choices;  // Choice
    std::string defaultText;           // Choice, Text
    std::string doc;

    bool numeric() const { return type == Type::Number || type == Type::Integer; }
    bool textual() const { return type == Type::Choice || type == Type::Text; }
    // The default as the configuration writes it ("0.5", "true", "lowpass", "").
    std::string defaultString() const;
    // "0 to 1", "true or false", "a, b or c", "text".
    std::string allowedText() const;

    static RecipeKey number(std::string key, double def, double min, double max, std::string doc);
    static RecipeKey integer(std::string key, double def, double min, double max, std::string doc);
    static RecipeKey boolean(std::string key, bool def, std::string doc);
    static RecipeKey choice(std::string key, std::vector<std::string> choices, std::string def,
                            std::string doc);
    static RecipeKey text(std::string key, std::string def, std::string doc);
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
