#pragma once

#include <ATen/core/Tensor.h>

namespace dfq::quant {

// Tracks an activation tensor's [lo, hi] as an exponential moving average of each batch's min
// and max (momentum 0.9), with bias correction, while calibrating; frozen afterwards.
//
// The reference code applies the bias correction to the stored value itself, so the stored range
// is inflated early on (about 5x at step 2, about 3,900x at step 21) and only returns to the
// plain EMA after some 150-200 updates. `referenceInflation` reproduces that; by default the
// correction is applied only to the reported value.
class RangeTracker {
  public:
    explicit RangeTracker(double momentum = 0.9, bool referenceInflation = false)
        : momentum_(momentum), inflate_(referenceInflation) {}

    void update(const at::Tensor& x);
    bool calibrated() const { return updates_ > 0; }
    int64_t updates() const { return updates_; }
    double lo() const;
    double hi() const;

    bool frozen() const { return frozen_; }
    void setFrozen(bool frozen) { frozen_ = frozen; }
    // Updates only while not frozen: call for every batch.
    void observe(const at::Tensor& x) {
        if (!frozen_)
            update(x);
    }

    // Raw state, for checkpoints.
    struct State {
        double lo = 0, hi = 0, beta = 1;
        int64_t updates = 0;
        bool frozen = false;
    };
    State state() const { return {lo_, hi_, beta_, updates_, frozen_}; }
    void setState(const State& s);
    // Sets the range directly (a calibration protocol other than the EMA) and freezes it.
    void setRange(double lo, double hi);

  private:
    double momentum_;
    bool inflate_;
    double lo_ = 0, hi_ = 0;  // stored values (raw EMA, or the inflated ones in reference mode)
    double beta_ = 1;         // momentum^t
    int64_t updates_ = 0;
    bool frozen_ = false;
};

}  // namespace dfq::quant
