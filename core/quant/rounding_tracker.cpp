#include "rounding_tracker.h"

#include <ATen/ATen.h>

#include "../error.h"

namespace dfq::quant {

RoundingTracker::Step RoundingTracker::update(const std::vector<at::Tensor>& codes) {
    Step step;
    step.perLayer.assign(codes.size(), 0.0);
    const bool first = previous_.empty();
    if (!first && previous_.size() != codes.size())
        throw Error("rounding tracker: the number of layers changed");
    int64_t changed = 0, total = 0;
    std::vector<at::Tensor> current;
    current.reserve(codes.size());
    for (size_t i = 0; i < codes.size(); ++i) {
        // Codes of up to 16 bits fit int16 exactly, at half the memory of float.
        at::Tensor c = codes[i].detach().to(at::kShort);
        total += c.numel();
        if (!first) {
            const int64_t n = c.ne(previous_[i]).sum().item<int64_t>();
            changed += n;
            step.perLayer[i] = static_cast<double>(n) / static_cast<double>(c.numel());
        }
        current.push_back(std::move(c));
    }
    step.overall = total > 0 ? static_cast<double>(changed) / static_cast<double>(total) : 0.0;
    previous_ = std::move(current);
    return step;
}

}  // namespace dfq::quant
