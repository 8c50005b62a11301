#include "preprocess.h"

#include <ATen/ATen.h>

#include "../error.h"

namespace dfq::data {
namespace {

// Mean or std as a scalar or a per-channel [1, C, 1, 1] tensor; fallback when none is given.
at::Tensor channelValues(const std::vector<double>& values, int64_t channels, double fallback,
                         const char* field) {
    if (values.empty())
        return at::scalar_tensor(fallback, at::kFloat);
    if (values.size() != 1 && static_cast<int64_t>(values.size()) != channels)
        throw Error("normalization " + std::string(field) + ": " + std::to_string(values.size()) +
                    " values for " + std::to_string(channels) + " channels; give 1 or " +
                    std::to_string(channels));
    return at::tensor(values, at::kDouble).to(at::kFloat).view({1, -1, 1, 1});
}

}  // namespace

at::Tensor preprocess(const at::Tensor& images, const std::vector<int64_t>& targetShape,
                      const Normalization& norm) {
    if (images.dim() != 4)
        throw Error("preprocess: images of shape " + c10::str(images.sizes()) +
                    "; expected [N, C, H, W]");
    if (targetShape.size() != 3 || targetShape[1] <= 0 || targetShape[2] <= 0)
        throw Error("preprocess: target shape " + c10::str(at::IntArrayRef(targetShape)) +
                    " is not [C, H, W]");
    const int64_t channels = targetShape[0];
    at::Tensor x = images.to(at::kFloat);
    if (x.size(1) != channels) {
        if (x.size(1) == 1 && channels == 3)
            x = x.expand({-1, 3, -1, -1});
        else if (x.size(1) == 3 && channels == 1)
            // The integer luma weights stb uses, so image folders and tensors agree.
            x = (x * at::tensor({77.0f, 150.0f, 29.0f}).view({1, 3, 1, 1}))
                    .sum(1, /*keepdim=*/true)
                    .div(256.0);
        else
            throw Error("preprocess: cannot turn " + std::to_string(x.size(1)) +
                        "-channel images into " + std::to_string(channels) + " channels");
    }
    if (x.size(2) != targetShape[1] || x.size(3) != targetShape[2])
        x = at::upsample_bilinear2d(x, at::IntArrayRef(targetShape).slice(1),
                                    /*align_corners=*/false);
    const at::Tensor stdDev = channelValues(norm.std, channels, 1.0, "std");
    if (stdDev.eq(0).any().item<bool>())
        throw Error("normalization std: a value is 0");
    return x.div(255.0)
        .sub(channelValues(norm.mean, channels, 0.0, "mean"))
        .div(stdDev)
        .contiguous();
}

}  // namespace dfq::data
