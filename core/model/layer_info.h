#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfq::model {

// One row of a model's layer listing (plain data, for the CLI and the UI).
struct LayerInfo {
    std::string path;  // "layer1.0.conv1"
    std::string kind;  // "Conv2d", "Conv2d (depthwise)", "Linear", "BatchNorm2d", "ReLU", ...
    std::vector<int64_t> weightShape;
    std::vector<int64_t> outputShape;  // per sample, at the model's input size; empty if unknown
    int64_t params = 0;
    int64_t macs = -1;  // per sample; -1 when the input size is unknown
    bool quantizable = false;
    std::vector<float> runningMean;  // BatchNorm only
    std::vector<float> runningVar;
};

}  // namespace dfq::model
