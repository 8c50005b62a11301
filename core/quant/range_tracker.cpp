#include "range_tracker.h"

#include <ATen/ATen.h>

namespace dfq::quant {

void RangeTracker::update(const at::Tensor& x) {
    auto [mn, mx] = at::aminmax(x.detach());
    const double m = mn.item<double>(), M = mx.item<double>();
    beta_ *= momentum_;
    lo_ = momentum_ * lo_ + (1 - momentum_) * m;
    hi_ = momentum_ * hi_ + (1 - momentum_) * M;
    if (inflate_) {
        lo_ /= (1 - beta_);
        hi_ /= (1 - beta_);
    }
    ++updates_;
}

double RangeTracker::lo() const {
    if (updates_ == 0)
        return 0;
    return inflate_ ? lo_ : lo_ / (1 - beta_);
}

double RangeTracker::hi() const {
    if (updates_ == 0)
        return 0;
    return inflate_ ? hi_ : hi_ / (1 - beta_);
}

void RangeTracker::setState(const State& s) {
    lo_ = s.lo;
    hi_ = s.hi;
    beta_ = s.beta;
    updates_ = s.updates;
    frozen_ = s.frozen;
}

void RangeTracker::setRange(double lo, double hi) {
    lo_ = lo;
    hi_ = hi;
    beta_ = 0;  // lo() and hi() then report the stored values in both modes
    updates_ = 1;
    frozen_ = true;
}

}  // namespace dfq::quant
