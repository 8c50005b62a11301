#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace dfq::analysis {

// What the per-layer analysis finds, as plain data (no torch types) for the CLI, the files and
// the window.

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

// One quantization setting measured against the full-precision teacher on the same inputs.
struct Figures {
    double sqnrDb = kNoValue;     // 10·log10(Σ y² / Σ (ŷ − y)²) of the layer's output
    double kl = kNoValue;         // mean over samples of KL(teacher ‖ quantized), in nats
    double agreement = kNoValue;  // % of samples whose top-1 class is the teacher's
    double realTop1 = kNoValue;   // % top-1 on labelled real images; NaN without them
    double realKl = kNoValue;     // mean KL(teacher ‖ quantized) on those real images
};

enum class QuantizerKind { Weight, Activation };

const char* kindName(QuantizerKind kind);  // "weight" | "activation"

// One quantizer of the network: a conv/linear weight or a quantized activation (after a
// ReLU/ReLU6), with its figures for every bit-width of the report.
struct LayerRow {
    std::string name;  // module path, "layer1.0.conv1"
    QuantizerKind kind = QuantizerKind::Weight;
    int64_t params = 0;  // weights: values quantized; activations: 0
    // Per bit-width of the report: only this quantizer on (isolated), and this one with every
    // quantizer before it in network order (cumulative), all at that bit-width.
    std::vector<Figures> isolated, cumulative;
    // The quantization range per bit-width: weights, the mean over output channels; activations,
    // the calibrated per-tensor range. `clipped`: share of values beyond the grid.
    std::vector<double> rangeLo, rangeHi, step, clipped;
    // Weights, per output channel: the FP range, and per bit-width the step size and the share
    // of the channel's values beyond the grid.
    std::vector<double> channelMin, channelMax;
    std::vector<std::vector<double>> channelStep, channelClipped;
    // The layer's output over the analysis batches (the conv/linear output for a weight, the
    // activation itself for an activation): FP, and per bit-width with only this quantizer on.
    double histLo = 0, histHi = 0;
    std::vector<double> histFp;
    std::vector<std::vector<double>> histQuant;
};

struct LayerReport {
    std::vector<int> bits;         // the bit-widths measured, ascending
    std::vector<LayerRow> layers;  // in network order
    int activationBits = 0;        // activations of the configuration (for plans)
    int64_t images = 0;            // images the SQNR, KL and agreement are over
    int64_t realImages = 0;        // labelled images behind realTop1 (0: none)
    double fpRealTop1 = kNoValue;  // the FP teacher on those images
    int64_t otherParams = 0;       // parameters that stay in full precision (biases, BN, ...)
    std::string source;            // "run", "warmup" or "real"
    std::string calibration;       // how activation ranges were set
    std::string weightRange;       // how weight ranges are set: "minmax" or "mse"
    std::string sensitivity;       // what plans add up: "disagreement" or "kl"
    double seconds = 0;

    int bitsIndex(int b) const;  // -1 when b was not measured
    int64_t weightParams() const;
    // How well the analysis batches predict real data's sensitivity, per bit-width: Spearman's
    // rank correlation between the quantizers' isolated KL on the batches and on the labelled
    // real images. NaN without real images (and 1 by construction when the batches are real).
    double realRankCorrelation(size_t bitsIndex) const;
};

// Spearman's rank correlation of two equally long series (ties share their mean rank); pairs
// with a NaN on either side are left out; NaN with fewer than 3 pairs or a constant series.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

// One mixed-precision plan (or a uniform reference point) and what it is predicted and measured
// to give.
struct PlanPoint {
    std::string label;  // "plan 3.00 bits", "uniform W3"
    bool uniform = false;
    double budgetBits = kNoValue;  // the average weight bits asked for
    std::map<std::string, int> layerBits;
    double avgWeightBits = 0;
    double sizeKiB = 0;
    double sensitivity = 0;          // Σ isolated sensitivity of the chosen bits
    Figures predicted;               // all weights at their bits, activations at theirs
    double measuredTop1 = kNoValue;  // on the real evaluation data, on demand
};

// Everything an analysis writes to its folder (docs/analysis.md): the report, the points of the
// size-vs-accuracy plot, and the plan asked for with a budget.
struct AnalysisResult {
    LayerReport report;
    std::vector<PlanPoint> points;
    bool hasPlan = false;
    PlanPoint plan;
    std::string planError;  // why the budget asked for has no plan (the rest is still there)
};

}  // namespace dfq::analysis
