#include "gdfq_generator.h"

#include <array>

#include <torch/autograd.h>

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/upsampling.h>

#include "../error.h"

namespace dfq::gen {

namespace F = torch::nn::functional;

ConditionalBatchNormImpl::ConditionalBatchNormImpl(int64_t channels, int64_t classes, double eps) {
    bn_ = register_module(
        "bn",
        torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).eps(eps).affine(false)));
    gamma_ = register_module("gamma", torch::nn::Embedding(classes, channels));
    beta_ = register_module("beta", torch::nn::Embedding(classes, channels));
    torch::NoGradGuard noGrad;
    gamma_->weight.fill_(1.0);
    beta_->weight.zero_();
}

torch::Tensor ConditionalBatchNormImpl::forward(const torch::Tensor& x, const torch::Tensor& labels,
                                                const torch::Tensor& weights) {
    torch::Tensor g = gamma_->forward(labels), b = beta_->forward(labels);
    if (labels.dim() == 2) {  // [B, K, C] -> [B, C]
        g = (g * weights.unsqueeze(-1)).sum(1);
        b = (b * weights.unsqueeze(-1)).sum(1);
    }
    return bn_->forward(x) * g.unsqueeze(-1).unsqueeze(-1) + b.unsqueeze(-1).unsqueeze(-1);
}

namespace {

// A 3-tap kernel axis `dim` folded for the two phases of a nearest 2x upsampling: phase 0 reads
// the input at offsets (-1, 0) with taps (k0, k1 + k2), phase 1 at (0, +1) with (k0 + k1, k2).
std::array<torch::Tensor, 2> phaseTaps(const torch::Tensor& k, int64_t dim) {
    const torch::Tensor k0 = k.select(dim, 0), k1 = k.select(dim, 1), k2 = k.select(dim, 2);
    return {torch::stack({k0, k1 + k2}, dim), torch::stack({k0 + k1, k2}, dim)};
}

}  // namespace

namespace {

// The four phase maps of one convolution, y = [N, 4 * O, H + 1, W + 1] with phase (p, q) in
// channels (2p + q) * O ..., interleaved into [N, O, 2H, 2W] (channels-last): output pixel
// (2i + p, 2j + q) is y's pixel (i + p, j + q) of phase (p, q). One strided copy each way; the
// gradient of y's unused border is zero.
class InterleavePhases : public torch::autograd::Function<InterleavePhases> {
  public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y) {
        const int64_t n = y.size(0), o = y.size(1) / 4, h = y.size(2) - 1, w = y.size(3) - 1;
        ctx->saved_data["shape"] = std::vector<int64_t>{n, o, h, w};
        const torch::Tensor yl = y.permute({0, 2, 3, 1});  // [N, H + 1, W + 1, 4 * O]
        torch::Tensor out = torch::empty({n, h, 2, w, 2, o}, y.options());
        for (int64_t p = 0; p < 2; ++p)
            for (int64_t q = 0; q < 2; ++q)
                out.select(4, q).select(2, p).copy_(
                    yl.narrow(1, p, h).narrow(2, q, w).narrow(3, (2 * p + q) * o, o));
        return out.view({n, 2 * h, 2 * w, o}).permute({0, 3, 1, 2});
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const auto shape = ctx->saved_data["shape"].toIntVector();
        const int64_t n = shape[0], o = shape[1], h = shape[2], w = shape[3];
        const torch::Tensor g =
            grads[0].permute({0, 2, 3, 1}).contiguous().view({n, h, 2, w, 2, o});
        torch::Tensor gy = torch::zeros({n, h + 1, w + 1, 4 * o}, g.options());
        for (int64_t p = 0; p < 2; ++p)
            for (int64_t q = 0; q < 2; ++q)
                gy.narrow(1, p, h)
                    .narrow(2, q, w)
                    .narrow(3, (2 * p + q) * o, o)
                    .copy_(g.select(4, q).select(2, p));
        return {gy.permute({0, 3, 1, 2})};
    }
};

}  // namespace

torch::Tensor upsampledConv3x3(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias) {
    // Phase (p, q) is a 2 x 2 convolution; with padding 1 on every side one convolution computes
    // all four at every position of an (H + 1) x (W + 1) grid, of which each phase keeps H x W.
    std::vector<torch::Tensor> kernels;
    for (const torch::Tensor& row : phaseTaps(weight, 2))  // [O, I, 2, 3] per row phase
        for (const torch::Tensor& k : phaseTaps(row, 3))   // [O, I, 2, 2] per column phase
            kernels.push_back(k);
    const torch::Tensor y = F::conv2d(x, torch::cat(kernels, 0),
                                      F::Conv2dFuncOptions().padding(1).bias(
                                          bias.defined() ? bias.repeat({4}) : torch::Tensor()));
    return InterleavePhases::apply(y);
}

bool GdfqGeneratorImpl::defaultImagenetStyle(const std::vector<int64_t>& shape) {
    return shape.size() == 3 && (shape[1] > 64 || shape[2] > 64);
}

