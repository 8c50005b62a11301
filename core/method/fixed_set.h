#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace dfq::method {

// A fixed set of synthetic images a generator recipe makes before the student trains (HAST):
// the images in the teacher's normalized input space, the class each was made for, and how hard
// the teacher finds it (1 - its probability of that class).
struct FixedSet {
    at::Tensor images;      // float [N, C, H, W]
    at::Tensor labels;      // int64 [N]
    at::Tensor difficulty;  // float [N]
};

// synthetic_set.pt in a run folder: a dict of the three tensors and the teacher's sha256, which
// Python's torch.load reads as it is. Written atomically; throws dfq::Error when it cannot be.
void writeFixedSet(const std::string& path, const FixedSet& set, const std::string& modelSha256);

// Reads a set written by writeFixedSet: `path` is the file or a run folder holding
// synthetic_set.pt. Throws dfq::Error naming the file when it is missing, damaged, of another
// image shape [C, H, W] or with labels outside 0..classes-1. `modelSha256` gets the teacher it
// was made for.
FixedSet readFixedSet(const std::string& path, const std::vector<int64_t>& inputShape,
                      int64_t classes, std::string& modelSha256);

inline constexpr const char* kFixedSetFile = "synthetic_set.pt";

// Epochs over a fixed set of `size` images in shuffled order: each batch takes the next indices
// of the current permutation, and a new permutation (from the default generator) starts when it
// runs out, so every image is seen once per epoch.
class ShuffledBatches {
  public:
    explicit ShuffledBatches(int64_t size) : size_(size) {}
    at::Tensor next(int64_t n);  // int64 [n] on the CPU
    // The position, for checkpoints: the permutation (undefined before the first batch) and the
    // place in it.
    const at::Tensor& order() const { return order_; }
    int64_t cursor() const { return cursor_; }
    void restore(const at::Tensor& order, int64_t cursor);

  private:
    int64_t size_;
    at::Tensor order_;
    int64_t cursor_ = 0;
};

}  // namespace dfq::method
