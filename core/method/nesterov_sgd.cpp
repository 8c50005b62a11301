#include "nesterov_sgd.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>

#include "../error.h"

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

void NesterovSgd::step(double lr, const StepScales& scales) {
    c10::NoGradGuard noGrad;
    std::vector<at::Tensor> directions(params_.size());
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
        at::Tensor d = g.add(buffers_[i], momentum_);
        if (!scales)
            p.sub_(d, lr);  // nothing to wait for: no direction is kept
        else
            directions[i] = std::move(d);
    }
    if (!scales)
        return;
    const std::vector<double> factor = scales(params_, directions);
    if (factor.size() != params_.size())
        throw Error("NesterovSgd: the step scales must give one factor per parameter");
    for (size_t i = 0; i < params_.size(); ++i)
        if (directions[i].defined())
            params_[i].sub_(directions[i], lr * factor[i]);
}

}  // namespace dfq::method
