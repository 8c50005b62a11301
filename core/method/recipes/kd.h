#pragma once

#include <memory>

#include "../nesterov_sgd.h"
#include "../registry_entry.h"

namespace dfq::method {

// The knowledge-distillation student recipe (docs/methods.md, "The quantizer and the KD
// student"): ceWeight * CE against the asked labels (the soft targets of boundary samples)
// + kdWeight * T^2 KL against the teacher, with Nesterov SGD.
struct KdOptions {
    double momentum = 0.9;
    double weightDecay = 1e-4;
    double temperature = 20;
    double kdWeight = 1;
    double ceWeight = 1;
};

class KdRecipe : public StudentRecipe {
  public:
    KdRecipe(MethodContext& context, const KdOptions& options);
    StudentStep train(const Synthetic& batch, const at::Tensor& teacherLogits, double lr) override;
    void save(torch::serialize::OutputArchive& archive) const override;
    void load(torch::serialize::InputArchive& archive) override;

  protected:
    // The SGD step once the gradients are there.
    virtual void update(double lr) { sgd_.step(lr); }

    MethodContext& ctx_;
    KdOptions options_;
    NesterovSgd sgd_;
};

KdOptions kdOptions(const run::ExperimentConfig& c);
StudentEntry kdEntry();

}  // namespace dfq::method
