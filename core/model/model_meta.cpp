#include "model_meta.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "../error.h"
#include "../json_writer.h"

namespace dfq::model {

namespace {

template <typename T>
std::vector<T> readList(const YAML::Node& node, const char* key, const std::string& source) {
    const YAML::Node value = node[key];
    if (!value)
        return {};
    if (!value.IsSequence())
        throw Error(source + ": dfq_meta.json key '" + key + "' must be a list");
    std::vector<T> out;
    try {
        for (const auto& item : value)
            out.push_back(item.as<T>());
    } catch (const YAML::Exception&) {
        throw Error(source + ": dfq_meta.json key '" + key + "' has an entry of the wrong type");
    }
    return out;
}

}  // namespace

ModelMeta ModelMeta::fromJson(const std::string& json, const std::string& source) {
    YAML::Node root;
    try {
        root = YAML::Load(json);
    } catch (const YAML::Exception& e) {
        throw Error(source + ": dfq_meta.json is not valid JSON: " + e.what());
    }
    if (!root.IsMap())
        throw Error(source + ": dfq_meta.json must hold a JSON object");
    ModelMeta meta;
    meta.inputShape = readList<int64_t>(root, "input_shape", source);
    meta.mean = readList<double>(root, "mean", source);
    meta.std = readList<double>(root, "std", source);
    meta.classNames = readList<std::string>(root, "class_names", source);
    try {
        if (root["num_classes"])
            meta.numClasses = root["num_classes"].as<int64_t>();
        if (root["dataset"])
            meta.dataset = root["dataset"].as<std::string>();
    } catch (const YAML::Exception&) {
        throw Error(source +
                    ": dfq_meta.json keys 'num_classes' (integer) and 'dataset' (text) "
                    "have the wrong type");
    }
    if (meta.numClasses == 0)
        meta.numClasses = static_cast<int64_t>(meta.classNames.size());
    meta.validate(source);
    return meta;
}

void ModelMeta::validate(const std::string& source) const {
    if (!inputShape.empty()) {
        if (inputShape.size() != 3)
            throw Error(source + ": input_shape must be [C, H, W], got " +
                        std::to_string(inputShape.size()) + " numbers");
        for (int64_t d : inputShape)
            if (d <= 0)
                throw Error(source + ": input_shape entries must be positive");
        // Far beyond any classifier's input (ImageNet models take 3x224x224): an absurd shape
        // is refused here instead of failing to allocate its first batch.
        constexpr int64_t kMaxValues = int64_t{1} << 26, kMaxSide = 16384;
        const int64_t values = inputShape[0] * std::min(inputShape[1], kMaxSide + 1) *
                               std::min(inputShape[2], kMaxSide + 1);
        if (inputShape[0] > 64 || inputShape[1] > kMaxSide || inputShape[2] > kMaxSide ||
            values > kMaxValues)
            throw Error(source + ": input_shape [" + std::to_string(inputShape[0]) + ", " +
                        std::to_string(inputShape[1]) + ", " + std::to_string(inputShape[2]) +
                        "] is too large an image (at most 64 channels, 16384 pixels a side and " +
                        std::to_string(kMaxValues) + " values, e.g. [3, 4096, 4096])");
    }
    for (const auto* list : {&mean, &std}) {
        const char* key = list == &mean ? "mean" : "std";
        if (!list->empty() && list->size() != 1 && hasInputShape() &&
            static_cast<int64_t>(list->size()) != inputShape[0])
            throw Error(source + ": '" + key + "' has " + std::to_string(list->size()) +
                        " numbers but the input has " + std::to_string(inputShape[0]) +
                        " channels");
    }
    for (double s : std)
        if (!(s > 0))
            throw Error(source + ": every 'std' entry must be positive");
    if (numClasses < 0)
        throw Error(source + ": num_classes must be positive");
    if (!classNames.empty() && static_cast<int64_t>(classNames.size()) != numClasses)
        throw Error(source + ": class_names has " + std::to_string(classNames.size()) +
                    " names but num_classes is " + std::to_string(numClasses));
}

std::string ModelMeta::toJson() const {
    JsonWriter w;
    w.beginObject();
    w.key("input_shape").value(inputShape);
    w.key("mean").value(mean);
    w.key("std").value(std);
    w.key("class_names").value(classNames);
    w.key("num_classes").value(numClasses);
    w.key("dataset").value(dataset);
    w.endObject();
    return w.str();
}

}  // namespace dfq::model
