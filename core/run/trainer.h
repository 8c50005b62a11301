#pragma once

#include <atomic>
#include <vector>

#include "events.h"
#include "experiment_config.h"

namespace dfq::run {

// Tokens the caller flips from another thread; checked between iterations.
struct RunControl {
    std::atomic<bool> cancel{false};
    std::atomic<bool> pause{false};
};

// Runs one experiment: epochs x iterations of the configured method, with the warm-up and
// calibration epochs, the multistep learning-rate schedule, the FP and PTQ baselines and an
// evaluation on real data after every epoch when data is configured. Reports through the
// observers; plain single-threaded LibTorch code.
class Trainer {
  public:
    Trainer(const ExperimentConfig& config, std::vector<Observer*> observers);
    // Throws dfq::Error for bad models, data or configurations. A cancelled run returns normally
    // with summary.cancelled set, after its observers saw onFinish.
    RunSummary run(RunControl* control = nullptr);

  private:
    ExperimentConfig config_;
    std::vector<Observer*> observers_;
};

// The learning rate at a 0-based epoch under the multistep schedule: base * gamma^(number of
// milestones m with epoch + 1 > m), as the reference's lr_policy.
double multistepLr(double base, int64_t epoch, const std::vector<int64_t>& milestones,
                   double gamma);

}  // namespace dfq::run
