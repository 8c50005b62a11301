#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <vector>

#include "generator.h"

namespace dfq::gen {

// BatchNorm without affine parameters followed by a per-class scale and shift (GDFQ's
// CategoricalConditionalBatchNorm2d): gamma from an embedding initialized to ones, beta from one
// initialized to zeros.
class ConditionalBatchNormImpl : public torch::nn::Module {
  public:
    ConditionalBatchNormImpl(int64_t channels, int64_t classes, double eps);
    // labels [B], or [B, K] with mixture weights [B, K]: then gamma and beta are the weighted
    // sums of the K classes' (the reference takes a mean over K, which scales them by 1/K).
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels,
                          const torch::Tensor& weights = {});

  private:
    torch::nn::BatchNorm2d bn_{nullptr};
    torch::nn::Embedding gamma_{nullptr};
    torch::nn::Embedding beta_{nullptr};
};
TORCH_MODULE(ConditionalBatchNorm);

// GDFQ's conditional generator (docs/methods.md, `gdfq`) for an output of C x H x W.
//  - Cifar style: h = Embedding(classes, latent)(y) * z -> Linear -> BN -> [up x2, conv,
//    BN(eps 0.8), LeakyReLU(0.2)] x 2 -> conv -> tanh -> BN(affine = false).
//  - ImageNet style: z -> Linear -> CBN -> up, conv, CBN(eps 0.8), LeakyReLU, up, conv, CBN,
//    LeakyReLU -> conv -> tanh -> BN(affine = false); the class enters only through the CBNs.
// With `qimera` the input path is Qimera's (docs/methods.md, `qimera`) in both styles:
// e_k = Embedding(classes, latent)(y_k) + noiseScale * z_k, each e_k normalized, mapped by
// Linear(latent -> mappingDim) when the disentanglement mapping is on, then superposed as
// h = sum_k w_k e_k.
// The generator starts at ceil(H/4) x ceil(W/4); a size not divisible by 4 is centre-cropped.
struct GdfqGeneratorOptions {
    std::vector<int64_t> outputShape;  // [C, H, W]
    int64_t classes = 10;
    int64_t latentDim = 100;  // z; with qimera also the label embedding's width
    int64_t channels = 128;   // of the first feature map; the second stage has half
    bool imagenetStyle = false;
    bool qimera = false;
    double noiseScale = 1.0;
    int64_t mappingDim = 100;  // the disentanglement mapping's output; 0: no mapping
    // Normalize each embedding over its own entries (false), or as the reference code does: a
    // superposed batch's slot k over all of the batch's entries of that slot.
    bool referenceNormalization = false;
    // The feature maps in channels-last memory format (NHWC), which oneDNN's and cuDNN's
    // convolutions run faster; the same numbers up to the order of summation.
    bool channelsLast = true;
    // Each convolution after an upsampling computed at the low resolution (upsampledConv3x3):
    // about 2x fewer multiply-adds, the same result up to the order of summation.
    bool upsampleInConv = true;
};

class GdfqGeneratorImpl : public GeneratorBase {
  public:
    explicit GdfqGeneratorImpl(const GdfqGeneratorOptions& options);
    // z [B, latent] with labels [B]; with qimera also z [B, K, latent] with labels [B, K] and
    // mixture weights [B, K] (rows summing to 1): one image on the boundary of K classes each.
    torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels,
                          const torch::Tensor& weights = {}) override;
    const GdfqGeneratorOptions& options() const { return options_; }
    // Qimera: the label embedding's weights [classes, latent] (e.g. the teacher's classifier).
    void setEmbedding(const torch::Tensor& weight);
    // Qimera: the superposed, normalized (and mapped) embedding that enters the first Linear.
    torch::Tensor qimeraInput(const torch::Tensor& z, const torch::Tensor& labels,
                              const torch::Tensor& weights);

    // The style the reference picks for an input size: CIFAR style up to 64 x 64.
    static bool defaultImagenetStyle(const std::vector<int64_t>& outputShape);

  private:
    torch::Tensor normalize(int stage, const torch::Tensor& x, const torch::Tensor& labels,
                            const torch::Tensor& weights);

    GdfqGeneratorOptions options_;
    int64_t initH_ = 0, initW_ = 0;
    torch::nn::Embedding embedding_{nullptr};
    torch::nn::Linear mapping_{nullptr};  // qimera's disentanglement mapping
    torch::nn::Linear l1_{nullptr};
    torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
    std::vector<torch::nn::BatchNorm2d> bn_;  // CIFAR style: 3 BNs
    std::vector<ConditionalBatchNorm> cbn_;   // ImageNet style: 3 CBNs
    torch::nn::BatchNorm2d out_{nullptr};     // affine = false
};
TORCH_MODULE(GdfqGenerator);

// conv(upsample_nearest_2x(x)) for a 3 x 3, stride 1, padding 1 convolution, computed at x's
// resolution: each of the four output phases (row and column parity) sees only 2 x 2 distinct
// input pixels, with taps that are sums of the 3 x 3 kernel's. One convolution computes the four
// phases over x padded by one pixel, and one strided copy interleaves them: 16 instead of 36
// multiply-adds per output pixel and input channel (on an (H + 1) x (W + 1) grid), and no
// upsampled map; the same result up to the order of summation, gradients included. The output
// is channels-last.
torch::Tensor upsampledConv3x3(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias);

}  // namespace dfq::gen
