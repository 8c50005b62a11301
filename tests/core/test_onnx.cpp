#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "core/model/model.h"
#include "core/model/onnx_export.h"
#include "core/run/demo_teacher.h"
#include "fixtures.h"

using dfq::model::ActivationQuantizer;
using dfq::model::buildOnnx;
using dfq::model::LayerRole;
using dfq::model::Model;
using dfq::model::OnnxExport;
using dfq::model::OnnxModel;
using dfq::model::OnnxNode;
using dfq::model::OnnxTensor;
using dfq::model::QuantizedWeight;
using dfq::model::serializeOnnx;
using dfq::test::errorOf;
using dfq::test::fixturePath;
using dfq::test::loadFixtureIo;

namespace {

const OnnxTensor& initializer(const OnnxModel& m, const std::string& name) {
    for (const auto& t : m.initializers)
        if (t.name == name)
            return t;
    throw std::runtime_error("no initializer " + name);
}

std::vector<const OnnxNode*> nodesOf(const OnnxModel& m, const std::string& op) {
    std::vector<const OnnxNode*> out;
    for (const auto& n : m.nodes)
        if (n.op == op)
            out.push_back(&n);
    return out;
}

// Weights on the grid w^ = (code + z) / s with s = 2, z = -1 in every output channel: the codes
// round(2w + 1) clamped to 4 bits.
QuantizedWeight gridOfHalves(const at::Tensor& w) {
    QuantizedWeight q;
    q.bits = 4;
    q.inverseStep = at::full({w.size(0)}, 2.0);
    q.zero = at::full({w.size(0)}, -1.0);
    q.codes = at::round(w * 2 + 1).clamp(-8, 7);
    return q;
}

}  // namespace

TEST(OnnxExport, QuantizerGridsBecomeTheQdqParameters) {
    Model teacher = Model::load(dfq::run::demoTeacherPath());
    const auto& layers = teacher.graph()->layers();
    const auto conv = std::find_if(layers.begin(), layers.end(),
                                   [](const auto& l) { return l.role == LayerRole::Conv; });
    const auto relu = std::find_if(layers.begin(), layers.end(),
                                   [](const auto& l) { return l.role == LayerRole::Activation; });
    ASSERT_NE(conv, layers.end());
    ASSERT_NE(relu, layers.end());
    const at::Tensor w = teacher.params().tensor(static_cast<size_t>(conv->weightParam));
    const int64_t channels = w.size(0);
    // DequantizeLinear's scale 1/s = 1/2 and zero point -z = 1.
    const QuantizedWeight q = gridOfHalves(w);
    // The first ReLU on s = 4, z = -8: QuantizeLinear's scale 1/4, zero point 8, then a Clip to
    // the 4-bit codes [-8, 7].
    const ActivationQuantizer a{relu->index, 4.0, -8.0, 4};
    const OnnxExport x = buildOnnx(*teacher.graph(), teacher.params(), {{conv->weightParam, q}},
                                   {a}, {1, 28, 28}, {});
    const auto dq = nodesOf(x.model, "DequantizeLinear");
    ASSERT_EQ(dq.size(), 2u);  // the weight, the activation
    const OnnxNode& wdq = *dq[0];
    const OnnxTensor& codes = initializer(x.model, wdq.inputs[0]);
    EXPECT_EQ(codes.type, dfq::model::OnnxType::Int8);
    EXPECT_EQ(codes.dims, w.sizes().vec());
    const at::Tensor expected = q.codes.flatten().to(at::kLong);
    for (int64_t i = 0; i < w.numel(); i += 7)
        EXPECT_EQ(codes.ints[static_cast<size_t>(i)], expected[i].item<int64_t>()) << i;
    EXPECT_EQ(initializer(x.model, wdq.inputs[1]).floats,
              std::vector<float>(static_cast<size_t>(channels), 0.5f));
    EXPECT_EQ(initializer(x.model, wdq.inputs[2]).ints,
              std::vector<int64_t>(static_cast<size_t>(channels), 1));
    ASSERT_EQ(wdq.attributes.size(), 1u);
    EXPECT_EQ(wdq.attributes[0].name, "axis");
    EXPECT_EQ(wdq.attributes[0].i, 0);

    const auto ql = nodesOf(x.model, "QuantizeLinear");
    ASSERT_EQ(ql.size(), 1u);
    EXPECT_EQ(initializer(x.model, ql[0]->inputs[1]).floats, std::vector<float>{0.25f});
    EXPECT_EQ(initializer(x.model, ql[0]->inputs[2]).ints, std::vector<int64_t>{8});
    const auto clip = nodesOf(x.model, "Clip");
    ASSERT_EQ(clip.size(), 1u);
    EXPECT_EQ(clip[0]->inputs[0], ql[0]->outputs[0]);
    EXPECT_EQ(initializer(x.model, clip[0]->inputs[1]).ints, std::vector<int64_t>{-8});
    EXPECT_EQ(initializer(x.model, clip[0]->inputs[2]).ints, std::vector<int64_t>{7});
    EXPECT_EQ(dq[1]->inputs[0], clip[0]->outputs[0]);

    // The encodings: offset z - 2^(b-1), min and max the ends of the grid.
    ASSERT_EQ(x.encodings.size(), 2u);
    const auto& we = x.encodings[0];
    EXPECT_TRUE(we.isParam);
    EXPECT_EQ(we.tensor, wdq.inputs[0]);
    EXPECT_DOUBLE_EQ(we.scale[0], 0.5);
    EXPECT_DOUBLE_EQ(we.offset[0], -9);  // -1 - 8
    EXPECT_DOUBLE_EQ(we.min[0], (-8 - 1) / 2.0);
    EXPECT_DOUBLE_EQ(we.max[0], (7 - 1) / 2.0);
    const auto& ae = x.encodings[1];
    EXPECT_FALSE(ae.isParam);
    EXPECT_DOUBLE_EQ(ae.offset[0], -16);           // -8 - 8
    EXPECT_DOUBLE_EQ(ae.min[0], -4);               // (-8 - 8) / 4
    EXPECT_DOUBLE_EQ(ae.max[0], -0.25);            // (7 - 8) / 4
    EXPECT_FALSE(serializeOnnx(x.model).empty());  // ONNX's checker accepts it
}

