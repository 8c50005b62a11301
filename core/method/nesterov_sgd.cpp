#include "nesterov_sgd.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>

namespace dfq::method {

NesterovSgd::NesterovSgd(std::vector<at::Tensor> params, double momentum, double weightDecay,
                         std::vector<bool> decay)
    : params_(std::move(params)),
      buffers_(params_.size()),
      decay_(std::move(decay)),
      momentum_(momentum),
      weightDecay_(weightDecay) {
    if (decay_.empty())
        decay_.assign(params_.size(), true);
}

void NesterovSgd::zeroGrad() {
    for (auto& p : params_) {
        if (p.grad().defined())
            p.mutable_grad() = at::Tensor();
    }
}

void NesterovSgd::step(double lr, const StepScale& scale) {
    c10::NoGradGuard noGrad;
    for (size_t i = 0; i < params_.size(); ++i) {
        at::Tensor& p = params_[i];
        if (!p.grad().defined())
            continue;
        at::Tensor g = p.grad();
        if (weightDecay_ != 0.0 && decay_[i])
            g = g.add(p, weightDecay_);
        if (!buffers_[i].defined())
            buffers_[i] = g.clone();
        else
            buffers_[i].mul_(momentum_).add_(g);
        const at::Tensor d = g.add(buffers_[i], momentum_);
        p.sub_(d, scale ? lr * scale(i, p, d) : lr);
    }
}

}  // namespace dfq::method
