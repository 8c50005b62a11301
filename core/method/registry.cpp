#include "registry.h"

#include "../error.h"
#include "../run/config_schema.h"
#include "recipes/ait.h"
#include "recipes/autorecon.h"
#include "recipes/gdfq.h"
#include "recipes/hast.h"
#include "recipes/kd.h"
#include "recipes/qimera.h"
#include "recipes/real.h"
#include "recipes/synq.h"
#include "recipes/zeroq.h"

namespace dfq::method {

namespace {

// The registry: one line per recipe, in the order the choices are offered.
const std::vector<GeneratorEntry>& generatorEntries() {
    static const std::vector<GeneratorEntry> entries = {
        gdfqEntry(),       // GDFQ's conditional generator
        qimeraEntry(),     // Qimera's superposed embeddings
        autoreconEntry(),  // AutoReCon's cells
        zeroqEntry(),      // a pool of images, updated during the run
        hastEntry(),       // a fixed set of hard samples, made in the warm-up
        realEntry(),       // real images without labels
    };
    return entries;
}

const std::vector<StudentEntry>& studentEntries() {
    static const std::vector<StudentEntry> entries = {
        kdEntry(),
        aitEntry(),
        synqEntry(),
    };
    return entries;
}

template <typename Entry>
std::vector<RecipeInfo> infos(const std::vector<Entry>& entries) {
    std::vector<RecipeInfo> out;
    for (const auto& e : entries)
        out.push_back(e.info);
    return out;
}

template <typename Entry>
const Entry& entryNamed(const std::vector<Entry>& entries, const std::string& name,
                        const char* what) {
    for (const auto& e : entries)
        if (e.info.name == name)
            return e;
    std::string known;
    for (const auto& e : entries)
        known += (known.empty() ? "" : ", ") + e.info.name;
    throw Error("unknown " + std::string(what) + " recipe '" + name + "' (known: " + known + ")");
}

}  // namespace

std::string RecipeKey::defaultString() const {
    switch (type) {
        case Type::Boolean:
            return defaultValue != 0 ? "true" : "false";
        case Type::Choice:
        case Type::Text:
            return defaultText;
        case Type::Number:
        case Type::Integer:
            break;
    }
    return run::schema_detail::number(defaultValue);
}

std::string RecipeKey::allowedText() const {
    switch (type) {
        case Type::Boolean:
            return "true or false";
        case Type::Choice: {
            std::string out;
            for (size_t i = 0; i < choices.size(); ++i)
                out += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
            return out;
        }
        case Type::Text:
            return "text";
        case Type::Number:
        case Type::Integer:
            break;
    }
    return run::schema_detail::number(min) + " to " + run::schema_detail::number(max);
}

RecipeKey RecipeKey::number(std::string key, double def, double min, double max, std::string doc) {
    RecipeKey k;
    k.key = std::move(key);
    k.defaultValue = def;
    k.min = min;
    k.max = max;
    k.doc = std::move(doc);
    return k;
}

RecipeKey RecipeKey::integer(std::string key, double def, double min, double max, std::string doc) {
    RecipeKey k = number(std::move(key), def, min, max, std::move(doc));
    k.type = Type::Integer;
    return k;
}

RecipeKey RecipeKey::boolean(std::string key, bool def, std::string doc) {
    RecipeKey k = number(std::move(key), def ? 1 : 0, 0, 1, std::move(doc));
    k.type = Type::Boolean;
    return k;
}

RecipeKey RecipeKey::choice(std::string key, std::vector<std::string> choices, std::string def,
                            std::string doc) {
    RecipeKey k;
    k.key = std::move(key);
    k.type = Type::Choice;
    k.choices = std::move(choices);
    k.defaultText = std::move(def);
    k.doc = std::move(doc);
    return k;
}

RecipeKey RecipeKey::text(std::string key, std::string def, std::string doc) {
    RecipeKey k;
    k.key = std::move(key);
    k.type = Type::Text;
    k.defaultText = std::move(def);
    k.doc = std::move(doc);
    return k;
}

const std::vector<RecipeInfo>& generatorRecipes() {
    static const std::vector<RecipeInfo> out = infos(generatorEntries());
    return out;
}

const std::vector<RecipeInfo>& studentRecipes() {
    static const std::vector<RecipeInfo> out = infos(studentEntries());
    return out;
}

std::vector<std::string> recipeNames(const std::vector<RecipeInfo>& recipes) {
    std::vector<std::string> out;
    for (const auto& r : recipes)
        out.push_back(r.name);
    return out;
}

const RecipeInfo* findRecipe(const std::vector<RecipeInfo>& recipes, const std::string& name) {
    for (const auto& r : recipes)
        if (r.name == name)
            return &r;
    return nullptr;
}

const RecipeKey* findRecipeKey(const std::string& key) {
    for (const auto* list : {&generatorRecipes(), &studentRecipes()})
        for (const auto& r : *list)
            for (const auto& k : r.keys)
                if (k.key == key)
                    return &k;
    return nullptr;
}

std::string methodTitle(const std::string& generator, const std::string& student) {
    const RecipeInfo* g = findRecipe(generatorRecipes(), generator);
    const RecipeInfo* s = findRecipe(studentRecipes(), student);
    std::string title = g ? g->title : generator;
    if (student != "kd")
        title += "+" + (s ? s->title : student);
    return title;
}

std::unique_ptr<GeneratorRecipe> makeGeneratorRecipe(MethodContext& context,
                                                     const run::ExperimentConfig& config) {
    return entryNamed(generatorEntries(), config.methodGenerator, "generator")
        .make(context, config);
}

std::unique_ptr<StudentRecipe> makeStudentRecipe(MethodContext& context,
                                                 const run::ExperimentConfig& config) {
    return entryNamed(studentEntries(), config.methodStudent, "student").make(context, config);
}

}  // namespace dfq::method
