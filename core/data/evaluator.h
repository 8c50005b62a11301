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

// The batch that evaluated fastest on 2 cores (bench_eval, batches 32 to 500): large enough for
// the convolutions' kernels, small enough for a batch's feature maps to stay in the caches. On
// the CIFAR ResNet-32, 500 took 26 % longer and 1.7x the memory, 32 took 36 % longer; on the
// demo teacher every batch from 32 up was within 10 %.
inline constexpr int64_t kDefaultEvalBatch = 128;

struct EvalOptions {
    int64_t batchSize = kDefaultEvalBatch;
    // Channels-last (NHWC) batches where the model takes them: oneDNN's convolutions then run
    // without reordering their inputs and outputs, 12-15 % faster on the CIFAR ResNet-32 and -44
    // (bench_eval). Turn it off for quantized models: NHWC changes the order in which a
    // convolution sums, and an activation near a rounding threshold then moves by a whole
    // quantization step, so a few predictions would differ from those PyTorch and ONNX Runtime
    // make with the same file in NCHW.
    bool channelsLast = true;
};

// Classifies the whole dataset in batches without gradients. inputShape [C, H, W] is what the
// model takes; images are adapted and normalized by preprocess().
EvalResult evaluate(const ForwardFn& forward, const Dataset& data,
                    const std::vector<int64_t>& inputShape, const Normalization& norm,
                    const EvalOptions& options, const EvalProgress& progress = {});

inline EvalResult evaluate(const ForwardFn& forward, const Dataset& data,
                           const std::vector<int64_t>& inputShape, const Normalization& norm,
                           int64_t batchSize = kDefaultEvalBatch,
                           const EvalProgress& progress = {}) {
    EvalOptions options;
    options.batchSize = batchSize;
    return evaluate(forward, data, inputShape, norm, options, progress);
}

}  // namespace dfq::data
