#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/model/model.h"
#include "core/quant/calibration.h"
#include "core/quant/range_tracker.h"
#include "core/quant/rounding_tracker.h"
#include "core/quant/student_quantizer.h"
#include "core/quant/uniform_quantizer.h"
#include "fixtures.h"

using namespace dfq::quant;

namespace {

at::Tensor t(std::vector<float> v) {
    return at::tensor(v, at::kFloat);
}

std::vector<float> vec(const at::Tensor& x) {
    at::Tensor c = x.contiguous().to(at::kFloat);
    return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

TEST(UniformQuantizer, HandComputedCodesRoundHalfToEven) {
    // 2 bits over [0, 3]: s = 3/3 = 1, z = round(0) + 2 = 2, q = clamp(round(x - 2), -2, 1).
    QuantGrid g = makeGrid(at::scalar_tensor(0.0), at::scalar_tensor(3.0), 2);
    EXPECT_EQ(g.scale.item<double>(), 1.0);
    EXPECT_EQ(g.zero.item<double>(), 2.0);
    at::Tensor x = t({0.5f, 1.5f, 2.5f, 3.5f, -7.f, 0.f, 3.f, 1.2f});
    // round(-1.5) = -2, round(-0.5) = -0, round(0.5) = 0, round(1.5) = 2 -> clamped to 1.
    EXPECT_EQ(vec(quantizeCodes(x, g)), (std::vector<float>{-2, 0, 0, 1, -2, -2, 1, -1}));
    EXPECT_EQ(vec(fakeQuantize(x, g)), (std::vector<float>{0, 2, 2, 3, 0, 0, 3, 1}));
}

TEST(UniformQuantizer, HandComputedFourBitAsymmetric) {
    // 4 bits over [-1, 2]: s = 15/3 = 5, z = round(-5) + 8 = 3.
    QuantGrid g = makeGrid(at::scalar_tensor(-1.0), at::scalar_tensor(2.0), 4);
    EXPECT_FLOAT_EQ(g.scale.item<float>(), 5.0f);
    EXPECT_FLOAT_EQ(g.zero.item<float>(), 3.0f);
    at::Tensor x = t({-1.f, 2.f, 0.f, 0.6f, 1.0f, -3.f, 5.f});
    // s*x - z: -8, 7, -3, 0, 2, -18 -> -8, 22 -> 7
    EXPECT_EQ(vec(quantizeCodes(x, g)), (std::vector<float>{-8, 7, -3, 0, 2, -8, 7}));
    const auto xhat = vec(fakeQuantize(x, g));
    const std::vector<float> expected{-1.f, 2.f, 0.f, 0.6f, 1.0f, -1.f, 2.f};
    for (size_t i = 0; i < xhat.size(); ++i)
        EXPECT_NEAR(xhat[i], expected[i], 1e-6) << i;
}

TEST(UniformQuantizer, DegenerateRangeKeepsTheValue) {
    at::Tensor w = at::full({3, 2, 3, 3}, 0.5f);
    w[1].fill_(-0.25f);
    auto [lo, hi] = perChannelRange(w);
    for (int bits : {2, 4, 8}) {
        QuantGrid g = makeGrid(lo, hi, bits);
        at::Tensor xhat = fakeQuantize(w, g);
        EXPECT_FALSE(xhat.isnan().any().item<bool>());
        EXPECT_LE((xhat - w).abs().max().item<float>(), 1e-6) << bits;
    }
}

TEST(UniformQuantizer, PerChannelVersusPerTensor) {
    // Channel 0 spans [0, 1], channel 1 spans [0, 100].
    at::Tensor w = t({0.f, 1.f, 0.f, 100.f}).view({2, 1, 1, 2});
    auto [clo, chi] = perChannelRange(w);
    EXPECT_EQ(clo.sizes(), (std::vector<int64_t>{2, 1, 1, 1}));
    EXPECT_EQ(vec(chi), (std::vector<float>{1.f, 100.f}));
    const auto perChannel = vec(fakeQuantize(w, makeGrid(clo, chi, 2)));
    EXPECT_EQ(perChannel, (std::vector<float>{0.f, 1.f, 0.f, 100.f}));
    auto [tlo, thi] = perTensorRange(w);
    // One grid for both: s = 3/100 puts 1.0 on code -2 (round(0.03 - 2)), i.e. back to 0.
    const auto perTensor = vec(fakeQuantize(w, makeGrid(tlo, thi, 2)));
    EXPECT_FLOAT_EQ(perTensor[1], 0.f);
    EXPECT_FLOAT_EQ(perTensor[3], 100.f);
}

TEST(UniformQuantizer, TwoToEightBits) {
    at::manual_seed(3);
    at::Tensor w = at::randn({8, 4, 3, 3});
    auto [lo, hi] = perChannelRange(w);
    for (int bits = 2; bits <= 8; ++bits) {
        QuantGrid g = makeGrid(lo, hi, bits);
        at::Tensor q = quantizeCodes(w, g);
        const double half = static_cast<double>(1 << (bits - 1));
        EXPECT_GE(q.min().item<double>(), -half);
        EXPECT_LE(q.max().item<double>(), half - 1);
        EXPECT_TRUE(at::equal(q, at::round(q)));
        // Each channel uses at most 2^k codes, and its extremes land on the grid's ends.
        for (int64_t c = 0; c < w.size(0); ++c) {
            EXPECT_LE(std::get<0>(at::_unique(q[c])).numel(), 1 << bits);
        }
        // In-range values are within half a step of their quantized value.
        at::Tensor err = (fakeQuantize(w, g) - w).abs() * g.scale;
        EXPECT_LE(err.max().item<double>(), 0.5 + 1e-3) << bits;
    }
}

TEST(UniformQuantizer, SymmetricRange) {
    auto [lo, hi] = symmetricRange(at::scalar_tensor(-0.5), at::scalar_tensor(2.0));
    EXPECT_EQ(lo.item<double>(), -2.0);
    EXPECT_EQ(hi.item<double>(), 2.0);
}

TEST(UniformQuantizer, StraightThroughGradient) {
    at::Tensor x = t({-5.f, 0.3f, 1.7f, 9.f}).requires_grad_(true);
    QuantGrid g = makeGrid(at::scalar_tensor(0.0), at::scalar_tensor(3.0), 2);
    at::Tensor y = fakeQuantize(x, g);
    (y * t({1.f, 2.f, 3.f, 4.f})).sum().backward();
    // Identity gradient, clamped values included (the reference has no mask).
    EXPECT_EQ(vec(x.grad()), (std::vector<float>{1.f, 2.f, 3.f, 4.f}));
}

TEST(UniformQuantizer, RejectsBadBitWidths) {
    EXPECT_THROW(makeGrid(at::scalar_tensor(0.0), at::scalar_tensor(1.0), 0), dfq::Error);
    EXPECT_THROW(makeGrid(at::scalar_tensor(0.0), at::scalar_tensor(1.0), 17), dfq::Error);
}

TEST(RangeTracker, BiasCorrectedEma) {
    RangeTracker r;
    EXPECT_FALSE(r.calibrated());
    r.update(t({-1.f, 2.f}));
    EXPECT_DOUBLE_EQ(r.lo(), -1.0);
    EXPECT_DOUBLE_EQ(r.hi(), 2.0);
    r.update(t({0.f, 4.f}));
    // raw: 0.1*2 = 0.2, then 0.9*0.2 + 0.1*4 = 0.58; corrected by 1 - 0.81.
    EXPECT_NEAR(r.hi(), 0.58 / 0.19, 1e-12);
    EXPECT_NEAR(r.lo(), (0.9 * -0.1) / 0.19, 1e-12);
    r.setFrozen(true);
    r.observe(t({-100.f, 100.f}));
    EXPECT_NEAR(r.hi(), 0.58 / 0.19, 1e-12);
    EXPECT_EQ(r.updates(), 2);
}

TEST(RangeTracker, ReferenceInflationQuirk) {
    RangeTracker ref(0.9, /*referenceInflation=*/true);
    ref.update(t({0.f, 1.f}));
    EXPECT_NEAR(ref.hi(), 1.0, 1e-12);
    ref.update(t({0.f, 1.f}));
    EXPECT_NEAR(ref.hi(), (0.9 + 0.1) / 0.19, 1e-9);  // about 5x the true maximum
    for (int i = 2; i < 21; ++i)
        ref.update(t({0.f, 1.f}));
    EXPECT_GT(ref.hi(), 1000.0);
    for (int i = 21; i < 400; ++i)
        ref.update(t({0.f, 1.f}));
    EXPECT_NEAR(ref.hi(), 1.0, 1e-6);  // back to the plain EMA
    RangeTracker fixed;
    for (int i = 0; i < 21; ++i)
        fixed.update(t({0.f, 1.f}));
    EXPECT_NEAR(fixed.hi(), 1.0, 1e-12);
}

TEST(RangeTracker, StateRoundTrip) {
    RangeTracker a;
    a.update(t({-1.f, 3.f}));
    a.update(t({-2.f, 1.f}));
    RangeTracker b;
    b.setState(a.state());
    EXPECT_EQ(b.lo(), a.lo());
    EXPECT_EQ(b.hi(), a.hi());
    a.update(t({0.f, 5.f}));
    b.update(t({0.f, 5.f}));
    EXPECT_EQ(b.hi(), a.hi());
}

TEST(RangeTracker, SetRangeFreezesTheGivenRange) {
    for (bool inflate : {false, true}) {
        RangeTracker r(0.9, inflate);
        r.update(t({-5.f, 9.f}));
        r.setRange(-0.5, 3.25);
        EXPECT_TRUE(r.calibrated());
        EXPECT_TRUE(r.frozen());
        EXPECT_EQ(r.lo(), -0.5);
        EXPECT_EQ(r.hi(), 3.25);
        r.observe(t({-100.f, 100.f}));
        EXPECT_EQ(r.hi(), 3.25);
    }
}

TEST(Calibration, MinMaxIsTheMeanOfEachBatchsMinAndMax) {
    ActivationStats s;
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(1);
    s.add(t({-1.f, 0.f, 2.f}), g);
    s.add(t({0.f, 4.f}), g);
    EXPECT_EQ(s.batches(), 2);
    const auto [lo, hi] = s.range(Calibration::MinMax, 4);
    EXPECT_DOUBLE_EQ(lo, -0.5);
    EXPECT_DOUBLE_EQ(hi, 3.0);
    EXPECT_THROW(ActivationStats().range(Calibration::Mse, 4), dfq::Error);
}

TEST(Calibration, MseClipsARareOutlier) {
    // 250 each of 0, 1, 2, 3 and one 6, at 2 bits, candidates hi = 1..6. Hand-computed squared
    // errors: hi 3 puts every small value on a level and costs only (6 - 3)^2 = 9; hi 6 (levels
    // 0, 2, 4, 6) sends 1 to 0 (half to even) and 3 to 2, 500 errors of 1; hi 4 costs
    // 250 * (1/9 + 4/9 + 1/9) + 4 = 170.7.
    std::vector<float> v;
    for (int k = 0; k < 4; ++k)
        v.insert(v.end(), 250, static_cast<float>(k));
    v.push_back(6.f);
    EXPECT_DOUBLE_EQ(mseClip(t(v), 0.0, 6.0, 2, 6), 3.0);
    // Without the outlier, the full range is exact and the widest exact candidate wins.
    v.pop_back();
    EXPECT_DOUBLE_EQ(mseClip(t(v), 0.0, 3.0, 2, 6), 3.0);
    // At 8 bits the outlier is cheap to keep.
    v.push_back(6.f);
    EXPECT_DOUBLE_EQ(mseClip(t(v), 0.0, 6.0, 8, 6), 6.0);
}

TEST(Calibration, SamplesAtMostTheRequestedNumberOfValuesPerBatch) {
    ActivationStats s(100);
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(1);
    // 10,000 values in [0, 1) and a batch maximum of 50: the MSE clip of the sample stays
    // near 1, far below the maximum, while MinMax keeps the maximum.
    at::Tensor x = at::rand({10000}, g);
    x[17] = 50.f;
    s.add(x, g);
    EXPECT_DOUBLE_EQ(s.range(Calibration::MinMax, 3).second, 50.0);
    const double hi = s.range(Calibration::Mse, 3).second;
    EXPECT_GT(hi, 0.5);
    EXPECT_LT(hi, 2.0);
}

TEST(UniformQuantizer, MseShrinkRangePerChannel) {
    // Channel 0 lies exactly on its 2-bit min/max grid (levels -1, 0, 1, 2 for [-1, 2]): it
    // keeps its range. Channel 1 is 63 values near 0 and one outlier: shrinking trades the
    // outlier's error for finer levels near 0 and wins.
    std::vector<float> v = {-1.f, 0.f, 1.f, 2.f};
    for (int k = 0; k < 60; ++k)
        v.push_back(0.f);
    std::vector<float> c1;
    for (int k = 0; k < 63; ++k)
        c1.push_back(0.01f * static_cast<float>(k % 21 - 10));
    c1.push_back(1.f);
    v.insert(v.end(), c1.begin(), c1.end());
    const at::Tensor w = t(v).view({2, 64, 1, 1});
    auto [lo, hi] = perChannelRange(w);
    auto [l2, h2] = mseShrinkRange(w, lo, hi, 2);
    EXPECT_FLOAT_EQ(l2[0].item<float>(), -1.f);
    EXPECT_FLOAT_EQ(h2[0].item<float>(), 2.f);
    const double f = h2[1].item<double>() / hi[1].item<double>();
    EXPECT_LT(f, 0.999);
    EXPECT_GE(f, 0.3 - 1e-9);
    EXPECT_NEAR(l2[1].item<double>() / lo[1].item<double>(), f, 1e-6);
    auto mse = [&](const at::Tensor& l, const at::Tensor& h) {
        const QuantGrid g = makeGrid(l, h, 2);
        return (dequantize(quantizeCodes(w, g), g) - w).square()[1].mean().item<double>();
    };
    EXPECT_LT(mse(l2, h2), mse(lo, hi));
    // The chosen factor is the best of the candidates.
    for (int c = 0; c < 36; ++c) {
        const double g = 1.0 - 0.02 * c;
        EXPECT_LE(mse(l2, h2), mse(lo * g, hi * g) + 1e-12) << g;
    }
    // Per tensor: scalars in, scalars out.
    auto [tl, th] = perTensorRange(w);
    auto [tl2, th2] = mseShrinkRange(w, tl, th, 2);
    EXPECT_EQ(tl2.dim(), 0);
    EXPECT_LE(th2.item<double>(), th.item<double>());
}

TEST(Calibration, ParsesTheProtocolNames) {
    EXPECT_EQ(parseCalibration("ema"), Calibration::Ema);
    EXPECT_EQ(parseCalibration("minmax"), Calibration::MinMax);
    EXPECT_EQ(parseCalibration("mse"), Calibration::Mse);
    EXPECT_THROW(parseCalibration("kl"), dfq::Error);
}

TEST(RoundingTracker, FractionOfChangedCodes) {
    RoundingTracker r;
    at::Tensor a = at::zeros({10});
    at::Tensor b = at::zeros({30});
    auto first = r.update({a, b});
    EXPECT_EQ(first.overall, 0.0);
    a.narrow(0, 0, 3).fill_(1);   // 3 of 10
    b.narrow(0, 0, 1).fill_(-2);  // 1 of 30
    auto second = r.update({a, b});
    EXPECT_DOUBLE_EQ(second.perLayer[0], 0.3);
    EXPECT_DOUBLE_EQ(second.perLayer[1], 1.0 / 30);
    EXPECT_DOUBLE_EQ(second.overall, 4.0 / 40);
    auto third = r.update({a, b});
    EXPECT_EQ(third.overall, 0.0);
    EXPECT_THROW(r.update({a}), dfq::Error);
}

namespace {

dfq::model::Model resnet20() {
    return dfq::model::Model::load(dfq::test::fixturePath("cifar_resnet20_b.traced.pt"));
}

}  // namespace

TEST(StudentQuantizer, ReferencePlanQuantizesEveryConvLinearAndRelu) {
    auto model = resnet20();
    StudentQuantizer q(*model.graph(), QuantConfig{});
    EXPECT_EQ(q.quantizedWeightLayers().size(), 22u);  // 21 convs + the classifier
    EXPECT_EQ(q.activationRanges().size(), 19u);       // one per ReLU
    for (int idx : q.quantizedWeightLayers())
        EXPECT_EQ(q.weightBits(model.graph()->layers()[idx]), 4);
}

TEST(StudentQuantizer, FirstLastAndOverrides) {
    auto model = resnet20();
    const auto& layers = model.graph()->layers();
    QuantConfig c;
    c.firstLast = QuantConfig::FirstLast::EightBit;
    c.weightBitsOverride = {{"layer2.1.conv1", 2}, {"layer3.0.shortcut.0", 0}};
    StudentQuantizer q(*model.graph(), c);
    auto bitsOf = [&](const std::string& path) {
        for (const auto& l : layers)
            if (l.path == path && q.weightBits(l) >= 0)
                return q.weightBits(l);
        return -1;
    };
    EXPECT_EQ(bitsOf("conv1"), 8);
    EXPECT_EQ(bitsOf("linear"), 8);
    EXPECT_EQ(bitsOf("layer1.0.conv1"), 4);
    EXPECT_EQ(bitsOf("layer2.1.conv1"), 2);
    EXPECT_EQ(bitsOf("layer3.0.shortcut.0"), 0);
    EXPECT_EQ(q.quantizedWeightLayers().size(), 21u);

    c.firstLast = QuantConfig::FirstLast::FullPrecision;
    c.weightBitsOverride.clear();
    StudentQuantizer fp(*model.graph(), c);
    EXPECT_EQ(fp.quantizedWeightLayers().size(), 20u);

    c.weightBitsOverride = {{"no.such.layer", 3}};
    EXPECT_THROW(StudentQuantizer(*model.graph(), c), dfq::Error);
}

TEST(StudentQuantizer, WeightsAreFakeQuantizedPerChannel) {
    // Weight-only quantization through the hooks equals running the FP interpreter over weights
    // that were fake-quantized by hand.
    auto model = dfq::model::Model::load(dfq::test::fixturePath("nobn.traced.pt"));
    auto io = dfq::test::loadFixtureIo(dfq::test::fixturePath("nobn.io.pt"));
    QuantConfig c;
    c.weightBits = 3;
    c.activationBits = 0;
    StudentQuantizer q(*model.graph(), c);
    dfq::model::Interpreter quantized(model.graph(), &model.params());
    quantized.setHooks(&q);
    at::Tensor out = quantized.forward(io.input);

    auto manual = model.params().clone();
    for (const auto& l : model.graph()->layers()) {
        if (l.weightParam < 0)
            continue;
        at::Tensor& w = manual.tensor(l.weightParam);
        auto [lo, hi] = perChannelRange(w);
        w = fakeQuantize(w, makeGrid(lo, hi, 3)).detach();
        EXPECT_LE(std::get<0>(at::_unique(w[0])).numel(), 8);
    }
    dfq::model::Interpreter reference(model.graph(), &manual);
    EXPECT_TRUE(at::allclose(out, reference.forward(io.input), 1e-5, 1e-6));
    EXPECT_GT((out - io.output).abs().max().item<double>(), 1e-3);  // 3 bits do change it
}

TEST(StudentQuantizer, ActivationRangesCalibrateThenFreeze) {
    auto model = resnet20();
    auto io = dfq::test::loadFixtureIo(dfq::test::fixturePath("cifar_resnet20_b.io.pt"));
    QuantConfig c;
    c.weightBits = 8;
    c.activationBits = 8;
    StudentQuantizer q(*model.graph(), c);
    dfq::model::Interpreter interp(model.graph(), &model.params());
    interp.setHooks(&q);
    q.setCalibrating(true);
    at::Tensor calibrated = interp.forward(io.input);
    for (const auto& r : q.activationRanges()) {
        EXPECT_EQ(r.updates(), 1);
        EXPECT_GE(r.lo(), 0.0);  // post-ReLU
        EXPECT_GT(r.hi(), 0.0);
    }
    // W8A8 stays close to the FP model.
    const double scale = io.output.abs().max().item<double>();
    EXPECT_LE((calibrated - io.output).abs().max().item<double>(), 0.05 * scale);
    q.setCalibrating(false);
    const double hi0 = q.activationRanges()[0].hi();
    interp.forward(io.input * 10);
    EXPECT_EQ(q.activationRanges()[0].hi(), hi0);
    EXPECT_EQ(q.activationRanges()[0].updates(), 1);
    // Codes of every quantized weight lie on the 8-bit grid.
    for (const auto& codes : q.weightCodes(model.params())) {
        EXPECT_GE(codes.min().item<double>(), -128);
        EXPECT_LE(codes.max().item<double>(), 127);
    }
}
