// Compiled with -ffp-contract=off: the fused kernel must round exactly like the tensor ops.
#include "gradient_inundation.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <vector>

#include "../quant/uniform_quantizer.h"

namespace dfq::method {

double codeChangeFraction(const at::Tensor& p, const at::Tensor& d, double lr, double alpha,
                          int bits) {
    at::NoGradGuard noGrad;
    auto codes = [&](const at::Tensor& w) {
        auto [lo, hi] = quant::perChannelRange(w);
        return quant::quantizeCodes(w, quant::makeGrid(lo, hi, bits));
    };
    const at::Tensor moved = p - d * (alpha * lr);
    return static_cast<double>((codes(moved) != codes(p)).sum().item<int64_t>()) /
           static_cast<double>(p.numel());
}

std::vector<double> codeChangeFractionsBatched(const at::Tensor& p, const at::Tensor& d, double lr,
                                               const std::vector<double>& alphas, int bits) {
    at::NoGradGuard noGrad;
    if (alphas.empty() || p.numel() == 0)
        return std::vector<double>(alphas.size(), 0.0);
    const int64_t a = static_cast<int64_t>(alphas.size()), c = p.size(0);
    auto codes = [&](const at::Tensor& rows) {  // per row of [R, W]
        auto [lo, hi] = quant::perChannelRange(rows);
        return quant::quantizeCodes(rows, quant::makeGrid(lo, hi, bits));
    };
    const at::Tensor P = p.reshape({c, -1});
    // Each step α·lr as the scalar that `d * (α·lr)` would use: rounded to p's type.
    std::vector<double> steps;
    for (double alpha : alphas)
        steps.push_back(alpha * lr);
    const at::Tensor step =
        at::tensor(steps, at::kDouble).to(p.scalar_type()).to(p.device()).view({a, 1, 1});
    const at::Tensor moved = P.unsqueeze(0) - d.reshape({c, -1}).unsqueeze(0) * step;
    const at::Tensor changed =
        (codes(moved.reshape({a * c, -1})).view({a, c, -1}) != codes(P).unsqueeze(0))
            .view({a, -1})
            .sum(1)
            .cpu();
    std::vector<double> out;
    for (int64_t i = 0; i < a; ++i)
        out.push_back(static_cast<double>(changed[i].item<int64_t>()) /
                      static_cast<double>(p.numel()));
    return out;
}

namespace {

// One channel's grid as quant::makeGrid computes it, in float.
struct Grid {
    float s, z;
};

inline Grid gridOf(float lo, float hi, float levels, float half) {
    float width = hi - lo;
    width = width < 1e-8f ? 1e-8f : width;
    const float s = (1.0f / width) * levels;
    return {s, std::nearbyint(s * lo) + half};
}

// Round half to even for |v| < 2^22, like torch.round, in plain additions that vectorize: every
// code lies within [-2^15, 2^15].
inline float roundHalfEven(float v) {
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
    return (v + kMagic) - kMagic;
}

inline float codeOf(float x, float s, float z, float half) {
    float q = roundHalfEven(x * s - z);
    q = q < -half ? -half : q;
    return q > half - 1.0f ? half - 1.0f : q;
}

// Up to eight α values per sweep: the inner loops over them have a fixed length and vectorize.
constexpr int kLanes = 8;

// Counts, for channels [begin, end), the codes that change for each of `Lanes` steps.
template <int Lanes>
[[gnu::always_inline]] inline void countChannelsBody(const float* pd, const float* dd,
                                                     const float* q0d, int64_t begin, int64_t end,
                                                     int64_t width, const float* step, float levels,
                                                     float half, int64_t* changed) {
    for (int64_t c = begin; c < end; ++c) {
        const float* x = pd + c * width;
        const float* g = dd + c * width;
        const float* q0 = q0d + c * width;
        float lo[Lanes], hi[Lanes];
        for (int a = 0; a < Lanes; ++a) {
            lo[a] = x[0] - g[0] * step[a];
            hi[a] = lo[a];
        }
        for (int64_t i = 0; i < width; ++i) {
            const float xi = x[i], gi = g[i];
            for (int a = 0; a < Lanes; ++a) {
                const float m = xi - gi * step[a];
                lo[a] = m < lo[a] ? m : lo[a];
                hi[a] = m > hi[a] ? m : hi[a];
            }
        }
        float s[Lanes], z[Lanes];
        for (int a = 0; a < Lanes; ++a) {
            const Grid ga = gridOf(lo[a], hi[a], levels, half);
            s[a] = ga.s;
            z[a] = ga.z;
        }
        int32_t count[Lanes] = {};
        for (int64_t i = 0; i < width; ++i) {
            const float xi = x[i], gi = g[i], qi = q0[i];
            for (int a = 0; a < Lanes; ++a)
                count[a] += codeOf(xi - gi * step[a], s[a], z[a], half) != qi;
        }
        for (int a = 0; a < Lanes; ++a)
            changed[a] += count[a];
    }
}

// Eight and four lanes, each compiled for AVX2 too where the CPU has it (exactly the same
// arithmetic, wider vectors). Four lanes serve the last bisection levels, which need three points.
__attribute__((target_clones("avx2", "default"))) void countChannels8(
    const float* pd, const float* dd, const float* q0d, int64_t begin, int64_t end, int64_t width,
    const float* step, float levels, float half, int64_t* changed) {
    countChannelsBody<8>(pd, dd, q0d, begin, end, width, step, levels, half, changed);
}

__attribute__((target_clones("avx2", "default"))) void countChannels4(
    const float* pd, const float* dd, const float* q0d, int64_t begin, int64_t end, int64_t width,
    const float* step, float levels, float half, int64_t* changed) {
    countChannelsBody<4>(pd, dd, q0d, begin, end, width, step, levels, half, changed);
}

// The codes of channels [begin, end) on their own min/max grid.
__attribute__((target_clones("avx2", "default"))) void channelCodes(const float* pd, float* qd,
                                                                    int64_t begin, int64_t end,
                                                                    int64_t width, float levels,
                                                                    float half) {
    for (int64_t c = begin; c < end; ++c) {
        const float* x = pd + c * width;
        float lo = x[0], hi = x[0];
        for (int64_t i = 0; i < width; ++i) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
        const Grid g = gridOf(lo, hi, levels, half);
        float* q = qd + c * width;
        for (int64_t i = 0; i < width; ++i)
            q[i] = codeOf(x[i], g.s, g.z, half);
    }
}

// perc for `lanes` (4 or 8) α values (step = α·lr as float) in two sweeps over p.
void fractionsOfLanes(const float* pd, const float* dd, const float* q0d, int64_t channels,
                      int64_t width, const float (&step)[kLanes], int lanes, int bits,
                      int64_t (&changed)[kLanes]) {
    const float half = static_cast<float>(int64_t{1} << (bits - 1));
    const float levels = static_cast<float>((int64_t{1} << bits) - 1);
    std::atomic<int64_t> total[kLanes];
    for (auto& t : total)
        t = 0;
    // Small tensors in one piece: a parallel region costs more than they do. Inside a parallel
    // region (findAlphas' threads) this runs in one piece anyway.
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1));
    at::parallel_for(0, channels, grain, [&](int64_t begin, int64_t end) {
        int64_t local[kLanes] = {};
        if (lanes <= 4)
            countChannels4(pd, dd, q0d, begin, end, width, step, levels, half, local);
        else
            countChannels8(pd, dd, q0d, begin, end, width, step, levels, half, local);
        for (int a = 0; a < kLanes; ++a)
            total[a] += local[a];
    });
    for (int a = 0; a < kLanes; ++a)
        changed[a] = total[a].load();
}

}  // namespace

