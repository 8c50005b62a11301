#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace dfq::method {

// The step-size search of AIT's gradient inundation (docs/methods.md, `ait`). For a weight tensor p
// and its update direction d, perc(α) is the fraction of p's integer codes that change when p moves
// to p − α·lr·d, both codes taken on the per-output-channel min/max grid of quant::makeGrid (the
// moved tensor gets its own grid, so a grid shift counts too). The search picks the α ≥ 1 at
// which perc reaches the passing threshold.
struct AlphaSearch {
    int bits = 4;
    double threshold = 1e-3;  // the passing threshold
    int bisections = 5;       // alpha_iter
    // The reference's first student epoch (disable_adalr): doubling stops once α > 100.
    bool firstEpochCap = false;
    // A hard cap: with a zero gradient perc never reaches the threshold, and the reference loops
    // forever.
    double maxAlpha = 1048576;  // 2^20
};

struct AlphaResult {
    double alpha = 1;
    int passes = 0;       // sweeps over the tensor (a batch of α values counts once)
    bool capped = false;  // maxAlpha reached without passing the threshold
};

// perc(α) for each α, in one fused sweep pair over p (float32 on the CPU; other tensors take
// codeChangeFractionsBatched). p is [C, ...], d has p's shape.
std::vector<double> codeChangeFractions(const at::Tensor& p, const at::Tensor& d, double lr,
                                        const std::vector<double>& alphas, int bits);
// perc(α) for each α with tensor ops on all of them at once ([A, C, ...]), one transfer of the
// counts: the path for tensors off the CPU (a GPU), where one sweep per α would wait on the device
// each time. The same values as codeChangeFraction.
std::vector<double> codeChangeFractionsBatched(const at::Tensor& p, const at::Tensor& d, double lr,
                                               const std::vector<double>& alphas, int bits);
// perc(α) with plain tensor ops, as the reference computes it.
double codeChangeFraction(const at::Tensor& p, const at::Tensor& d, double lr, double alpha,
                          int bits);

// The reference's search, one perc evaluation at a time: α = 1 if perc(1) reaches the
// threshold; else double α until it does (or the caps hold), then bisect [α/2, α] for
// `bisections` steps, stopping early when |perc − thr| < thr/100; α is the last midpoint.
AlphaResult referenceAlpha(const at::Tensor& p, const at::Tensor& d, double lr,
                           const AlphaSearch& search);
// The same α with fused sweeps: the doubling ladder evaluated eight rungs per sweep, the
// bisection replayed on precomputed midpoints, three levels (seven points) per sweep.
AlphaResult findAlpha(const at::Tensor& p, const at::Tensor& d, double lr,
                      const AlphaSearch& search);

// One tensor's search in findAlphas.
struct AlphaTask {
    at::Tensor p, d;
    AlphaSearch search;
};
// findAlpha for every task, with the same α each. Float32 CPU tensors are searched side by side,
// one tensor per thread of LibTorch's pool, the largest first; other tensors (a GPU's) in turn.
std::vector<AlphaResult> findAlphas(const std::vector<AlphaTask>& tasks, double lr);

}  // namespace dfq::method
