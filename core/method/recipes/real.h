#pragma once

#include <string>

#include "../fixed_set.h"
#include "../registry_entry.h"

namespace dfq::method {

// Real images without their labels: a pool of N images drawn at random from any data source the
// workbench reads, which the student learns on from the teacher's soft targets (KD) and its
// predicted classes (CE), cropped and flipped at random. It answers how many real images the
// data-free recipes are worth. The dataset's labels are never read; to evaluate on the same
// file, give the evaluation another part (data.offset, data.stride).
struct RealOptions {
    std::string path;         // a dataset (data.path when empty)
    bool trainSplit = false;  // the split of a dataset folder (data.split)
    int64_t images = 100;     // N
    int64_t offset = 0;       // the pool is drawn from images offset, offset + stride, ...
    int64_t stride = 2;
    bool augment = true;
};

class RealRecipe : public GeneratorRecipe {
  public:
    RealRecipe(MethodContext& context, const RealOptions& options);
    GeneratorStep train(double lr) override;
    at::Tensor calibrationBatch(int64_t n, at::Generator& rng) override;
    Synthetic synthesize(int64_t n, bool superposed, at::Generator& rng) override;
    std::string sampleSource() const override { return "real"; }
    void save(torch::serialize::OutputArchive& archive) const override;
    void load(torch::serialize::InputArchive& archive) override;

    // The pool in the teacher's normalized input space, [N, C, H, W], and the indices of its
    // images in the source (after offset and stride: image offset + stride * index).
    const at::Tensor& pool() const { return pool_; }
    const at::Tensor& sourceIndex() const { return index_; }

  private:
    MethodContext& ctx_;
    RealOptions options_;
    at::Tensor pool_, index_;
    ShuffledBatches order_{0};
};

GeneratorEntry realEntry();

}  // namespace dfq::method
