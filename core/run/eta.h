#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace dfq::run {

// The time left in a run, from the phases still ahead and the measured cost of each: search
// iterations, warm-up iterations (generator only), student iterations (generator and student),
// evaluations, fixed-set calibrations and checkpoints. Until a phase has been measured its cost
// is estimated from what has been: a student iteration from a warm-up one plus a trial student
// pass (or, without one, a share of the warm-up's generator step), an evaluation of the student
// from the teacher's. Plain data, no clock: the trainer feeds it seconds.
class EtaModel {
  public:
    struct Schedule {
        int64_t searchSteps = 0;  // architecture search iterations before the epochs
        int64_t epochs = 0, iterations = 0, warmupEpochs = 0;
        // Epochs whose end evaluates the student; the PTQ baseline also once after warm-up.
        std::vector<bool> evaluatedEpochs;
        bool ptqBaseline = false;
        // Epochs whose end sets the activation ranges from a fixed set of batches.
        std::vector<bool> calibratedEpochs;
        int64_t calibrationBatches = 0;
    };
    enum class Phase { Search, Warmup, Student };

    explicit EtaModel(Schedule schedule) : s_(std::move(schedule)) {}

    // One iteration of `phase` took `seconds` in all (its views included), of which
    // `generatorSeconds` the generator step.
    void iteration(Phase phase, double seconds, double generatorSeconds);
    void teacherEvaluation(double seconds) { teacherEval_ = seconds; }
    // A trial student forward and backward pass (Pipeline::timeStudentPass) took `seconds`.
    void studentPass(double seconds) { studentPass_ = seconds; }
    void studentEvaluation(double seconds);
    void calibration(double seconds) { calibrationCost_.add(seconds); }
    void checkpoint(double seconds) { checkpointCost_.add(seconds); }
    // The PTQ baseline was evaluated (or is not due).
    void ptqDone() { ptqDone_ = true; }

    // Seconds left when the next iteration to run is global step `step` (0-based, search steps
    // first), the end of the epoch of step - 1 included; -1 while nothing has been measured.
    double remaining(int64_t step) const;

    // Without a trial student pass, a student iteration costs a warm-up iteration plus this
    // share of its generator step, until student iterations are measured.
    static constexpr double kStudentShare = 0.45;
    // A student evaluation against the teacher's (fake-quantized layers), until measured.
    static constexpr double kStudentEvalFactor = 1.3;

  private:
    // The mean of the most recent values (a window: rates drift as the schedule moves on).
    struct Recent {
        std::vector<double> values;
        size_t next = 0;
        void add(double v);
        bool empty() const { return values.empty(); }
        double mean() const;
    };
    double iterationCost(Phase phase) const;

    Schedule s_;
    Recent search_, warmup_, student_, warmupGenerator_;
    Recent studentEval_, calibrationCost_, checkpointCost_;
    double teacherEval_ = -1, studentPass_ = -1;
    bool ptqDone_ = false;
};

}  // namespace dfq::run
