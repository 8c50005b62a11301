#pragma once

#include "../gradient_inundation.h"
#include "kd.h"

namespace dfq::method {

// AIT's student recipe (docs/methods.md, `ait`): the KL term only, no weight decay, and gradient
// inundation on every quantized conv/linear weight: each one's step is enlarged by a factor α
// until a passing threshold of its integer codes change. The threshold follows the learning-rate
// schedule; α is capped in the first student epoch.
struct AitOptions {
    KdOptions kd;        // ceWeight and weightDecay are 0
    AlphaSearch search;  // its bits come from each layer, its threshold is the base value
};

class AitRecipe : public KdRecipe {
  public:
    AitRecipe(MethodContext& context, const AitOptions& options);
    void beginEpoch(const StudentEpoch& epoch) override;
    const InundationReport* inundation() const override { return &report_; }

  protected:
    void update(double lr) override;

  private:
    AitOptions ait_;
    std::vector<int> slot_;  // per trainable tensor: its place among the quantized weights, or -1
    std::vector<int> bits_;  // per trainable tensor: its weight bits
    InundationReport report_;
    bool firstEpochCap_ = false;
};

StudentEntry aitEntry();

}  // namespace dfq::method
