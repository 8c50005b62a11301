#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataset.h"

namespace dfq::data {

// A folder with one subfolder per class (their sorted names are the classes; hidden ones are
// skipped) holding PNG and JPEG files, searched recursively. With targetShape [C, H, W], images
// are converted to C channels (1 or 3), resized keeping their aspect ratio to cover
// round(H / 0.875) x round(W / 0.875) and centre-cropped to H x W. Without it they keep the size
// and the gray / colour channel count of the first image, which all of them must share.
Dataset readImageFolder(const std::string& root, const std::vector<int64_t>& targetShape = {});

}  // namespace dfq::data
