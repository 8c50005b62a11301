#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace dfq::method {

// SGD with Nesterov momentum and L2 weight decay, PyTorch's update rule:
//   g += wd * p;  buf = m * buf + g;  p -= lr * (g + m * buf)
// Decay applies only to the parameters flagged in `decay` (e.g. not to BN and biases).
class NesterovSgd {
  public:
    NesterovSgd(std::vector<at::Tensor> params, double momentum, double weightDecay,
                std::vector<bool> decay = {});
    // Scales every parameter's step at once: (parameters, their update directions g + m * buf,
    // undefined for a parameter without a gradient) -> one factor per parameter.
    using StepScales = std::function<std::vector<double>(const std::vector<at::Tensor>&,
                                                         const std::vector<at::Tensor>&)>;

    void zeroGrad();
    // p -= lr * scale * (g + m * buf), scale 1 without `scales`.
    void step(double lr, const StepScales& scales = {});
    const std::vector<at::Tensor>& params() const { return params_; }
    const std::vector<at::Tensor>& momentumBuffers() const { return buffers_; }
    void setMomentumBuffers(std::vector<at::Tensor> buffers) { buffers_ = std::move(buffers); }

  private:
    std::vector<at::Tensor> params_;
    std::vector<at::Tensor> buffers_;
    std::vector<bool> decay_;
    double momentum_;
    double weightDecay_;
};

}  // namespace dfq::method
