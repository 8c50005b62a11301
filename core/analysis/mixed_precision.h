#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layer_report.h"

namespace dfq::analysis {

// One layer's choices for the plan: its weight count and, per candidate bit-width, the
// sensitivity the plan adds up.
struct PlanLayer {
    std::string name;
    int64_t params = 0;
    std::vector<int> bits;
    std::vector<double> sensitivity;
};

struct Plan {
    bool feasible = false;  // some choice fits the budget
    bool exact = true;      // false when the budget had to be counted in coarser units
    std::vector<int> bits;  // per layer
    double totalBits = 0;   // Σ params · bits
    double sensitivity = 0;
};

// The bit-width per layer that minimizes the summed sensitivity with Σ params · bits ≤
// maxWeightBits: a multiple-choice knapsack solved exactly by dynamic programming over the weight
// bits in units of the layers' common divisor. Models so large that the table would exceed
// `maxCells` count in coarser units, each choice's cost rounded up: the budget still holds, but
// plans right at the budget may be missed (the plan is then marked inexact). Ties go to the wider
// bit-width.
Plan planMixedPrecision(const std::vector<PlanLayer>& layers, double maxWeightBits,
                        int64_t maxCells = 60'000'000);

// What a budget allows: an average number of weight bits, or a model size in KiB with the
// parameters that stay in full precision counted at 32 bits.
double weightBitsForAverage(double averageBits, int64_t weightParams);
double weightBitsForSize(double sizeKiB, int64_t otherParams);
double sizeKiB(double totalWeightBits, int64_t otherParams);

// What a plan adds up per layer, from the isolated figures on the analysis batches: KL, or the
// share of samples whose top-1 class differs from the teacher's (100 − agreement, in %).
enum class Sensitivity { Kl, Disagreement };
Sensitivity parseSensitivity(const std::string& name);  // "disagreement" | "kl"
const char* sensitivityName(Sensitivity s);
double sensitivityOf(const Figures& isolated, Sensitivity s);

// The plan's layers from a report: every weight row with candidates among `candidates` (all the
// report's bit-widths when empty) that the report measured.
std::vector<PlanLayer> planLayers(const LayerReport& report, const std::vector<int>& candidates,
                                  Sensitivity sensitivity = Sensitivity::Kl);

// A plan as a point of the size-vs-accuracy plot (predicted figures not yet filled in).
PlanPoint planPoint(const LayerReport& report, const std::vector<PlanLayer>& layers,
                    const Plan& plan, const std::string& label);
// Every weight at `bits` (uniform reference point).
PlanPoint uniformPoint(const LayerReport& report, int bits,
                       Sensitivity sensitivity = Sensitivity::Kl);

// Copies the measured top-1 of `measured` into the result's points and plan of the same label.
void applyMeasured(AnalysisResult& result, const std::vector<PlanPoint>& measured);

}  // namespace dfq::analysis