TEST(OnnxExport, AGridThatInt8CannotHoldIsAnErrorNamingTheLayer) {
    Model teacher = Model::load(dfq::run::demoTeacherPath());
    const auto& layers = teacher.graph()->layers();
    const auto relu = std::find_if(layers.begin(), layers.end(),
                                   [](const auto& l) { return l.role == LayerRole::Activation; });
    const ActivationQuantizer wide{relu->index, 4.0, -300.0, 8};  // zero point 300
    const std::string e = errorOf([&] {
        buildOnnx(*teacher.graph(), teacher.params(), {}, {wide}, {1, 28, 28}, {});
    });
    EXPECT_NE(e.find("zero point 300"), std::string::npos) << e;
    EXPECT_NE(e.find(relu->path), std::string::npos) << e;
    EXPECT_NE(errorOf([&] {
                  dfq::model::OnnxExportOptions o;
                  o.opset = 12;
                  buildOnnx(*teacher.graph(), teacher.params(), {}, {}, {1, 28, 28}, o);
              }).find("opset 12"),
              std::string::npos);
}

// An operation ONNX has no operator for is an error naming the node, not a wrong file: adaptive
// average pooling from 26 x 26 to 4 x 4 (uneven windows).
TEST(OnnxExport, AnOperationItCannotExpressIsAnErrorNamingTheNode) {
    Model m = Model::load(fixturePath("with_meta.traced.pt"));
    const std::string e = errorOf([&] {
        buildOnnx(*m.graph(), m.params(), {}, {}, {1, 28, 28}, {});
    });
    EXPECT_NE(e.find("pool (aten::adaptive_avg_pool2d)"), std::string::npos) << e;
    EXPECT_NE(e.find("does not divide its input evenly"), std::string::npos) << e;
}

class OnnxFixture : public ::testing::TestWithParam<std::string> {};

