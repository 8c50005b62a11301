#include "eta.h"

#include <algorithm>

namespace dfq::run {

namespace {

constexpr size_t kWindow = 50;

}  // namespace

void EtaModel::Recent::add(double v) {
    if (values.size() < kWindow) {
        values.push_back(v);
        return;
    }
    values[next] = v;
    next = (next + 1) % kWindow;
}

double EtaModel::Recent::mean() const {
    double sum = 0;
    for (double v : values)
        sum += v;
    return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

void EtaModel::iteration(Phase phase, double seconds, double generatorSeconds) {
    switch (phase) {
        case Phase::Search:
            search_.add(seconds);
            break;
        case Phase::Warmup:
            warmup_.add(seconds);
            warmupGenerator_.add(generatorSeconds);
            break;
        case Phase::Student:
            student_.add(seconds);
            break;
    }
}

void EtaModel::studentEvaluation(double seconds) {
    studentEval_.add(seconds);
}

// Seconds per iteration of `phase`: measured, or estimated from the phases measured so far;
// -1 when nothing is known.
double EtaModel::iterationCost(Phase phase) const {
    const double warmup = !warmup_.empty()   ? warmup_.mean()
                          : !search_.empty() ? search_.mean()
                                             : -1;
    switch (phase) {
        case Phase::Search:
            return !search_.empty() ? search_.mean() : warmup;
        case Phase::Warmup:
            return warmup;
        case Phase::Student:
            if (!student_.empty())
                return student_.mean();
            if (warmup < 0)
                return -1;
            if (studentPass_ >= 0)
                return warmup + studentPass_;
            return warmup +
                   kStudentShare * (warmupGenerator_.empty() ? warmup : warmupGenerator_.mean());
    }
    return -1;
}

double EtaModel::remaining(int64_t step) const {
    // Iterations. A phase's cost is needed only while it has iterations left (a run without
    // warm-up measures no warm-up iteration).
    const int64_t searchLeft = std::max<int64_t>(0, s_.searchSteps - step);
    const int64_t trainStep = std::max<int64_t>(0, step - s_.searchSteps);
    const int64_t warmupSteps = s_.warmupEpochs * s_.iterations;
    const int64_t totalSteps = s_.epochs * s_.iterations;
    const int64_t warmupLeft = std::max<int64_t>(0, std::min(warmupSteps, totalSteps) - trainStep);
    const int64_t studentLeft =
        std::max<int64_t>(0, totalSteps - std::max(trainStep, std::min(warmupSteps, totalSteps)));
    double left = 0;
    const std::pair<Phase, int64_t> phases[] = {
        {Phase::Search, searchLeft}, {Phase::Warmup, warmupLeft}, {Phase::Student, studentLeft}};
    for (const auto& [phase, count] : phases) {
        if (count == 0)
            continue;
        const double cost = iterationCost(phase);
        if (cost < 0)
            return -1;
        left += static_cast<double>(count) * cost;
    }
    if (search_.empty() && warmup_.empty() && student_.empty())
        return -1;

    // What ends each epoch still ahead: evaluation, calibration, checkpoint. The epoch of the
    // iteration just run is one of them, also when that was its last iteration: its end comes
    // after it.
    const int64_t firstEpoch = s_.iterations <= 0 ? s_.epochs
                               : trainStep > 0    ? (trainStep - 1) / s_.iterations
                                                  : 0;
    const double evalCost = !studentEval_.empty() ? studentEval_.mean()
                            : teacherEval_ >= 0   ? kStudentEvalFactor * teacherEval_
                                                  : 0;
    const double calibrationCost = !calibrationCost_.empty()
                                       ? calibrationCost_.mean()
                                       : 0.5 * static_cast<double>(s_.calibrationBatches) *
                                             std::max(0.0, iterationCost(Phase::Warmup));
    const double checkpointCost = checkpointCost_.mean();
    for (int64_t e = firstEpoch; e < s_.epochs; ++e) {
        const auto idx = static_cast<size_t>(e);
        if (idx < s_.evaluatedEpochs.size() && s_.evaluatedEpochs[idx])
            left += evalCost;
        if (idx < s_.calibratedEpochs.size() && s_.calibratedEpochs[idx])
            left += calibrationCost;
        left += checkpointCost;
    }
    if (s_.ptqBaseline && !ptqDone_ && s_.epochs > s_.warmupEpochs)
        left += evalCost;
    return left;
}

}  // namespace dfq::run
