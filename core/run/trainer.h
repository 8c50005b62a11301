#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "events.h"
#include "experiment_config.h"

namespace dfq::run {

// Tokens the caller flips from another thread; checked between iterations.
struct RunControl {
    std::atomic<bool> cancel{false};
    std::atomic<bool> pause{false};
    // Qimera runs: the class pair of the boundary sweep made at every sample point.
    std::atomic<int> boundaryA{0};
    std::atomic<int> boundaryB{1};
};

// Runs one experiment: epochs x iterations of the configured method, with the warm-up and
// calibration epochs, the multistep learning-rate schedule, the FP and PTQ baselines and an
// evaluation on real data after every epoch when data is configured. Reports through the
// observers; plain single-threaded LibTorch code.
// Files a run reads and writes beside its observers' (all optional).
struct TrainerFiles {
    std::string checkpoint;     // written at the end of every epoch and on cancel
    std::string resumeFrom;     // a checkpoint of a run of the same configuration
    std::string exportStudent;  // the quantized student, written at the end
    std::string exportModel;    // the same as a TorchScript module, written at the end
    std::string syntheticSet;   // a generator recipe's fixed set, once it is made (HAST)
};

class Trainer {
  public:
    Trainer(const ExperimentConfig& config, std::vector<Observer*> observers,
            TrainerFiles files = {});
    // Throws dfq::Error for bad models, data, configurations or checkpoints. A cancelled or
    // diverged run returns normally with summary.status set; every run that started, a failed
    // one too, ends with onFinish.
    RunSummary run(RunControl* control = nullptr);

  private:
    ExperimentConfig config_;
    std::vector<Observer*> observers_;
    TrainerFiles files_;
};

// The learning rate at a 0-based epoch under the multistep schedule: base * gamma^(number of
// milestones m with epoch + 1 > m), as the reference's lr_policy.
double multistepLr(double base, int64_t epoch, const std::vector<int64_t>& milestones,
                   double gamma);
// The learning rate at a 0-based epoch under the configuration's schedule (schedule.lr_decay).
double scheduledLr(double base, int64_t epoch, const ExperimentConfig& c);

}  // namespace dfq::run