// Every importer fixture (traced and scripted: ResNets with computed views and padded shortcuts,
// pooling, concatenation, every activation, BatchNorm1d) exports in full precision and passes
// ONNX's checker.
TEST_P(OnnxFixture, ExportsAndPassesTheChecker) {
    const std::string name = GetParam();
    Model m = Model::load(fixturePath(name + ".pt"));
    const auto io = loadFixtureIo(fixturePath(name.substr(0, name.find('.')) + ".io.pt"));
    const auto shape = io.input.sizes().vec();
    const OnnxExport x = buildOnnx(*m.graph(), m.params(), {}, {},
                                   std::vector<int64_t>(shape.begin() + 1, shape.end()), {});
    EXPECT_FALSE(serializeOnnx(x.model).empty());
    EXPECT_TRUE(nodesOf(x.model, "QuantizeLinear").empty());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OnnxFixture,
                         ::testing::Values("cifar_resnet_a.traced", "cifar_resnet_a.scripted",
                                           "cifar_resnet20_b.traced", "cifar_resnet20_b.scripted",
                                           "lenet_bn1d.traced", "lenet_bn1d.scripted",
                                           "nobn.traced", "nobn.scripted", "ops_activations.traced",
                                           "ops_activations.scripted", "ops_pool_cat.traced",
                                           "ops_pool_cat.scripted"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '.', '_');
                             return n;
                         });

// Folding a BatchNorm into a per-channel quantized conv keeps the grid exact: the same codes with
// a step scaled by |f| = |γ|/√(σ² + ε), mirrored (code' = -code - 1, z' = 1 - z) where f < 0.
TEST(OnnxExport, FoldingBatchNormRescalesAPerChannelGridExactly) {
    Model teacher = Model::load(dfq::run::demoTeacherPath());
    const auto& layers = teacher.graph()->layers();
    const auto conv = std::find_if(layers.begin(), layers.end(),
                                   [](const auto& l) { return l.role == LayerRole::Conv; });
    const auto bn = std::find_if(layers.begin(), layers.end(),
                                 [](const auto& l) { return l.role == LayerRole::BatchNorm; });
    auto params = teacher.params().clone();
    at::Tensor gamma = params.tensor(static_cast<size_t>(bn->weightParam));
    gamma[0] = -gamma[0].abs() - 0.5;  // one channel with a negative factor
    gamma[1] = gamma[1].abs() + 0.5;
    const at::Tensor w = params.tensor(static_cast<size_t>(conv->weightParam));
    const int64_t channels = w.size(0);
    const QuantizedWeight q = gridOfHalves(w);
    dfq::model::OnnxExportOptions o;
    o.foldBatchNorm = true;
    const OnnxExport x =
        buildOnnx(*teacher.graph(), params, {{conv->weightParam, q}}, {}, {1, 28, 28}, o);
    // Every BatchNorm of the demo follows a conv: all nine fold (the other convs in float).
    EXPECT_TRUE(nodesOf(x.model, "BatchNormalization").empty());
    ASSERT_EQ(x.notes.size(), 9u);
    EXPECT_NE(x.notes[0].find("per-channel grid rescaled, the codes kept"), std::string::npos);
    const OnnxNode& dq = *nodesOf(x.model, "DequantizeLinear").at(0);
    const auto& codes = initializer(x.model, dq.inputs[0]).ints;
    const auto& scale = initializer(x.model, dq.inputs[1]).floats;
    const auto& zp = initializer(x.model, dq.inputs[2]).ints;
    const at::Tensor mean = params.tensor(static_cast<size_t>(bn->runningMeanParam));
    const at::Tensor var = params.tensor(static_cast<size_t>(bn->runningVarParam));
    const at::Tensor f = gamma / at::sqrt(var + 1e-5);
    const int64_t per = w.numel() / channels;
    for (int64_t c : {int64_t{0}, int64_t{1}}) {
        const double fc = f[c].item<double>();
        EXPECT_NEAR(scale[static_cast<size_t>(c)], std::abs(fc) / 2, 1e-6);
        EXPECT_EQ(zp[static_cast<size_t>(c)], fc < 0 ? -2 : 1);
        for (int64_t i = c * per; i < (c + 1) * per; ++i) {
            const int64_t code = q.codes.flatten()[i].item<int64_t>();
            EXPECT_EQ(codes[static_cast<size_t>(i)], fc < 0 ? -code - 1 : code);
            // The dequantized folded weight is f times the dequantized weight.
            const double folded = (codes[static_cast<size_t>(i)] - zp[static_cast<size_t>(c)]) *
                                  static_cast<double>(scale[static_cast<size_t>(c)]);
            EXPECT_NEAR(folded, fc * (code - 1) / 2.0, 1e-5);
        }
    }
    EXPECT_FALSE(serializeOnnx(x.model).empty());
}
