#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "dataset.h"

namespace dfq::data {

// IDX files (MNIST, Fashion-MNIST), gzipped or raw.
at::Tensor readIdxImages(const std::string& path);  // uint8 [N, 1, H, W]
at::Tensor readIdxLabels(const std::string& path);  // int64 [N]

// The labels file beside an images file: "images-idx3" replaced by "labels-idx1" in its name.
std::string idxLabelsPath(const std::string& imagesPath);

// Reads an images file and the labels file beside it. Class names are the Fashion-MNIST ones when
// the file or its folder is named "fashion...", else the digits.
Dataset readIdx(const std::string& imagesPath);

}  // namespace dfq::data
