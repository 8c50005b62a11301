#pragma once

#include <torch/nn/module.h>

namespace dfq::gen {

// What a generator recipe needs of a generator network (GDFQ's, AutoReCon's): images
// [B, C, H, W] from z and labels [B] (with Qimera's input path, also labels [B, K] with mixture
// weights [B, K]).
class GeneratorBase : public torch::nn::Module {
  public:
    virtual torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels,
                                  const torch::Tensor& weights = {}) = 0;
};

}  // namespace dfq::gen
