#include "config_schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <variant>

#include "../error.h"
#include "../gen/autorecon_arch.h"
#include "../method/registry.h"

namespace dfq::run::schema_detail {

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

const std::vector<KeySpec>& schema() {
    static const std::vector<KeySpec> specs = withEnumChoices({
        {"name", &C::name, "Name of the run; the run folder is runs/<date>-<time>-<name>."},
        {"seed", &C::seed, "Random seed: identical configs give identical metrics on CPU.", 0,
         2147483647.0},
        {"device", &C::device, "Where to train."},
        {"precision", &C::precision,
         "Floating-point type of the generator step (the generator's and the teacher's passes) "
         "during training: fp32 (the reference's numerics) or bf16 (autocast: convolutions and "
         "matrix products in bfloat16; losses and the BatchNorm statistics stay fp32). The "
         "student step, the quantizers, calibration and evaluation are fp32 either way. bf16 "
         "runs on a GPU, or on a CPU with native bfloat16 (AVX512-BF16 or AMX-BF16), and is "
         "refused elsewhere."},
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
        {"data.offset", &C::dataOffset,
         "Evaluate from this image on (0-based), e.g. to keep apart images a recipe uses "
         "(real.offset).",
         0, 1e12},
        {"data.stride", &C::dataStride,
         "Evaluate every N-th image from data.offset: with data.offset 1 and stride 2 the odd "
         "images, which a recipe reading the even ones never sees. CIFAR's files are ordered by "
         "class, so a stride keeps every class where a range would not.",
         1, 1e6},
        {"data.limit", &C::dataLimit,
         "Evaluate on the first N images (of those data.offset and data.stride select) only; "
         "0: all.",
         0, 1e12},
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
        {"schedule.lr_decay", &C::scheduleLrDecay,
         "`step`: the learning rates fall by lr_gamma at each lr milestone (the reference). "
         "`cosine`: from the end of the warm-up they follow half a cosine, base * (1 + cos(pi * "
         "e / n)) / 2 in student epoch e of n, so that the last epochs take small steps (the "
         "milestones are then ignored)."},
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
         "it follows the learning rates' schedule (times lr_gamma at each lr milestone, or the "
         "cosine with schedule.lr_decay: cosine).",
         0, 1},
        {"student.alpha_iter", &C::studentAlphaIter,
         "AIT: bisection steps of the step-size search.", 0, 60},
        {"student.temperature", &C::studentTemperature, "Distillation temperature T.", 1e-6, 1e6},
        {"student.kd_weight", &C::studentKdWeight,
         "Weight of T²·KL (element-mean reduction, as the reference).", 0, 1e6},
        {"student.ce_weight", &C::studentCeWeight,
         "Weight of the cross-entropy with the generator's labels.", 0, 1e6},
        {"student.ema", &C::studentEma,
         "Decay per step of an exponential moving average of the student's weights, which the "
         "evaluations see and the run exports instead of the last step's; 0: off (the "
         "reference).",
         0, 0.999999},
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

}  // namespace dfq::run::schema_detail
