// The learning-rate schedules (declared in trainer.h).
#include <cmath>

#include "trainer.h"

namespace dfq::run {

double multistepLr(double base, int64_t epoch, const std::vector<int64_t>& milestones,
                   double gamma) {
    double lr = base;
    for (int64_t m : milestones)
        if (epoch + 1 > m)
            lr *= gamma;
    return lr;
}

double scheduledLr(double base, int64_t epoch, const ExperimentConfig& c) {
    if (c.scheduleLrDecay == LrDecay::Step)
        return multistepLr(base, epoch, c.scheduleLrMilestones, c.scheduleLrGamma);
    const int64_t n = c.scheduleEpochs - c.scheduleWarmupEpochs;
    if (epoch < c.scheduleWarmupEpochs || n <= 0)
        return base;
    const double t = static_cast<double>(epoch - c.scheduleWarmupEpochs) / static_cast<double>(n);
    return base * 0.5 * (1 + std::cos(M_PI * t));
}

}  // namespace dfq::run
