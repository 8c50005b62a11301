#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layer_info.h"
#include "model_meta.h"

namespace dfq::model {

// What the workbench shows about a model before a run, as plain data (no torch types).
struct ModelSummary {
    std::string path;
    ModelMeta meta;
    int64_t parameters = 0;
    bool hasBatchNorm = false;
    std::vector<LayerInfo> layers;
};

// Loads the model and lists its layers (with shapes and MACs when the input shape is known, from
// the model's metadata or `inputShape`). Throws dfq::Error naming the file and the cause.
ModelSummary summarizeModel(const std::string& path, const std::vector<int64_t>& inputShape = {});

}  // namespace dfq::model