GdfqGeneratorImpl::GdfqGeneratorImpl(const GdfqGeneratorOptions& o) : options_(o) {
    if (o.outputShape.size() != 3 || o.outputShape[0] < 1 || o.outputShape[1] < 4 ||
        o.outputShape[2] < 4)
        throw Error("generator: the output shape must be [C, H, W] with H, W >= 4");
    if (o.classes < 1 || o.latentDim < 1 || o.channels < 2)
        throw Error("generator: classes, latent size and channels must be positive");
    initH_ = (o.outputShape[1] + 3) / 4;
    initW_ = (o.outputShape[2] + 3) / 4;
    if (o.qimera && (o.mappingDim < 0 || o.noiseScale < 0))
        throw Error("generator: the mapping size and the noise scale must not be negative");
    const int64_t c = o.channels, half = o.channels / 2;
    if (!o.imagenetStyle || o.qimera)
        embedding_ = register_module("embedding", torch::nn::Embedding(o.classes, o.latentDim));
    int64_t inputs = o.latentDim;
    if (o.qimera && o.mappingDim > 0) {
        mapping_ = register_module("mapping", torch::nn::Linear(o.latentDim, o.mappingDim));
        inputs = o.mappingDim;
    }
    l1_ = register_module("l1", torch::nn::Linear(inputs, c * initH_ * initW_));
    auto conv = [](int64_t in, int64_t out) {
        return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(1).padding(1));
    };
    conv1_ = register_module("conv1", conv(c, c));
    conv2_ = register_module("conv2", conv(c, half));
    conv3_ = register_module("conv3", conv(half, o.outputShape[0]));
    // The second positional argument of BatchNorm2d in the reference is eps, not momentum.
    const std::vector<std::pair<int64_t, double>> norms = {{c, 1e-5}, {c, 0.8}, {half, 0.8}};
    for (size_t i = 0; i < norms.size(); ++i) {
        const auto [channels, eps] = norms[i];
        const std::string name = "bn" + std::to_string(i);
        if (o.imagenetStyle)
            cbn_.push_back(register_module(name, ConditionalBatchNorm(channels, o.classes, eps)));
        else
            bn_.push_back(register_module(
                name, torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).eps(eps))));
    }
    out_ = register_module(
        "bn_out",
        torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(o.outputShape[0]).affine(false)));
}

void GdfqGeneratorImpl::setEmbedding(const torch::Tensor& weight) {
    if (!embedding_ || !weight.sizes().equals(embedding_->weight.sizes()))
        throw Error("generator: the embedding initializer must be [classes, latent] = " +
                    c10::str(embedding_ ? embedding_->weight.sizes() : c10::IntArrayRef{}) +
                    ", not " + c10::str(weight.sizes()));
    torch::NoGradGuard noGrad;
    embedding_->weight.copy_(weight);
}

torch::Tensor GdfqGeneratorImpl::normalize(int stage, const torch::Tensor& x,
                                           const torch::Tensor& labels,
                                           const torch::Tensor& weights) {
    return options_.imagenetStyle ? cbn_[stage]->forward(x, labels, weights)
                                  : bn_[stage]->forward(x);
}

torch::Tensor GdfqGeneratorImpl::qimeraInput(const torch::Tensor& z, const torch::Tensor& labels,
                                             const torch::Tensor& weights) {
    const torch::Tensor e = embedding_->forward(labels) + options_.noiseScale * z;
    // A BatchNorm without affine parameters and without running statistics (eps 1e-5).
    const bool superposed = labels.dim() == 2;
    const std::vector<int64_t> dims = superposed && options_.referenceNormalization
                                          ? std::vector<int64_t>{0, 2}
                                          : std::vector<int64_t>{e.dim() - 1};
    const auto [var, mean] = torch::var_mean(e, dims, /*unbiased=*/false, /*keepdim=*/true);
    torch::Tensor h = (e - mean) * torch::rsqrt(var + 1e-5);
    if (mapping_)
        h = mapping_->forward(h);
    return superposed ? (h * weights.unsqueeze(-1)).sum(1) : h;
}

torch::Tensor GdfqGeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& labels,
                                         const torch::Tensor& weights) {
    const bool superposed = labels.dim() == 2;
    if (superposed && (!options_.qimera || !weights.defined() || z.dim() != 3 ||
                       !weights.sizes().equals(labels.sizes()) || z.size(1) != labels.size(1)))
        throw Error(
            "generator: superposed labels [B, K] need Qimera's input path, z [B, K, "
            "latent] and mixture weights [B, K]");
    torch::Tensor h = options_.qimera          ? qimeraInput(z, labels, weights)
                      : options_.imagenetStyle ? z
                                               : embedding_->forward(labels) * z;
    torch::Tensor x = l1_->forward(h).view({z.size(0), options_.channels, initH_, initW_});
    if (options_.channelsLast)
        x = x.contiguous(at::MemoryFormat::ChannelsLast);
    x = normalize(0, x, labels, weights);
    const auto up = F::InterpolateFuncOptions()
                        .scale_factor(std::vector<double>{2.0, 2.0})
                        .mode(torch::kNearest);
    const auto lrelu = F::LeakyReLUFuncOptions().negative_slope(0.2);
    // conv(upsample(x)) at the low resolution (upsampledConv3x3), or as the reference writes it.
    const bool fold = options_.upsampleInConv;
    auto upConv = [&](torch::nn::Conv2d& conv, const torch::Tensor& in) {
        return fold ? upsampledConv3x3(in, conv->weight, conv->bias)
                    : conv->forward(F::interpolate(in, up));
    };
    x = F::leaky_relu(normalize(1, upConv(conv1_, x), labels, weights), lrelu);
    x = F::leaky_relu(normalize(2, upConv(conv2_, x), labels, weights), lrelu);
    x = out_->forward(torch::tanh(conv3_->forward(x)));
    const int64_t h0 = (x.size(2) - options_.outputShape[1]) / 2;
    const int64_t w0 = (x.size(3) - options_.outputShape[2]) / 2;
    if (h0 > 0 || w0 > 0 || x.size(2) != options_.outputShape[1] ||
        x.size(3) != options_.outputShape[2])
        x = x.narrow(2, h0, options_.outputShape[1]).narrow(3, w0, options_.outputShape[2]);
    return x;
}

}  // namespace dfq::gen
