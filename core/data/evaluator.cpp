#include "evaluator.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>

#include <chrono>

#include "../error.h"

namespace dfq::data {

EvalResult evaluate(const ForwardFn& forward, const Dataset& data,
                    const std::vector<int64_t>& inputShape, const Normalization& norm,
                    const EvalOptions& options, const EvalProgress& progress) {
    c10::NoGradGuard noGrad;
    const auto start = std::chrono::steady_clock::now();
    const int64_t n = data.size();
    if (n == 0)
        throw Error(data.source + ": no images to evaluate");
    const int64_t batchSize = options.batchSize;
    if (batchSize < 1)
        throw Error("evaluation batch size " + std::to_string(batchSize) + ": give 1 or more");
    int64_t correct1 = 0, correct5 = 0;
    // A model that cannot take NHWC batches (it fails on the first) gets NCHW ones.
    bool channelsLast = options.channelsLast && inputShape.size() == 3;
    for (int64_t begin = 0; begin < n; begin += batchSize) {
        const int64_t len = std::min(batchSize, n - begin);
        at::Tensor x = preprocess(data.images.narrow(0, begin, len), inputShape, norm);
        at::Tensor labels = data.labels.narrow(0, begin, len);
        at::Tensor logits;
        if (channelsLast) {
            try {
                logits = forward(x.contiguous(at::MemoryFormat::ChannelsLast));
            } catch (const std::exception&) {
                if (begin > 0)
                    throw;
                channelsLast = false;  // e.g. a view() of a feature map that needs NCHW strides
            }
        }
        if (!logits.defined())
            logits = forward(x);
        if (logits.dim() != 2 || logits.size(0) != len)
            throw Error(data.source + ": the model returned shape " + c10::str(logits.sizes()) +
                        " for a batch of " + std::to_string(len) +
                        " images; expected [batch, classes]");
        const int64_t maxLabel = labels.max().item<int64_t>();
        if (maxLabel >= logits.size(1))
            throw Error(data.source + ": label " + std::to_string(maxLabel) +
                        " is out of range for a model with " + std::to_string(logits.size(1)) +
                        " classes");
        const int64_t k = std::min<int64_t>(5, logits.size(1));
        at::Tensor topk = std::get<1>(logits.topk(k, 1));
        at::Tensor hits = topk.eq(labels.unsqueeze(1));
        correct1 += hits.select(1, 0).sum().item<int64_t>();
        correct5 += hits.any(1).sum().item<int64_t>();
        if (progress)
            progress(begin + len, n);
    }
    EvalResult r;
    r.images = n;
    r.top1 = 100.0 * static_cast<double>(correct1) / static_cast<double>(n);
    r.top5 = 100.0 * static_cast<double>(correct5) / static_cast<double>(n);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace dfq::data
