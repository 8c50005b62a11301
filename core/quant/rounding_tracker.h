#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace dfq::quant {

// Rounding-threshold crossings: after each student step, the fraction of quantized weights whose
// integer code changed, per layer and overall (the count AIT's get_perc makes).
class RoundingTracker {
  public:
    struct Step {
        std::vector<double> perLayer;  // fraction changed, per layer (0 on the first call)
        double overall = 0;            // changed codes / all codes
    };

    // codes[i]: the current integer codes of layer i (any float or integer tensor).
    Step update(const std::vector<at::Tensor>& codes);
    void reset() { previous_.clear(); }
    bool empty() const { return previous_.empty(); }

  private:
    std::vector<at::Tensor> previous_;
};

}  // namespace dfq::quant
