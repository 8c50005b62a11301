#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <array>
#include <cstdint>
#include <vector>

#include "autorecon_arch.h"
#include "gdfq_generator.h"  // ConditionalBatchNorm
#include "generator.h"

namespace dfq::gen {

// AutoReCon's generator (docs/methods.md, `autorecon`); its search space and text form:
// autorecon_arch.h.
// Gumbel-softmax weights of one edge: softmax((logits + g) / tau), g = -log(-log(u)),
// u ~ U(0, 1) drawn from LibTorch's generator; differentiable in the logits.
torch::Tensor gumbelSoftmax(const torch::Tensor& logits, double tau);

struct AutoReconGeneratorOptions {
    std::vector<int64_t> outputShape;  // [C, H, W]; the bottom is ceil(H/8) x ceil(W/8)
    int64_t classes = 10;
    int64_t latentDim = 100;
    int64_t channels = 64;
    // Search: every edge mixes all its candidates with Gumbel-softmax weights of learned logits.
    // Otherwise each edge is the architecture's single choice.
    bool search = false;
    AutoReconArch arch;
    // The feature maps in channels-last memory format (NHWC), as in GdfqGeneratorOptions.
    bool channelsLast = true;
    // A nearest up edge's BatchNorm, LeakyReLU and 1x1 convolution at the low resolution, then
    // the upsampling: they commute with it (the batch statistics of a nearest-upsampled map are
    // those of the map), so a quarter of the work, the same result up to the order of summation.
    // Only the running variance's n / (n - 1) differs, which a generator (always in training
    // mode) never reads. fp32 only (see upEdge).
    bool upsampleLate = true;
};

class AutoReconGeneratorImpl : public GeneratorBase {
  public:
    explicit AutoReconGeneratorImpl(const AutoReconGeneratorOptions& options);
    torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels,
                          const torch::Tensor& weights = {}) override;
    const AutoReconGeneratorOptions& options() const { return options_; }

    // Search only: the architecture logits [up, op, cross], the other parameters, the Gumbel-
    // softmax temperature, the candidates' probabilities softmax(logits) per edge (rows of the
    // three matrices), and the argmax architecture.
    std::vector<torch::Tensor> archParameters() const;
    std::vector<torch::Tensor> weightParameters();
    void setTemperature(double tau) { tau_ = tau; }
    double temperature() const { return tau_; }
    std::array<torch::Tensor, 3> probabilities() const;
    AutoReconArch derived() const;

  private:
    // One edge's output: its single op, or the Gumbel-softmax mixture of its candidates.
    torch::Tensor upEdge(int edge, const torch::Tensor& x, const torch::Tensor& labels);
    torch::Tensor opEdge(int edge, const torch::Tensor& x, const torch::Tensor& labels);
    torch::Tensor crossEdge(int edge, const torch::Tensor& x);

    AutoReconGeneratorOptions options_;
    int64_t initH_ = 0, initW_ = 0;
    std::vector<torch::nn::Linear> project_;  // latent chunk -> cell input
    std::vector<int64_t> chunks_;
    // Per edge and candidate: the CBN (before the conv) and the conv; null where a candidate has
    // no parameters (none, skip) or is not built (derived mode builds the chosen one only).
    std::vector<std::vector<ConditionalBatchNorm>> upNorm_, opNorm_;
    std::vector<std::vector<torch::nn::Conv2d>> upConv_, opConv_;
    ConditionalBatchNorm rgbNorm_{nullptr};
    torch::nn::Conv2d rgb_{nullptr};
    torch::nn::BatchNorm2d out_{nullptr};
    torch::Tensor upLogits_, opLogits_, crossLogits_;
    double tau_ = 5.0;
};
TORCH_MODULE(AutoReconGenerator);

}  // namespace dfq::gen