namespace {

// perc(α) for batches of α values over one tensor, with its codes before the move computed once.
class Sweeper {
  public:
    Sweeper(const at::Tensor& p, const at::Tensor& d, double lr, int bits)
        : p_(p), d_(d), lr_(lr), bits_(bits) {
        fused_ = p.is_cpu() && p.scalar_type() == at::kFloat && p.dim() >= 1 && p.numel() > 0 &&
                 bits <= 16;
        if (!fused_)
            return;
        P_ = p.detach().contiguous().view({p.size(0), -1});
        D_ = d.detach().to(at::kFloat).contiguous().view({p.size(0), -1});
        Q0_ = at::empty_like(P_);
        channelCodes(P_.data_ptr<float>(), Q0_.data_ptr<float>(), 0, P_.size(0), P_.size(1),
                     static_cast<float>((int64_t{1} << bits) - 1),
                     static_cast<float>(int64_t{1} << (bits - 1)));
    }

    std::vector<double> fractions(const std::vector<double>& alphas) const {
        std::vector<double> out;
        if (!fused_)
            return codeChangeFractionsBatched(p_, d_, lr_, alphas, bits_);
        for (size_t first = 0; first < alphas.size(); first += kLanes) {
            const size_t n = std::min<size_t>(kLanes, alphas.size() - first);
            float step[kLanes];
            for (size_t a = 0; a < kLanes; ++a)
                step[a] = static_cast<float>(alphas[first + std::min(a, n - 1)] * lr_);
            int64_t changed[kLanes];
            fractionsOfLanes(P_.data_ptr<float>(), D_.data_ptr<float>(), Q0_.data_ptr<float>(),
                             P_.size(0), P_.size(1), step, n <= 4 ? 4 : kLanes, bits_, changed);
            for (size_t a = 0; a < n; ++a)
                out.push_back(static_cast<double>(changed[a]) / static_cast<double>(p_.numel()));
        }
        return out;
    }

