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
    // Scales one parameter's step: (index, parameter, update direction g + m * buf) -> factor.
    using StepScale = std::function<double(size_t, const at::Tensor&, const at::Tensor&)>;

    void zeroGrad();
    // p -= lr * scale * (g + m * buf), scale 1 without `scale`.
    void step(double lr, const StepScale& scale = {});
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
