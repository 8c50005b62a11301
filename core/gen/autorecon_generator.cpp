#include "autorecon_generator.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/upsampling.h>

#include "../error.h"
#include "../precision.h"

namespace dfq::gen {

namespace F = torch::nn::functional;

namespace {

enum Op { kNone, kSkip, kConv1, kConv3, kConv5, kDil3, kDil5 };
enum Cross { kCrossNone, kCrossNearest, kCrossBilinear };

torch::nn::Conv2d opConv(int op, int64_t channels) {
    const int64_t kernel = op == kConv1 ? 1 : (op == kConv3 || op == kDil3) ? 3 : 5;
    const int64_t dilation = op == kDil3 || op == kDil5 ? 2 : 1;
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, kernel)
                                 .padding(dilation * (kernel - 1) / 2)
                                 .dilation(dilation));
}

torch::Tensor upsample(const torch::Tensor& x, bool bilinear) {
    auto o = F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0});
    if (bilinear)
        o.mode(torch::kBilinear).align_corners(false);
    else
        o.mode(torch::kNearest);
    return F::interpolate(x, o);
}

torch::Tensor leaky(const torch::Tensor& x) {
    return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2));
}

}  // namespace

torch::Tensor gumbelSoftmax(const torch::Tensor& logits, double tau) {
    const torch::Tensor u = torch::rand_like(logits).clamp(1e-10, 1.0 - 1e-7);
    return torch::softmax((logits - torch::log(-torch::log(u))) / tau, -1);
}

AutoReconGeneratorImpl::AutoReconGeneratorImpl(const AutoReconGeneratorOptions& o) : options_(o) {
    if (o.outputShape.size() != 3 || o.outputShape[0] < 1 || o.outputShape[1] < 8 ||
        o.outputShape[2] < 8)
        throw Error("AutoReCon generator: the output shape must be [C, H, W] with H, W >= 8");
    if (o.classes < 1 || o.latentDim < 3 || o.channels < 1)
        throw Error("AutoReCon generator: classes, channels and a latent of at least 3 needed");
    initH_ = (o.outputShape[1] + 7) / 8;
    initW_ = (o.outputShape[2] + 7) / 8;
    const int64_t ch = o.channels;
    // The latent in three chunks (100 -> 33, 33, 34), each projected to one cell's input.
    chunks_ = {o.latentDim / 3, o.latentDim / 3, o.latentDim - 2 * (o.latentDim / 3)};
    for (int c = 0; c < 3; ++c) {
        const int64_t area = (initH_ << c) * (initW_ << c);
        project_.push_back(register_module("project" + std::to_string(c),
                                           torch::nn::Linear(chunks_[c], ch * area)));
    }
    auto cbn = [&](const std::string& name) {
        return register_module(name, ConditionalBatchNorm(ch, o.classes, 0.8));
    };
    upNorm_.resize(AutoReconArch::kUpEdges);
    upConv_.resize(AutoReconArch::kUpEdges);
    for (int e = 0; e < AutoReconArch::kUpEdges; ++e) {
        upNorm_[e].resize(AutoReconArch::kUpChoices, ConditionalBatchNorm(nullptr));
        upConv_[e].resize(AutoReconArch::kUpChoices, torch::nn::Conv2d(nullptr));
        for (int k = 0; k < AutoReconArch::kUpChoices; ++k) {
            if (!o.search && k != o.arch.up[static_cast<size_t>(e)])
                continue;
            const std::string name = "up" + std::to_string(e) + "_" + AutoReconArch::upNames()[k];
            upNorm_[e][k] = cbn(name + "_bn");
            upConv_[e][k] = register_module(name + "_conv",
                                            torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 1)));
        }
    }
    opNorm_.resize(AutoReconArch::kOpEdges);
    opConv_.resize(AutoReconArch::kOpEdges);
    for (int e = 0; e < AutoReconArch::kOpEdges; ++e) {
        opNorm_[e].resize(AutoReconArch::kOpChoices, ConditionalBatchNorm(nullptr));
        opConv_[e].resize(AutoReconArch::kOpChoices, torch::nn::Conv2d(nullptr));
        for (int k = kConv1; k < AutoReconArch::kOpChoices; ++k) {
            if (!o.search && k != o.arch.op[static_cast<size_t>(e)])
                continue;
            const std::string name = "op" + std::to_string(e) + "_" + AutoReconArch::opNames()[k];
            opNorm_[e][k] = cbn(name + "_bn");
            opConv_[e][k] = register_module(name + "_conv", opConv(k, ch));
        }
    }
    rgbNorm_ = cbn("rgb_bn");
    rgb_ = register_module(
        "rgb", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, o.outputShape[0], 3).padding(1)));
    out_ = register_module(
        "bn_out",
        torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(o.outputShape[0]).affine(false)));
    if (o.search) {
        upLogits_ = register_parameter(
            "arch_up", torch::zeros({AutoReconArch::kUpEdges, AutoReconArch::kUpChoices}));
        opLogits_ = register_parameter(
            "arch_op", torch::zeros({AutoReconArch::kOpEdges, AutoReconArch::kOpChoices}));
        crossLogits_ = register_parameter(
            "arch_cross", torch::zeros({AutoReconArch::kCrossEdges, AutoReconArch::kCrossChoices}));
    }
}

