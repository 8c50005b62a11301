#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "dataset.h"
#include "preprocess.h"

namespace dfq::data {

struct EvalResult {
    double top1 = 0;  // percent
    double top5 = 0;  // percent (top-k with k = min(5, classes))
    int64_t images = 0;
    double seconds = 0;
};

using ForwardFn = std::function<at::Tensor(const at::Tensor&)>;
using EvalProgress = std::function<void(int64_t done, int64_t total)>;

// Classifies the whole dataset in batches without gradients. inputShape [C, H, W] is what the
// model takes; images are adapted and normalized by preprocess().
EvalResult evaluate(const ForwardFn& forward, const Dataset& data,
                    const std::vector<int64_t>& inputShape, const Normalization& norm,
                    int64_t batchSize = 256, const EvalProgress& progress = {});

}  // namespace dfq::data