  private:
    const at::Tensor& p_;
    const at::Tensor& d_;
    double lr_;
    int bits_;
    bool fused_ = false;
    at::Tensor P_, D_, Q0_;
};

}  // namespace

std::vector<double> codeChangeFractions(const at::Tensor& p, const at::Tensor& d, double lr,
                                        const std::vector<double>& alphas, int bits) {
    at::NoGradGuard noGrad;
    return Sweeper(p, d, lr, bits).fractions(alphas);
}

namespace {

// Whether the doubling loop stops before doubling α again (the perc test aside).
bool stopsAt(double alpha, const AlphaSearch& s) {
    return s.firstEpochCap && alpha > 100;
}

}  // namespace

AlphaResult referenceAlpha(const at::Tensor& p, const at::Tensor& d, double lr,
                           const AlphaSearch& s) {
    AlphaResult r;
    auto perc = [&](double a) {
        ++r.passes;
        return codeChangeFraction(p, d, lr, a, s.bits);
    };
    const double thr = s.threshold;
    if (perc(1.0) >= thr)
        return r;
    double alpha = 1.0;
    while (true) {
        if (stopsAt(alpha, s))
            break;
        if (alpha >= s.maxAlpha) {
            r.alpha = alpha;
            r.capped = true;
            return r;
        }
        alpha *= 2;
        if (perc(alpha) >= thr)
            break;
    }
    double lo = alpha / 2, hi = alpha, mid = alpha;
    for (int i = 0; i < s.bisections; ++i) {
        mid = (lo + hi) / 2;
        const double pc = perc(mid);
        if (std::abs(pc - thr) < thr / 100)
            break;
        if (pc < thr)
            lo = mid;
        else
            hi = mid;
    }
    r.alpha = mid;
    return r;
}

