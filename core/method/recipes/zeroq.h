#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <vector>

#include "../registry_entry.h"

namespace dfq::method {

// ZeroQ's distilled data (Cai et al., CVPR 2020) as a generator recipe: no generator network but
// a fixed pool of images, optimized directly with Adam so that their statistics match every
// BatchNorm layer of the teacher (the BNS loss), optionally with a CE term towards a label
// assigned to each image (image i: class i mod classes), as the label-conditioned variants do.
// Each iteration takes the pool's next batch; a batch is updated `steps` times and then stays
// fixed, so that with steps x batches = the warm-up's iterations the student fine-tunes on data
// distilled beforehand, as in ZeroQ.
struct ZeroqOptions {
    int64_t poolSize = 256;  // rounded up to whole batches
    double lr = 0.1;         // Adam on the pixels (normalized input), under the run's schedule
    int64_t steps = 50;      // updates of each batch before it is fixed
    double ceWeight = 0;     // 0: ZeroQ's BNS only; the labels are then the teacher's predictions
    double scheduleBase = 1e-3;  // generator.lr: the schedule's learning rate at its start
};

class ZeroqRecipe : public GeneratorRecipe {
  public:
    ZeroqRecipe(MethodContext& context, const ZeroqOptions& options);
    GeneratorStep train(double lr) override;
    at::Tensor calibrationBatch(int64_t n, at::Generator& rng) override;
    Synthetic synthesize(int64_t n, bool superposed, at::Generator& rng) override;
    void save(torch::serialize::OutputArchive& archive) const override;
    void load(torch::serialize::InputArchive& archive) override;

    int64_t poolImages() const;
    // The whole pool, detached: images [N, C, H, W] and their assigned labels [N].
    at::Tensor pool() const;
    at::Tensor assignedLabels() const;
    const std::vector<int64_t>& updates() const { return updates_; }

  private:
    at::Tensor images(const at::Tensor& index) const;  // index [n] on the CPU

    MethodContext& ctx_;
    ZeroqOptions options_;
    std::vector<at::Tensor> batches_;  // leaf tensors [B, C, H, W] on the device
    std::vector<at::Tensor> labels_;   // assigned labels [B] on the device
    std::vector<std::unique_ptr<torch::optim::Adam>> adams_;
    std::vector<int64_t> updates_;
    int64_t next_ = 0;
};

GeneratorEntry zeroqEntry();

}  // namespace dfq::method
