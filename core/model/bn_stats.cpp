// The BN probe's batch statistics in one pass over the input, forward and backward.
//
// The probe runs on every BatchNorm input of the teacher in every generator step (GDFQ, Qimera,
// AutoReCon) and every HAST synthesis step, where the BNS loss is differentiated back to the
// images. With ATen ops the statistics cost four passes over the input forward (x - shift, its
// sum, its square, that sum) and about six backward (the square's two products, their sum, the
// sums' expansions): 17 % of a HAST step on the CIFAR ResNet-32 at batch 256. Here the forward
// reads the input once and the backward reads it once and writes the gradient once.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <vector>

#include "../precision.h"
#include "interpreter.h"

namespace dfq::model {
namespace {

// The input as [outer, C, inner] with unit stride along one of C (channels-last: inner 1) or
// inner (NCHW): the two layouts the interpreter's tensors have.
struct Layout {
    int64_t outer = 0, channels = 0, inner = 0;
    bool channelsLast = false;
};

Layout layoutOf(const at::Tensor& x) {
    Layout l;
    l.channels = x.size(1);
    l.channelsLast =
        x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
    int64_t spatial = 1;
    for (int64_t d = 2; d < x.dim(); ++d)
        spatial *= x.size(d);
    l.outer = l.channelsLast ? x.size(0) * spatial : x.size(0);
    l.inner = l.channelsLast ? 1 : spatial;
    return l;
}

// Rows of a channels-last input summed in fp32 before they go into the fp64 totals.
constexpr int64_t kBlock = 64;

// sum(x - shift) and sum((x - shift)^2) per channel, in fp64.
void channelSums(const float* x, const float* shift, const Layout& l, double* s1, double* s2) {
    const int64_t c = l.channels;
    const int threads = at::get_num_threads();
    std::vector<double> part(static_cast<size_t>(threads) * 2 * c, 0.0);
    if (l.channelsLast) {
        at::parallel_for(0, l.outer, kBlock, [&](int64_t begin, int64_t end) {
            double* p1 = part.data() + static_cast<size_t>(at::get_thread_num()) * 2 * c;
            double* p2 = p1 + c;
            std::vector<float> a1(c), a2(c);
            for (int64_t r0 = begin; r0 < end; r0 += kBlock) {
                std::fill(a1.begin(), a1.end(), 0.0f);
                std::fill(a2.begin(), a2.end(), 0.0f);
                float* __restrict b1 = a1.data();
                float* __restrict b2 = a2.data();
                for (int64_t r = r0; r < std::min(end, r0 + kBlock); ++r) {
                    const float* __restrict row = x + r * c;
                    for (int64_t k = 0; k < c; ++k) {
                        const float d = row[k] - shift[k];
                        b1[k] += d;
                        b2[k] += d * d;
                    }
                }
                for (int64_t k = 0; k < c; ++k) {
                    p1[k] += b1[k];
                    p2[k] += b2[k];
                }
            }
        });
    } else {
        at::parallel_for(0, l.outer * c, 1, [&](int64_t begin, int64_t end) {
            double* p1 = part.data() + static_cast<size_t>(at::get_thread_num()) * 2 * c;
            double* p2 = p1 + c;
            for (int64_t i = begin; i < end; ++i) {
                const int64_t k = i % c;
                const float* __restrict v = x + i * l.inner;
                const float sh = shift[k];
                for (int64_t j0 = 0; j0 < l.inner; j0 += 256) {
                    float b1 = 0, b2 = 0;
                    for (int64_t j = j0; j < std::min(l.inner, j0 + 256); ++j) {
                        const float d = v[j] - sh;
                        b1 += d;
                        b2 += d * d;
                    }
                    p1[k] += b1;
                    p2[k] += b2;
                }
            }
        });
    }
    std::fill(s1, s1 + c, 0.0);
    std::fill(s2, s2 + c, 0.0);
    for (int t = 0; t < threads; ++t)
        for (int64_t k = 0; k < c; ++k) {
            s1[k] += part[static_cast<size_t>(t) * 2 * c + k];
            s2[k] += part[static_cast<size_t>(t) * 2 * c + c + k];
        }
}

// g = a + b * (x - shift) per channel.
void channelAffine(const float* x, const float* shift, const float* a, const float* b,
                   const Layout& l, float* g) {
    const int64_t c = l.channels;
    if (l.channelsLast) {
        at::parallel_for(0, l.outer, kBlock, [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r) {
                const float* __restrict row = x + r * c;
                float* __restrict out = g + r * c;
                for (int64_t k = 0; k < c; ++k)
                    out[k] = a[k] + b[k] * (row[k] - shift[k]);
            }
        });
        return;
    }
    at::parallel_for(0, l.outer * c, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t k = i % c;
            const float* __restrict v = x + i * l.inner;
            float* __restrict out = g + i * l.inner;
            const float ak = a[k], bk = b[k], sh = shift[k];
            for (int64_t j = 0; j < l.inner; ++j)
                out[j] = ak + bk * (v[j] - sh);
        }
    });
}