AlphaResult findAlpha(const at::Tensor& p, const at::Tensor& d, double lr, const AlphaSearch& s) {
    at::NoGradGuard noGrad;
    AlphaResult r;
    const double thr = s.threshold;
    const Sweeper sweeper(p, d, lr, s.bits);
    auto sweep = [&](const std::vector<double>& alphas) {
        ++r.passes;
        return sweeper.fractions(alphas);
    };

    // The ladder: α = 1 and the rungs the reference could visit, eight per sweep.
    std::vector<double> rungs = {1.0};
    double alpha = 1.0;
    bool found = false;
    while (!found) {
        double a = rungs.empty() ? alpha : 1.0;
        while (rungs.size() < kLanes && !stopsAt(a, s) && a < s.maxAlpha) {
            a *= 2;
            rungs.push_back(a);
        }
        if (rungs.empty()) {
            if (!stopsAt(alpha, s)) {
                r.alpha = alpha;
                r.capped = true;
                return r;
            }
            break;  // the first-epoch cap: bisect below it
        }
        const std::vector<double> pc = sweep(rungs);
        for (size_t k = 0; k < rungs.size() && !found; ++k)
            if (pc[k] >= thr) {
                alpha = rungs[k];
                found = true;
            }
        if (!found)
            alpha = rungs.back();
        rungs.clear();
    }
    if (alpha == 1.0)
        return r;

    // The bisection, replayed on precomputed values: three levels of the tree (seven
    // midpoints) per sweep.
    double lo = alpha / 2, hi = alpha, mid = alpha;
    int level = 0;
    while (level < s.bisections) {
        const int depth = std::min(3, s.bisections - level);
        std::vector<double> points;
        std::function<void(double, double, int)> collect = [&](double l, double h, int k) {
            if (k == 0)
                return;
            const double m = (l + h) / 2;
            points.push_back(m);
            collect(l, m, k - 1);
            collect(m, h, k - 1);
        };
        collect(lo, hi, depth);
        const std::vector<double> pc = sweep(points);
        auto percAt = [&](double m) {
            for (size_t k = 0; k < points.size(); ++k)
                if (points[k] == m)
                    return pc[k];
            return 0.0;  // not reached: every midpoint of the subtree was evaluated
        };
        for (int k = 0; k < depth; ++k, ++level) {
            mid = (lo + hi) / 2;
            const double v = percAt(mid);
            if (std::abs(v - thr) < thr / 100) {
                r.alpha = mid;
                return r;
            }
            if (v < thr)
                lo = mid;
            else
                hi = mid;
        }
    }
    r.alpha = mid;
    return r;
}

std::vector<AlphaResult> findAlphas(const std::vector<AlphaTask>& tasks, double lr) {
    std::vector<AlphaResult> out(tasks.size());
    const int threads = at::get_num_threads();
    const bool sideBySide = threads > 1 && tasks.size() > 1 && !at::in_parallel_region() &&
                            std::all_of(tasks.begin(), tasks.end(), [](const AlphaTask& t) {
                                return t.p.is_cpu() && t.p.scalar_type() == at::kFloat;
                            });
    if (!sideBySide) {
        for (size_t k = 0; k < tasks.size(); ++k)
            out[k] = findAlpha(tasks[k].p, tasks[k].d, lr, tasks[k].search);
        return out;
    }
    // Largest first, taken by whichever thread is free: the sweeps of one tensor run in one
    // piece inside the region, so no thread waits on another between sweeps.
    std::vector<size_t> order(tasks.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return tasks[a].p.numel() > tasks[b].p.numel(); });
    std::atomic<size_t> next{0};
    std::mutex errorMutex;
    std::exception_ptr error;
#pragma omp parallel num_threads(threads)
    {
        for (size_t k = next++; k < order.size(); k = next++) {
            const AlphaTask& t = tasks[order[k]];
            try {
                out[order[k]] = findAlpha(t.p, t.d, lr, t.search);
            } catch (...) {
                const std::lock_guard<std::mutex> lock(errorMutex);
                if (!error)
                    error = std::current_exception();
            }
        }
    }
    if (error)
        std::rethrow_exception(error);
    return out;
}

}  // namespace dfq::method
