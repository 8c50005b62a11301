#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfq::run {

// Watches the generator for collapse (docs/run-folder.md, "Warnings"). Per window of `window`
// iterations it averages the generator's CE and the number of distinct classes the teacher
// predicts on the synthetic batches. From the second window on it warns, once each, when
//  - the teacher's predictions cover fewer than half of the classes a batch could show
//    (min(classes, batch)): the generator makes a few classes only;
//  - the CE is above half of ln(classes), the CE of a uniform guess, and has not fallen below
//    90 % of the first window's: the teacher does not see the asked-for classes in the images.
// A healthy GDFQ generator brings the CE well below 0.1 and covers every class within a few
// hundred iterations.
class CollapseMonitor {
  public:
    CollapseMonitor(int64_t classes, int64_t batchSize, int64_t window = 100);
    // One iteration's figures; returns the warnings this iteration raised (at a window's end).
    std::vector<std::string> add(int64_t step, double generatorCe, int64_t teacherClasses);

  private:
    int64_t classes_, batch_, window_;
    int64_t count_ = 0, windows_ = 0;
    double ceSum_ = 0, classSum_ = 0, firstCe_ = -1;
    bool classesWarned_ = false, ceWarned_ = false;
};

}  // namespace dfq::run
