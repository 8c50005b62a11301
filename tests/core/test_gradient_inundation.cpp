#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/method/gradient_inundation.h"

using dfq::method::AlphaSearch;
using dfq::method::codeChangeFraction;
using dfq::method::codeChangeFractions;
using dfq::method::findAlpha;
using dfq::method::referenceAlpha;

TEST(GradientInundation, HandComputedFractionOfChangedCodes) {
    // One channel [0, 1, 2, 3] at 2 bits: s = 1, z = 2, codes -2..1. Moving by -0.6 * [0, 1, 0, 0]
    // gives [0, 1.6, 2, 3]: same grid, 1.6 rounds to code 0 (value 2), so one code in four
    // changes. Moving the last weight by 2 widens the grid to [0, 5] (s = 0.6): the codes of
    // 0, 1, 2, 5 are -2, -1 (0.6 - 2 = -1.4), -1 (1.2 - 2 = -0.8), 1, so only the weight 2
    // changes code (0 to -1), though it did not move: the grid shift counts.
    const at::Tensor p = at::tensor({0.f, 1.f, 2.f, 3.f}).view({1, 4});
    const at::Tensor d1 = at::tensor({0.f, -1.f, 0.f, 0.f}).view({1, 4});
    EXPECT_DOUBLE_EQ(codeChangeFraction(p, d1, 0.6, 1.0, 2), 0.25);
    EXPECT_DOUBLE_EQ(codeChangeFractions(p, d1, 0.6, {1.0}, 2)[0], 0.25);
    const at::Tensor d2 = at::tensor({0.f, 0.f, 0.f, -1.f}).view({1, 4});
    EXPECT_DOUBLE_EQ(codeChangeFraction(p, d2, 1.0, 2.0, 2), 0.25);
    EXPECT_DOUBLE_EQ(codeChangeFractions(p, d2, 1.0, {2.0}, 2)[0], 0.25);
}

TEST(GradientInundation, FusedFractionsEqualTheTensorOps) {
    for (int seed = 0; seed < 20; ++seed) {
        at::manual_seed(seed);
        const int bits = 2 + seed % 7;
        const at::Tensor p = at::randn({16, 8, 3, 3}) * 0.1;
        const at::Tensor d = at::randn({16, 8, 3, 3});
        const std::vector<double> alphas = {1, 2, 3.5, 16, 100, 1e3, 4096, 65536, 1e6, 0.75};
        const auto fused = codeChangeFractions(p, d, 1e-4, alphas, bits);
        // The batched tensor-op path (for tensors on a GPU), here on the CPU.
        const auto batched = dfq::method::codeChangeFractionsBatched(p, d, 1e-4, alphas, bits);
        ASSERT_EQ(fused.size(), alphas.size());
        ASSERT_EQ(batched.size(), alphas.size());
        for (size_t k = 0; k < alphas.size(); ++k) {
            const double direct = codeChangeFraction(p, d, 1e-4, alphas[k], bits);
            EXPECT_EQ(fused[k], direct) << "seed " << seed << " alpha " << alphas[k];
            EXPECT_EQ(batched[k], direct) << "seed " << seed << " alpha " << alphas[k];
        }
    }
}

TEST(GradientInundation, FastSearchFindsTheReferenceAlpha) {
    int differentAlphas = 0, totalFast = 0, totalReference = 0;
    std::vector<dfq::method::AlphaTask> tasks;
    std::vector<dfq::method::AlphaResult> sequential;
    for (int seed = 0; seed < 60; ++seed) {
        at::manual_seed(seed);
        AlphaSearch s;
        s.bits = 2 + seed % 7;
        s.threshold = seed % 3 == 0 ? 1e-3 : seed % 3 == 1 ? 1e-2 : 1e-4;
        s.firstEpochCap = seed % 4 == 0;
        const int64_t out = 4 + seed % 29;
        const at::Tensor p = at::randn({out, 3 + seed % 5, 3, 3}) * 0.05;
        const at::Tensor d = at::randn({out, 3 + seed % 5, 3, 3}) * std::pow(10.0, seed % 5 - 2);
        const double lr = 1e-4;
        const auto ref = referenceAlpha(p, d, lr, s);
        const auto fast = findAlpha(p, d, lr, s);
        EXPECT_EQ(fast.alpha, ref.alpha) << "seed " << seed;
        EXPECT_EQ(fast.capped, ref.capped) << "seed " << seed;
        EXPECT_LE(fast.passes, ref.passes) << "seed " << seed;
        if (s.firstEpochCap) {
            EXPECT_LE(ref.alpha, 128.0);
        }
        differentAlphas += ref.alpha != 1.0;
        totalFast += fast.passes;
        totalReference += ref.passes;
        tasks.push_back({p, d, s});
        sequential.push_back(fast);
    }
    // All sixty searched side by side, as a student step does: the same α, cap and sweeps.
    const auto sideBySide = dfq::method::findAlphas(tasks, 1e-4);
    ASSERT_EQ(sideBySide.size(), tasks.size());
    for (size_t k = 0; k < tasks.size(); ++k) {
        EXPECT_EQ(sideBySide[k].alpha, sequential[k].alpha) << "task " << k;
        EXPECT_EQ(sideBySide[k].capped, sequential[k].capped) << "task " << k;
        EXPECT_EQ(sideBySide[k].passes, sequential[k].passes) << "task " << k;
    }
    // The cases cover the doubling and the bisection, and the fast search needs fewer sweeps.
    EXPECT_GT(differentAlphas, 20);
    EXPECT_LT(totalFast, totalReference);
}

TEST(GradientInundation, ZeroGradientStopsAtTheCap) {
    const at::Tensor p = at::randn({4, 9});
    const at::Tensor d = at::zeros({4, 9});
    AlphaSearch s;
    s.maxAlpha = 1024;
    const auto ref = referenceAlpha(p, d, 1e-3, s);
    const auto fast = findAlpha(p, d, 1e-3, s);
    EXPECT_TRUE(ref.capped);
    EXPECT_TRUE(fast.capped);
    EXPECT_EQ(ref.alpha, 1024.0);
    EXPECT_EQ(fast.alpha, 1024.0);
    EXPECT_EQ(ref.passes, 11);  // perc(1), then 2, 4, ..., 1024
    EXPECT_EQ(fast.passes, 2);  // α = 1, 2, ..., 128 in one sweep, then 256, 512, 1024
    // In the first epoch the doubling stops above 100 and the bisection runs on [64, 128].
    s.firstEpochCap = true;
    const auto first = findAlpha(p, d, 1e-3, s);
    EXPECT_FALSE(first.capped);
    EXPECT_DOUBLE_EQ(first.alpha, 64.0 + 64.0 * 31 / 32);
    EXPECT_EQ(referenceAlpha(p, d, 1e-3, s).alpha, first.alpha);
    EXPECT_EQ(first.passes, 3);  // the ladder, then two sweeps for five bisection levels
}
