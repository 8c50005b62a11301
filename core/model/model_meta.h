#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfq::model {

// What a model file says about its input and classes: the `dfq_meta.json` extra file of a
// TorchScript archive. Pixels are normalized as (x/255 - mean) / std per channel.
struct ModelMeta {
    std::vector<int64_t> inputShape;  // [C, H, W]; empty when unknown
    std::vector<double> mean;         // one per channel (or one for all)
    std::vector<double> std;
    std::vector<std::string> classNames;
    int64_t numClasses = 0;  // 0 when unknown
    std::string dataset;

    bool hasInputShape() const { return inputShape.size() == 3; }
    int64_t channels() const { return hasInputShape() ? inputShape[0] : 0; }

    // Parses the JSON object; unknown keys are ignored. Throws dfq::Error naming `source` and the
    // offending key.
    static ModelMeta fromJson(const std::string& json, const std::string& source);
    std::string toJson() const;
    // Throws dfq::Error naming `source` when the fields contradict each other.
    void validate(const std::string& source) const;
};

}  // namespace dfq::model
