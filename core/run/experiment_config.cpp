#include "experiment_config.h"

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

namespace {

using C = ExperimentConfig;
using Field =
    std::variant<int64_t C::*, double C::*, bool C::*, std::string C::*, std::vector<int64_t> C::*,
                 std::vector<double> C::*, std::vector<std::string> C::*,
                 std::map<std::string, int64_t> C::*, DeviceChoice C::*, DataSplit C::*,
                 FirstLastLayers C::*, WeightRange C::*, CalibrationChoice C::*,
                 GeneratorStyle C::*, EmbeddingInit C::*, EmbeddingNormalization C::*>;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct KeySpec {
    const char* key;  // "schedule.epochs"
    Field field;
    std::string doc;
    double min = -kInf;  // numbers and list entries
    double max = kInf;
    std::vector<std::string> choices = {};  // strings
    int listSize = -1;                      // lists: required length, -1 = any
};

// The documentation of method.generator or method.student: every registered recipe, its own
// keys' section named.
std::string recipeDoc(const char* what, bool generator) {
    std::string doc = std::string(what) + " recipe:";
    const auto& recipes = generator ? method::generatorRecipes() : method::studentRecipes();
    for (size_t i = 0; i < recipes.size(); ++i) {
        const auto& r = recipes[i];
        doc += std::string(i ? ";" : "") + " `" + r.name + "`, " + r.doc;
        if (!r.doc.empty() && r.doc.back() == '.')
            doc.pop_back();
        if (!r.section.empty())
            doc += " (keys `" + r.section + ".*`)";
    }
    return doc + ".";
}

// The specs with the choices of every enum-valued key taken from its names (config_choices.h).
std::vector<KeySpec> withEnumChoices(std::vector<KeySpec> specs) {
    for (auto& s : specs)
        std::visit(
            [&](auto member) {
                using T = std::decay_t<decltype(C{}.*member)>;
                if constexpr (std::is_enum_v<T>)
                    s.choices = choiceNames<T>();
            },
            s.field);
    return specs;
}

// The schema: order here is the order of docs/config.md and of the resolved config.yaml.
const std::vector<KeySpec>& schema() {
    static const std::vector<KeySpec> specs = withEnumChoices({
        {"name", &C::name, "Name of the run; the run folder is runs/<date>-<time>-<name>."},
        {"seed", &C::seed, "Random seed: identical configs give identical metrics on CPU.", 0,
         2147483647.0},
        {"device", &C::device, "Where to train."},
        {"model.path", &C::modelPath,
         "TorchScript file of the pretrained teacher, or `demo` for the built-in Fashion-MNIST "
         "teacher."},
        {"model.input_shape",
         &C::modelInputShape,
         "[C, H, W]; overrides the model's dfq_meta.json. Empty: from the model.",
         1,
         16384,
         {},
         3},
        {"model.mean", &C::modelMean, "Per-channel mean of x/255; empty: from the model."},
        {"model.std", &C::modelStd, "Per-channel std of x/255; empty: from the model.", 1e-12,
         kInf},
        {"model.num_classes", &C::modelNumClasses, "Number of classes; 0: from the model.", 0, 1e9},
        {"data.path", &C::dataPath,
         "Real evaluation data (IDX, CIFAR binary or image folder). Empty: no evaluation; "
         "`fashion-mnist` names the Debian dataset-fashion-mnist files."},
        {"data.split", &C::dataSplit, "Which split of a dataset folder."},
        {"data.batch_size", &C::dataBatchSize, "Evaluation batch size.", 1, 1e6},
        {"data.limit", &C::dataLimit, "Evaluate on the first N images only; 0: all.", 0, 1e12},
        {"data.resize", &C::dataResize,
         "Resize IDX or CIFAR images whose size differs from the model's input (bilinear); "
         "false: such data is an error. Image folders are always resized and centre-cropped."},
        {"method.generator", &C::methodGenerator, recipeDoc("Generator", true), -kInf, kInf,
         method::recipeNames(method::generatorRecipes())},
        {"method.student", &C::methodStudent, recipeDoc("Student", false), -kInf, kInf,
         method::recipeNames(method::studentRecipes())},
        {"quant.weight_bits", &C::quantWeightBits, "Bits of every conv and linear weight.", 1, 16},
        {"quant.activation_bits", &C::quantActivationBits,
         "Bits of the activation after every ReLU/ReLU6; 0 keeps activations in full precision.", 0,
         16},
        {"quant.per_channel", &C::quantPerChannel,
         "Per-output-channel weight ranges (true) or one range per tensor (false)."},
        {"quant.symmetric", &C::quantSymmetric, "Symmetric ranges [-m, m] instead of [min, max]."},
        {"quant.first_last", &C::quantFirstLast,
         "The first and last conv/linear layers: quantized like the rest (the reference), at 8 "
         "bits, or kept in full precision."},
        {"quant.layer_bits", &C::quantLayerBits,
         "Mixed precision: module path -> weight bits for that layer (0 = full precision).", 0, 16},
        {"quant.reference_ema_inflation", &C::quantReferenceEmaInflation,
         "Reproduce the reference code's inflated early EMA activation ranges."},
        {"quant.activation_momentum", &C::quantActivationMomentum,
         "Momentum of the EMA that tracks each activation's min and max while calibrating (the "
         "reference: 0.9, i.e. about the last 10 batches; closer to 1 averages more batches).",
         0, 0.99999},
        {"quant.weight_range", &C::quantWeightRange,
         "Range of each weight channel: its min and max (the reference), or that range shrunk by "
         "a factor in 0.30..1 chosen, at every forward, for the least squared quantization "
         "error. AIT's gradient inundation counts code changes on the min/max grid either way."},
        {"quant.calibration", &C::quantCalibration,
         "How activation ranges are set. `ema` (the reference): an EMA of each training batch's "
         "min and max during the calibration epochs. `minmax` and `mse`: at the end of each "
         "calibration epoch (or once before training when there are none), from a fixed set of "
         "calibration_batches generator batches drawn with the run's seed: the mean of the "
         "batches' min and max, or the clipping point with the least squared quantization error."},
        {"quant.calibration_batches", &C::quantCalibrationBatches,
         "Generator batches in the fixed calibration set of `minmax` and `mse`.", 1, 1e6},
        {"schedule.epochs", &C::scheduleEpochs, "Epochs.", 1, 1e6},
        {"schedule.iterations", &C::scheduleIterations, "Iterations per epoch.", 1, 1e9},
        {"schedule.warmup_epochs", &C::scheduleWarmupEpochs,
         "Epochs that train the generator only (the student's ranges calibrate meanwhile).", 0,
         1e6},
        {"schedule.calibration_epochs", &C::scheduleCalibrationEpochs,
         "Epochs during which activation ranges update; frozen afterwards.", 0, 1e6},
        {"schedule.lr_milestones", &C::scheduleLrMilestones,
         "Epochs at which both learning rates are multiplied by lr_gamma.", 0, 1e6},
        {"schedule.lr_gamma", &C::scheduleLrGamma, "Learning-rate factor at each milestone.", 0, 1},
        {"schedule.eval_from_epoch", &C::scheduleEvalFromEpoch,
         "First epoch (counted from 0) after which the student is evaluated on the real data; "
         "the PTQ baseline and the last epoch are always evaluated. The reference's ImageNet "
         "recipe evaluates from epoch warmup_epochs - 1.",
         0, 1e6},
        {"generator.style", &C::generatorStyle,
         "Generator stack: CIFAR style (label embedding times noise), ImageNet style "
         "(conditional BatchNorm), or auto (CIFAR style up to 64×64)."},
        {"generator.batch_size", &C::generatorBatchSize, "Synthetic images per iteration.", 1, 1e6},
        {"generator.latent_dim", &C::generatorLatentDim,
         "Size of the noise vector z (gdfq; qimera uses the width of the teacher's classifier "
         "input, or this size when the embedding starts at random and there is no classifier).",
         1, 1e5},
        {"generator.channels", &C::generatorChannels, "Channels of the first feature map.", 2, 1e5},
        {"generator.lr", &C::generatorLr, "Adam learning rate of the generator.", 0, 10},
        {"generator.betas", &C::generatorBetas, "Adam betas.", 0, 1, {}, 2},
        {"generator.bns_weight", &C::generatorBnsWeight,
         "Weight of the BatchNorm-statistics loss in CE + w·BNS.", 0, 1e6},
        {"qimera.superpose_prob", &C::qimeraSuperposeProb,
         "Probability that an iteration's whole batch is made of boundary samples.", 0, 1},
        {"qimera.labels_per_sample", &C::qimeraLabelsPerSample,
         "K: labels superposed in one boundary sample (uniform, with replacement), weighted by "
         "softmax(N(0, 1)).",
         1, 100000},
        {"qimera.embedding_init", &C::qimeraEmbeddingInit,
         "Start of the label embedding (as wide as the teacher's classifier input): the "
         "classifier's weights, or N(0, 1). It trains either way."},
        {"qimera.noise_scale", &C::qimeraNoiseScale, "The embedding is emb(y) + noise_scale·z.", 0,
         1e6},
        {"qimera.mapping", &C::qimeraMapping,
         "The disentanglement mapping, Linear(embedding -> mapping_dim) before superposition, as "
         "the paper describes; the released scripts run without it (false)."},
        {"qimera.mapping_dim", &C::qimeraMappingDim, "Output size of the disentanglement mapping.",
         1, 1e5},
        {"qimera.normalization", &C::qimeraNormalization,
         "How each embedding is normalized before superposition: over its own entries, or as the "
         "reference code does, where a superposed batch's slot k is normalized over the whole "
         "batch."},
        {"autorecon.architecture", &C::autoreconArchitecture,
         "The cell generator's architecture: one of AutoReCon's derived architectures (c10, c100, "
         "r18, r50, mbv2), `search` (searched for autorecon.search_epochs before the schedule, "
         "then fixed by argmax), or the text form `near/near | dil5 none dil5 dil3 conv5 ; ...` "
         "that a search writes to architecture.txt."},
        {"autorecon.search_epochs", &C::autoreconSearchEpochs,
         "Epochs (of schedule.iterations) of architecture search, before the schedule's epochs.", 1,
         1e6},
        {"autorecon.channels", &C::autoreconChannels, "Channels of every cell (the code: 64).", 1,
         1e5},
        {"autorecon.temperature", &C::autoreconTemperature,
         "Gumbel-softmax temperature at the start of the search.", 1e-6, 1e6},
        {"autorecon.temperature_decay", &C::autoreconTemperatureDecay,
         "The temperature is multiplied by exp(-decay) after each search epoch.", 0, 100},
        {"autorecon.arch_lr", &C::autoreconArchLr,
         "Adam learning rate of the architecture logits (one step on a fresh batch after each "
         "generator step).",
         0, 10},
        {"student.lr", &C::studentLr, "Learning rate of the student (Nesterov SGD).", 0, 10},
        {"student.momentum", &C::studentMomentum, "Nesterov momentum.", 0, 1},
        {"student.weight_decay", &C::studentWeightDecay, "L2 weight decay on every parameter.", 0,
         1},
        {"student.passing_threshold", &C::studentPassingThreshold,
         "AIT: the fraction of a weight tensor's integer codes each step should change; "
         "multiplied by lr_gamma at each lr milestone, as the learning rates.",
         0, 1},
        {"student.alpha_iter", &C::studentAlphaIter,
         "AIT: bisection steps of the step-size search.", 0, 60},
        {"student.temperature", &C::studentTemperature, "Distillation temperature T.", 1e-6, 1e6},
        {"student.kd_weight", &C::studentKdWeight,
         "Weight of T²·KL (element-mean reduction, as the reference).", 0, 1e6},
        {"student.ce_weight", &C::studentCeWeight,
         "Weight of the cross-entropy with the generator's labels.", 0, 1e6},
        {"output.dir", &C::outputDir, "Folder that receives the run folders."},
        {"output.sample_every", &C::outputSampleEvery,
         "Iterations between saved grids of synthetic samples.", 1, 1e9},
        {"output.bn_every", &C::outputBnEvery,
         "Iterations between BatchNorm-statistics reports (bn_match.csv, bn_channels.csv).", 1,
         1e9},
        {"output.layers_every", &C::outputLayersEvery,
         "Iterations between reports of the student against the teacher layer by layer "
         "(layers.csv): the SQNR of every quantized layer's output and the student's "
         "BatchNorm-input statistics, on up to 64 images of the iteration's synthetic batch (about "
         "1 % of the training time at the default); the same on the first 256 evaluation images "
         "after every evaluation. 0: never.",
         0, 1e9},
        {"output.bn_channel_layers", &C::outputBnChannelLayers,
         "BatchNorm layers (module paths) whose per-channel batch mean and variance are reported "
         "against the running statistics. Empty: every BN layer when they hold at most 2,048 "
         "channels together, else the first and the last."},
    });
    return specs;
}

const KeySpec* findSpec(const std::string& key) {
    for (const auto& s : schema())
        if (key == s.key)
            return &s;
    return nullptr;
}

// The schema's keys below a section ("" = all of them), for error messages.
// Every recipe's declared keys, in registry order.
std::vector<const method::RecipeKey*> recipeKeys() {
    std::vector<const method::RecipeKey*> out;
    for (const auto* list : {&method::generatorRecipes(), &method::studentRecipes()})
        for (const auto& r : *list)
            for (const auto& k : r.keys)
                out.push_back(&k);
    return out;
}

std::string keysUnder(const std::string& prefix) {
    std::string out;
    std::vector<std::string> keys;
    for (const auto& s : schema())
        keys.push_back(s.key);
    for (const auto* k : recipeKeys())
        keys.push_back(k->key);
    for (const auto& k : keys)
        if (prefix.empty() || k.rfind(prefix + ".", 0) == 0)
            out += (out.empty() ? "" : ", ") + k;
    return out;
}

// Whole numbers without an exponent: "1000000", not "1e+06".
std::string number(double v) {
    std::ostringstream o;
    if (v == std::floor(v) && std::abs(v) < 1e15)
        o << static_cast<int64_t>(v);
    else
        o << v;
    return o.str();
}

std::string rangeText(const KeySpec& s) {
    if (std::isinf(s.min) && std::isinf(s.max))
        return "";
    if (std::isinf(s.max))
        return ">= " + number(s.min);
    if (std::isinf(s.min))
        return "<= " + number(s.max);
    return number(s.min) + " to " + number(s.max);
}

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

// A recipe's declared number, checked against its declaration.
void assignRecipeKey(C& c, const method::RecipeKey& k, const YAML::Node& node,
                     const std::string& source) {
    const KeySpec spec{k.key.c_str(), &C::name, k.doc, k.min, k.max};
    const double v = scalarAs<double>(source, spec, node, k.integer ? "an integer" : "a number");
    if (k.integer && v != std::floor(v))
        fail(source, spec, "must be an integer");
    checkRange(source, spec, v);
    c.recipeValues[k.key] = v;
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

// A double or list-of-doubles default with the fewest significant digits that give it back
// exactly ("0.9"); empty for other keys.
std::string shortDoubles(const C& c, const KeySpec& s) {
    auto shortest = [](double v) {
        if (v == std::floor(v) && std::abs(v) < 1e15)
            return std::to_string(static_cast<int64_t>(v));
        char buf[40];
        for (int digits = 1; digits <= 17; ++digits) {
            std::snprintf(buf, sizeof buf, "%.*g", digits, v);
            if (std::strtod(buf, nullptr) == v)
                break;
        }
        return std::string(buf);
    };
    std::string out;
    std::visit(
        [&](auto member) {
            using T = std::decay_t<decltype(c.*member)>;
            if constexpr (std::is_same_v<T, double>) {
                out = shortest(c.*member);
            } else if constexpr (std::is_same_v<T, std::vector<double>>) {
                out = "[";
                for (size_t i = 0; i < (c.*member).size(); ++i)
                    out += (i ? ", " : "") + shortest((c.*member)[i]);
                out += "]";
            }
        },
        s.field);
    return out;
}

YAML::Node valueNode(const C& c, const KeySpec& s) {
    return std::visit(
        [&](auto member) -> YAML::Node {
            const auto& v = c.*member;
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_enum_v<T>) {
                return YAML::Node(choiceName(v));
            } else {
                YAML::Node n(v);
                if constexpr (!std::is_same_v<T, int64_t> && !std::is_same_v<T, double> &&
                              !std::is_same_v<T, bool> && !std::is_same_v<T, std::string>) {
                    n.SetStyle(YAML::EmitterStyle::Flow);
                    if (v.empty()) {
                        if constexpr (std::is_same_v<T, std::map<std::string, int64_t>>)
                            n = YAML::Node(YAML::NodeType::Map);
                        else
                            n = YAML::Node(YAML::NodeType::Sequence);
                        n.SetStyle(YAML::EmitterStyle::Flow);
                    }
                }
                return n;
            }
        },
        s.field);
}

}  // namespace

double ExperimentConfig::recipeValue(const std::string& key) const {
    const auto it = recipeValues.find(key);
    if (it != recipeValues.end())
        return it->second;
    if (const method::RecipeKey* k = method::findRecipeKey(key))
        return k->defaultValue;
    throw Error("'" + key + "' is not a key any recipe declares");
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
        for (const auto& k : r->keys)
            out << YAML::Key << k.key.substr(k.key.find('.') + 1) << YAML::Value
                << c.recipeValue(k.key);
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
                o << "| `" << k.key << "` | `" << number(k.defaultValue) << "` | " << number(k.min)
                  << " to " << number(k.max) << " | " << k.doc << " (method."
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
        return k->doc + " Allowed: " + number(k->min) + " to " + number(k->max) + ". (" + key + ")";
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
