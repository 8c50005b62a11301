#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <vector>

namespace dfq::gen {

// BatchNorm without affine parameters followed by a per-class scale and shift (GDFQ's
// CategoricalConditionalBatchNorm2d): gamma from an embedding initialized to ones, beta from one
// initialized to zeros.
class ConditionalBatchNormImpl : public torch::nn::Module {
  public:
    ConditionalBatchNormImpl(int64_t channels, int64_t classes, double eps);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels);

  private:
    torch::nn::BatchNorm2d bn_{nullptr};
    torch::nn::Embedding gamma_{nullptr};
    torch::nn::Embedding beta_{nullptr};
};
TORCH_MODULE(ConditionalBatchNorm);

// GDFQ's conditional generator (METHODS.md §2) for an output of C x H x W.
//  - Cifar style: h = Embedding(classes, latent)(y) * z -> Linear -> BN -> [up x2, conv, BN(eps
//  0.8),
//    LeakyReLU(0.2)] x 2 -> conv -> tanh -> BN(affine = false).
//  - ImageNet style: z -> Linear -> CBN -> up, conv, CBN(eps 0.8), LeakyReLU, up, conv, CBN,
//  LeakyReLU
//    -> conv -> tanh -> BN(affine = false); the class enters only through the CBNs.
// The generator starts at ceil(H/4) x ceil(W/4); a size not divisible by 4 is centre-cropped.
struct GdfqGeneratorOptions {
    std::vector<int64_t> outputShape;  // [C, H, W]
    int64_t classes = 10;
    int64_t latentDim = 100;
    int64_t channels = 128;  // of the first feature map; the second stage has half
    bool imagenetStyle = false;
};

class GdfqGeneratorImpl : public torch::nn::Module {
  public:
    explicit GdfqGeneratorImpl(const GdfqGeneratorOptions& options);
    torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels);
    const GdfqGeneratorOptions& options() const { return options_; }

    // The style the reference picks for an input size: CIFAR style up to 64 x 64.
    static bool defaultImagenetStyle(const std::vector<int64_t>& outputShape);

  private:
    torch::Tensor normalize(int stage, const torch::Tensor& x, const torch::Tensor& labels);

    GdfqGeneratorOptions options_;
    int64_t initH_ = 0, initW_ = 0;
    torch::nn::Embedding embedding_{nullptr};
    torch::nn::Linear l1_{nullptr};
    torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
    std::vector<torch::nn::BatchNorm2d> bn_;  // CIFAR style: 3 BNs
    std::vector<ConditionalBatchNorm> cbn_;   // ImageNet style: 3 CBNs
    torch::nn::BatchNorm2d out_{nullptr};     // affine = false
};
TORCH_MODULE(GdfqGenerator);

}  // namespace dfq::gen