torch::Tensor AutoReconGeneratorImpl::upEdge(int e, const torch::Tensor& x,
                                             const torch::Tensor& labels) {
    auto candidate = [&](int k) {
        const bool bilinear = k == 1;
        // Not under bf16 autocast, where it measured no faster (bench_gdfq, batch 200: within
        // the noise of the machine, where the fp32 gain was 11-18 %).
        if (!bilinear && options_.upsampleLate &&
            activeAutocastType(x.device()) == c10::ScalarType::Float)
            return upsample(upConv_[e][k]->forward(leaky(upNorm_[e][k]->forward(x, labels))),
                            false);
        return upConv_[e][k]->forward(leaky(upNorm_[e][k]->forward(upsample(x, bilinear), labels)));
    };
    if (!options_.search)
        return candidate(options_.arch.up[static_cast<size_t>(e)]);
    const torch::Tensor g = gumbelSoftmax(upLogits_[e], tau_);
    torch::Tensor out = g[0] * candidate(0);
    for (int k = 1; k < AutoReconArch::kUpChoices; ++k)
        out = out + g[k] * candidate(k);
    return out;
}

torch::Tensor AutoReconGeneratorImpl::opEdge(int e, const torch::Tensor& x,
                                             const torch::Tensor& labels) {
    auto candidate = [&](int k) -> torch::Tensor {
        if (k == kSkip)
            return x;
        return opConv_[e][k]->forward(leaky(opNorm_[e][k]->forward(x, labels)));
    };
    if (!options_.search) {
        const int k = options_.arch.op[static_cast<size_t>(e)];
        return k == kNone ? torch::zeros_like(x) : candidate(k);
    }
    const torch::Tensor g = gumbelSoftmax(opLogits_[e], tau_);
    torch::Tensor out = g[kSkip] * x;  // `none` adds nothing
    for (int k = kConv1; k < AutoReconArch::kOpChoices; ++k)
        out = out + g[k] * candidate(k);
    return out;
}

torch::Tensor AutoReconGeneratorImpl::crossEdge(int e, const torch::Tensor& x) {
    if (!options_.search) {
        const int k = options_.arch.cross[static_cast<size_t>(e)];
        return k == kCrossNone ? torch::Tensor() : upsample(x, k == kCrossBilinear);
    }
    const torch::Tensor g = gumbelSoftmax(crossLogits_[e], tau_);
    return g[kCrossNearest] * upsample(x, false) + g[kCrossBilinear] * upsample(x, true);
}

