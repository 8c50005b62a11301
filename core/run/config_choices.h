#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace dfq::run {

// The experiment's choices as values: the YAML, the CLI and the window spell them as the names in
// the tables below; the configuration holds the enum. (Recipes are names in a registry instead,
// method/registry.h, since a recipe is added without editing any list.)
enum class DeviceChoice { Auto, Cpu, Cuda };
enum class PrecisionChoice { Fp32, Bf16 };
enum class DataSplit { Test, Train };
enum class FirstLastLayers { Quantized, EightBit, FullPrecision };
enum class WeightRange { MinMax, Mse };
enum class CalibrationChoice { Ema, MinMax, Mse };
enum class GeneratorStyle { Auto, Cifar, Imagenet };
enum class EmbeddingInit { Classifier, Random };
enum class EmbeddingNormalization { PerEmbedding, Reference };
enum class LrDecay { Step, Cosine };

template <typename E>
struct ChoiceNames;

#define DFQ_CHOICE_NAMES(Enum, ...)                                           \
    template <>                                                               \
    struct ChoiceNames<Enum> {                                                \
        static constexpr std::pair<Enum, const char*> values[] = __VA_ARGS__; \
    };

DFQ_CHOICE_NAMES(DeviceChoice, {{DeviceChoice::Auto, "auto"},
                                {DeviceChoice::Cpu, "cpu"},
                                {DeviceChoice::Cuda, "cuda"}})
DFQ_CHOICE_NAMES(PrecisionChoice,
                 {{PrecisionChoice::Fp32, "fp32"}, {PrecisionChoice::Bf16, "bf16"}})
DFQ_CHOICE_NAMES(DataSplit, {{DataSplit::Test, "test"}, {DataSplit::Train, "train"}})
DFQ_CHOICE_NAMES(FirstLastLayers, {{FirstLastLayers::Quantized, "quantized"},
                                   {FirstLastLayers::EightBit, "8bit"},
                                   {FirstLastLayers::FullPrecision, "fp"}})
DFQ_CHOICE_NAMES(WeightRange, {{WeightRange::MinMax, "minmax"}, {WeightRange::Mse, "mse"}})
DFQ_CHOICE_NAMES(CalibrationChoice, {{CalibrationChoice::Ema, "ema"},
                                     {CalibrationChoice::MinMax, "minmax"},
                                     {CalibrationChoice::Mse, "mse"}})
DFQ_CHOICE_NAMES(GeneratorStyle, {{GeneratorStyle::Auto, "auto"},
                                  {GeneratorStyle::Cifar, "cifar"},
                                  {GeneratorStyle::Imagenet, "imagenet"}})
DFQ_CHOICE_NAMES(EmbeddingInit,
                 {{EmbeddingInit::Classifier, "classifier"}, {EmbeddingInit::Random, "random"}})
DFQ_CHOICE_NAMES(EmbeddingNormalization, {{EmbeddingNormalization::PerEmbedding, "per_embedding"},
                                          {EmbeddingNormalization::Reference, "reference"}})
DFQ_CHOICE_NAMES(LrDecay, {{LrDecay::Step, "step"}, {LrDecay::Cosine, "cosine"}})
#undef DFQ_CHOICE_NAMES

// The name of a value, as YAML writes it.
template <typename E>
std::string choiceName(E value) {
    for (const auto& [v, name] : ChoiceNames<E>::values)
        if (v == value)
            return name;
    return "";
}

// Every name, in the order offered.
template <typename E>
std::vector<std::string> choiceNames() {
    std::vector<std::string> out;
    for (const auto& [v, name] : ChoiceNames<E>::values)
        out.push_back(name);
    return out;
}

// The value of a name; false when there is none.
template <typename E>
bool parseChoice(const std::string& name, E& out) {
    for (const auto& [v, n] : ChoiceNames<E>::values)
        if (name == n) {
            out = v;
            return true;
        }
    return false;
}

}  // namespace dfq::run
