#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "../error.h"

namespace dfq::data {

// Throws naming the first record whose label is not below numClasses: a label past the model's
// classes would otherwise surface much later as a wrong accuracy or an indexing failure. Record r
// lies at byte offset headerBytes + r * recordBytes of file.
inline void checkLabelRange(const at::Tensor& labels, int64_t numClasses, const std::string& file,
                            int64_t headerBytes, int64_t recordBytes) {
    const at::Tensor bad = labels.ge(numClasses).nonzero();
    if (bad.size(0) == 0)
        return;
    const int64_t record = bad[0][0].item<int64_t>();
    throw Error(file + ": record " + std::to_string(record) + " (byte offset " +
                std::to_string(headerBytes + record * recordBytes) + ") has label " +
                std::to_string(labels[record].item<int64_t>()) + ", out of range for " +
                std::to_string(numClasses) + " classes");
}

}  // namespace dfq::data
