#include "experiment_config.h"

#include "config_schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <variant>

#include "../error.h"
#include "../gen/autorecon_arch.h"
#include "../method/registry.h"
#include "../safe_io.h"
#include "../zip_check.h"
#include "demo_teacher.h"

namespace dfq::run {

using namespace schema_detail;

namespace {

[[noreturn]] void fail(const std::string& source, const KeySpec& s, const std::string& what) {
    throw Error(source + ": '" + s.key + "' " + what);
}

void checkRange(const std::string& source, const KeySpec& s, double v) {
    if (v < s.min || v > s.max || std::isnan(v))
        fail(source, s, "is " + number(v) + "; allowed: " + rangeText(s));
}

template <typename T>
T scalarAs(const std::string& source, const KeySpec& s, const YAML::Node& node, const char* type) {
    if (!node.IsScalar())
        fail(source, s, std::string("must be ") + type);
    try {
        return node.as<T>();
    } catch (const YAML::Exception&) {
        fail(source, s, std::string("must be ") + type + ", got '" + node.Scalar() + "'");
    }
}

// A recipe's declared key, checked against its declaration.
void assignRecipeKey(C& c, const method::RecipeKey& k, const YAML::Node& node,
                     const std::string& source) {
    using Type = method::RecipeKey::Type;
    const KeySpec spec{k.key.c_str(), &C::name, k.doc, k.min, k.max};
    switch (k.type) {
        case Type::Boolean:
            c.recipeValues[k.key] = scalarAs<bool>(source, spec, node, "true or false") ? 1 : 0;
            return;
        case Type::Choice: {
            const std::string v = scalarAs<std::string>(source, spec, node, "a name");
            if (std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end())
                fail(source, spec, "must be " + k.allowedText() + ", got '" + v + "'");
            c.recipeTexts[k.key] = v;
            return;
        }
        case Type::Text:
            c.recipeTexts[k.key] =
                node.IsNull() ? "" : scalarAs<std::string>(source, spec, node, "text");
            return;
        case Type::Number:
        case Type::Integer:
            break;
    }
    const bool integer = k.type == Type::Integer;
    const double v = scalarAs<double>(source, spec, node, integer ? "an integer" : "a number");
    if (integer && v != std::floor(v))
        fail(source, spec, "must be an integer");
    checkRange(source, spec, v);
    c.recipeValues[k.key] = v;
}

const method::RecipeKey& declaredKey(const std::string& key, bool textual) {
    const method::RecipeKey* k = method::findRecipeKey(key);
    if (!k)
        throw Error("'" + key + "' is not a key any recipe declares");
    if (k->textual() != textual)
        throw Error("'" + key + "' is " + (k->textual() ? "a name or a text" : "a number") +
                    ", not " + (textual ? "a name or a text" : "a number"));
    return *k;
}

void assign(C& c, const KeySpec& s, const YAML::Node& node, const std::string& source) {
    std::visit(
        [&](auto member) {
            using T = std::decay_t<decltype(c.*member)>;
            T& out = c.*member;
            if constexpr (std::is_same_v<T, int64_t>) {
                const double d = scalarAs<double>(source, s, node, "an integer");
                if (d != std::floor(d))
                    fail(source, s, "must be an integer");
                checkRange(source, s, d);
                out = static_cast<int64_t>(d);
            } else if constexpr (std::is_same_v<T, double>) {
                out = scalarAs<double>(source, s, node, "a number");
                checkRange(source, s, out);
            } else if constexpr (std::is_same_v<T, bool>) {
                out = scalarAs<bool>(source, s, node, "true or false");
            } else if constexpr (std::is_enum_v<T>) {
                const std::string name = scalarAs<std::string>(source, s, node, "text");
                if (!parseChoice(name, out)) {
                    std::string allowed;
                    for (const auto& ch : s.choices)
                        allowed += (allowed.empty() ? "" : ", ") + ch;
                    fail(source, s, "is '" + name + "'; allowed: " + allowed);
                }
            } else if constexpr (std::is_same_v<T, std::string>) {
                out = node.IsNull() ? "" : scalarAs<std::string>(source, s, node, "text");
                if (!s.choices.empty() &&
                    std::find(s.choices.begin(), s.choices.end(), out) == s.choices.end()) {
                    std::string allowed;
                    for (const auto& ch : s.choices)
                        allowed += (allowed.empty() ? "" : ", ") + ch;
                    fail(source, s, "is '" + out + "'; allowed: " + allowed);
                }
            } else if constexpr (std::is_same_v<T, std::map<std::string, int64_t>>) {
                out.clear();
                if (node.IsNull())
                    return;
                if (!node.IsMap())
                    fail(source, s, "must be a map of layer path to bits");
                for (const auto& kv : node) {
                    const double d = scalarAs<double>(source, s, kv.second, "an integer");
                    checkRange(source, s, d);
                    out[kv.first.as<std::string>()] = static_cast<int64_t>(d);
                }
            } else {
                using E = typename T::value_type;
                out.clear();
                if (node.IsNull())
                    return;
                if (!node.IsSequence())
                    fail(source, s, "must be a list");
                for (const auto& item : node) {
                    if constexpr (std::is_same_v<E, std::string>) {
                        out.push_back(scalarAs<std::string>(source, s, item, "a list of text"));
                    } else {
                        const double d = scalarAs<double>(source, s, item, "a list of numbers");
                        if (std::is_integral_v<E> && d != std::floor(d))
                            fail(source, s, "must be a list of integers");
                        checkRange(source, s, d);
                        out.push_back(static_cast<E>(d));
                    }
                }
                if (s.listSize >= 0 && !out.empty() && static_cast<int>(out.size()) != s.listSize)
                    fail(source, s, "must have " + std::to_string(s.listSize) + " entries");
            }
        },
        s.field);
}

// Walks the YAML tree; every leaf (or map-typed key) must be in the schema.
void apply(C& c, const YAML::Node& node, const std::string& prefix, const std::string& source) {
    for (const auto& kv : node) {
        const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.as<std::string>();
        bool isSection = false;
        for (const auto& spec : schema())
            isSection = isSection || std::string(spec.key).rfind(key + ".", 0) == 0;
        for (const auto* k : recipeKeys())
            isSection = isSection || k->key.rfind(key + ".", 0) == 0;
        if (const method::RecipeKey* k = method::findRecipeKey(key)) {
            assignRecipeKey(c, *k, kv.second, source);
        } else if (const KeySpec* s = findSpec(key)) {
            assign(c, *s, kv.second, source);
        } else if (isSection && !kv.second.IsMap()) {
            throw Error(source + ": '" + key + "' is a section; give its keys under it (" +
                        keysUnder(key) + ")");
        } else if (kv.second.IsMap()) {
            if (!isSection)
                throw Error(source + ": unknown key '" + key +
                            "'; the keys are: " + keysUnder(prefix));
            apply(c, kv.second, key, source);
        } else {
            throw Error(source + ": unknown key '" + key + "'; the keys are: " + keysUnder(prefix));
        }
    }
}

void validate(const C& c, const std::string& source) {
    if (c.scheduleWarmupEpochs > c.scheduleEpochs)
        throw Error(source + ": 'schedule.warmup_epochs' (" +
                    std::to_string(c.scheduleWarmupEpochs) + ") exceeds 'schedule.epochs' (" +
                    std::to_string(c.scheduleEpochs) + ")");
    if (c.scheduleCalibrationEpochs > c.scheduleEpochs)
        throw Error(source + ": 'schedule.calibration_epochs' exceeds 'schedule.epochs'");
    if (c.modelPath.empty())
        throw Error(source + ": 'model.path' is empty");
    if (c.autoreconArchitecture != "search") {
        try {
            gen::AutoReconArch::parse(c.autoreconArchitecture);
        } catch (const Error& e) {
            throw Error(source + ": 'autorecon.architecture': " + e.what());
        }
    }
}

}  // namespace

double ExperimentConfig::recipeValue(const std::string& key) const {
    const method::RecipeKey& k = declaredKey(key, false);
    const auto it = recipeValues.find(key);
    return it != recipeValues.end() ? it->second : k.defaultValue;
}

bool ExperimentConfig::recipeFlag(const std::string& key) const {
    return recipeValue(key) != 0;
}

std::string ExperimentConfig::recipeText(const std::string& key) const {
    const method::RecipeKey& k = declaredKey(key, true);
    const auto it = recipeTexts.find(key);
    return it != recipeTexts.end() ? it->second : k.defaultText;
}

std::string ExperimentConfig::recipeString(const std::string& key) const {
    const method::RecipeKey* k = method::findRecipeKey(key);
    if (!k)
        throw Error("'" + key + "' is not a key any recipe declares");
    if (k->textual())
        return recipeText(key);
    if (k->type == method::RecipeKey::Type::Boolean)
        return recipeFlag(key) ? "true" : "false";
    return number(recipeValue(key));
}

std::string ExperimentConfig::resolvedModelPath() const {
    return modelPath == "demo" ? demoTeacherPath() : modelPath;
}

std::string ExperimentConfig::resolvedDataPath() const {
    return dataPath == "fashion-mnist" ? kFashionMnistDir : dataPath;
}

namespace {

// Limits far above any experiment (the presets are under 2 KiB, a layer_bits map of a
// 150-layer network under 10 KiB), which keep a wrong or hostile file from taking the memory
// and minutes the YAML parser would need for it.
constexpr size_t kMaxYamlBytes = 256 * 1024;
constexpr int kMaxYamlDepth = 32;
constexpr size_t kMaxYamlEntries = 10000;

// The deepest nesting of flow collections ([ and {), outside quoted text.
int flowDepth(const std::string& text) {
    int depth = 0, deepest = 0;
    char quote = 0;
    for (char ch : text) {
        if (quote) {
            if (ch == quote || ch == '\n')
                quote = 0;
        } else if (ch == '"' || ch == '\'') {
            quote = ch;
        } else if (ch == '[' || ch == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

void checkYamlText(const std::string& text, const std::string& source) {
    if (text.size() > kMaxYamlBytes)
        throw Error(source + ": " + std::to_string(text.size() / 1024) +
                    " KiB is too large for an experiment (at most " +
                    std::to_string(kMaxYamlBytes / 1024) + " KiB); is it the right file?");
    if (text.find('\0') != std::string::npos)
        throw Error(source + ": not a YAML text file (it holds binary data)" +
                    (text.rfind("PK\x03\x04", 0) == 0
                         ? std::string("; it looks like a TorchScript model: give it as "
                                       "model.path in an experiment")
                         : std::string()));
    if (flowDepth(text) > kMaxYamlDepth)
        throw Error(source + ": lists or maps nested more than " + std::to_string(kMaxYamlDepth) +
                    " levels deep; an experiment needs two");
}

// Keys given twice (YAML forbids it; the parser would keep one silently), too long lists, too
// deep nesting.
void checkYamlTree(const YAML::Node& node, const std::string& source, const std::string& where,
                   int depth) {
    if (depth > kMaxYamlDepth)
        throw Error(source + ": nested more than " + std::to_string(kMaxYamlDepth) +
                    " levels deep");
    if (node.IsSequence() || node.IsMap()) {
        if (node.size() > kMaxYamlEntries)
            throw Error(source + ": '" + where + "' has " + std::to_string(node.size()) +
                        " entries; at most " + std::to_string(kMaxYamlEntries) + " are allowed");
    }
    if (node.IsSequence()) {
        for (const auto& item : node)
            checkYamlTree(item, source, where, depth + 1);
    } else if (node.IsMap()) {
        std::set<std::string> seen;
        for (const auto& kv : node) {
            const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
            const std::string path = where.empty() ? key : where + "." + key;
            if (!seen.insert(key).second)
                throw Error(source + ": line " + std::to_string(kv.first.Mark().line + 1) + ": '" +
                            path + "' is given twice");
            checkYamlTree(kv.second, source, path, depth + 1);
        }
    }
}

}  // namespace

ExperimentConfig parseExperimentConfig(const std::string& yaml, const std::string& source,
                                       const std::vector<std::string>& overrides) {
    checkYamlText(yaml, source);
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        throw Error(source + ": not valid YAML: " + e.what());
    }
    ExperimentConfig c;
    if (!root.IsNull()) {
        if (!root.IsMap())
            throw Error(source + ": the experiment must be a YAML map of keys");
        checkYamlTree(root, source, "", 0);
        apply(c, root, "", source);
    }
    for (const auto& o : overrides) {
        const auto eq = o.find('=');
        if (eq == std::string::npos || eq == 0)
            throw Error("--set " + o + ": expected key.sub=value");
        const std::string key = o.substr(0, eq);
        const KeySpec* s = findSpec(key);
        const method::RecipeKey* declared = method::findRecipeKey(key);
        if (!s && !declared)
            throw Error("--set " + o + ": unknown key '" + key + "'");
        YAML::Node value;
        try {
            checkYamlText(o.substr(eq + 1), "--set " + key);
            value = YAML::Load(o.substr(eq + 1));
            checkYamlTree(value, "--set " + key, key, 1);
        } catch (const YAML::Exception& e) {
            throw Error("--set " + o + ": the value is not valid YAML: " + e.what());
        }
        if (declared)
            assignRecipeKey(c, *declared, value, "--set");
        else
            assign(c, *s, value, "--set");
    }
    validate(c, source);
    return c;
}

ExperimentConfig loadExperimentConfig(const std::string& path,
                                      const std::vector<std::string>& overrides) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw Error(path + (fs::is_regular_file(fs::path(path) / "config.yaml", ec)
                                ? ": is a run folder, not an experiment file; continue it with "
                                  "--resume, or give its config.yaml to start a new run like it"
                                : ": is a folder, not an experiment file"));
    if (!fs::exists(path, ec))
        throw Error(path + ": no such experiment file");
    if (looksLikeZip(path))
        throw Error(path +
                    ": is a zip archive (a TorchScript model?), not an experiment file; give a "
                    "model as model.path in an experiment");
    const std::string text = io::readFile(path, kMaxYamlBytes, "experiment file");
    // A file that names no model is empty or cut short: every key would take its default and the
    // run would be the full default experiment, which nobody asked for.
    // (Files that are not YAML are left to the parser's message.)
    YAML::Node parsed;
    bool valid = false;
    try {
        if (flowDepth(text) <= kMaxYamlDepth) {
            parsed = YAML::Load(text);
            valid = true;
        }
    } catch (const YAML::Exception&) {
    }
    const YAML::Node& root = parsed;
    bool named = false;
    for (const auto& o : overrides)
        named = named || o.rfind("model.path=", 0) == 0;
    if (valid && !named &&
        (root.IsNull() ||
         (root.IsMap() && (!root["model"] || !root["model"].IsMap() || !root["model"]["path"]))))
        throw Error(path +
                    ": the experiment names no model (model.path); is the file empty or cut "
                    "short? Write `model: {path: demo}` for the built-in teacher");
    ExperimentConfig c = parseExperimentConfig(text, path, overrides);
    return c;
}

std::string toYaml(const ExperimentConfig& c) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    std::string section;
    for (const auto& s : schema()) {
        const std::string key = s.key;
        const auto dot = key.find('.');
        const std::string sec = dot == std::string::npos ? "" : key.substr(0, dot);
        if (sec != section) {
            if (!section.empty())
                out << YAML::EndMap;
            if (!sec.empty())
                out << YAML::Key << sec << YAML::Value << YAML::BeginMap;
            section = sec;
        }
        out << YAML::Key << (dot == std::string::npos ? key : key.substr(dot + 1)) << YAML::Value
            << valueNode(c, s);
    }
    if (!section.empty())
        out << YAML::EndMap;
    // The declared keys of the chosen recipes, a section each.
    for (const auto* r : {method::findRecipe(method::generatorRecipes(), c.methodGenerator),
                          method::findRecipe(method::studentRecipes(), c.methodStudent)}) {
        if (!r || r->keys.empty())
            continue;
        out << YAML::Key << r->section << YAML::Value << YAML::BeginMap;
        for (const auto& k : r->keys) {
            out << YAML::Key << k.key.substr(k.key.find('.') + 1) << YAML::Value;
            if (k.textual())
                out << YAML::DoubleQuoted << c.recipeText(k.key);
            else if (k.type == method::RecipeKey::Type::Boolean)
                out << c.recipeFlag(k.key);
            else
                out << c.recipeValue(k.key);
        }
        out << YAML::EndMap;
    }
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

std::string configReferenceMarkdown() {
    const ExperimentConfig defaults;
    std::ostringstream o;
    o << "# Experiment configuration\n\n"
         "An experiment is a YAML file with the keys below, grouped in sections "
         "(`schedule: {epochs: 6}`). Every key is optional: a missing key takes its default, "
         "which reproduces the reference GDFQ recipe for CIFAR. Unknown keys are errors. "
         "Overrides written `key.sub=value` (the value is YAML, as in "
         "`quant.layer_bits={conv1: 8}`) replace single keys.\n\n"
         "This page is generated from the schema in `core/run/experiment_config.cpp` "
         "(`dfq config-reference`).\n\n"
         "| key | default | allowed | meaning |\n|---|---|---|---|\n";
    for (const auto& s : schema()) {
        // Numbers as a person writes them (0.9, not the 17 digits that config.yaml keeps so that
        // it reads back bit for bit).
        YAML::Emitter e;
        e << valueNode(defaults, s);
        std::string allowed;
        for (const auto& ch : s.choices)
            allowed += (allowed.empty() ? "" : ", ") + ch;
        if (allowed.empty())
            allowed = rangeText(s);
        if (s.listSize >= 0)
            allowed += (allowed.empty() ? "" : "; ") + std::to_string(s.listSize) + " entries";
        std::string def = shortDoubles(defaults, s);
        if (def.empty())
            def = e.c_str();
        if (def.empty() || def == "~")
            def = "\"\"";
        o << "| `" << s.key << "` | `" << def << "` | " << allowed << " | " << s.doc << " |\n";
    }
    for (const auto* list : {&method::generatorRecipes(), &method::studentRecipes()})
        for (const auto& r : *list)
            for (const auto& k : r.keys)
                o << "| `" << k.key << "` | `"
                  << (k.type == method::RecipeKey::Type::Text && k.defaultText.empty()
                          ? "\"\""
                          : k.defaultString())
                  << "` | " << k.allowedText() << " | " << k.doc << " (method."
                  << (list == &method::generatorRecipes() ? "generator" : "student") << ": "
                  << r.name << ") |\n";
    return o.str();
}

std::vector<std::string> configKeyChoices(const std::string& key) {
    const KeySpec* s = findSpec(key);
    return s ? s->choices : std::vector<std::string>{};
}

std::string configKeyDoc(const std::string& key) {
    if (const method::RecipeKey* k = method::findRecipeKey(key))
        return k->doc + " Allowed: " + k->allowedText() + ". (" + key + ")";
    const KeySpec* s = findSpec(key);
    if (!s)
        return "";
    std::string allowed;
    for (const auto& ch : s->choices)
        allowed += (allowed.empty() ? "" : ", ") + ch;
    if (allowed.empty())
        allowed = rangeText(*s);
    return std::string(s->doc) + (allowed.empty() ? "" : " Allowed: " + allowed + ".") + " (" +
           key + ")";
}

}  // namespace dfq::run
