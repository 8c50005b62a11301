#pragma once

#include <ATen/core/Tensor.h>

namespace dfq::method {

// Random resized crop and horizontal flip, per image, as torchvision's RandomResizedCrop (area
// in [minArea, 1] of the image, aspect ratio in [3/4, 4/3]) and RandomHorizontalFlip (p 0.5)
// do: each image of `x` [B, C, H, W] is sampled bilinearly from its own crop, flipped or not,
// back to H x W, in one batched affine resampling. Draws from the default generator.
at::Tensor randomResizedCropFlip(const at::Tensor& x, double minArea);

}  // namespace dfq::method