// mean = S1 / n + shift, var = S2 / n - (S1 / n)^2 with S1, S2 the sums of d = x - shift and
// d^2. Backward: d mean / dx = 1 / n, d var / dx = 2 (d - S1 / n) / n.
class BnStats : public torch::autograd::Function<BnStats> {
  public:
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                  const at::Tensor& input,
                                                  const at::Tensor& shift) {
        const at::Tensor x =
            input.is_contiguous() || input.is_contiguous(at::MemoryFormat::ChannelsLast)
                ? input
                : input.contiguous();
        const Layout l = layoutOf(x);
        const double n = static_cast<double>(x.numel() / l.channels);
        std::vector<double> s1(l.channels), s2(l.channels);
        channelSums(x.data_ptr<float>(), shift.data_ptr<float>(), l, s1.data(), s2.data());
        at::Tensor mean = at::empty({l.channels}, x.options());
        at::Tensor var = at::empty({l.channels}, x.options());
        at::Tensor centred = at::empty({l.channels}, x.options());  // S1 / n
        const float* sh = shift.data_ptr<float>();
        for (int64_t k = 0; k < l.channels; ++k) {
            const double m = s1[k] / n;
            centred.data_ptr<float>()[k] = static_cast<float>(m);
            mean.data_ptr<float>()[k] = static_cast<float>(m + sh[k]);
            var.data_ptr<float>()[k] = static_cast<float>(s2[k] / n - m * m);
        }
        ctx->save_for_backward({x, shift, centred});
        return {mean, var};
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &shift = saved[1], &centred = saved[2];
        const Layout l = layoutOf(x);
        const double n = static_cast<double>(x.numel() / l.channels);
        const at::Tensor gMean = grads[0].defined() ? grads[0].contiguous() : at::Tensor();
        const at::Tensor gVar = grads[1].defined() ? grads[1].contiguous() : at::Tensor();
        // g = gMean / n + gVar * 2 (d - S1 / n) / n = a + b d.
        std::vector<float> a(l.channels), b(l.channels);
        for (int64_t k = 0; k < l.channels; ++k) {
            const double gm = gMean.defined() ? gMean.data_ptr<float>()[k] : 0.0;
            const double gv = gVar.defined() ? gVar.data_ptr<float>()[k] : 0.0;
            b[k] = static_cast<float>(2 * gv / n);
            a[k] = static_cast<float>((gm - 2 * gv * centred.data_ptr<float>()[k]) / n);
        }
        at::Tensor g = at::empty_like(x);
        channelAffine(x.data_ptr<float>(), shift.data_ptr<float>(), a.data(), b.data(), l,
                      g.data_ptr<float>());
        return {g, at::Tensor()};
    }
};

}  // namespace

// The per-channel mean and biased variance of a BN layer's input, in fp32 also under autocast
// (the BNS loss compares them), as sums of (x - shift) and its square with the running mean as
// the shift: exact also when the mean is large (no cancellation), in one pass over the input.
BnBatchStats bnBatchStats(const at::Tensor& input, const at::Tensor& runningMean) {
    const at::Tensor x = asFloat(input);
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d)
        dims.push_back(d);
    if (x.dim() < 3 || !runningMean.defined() || runningMean.numel() != x.size(1)) {
        auto [var, mean] = at::var_mean(x, dims, /*unbiased=*/false);
        return {mean, var};
    }
    const at::Tensor shift = asFloat(runningMean).detach().contiguous();
    if (x.device().is_cpu() && x.scalar_type() == at::kFloat) {
        auto out = BnStats::apply(x, shift);
        return {out[0], out[1]};
    }
    // On a GPU, whose kernels fuse these ops themselves, and in fp64: ATen.
    std::vector<int64_t> shape(x.dim(), 1), spatial(dims.begin() + 1, dims.end());
    shape[1] = x.size(1);
    const at::Tensor d = x - shift.view(shape);
    const double n = static_cast<double>(x.numel() / x.size(1));
    const at::Tensor m = d.sum(spatial).sum(0) / n;
    return {m + shift, (d * d).sum(spatial).sum(0) / n - m * m};
}

}  // namespace dfq::model
