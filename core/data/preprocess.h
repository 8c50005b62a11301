#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace dfq::data {

// Per-channel normalization of pixels scaled to [0, 1]: (x/255 - mean) / std.
struct Normalization {
    std::vector<double> mean;  // one per channel, or one for all; empty = 0
    std::vector<double> std;   // empty = 1
};

// Turns a uint8 [N, C, H, W] batch into the float input a model expects ([C, H, W] target):
// gray is replicated to RGB and RGB turned into luma (77R + 150G + 29B)/256 when the channel
// counts differ, a different
// spatial size is resized bilinearly, then pixels are normalized.
at::Tensor preprocess(const at::Tensor& images, const std::vector<int64_t>& targetShape,
                      const Normalization& norm);

}  // namespace dfq::data
