#include "collapse_monitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dfq::run {

CollapseMonitor::CollapseMonitor(int64_t classes, int64_t batchSize, int64_t window)
    : classes_(std::max<int64_t>(classes, 1)),
      batch_(std::max<int64_t>(batchSize, 1)),
      window_(std::max<int64_t>(window, 1)) {}

std::vector<std::string> CollapseMonitor::add(int64_t step, double generatorCe,
                                              int64_t teacherClasses) {
    std::vector<std::string> out;
    ceSum_ += generatorCe;
    classSum_ += static_cast<double>(teacherClasses);
    if (++count_ < window_)
        return out;
    const double ce = ceSum_ / static_cast<double>(count_);
    const double covered = classSum_ / static_cast<double>(count_);
    count_ = 0;
    ceSum_ = classSum_ = 0;
    if (windows_++ == 0) {
        firstCe_ = ce;
        return out;
    }
    const double possible = static_cast<double>(std::min(classes_, batch_));
    char buf[400];
    if (!classesWarned_ && classes_ > 1 && covered < 0.5 * possible) {
        classesWarned_ = true;
        std::snprintf(
            buf, sizeof buf,
            "generator collapse (classes): at iteration %lld the teacher sees only %.1f of the "
            "%lld classes in a synthetic batch (mean of the last %lld iterations); the "
            "student learns from a few classes only. Lower the generator's learning "
            "rate or raise generator.bns_weight",
            static_cast<long long>(step + 1), covered, static_cast<long long>(classes_),
            static_cast<long long>(window_));
        out.push_back(buf);
    }
    const double uniform = std::log(static_cast<double>(classes_));
    if (!ceWarned_ && classes_ > 1 && ce > 0.5 * uniform && ce > 0.9 * firstCe_) {
        ceWarned_ = true;
        std::snprintf(
            buf, sizeof buf,
            "generator collapse (CE): at iteration %lld the generator's CE is %.3g and has "
            "not fallen (%.3g in the first %lld iterations; a uniform guess is %.3g): "
            "the teacher does not recognise the classes it is asked for. Lower the "
            "generator's learning rate",
            static_cast<long long>(step + 1), ce, firstCe_, static_cast<long long>(window_),
            uniform);
        out.push_back(buf);
    }
    return out;
}

}  // namespace dfq::run