torch::Tensor AutoReconGeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& labels,
                                              const torch::Tensor& weights) {
    if (labels.dim() != 1 || weights.defined())
        throw Error("AutoReCon generator: one label per sample (no superposition)");
    const int64_t b = z.size(0), ch = options_.channels;
    const auto zs = z.split_with_sizes(chunks_, 1);
    torch::Tensor x;
    std::vector<torch::Tensor> prev;
    auto add = [](torch::Tensor& sum, const torch::Tensor& t) {
        if (t.defined())
            sum = sum + t;
    };
    for (int c = 0; c < 3; ++c) {
        torch::Tensor p = project_[c]->forward(zs[c]).view({b, ch, initH_ << c, initW_ << c});
        if (options_.channelsLast)
            p = p.contiguous(at::MemoryFormat::ChannelsLast);
        x = c == 0 ? p : x + p;
        const torch::Tensor n0 = upEdge(2 * c, x, labels), n1 = upEdge(2 * c + 1, x, labels);
        // While searching, every edge draws its own Gumbel noise, so the edges run in a fixed
        // order (the one GCC's right-to-left operand evaluation gave, which the golden runs
        // recorded) rather than in whatever order a compiler evaluates the operands of `+`.
        const torch::Tensor o1 = opEdge(5 * c + 1, n1, labels);
        const torch::Tensor o0 = opEdge(5 * c, n0, labels);
        torch::Tensor n2 = o0 + o1;
        if (c > 0)
            for (int j = 0; j < 3; ++j)
                add(n2, crossEdge(6 * (c - 1) + j, prev[j]));
        const torch::Tensor o4 = opEdge(5 * c + 4, n2, labels);
        const torch::Tensor o3 = opEdge(5 * c + 3, n1, labels);
        const torch::Tensor o2 = opEdge(5 * c + 2, n0, labels);
        torch::Tensor n3 = o2 + o3 + o4;
        if (c > 0)
            for (int j = 0; j < 3; ++j)
                add(n3, crossEdge(6 * (c - 1) + 3 + j, prev[j]));
        prev = {n0, n1, n2};
        x = n3;
    }
    x = out_->forward(torch::tanh(rgb_->forward(leaky(rgbNorm_->forward(x, labels)))));
    const int64_t h = options_.outputShape[1], w = options_.outputShape[2];
    if (x.size(2) != h || x.size(3) != w)
        x = x.narrow(2, (x.size(2) - h) / 2, h).narrow(3, (x.size(3) - w) / 2, w);
    return x;
}

std::vector<torch::Tensor> AutoReconGeneratorImpl::archParameters() const {
    if (!options_.search)
        return {};
    return {upLogits_, opLogits_, crossLogits_};
}

std::vector<torch::Tensor> AutoReconGeneratorImpl::weightParameters() {
    std::vector<torch::Tensor> out;
    for (const auto& p : named_parameters())
        if (p.key().rfind("arch_", 0) != 0)
            out.push_back(p.value());
    return out;
}

std::array<torch::Tensor, 3> AutoReconGeneratorImpl::probabilities() const {
    if (!options_.search)
        return {};
    torch::NoGradGuard noGrad;
    return {torch::softmax(upLogits_, 1).cpu(), torch::softmax(opLogits_, 1).cpu(),
            torch::softmax(crossLogits_, 1).cpu()};
}

AutoReconArch AutoReconGeneratorImpl::derived() const {
    if (!options_.search)
        return options_.arch;
    AutoReconArch a;
    auto argmax = [](const torch::Tensor& logits, auto& out) {
        const torch::Tensor best = logits.detach().argmax(1).cpu();
        for (size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<int>(best[static_cast<int64_t>(i)].item<int64_t>());
    };
    argmax(upLogits_, a.up);
    argmax(opLogits_, a.op);
    argmax(crossLogits_, a.cross);
    return a;
}

}  // namespace dfq::gen
