#include "onnx_export.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "../error.h"

namespace dfq::model {

using torch::jit::Node;
using torch::jit::Value;

namespace {

OnnxAttribute intAttr(const std::string& name, int64_t v) {
    OnnxAttribute a;
    a.kind = OnnxAttribute::Kind::Int;
    a.name = name;
    a.i = v;
    return a;
}

OnnxAttribute floatAttr(const std::string& name, double v) {
    OnnxAttribute a;
    a.kind = OnnxAttribute::Kind::Float;
    a.name = name;
    a.f = static_cast<float>(v);
    return a;
}

OnnxAttribute intsAttr(const std::string& name, std::vector<int64_t> v) {
    OnnxAttribute a;
    a.kind = OnnxAttribute::Kind::Ints;
    a.name = name;
    a.ints = std::move(v);
    return a;
}

std::string kindName(const Node* n) {
    std::string k = n->kind().toUnqualString();
    if (!k.empty() && k.back() == '_' && k != "__is__" && k.size() > 1 && k[k.size() - 2] != '_')
        k.pop_back();  // relu_ -> relu: the graph made in-place ops functional where it could
    return k;
}

// An If without outputs whose one branch only raises: an input check such as BatchNorm's
// `if input.dim() != 4: raise ...`, which an exported graph does not need.
bool isAssertion(const Node* n) {
    if (n->kind() != c10::prim::If || !n->outputs().empty())
        return false;
    for (const auto* b : n->blocks())
        for (const auto* m : b->nodes())
            if (m->kind() == c10::prim::RaiseException)
                return true;
    return false;
}

// Writes the ONNX graph, node by node, keeping per TorchScript value either its ONNX tensor name
// or, for what is known before running (constants, lists of constants), the value itself.
class Builder {
  public:
    Builder(const Graph& graph, const ParamStore& params,
            const std::map<int, QuantizedWeight>& weights,
            const std::vector<ActivationQuantizer>& activations, bool foldBatchNorm)
        : graph_(graph), params_(params), weights_(weights), foldBatchNorm_(foldBatchNorm) {
        for (const auto& a : activations)
            activations_[a.layer] = a;
    }

    OnnxExport build(const std::vector<int64_t>& inputShape, int opset) {
        const auto& g = *graph_.jitGraph();
        if (g.inputs().size() != 2)
            throw Error("ONNX export: the forward takes " + std::to_string(g.inputs().size() - 1) +
                        " inputs; only models with one input image are exported");
        if (g.outputs().size() != 1)
            throw Error("ONNX export: the forward returns " + std::to_string(g.outputs().size()) +
                        " values; only models that return their logits are exported");
        out_.model.opset = opset;
        out_.model.input.name = "input";
        out_.model.input.dims = {-1};
        for (int64_t d : inputShape)
            out_.model.input.dims.push_back(d);
        names_[g.inputs()[1]] = "input";
        findStaticValues(g, inputShape);
        markNeeded(g);
        if (foldBatchNorm_)
            findFolds(g);
        for (const Node* n : g.nodes())
            if (needed_.count(n))
                translate(n);
        const std::string last = tensor(g.outputs()[0]);
        out_.model.output.name = "logits";
        out_.model.output.dims = {-1, -1};
        add("Identity", {last}, {"logits"});
        return std::move(out_);
    }

  private:
    // Runs the graph on two batch sizes and keeps every number or list of numbers that came out
    // the same in both: those do not depend on the input (a pooling kernel taken from x.size(3))
    // and become constants; those that differ (x.size(0)) are computed in the ONNX graph.
    void findStaticValues(const torch::jit::Graph& g, const std::vector<int64_t>& inputShape) {
        if (inputShape.empty())
            return;
        std::unordered_map<const Value*, c10::IValue> first;
        for (const int64_t batch : {2, 3}) {
            std::vector<int64_t> shape{batch};
            shape.insert(shape.end(), inputShape.begin(), inputShape.end());
            std::unordered_map<const Value*, c10::IValue> values;
            // A deterministic input: no random generator state is used up by an export.
            int64_t numel = 1;
            for (int64_t d : shape)
                numel *= d;
            // Different values in the two runs too, so that only what the data cannot change
            // comes out the same.
            values[g.inputs()[1]] =
                at::linspace(-0.5 * static_cast<double>(batch), static_cast<double>(batch), numel)
                    .reshape(shape);
            for (const Node* n : g.nodes()) {
                if (!n->blocks().empty() || n->kind() == c10::prim::GetAttr)
                    continue;
                torch::jit::Stack stack;
                bool ready = true;
                for (const Value* v : n->inputs()) {
                    const int p = graph_.paramOf(v);
                    if (p >= 0) {
                        stack.emplace_back(params_.tensor(static_cast<size_t>(p)));
                    } else if (auto it = values.find(v); it != values.end()) {
                        stack.push_back(it->second);
                    } else {
                        ready = false;
                        break;
                    }
                }
                if (!ready)
                    continue;
                try {
                    if (n->kind() == c10::prim::Constant)
                        stack = {*torch::jit::toIValue(n->output())};
                    else if (n->kind() == c10::prim::ListConstruct)
                        stack = {listOf(n, stack)};
                    else
                        n->getOperation()(stack);
                } catch (const std::exception&) {
                    continue;  // translated as it is; an error there names the node
                }
                for (size_t k = 0; k < n->outputs().size() && k < stack.size(); ++k) {
                    const c10::IValue& out = stack[stack.size() - n->outputs().size() + k];
                    values[n->outputs()[k]] = out;
                    if (out.isTensor())
                        shapes_[n->outputs()[k]] = out.toTensor().sizes().vec();
                }
            }
            if (batch == 2) {
                first = std::move(values);
                continue;
            }
            for (const auto& [v, value] : values) {
                const auto it = first.find(v);
                if (it == first.end() || v->node()->kind() == c10::prim::Constant)
                    continue;
                const c10::IValue& a = it->second;
                const bool same =
                    (a.isInt() && value.isInt() && a.toInt() == value.toInt()) ||
                    (a.isDouble() && value.isDouble() && a.toDouble() == value.toDouble()) ||
                    (a.isBool() && value.isBool() && a.toBool() == value.toBool()) ||
                    (a.isIntList() && value.isIntList() && a.toIntVector() == value.toIntVector());
                if (same)
                    known_[v] = value;
            }
        }
        for (const Node* n : g.nodes()) {
            bool all = !n->outputs().empty() && n->kind() != c10::prim::Constant;
            for (const Value* v : n->outputs())
                all = all && known_.count(v);
            if (all)
                static_.insert(n);
        }
    }

    static bool isConv(const Node* n) {
        const std::string k = n->kind().toUnqualString();
        return k == "_convolution" || k == "conv1d" || k == "conv2d" || k == "conv3d";
    }

    // The BatchNorms that fold into the convolution before them: its only reader, with the
    // conv's weight and the BN's statistics parameters.
    void findFolds(const torch::jit::Graph& g) {
        for (const Node* n : g.nodes()) {
            if (!needed_.count(n) || kindName(n) != "batch_norm")
                continue;
            const Node* conv = n->input(0)->node();
            if (!isConv(conv) || n->input(0)->uses().size() != 1 ||
                graph_.paramOf(conv->input(1)) < 0 || graph_.paramOf(n->input(3)) < 0 ||
                graph_.paramOf(n->input(4)) < 0 ||
                (!isNone(n->input(1)) && graph_.paramOf(n->input(1)) < 0) ||
                (!isNone(n->input(2)) && graph_.paramOf(n->input(2)) < 0) ||
                (!isNone(conv->input(2)) && graph_.paramOf(conv->input(2)) < 0))
                continue;
            foldOf_[conv] = n;
        }
    }

    at::Tensor paramOrNone(const Value* v, int64_t channels, double fill) {
        if (isNone(v))
            return at::full({channels}, fill, at::kDouble);
        return params_.tensor(static_cast<size_t>(graph_.paramOf(v)))
            .detach()
            .to(at::kCPU, at::kDouble);
    }

    // The folded convolution's weight (an initializer, through DequantizeLinear when quantized)
    // and bias.
    std::pair<std::string, std::string> foldedConv(const Node* conv, const Node* bn) {
        const int pw = graph_.paramOf(conv->input(1));
        const at::Tensor w =
            params_.tensor(static_cast<size_t>(pw)).detach().to(at::kCPU, at::kDouble);
        const int64_t channels = w.size(0);
        const at::Tensor gamma = paramOrNone(bn->input(1), channels, 1.0);
        const at::Tensor beta = paramOrNone(bn->input(2), channels, 0.0);
        const at::Tensor mean = paramOrNone(bn->input(3), channels, 0.0);
        const at::Tensor var = paramOrNone(bn->input(4), channels, 1.0);
        const at::Tensor f = gamma / at::sqrt(var + knownDouble(bn, 7));
        const at::Tensor b = paramOrNone(conv->input(2), channels, 0.0);
        const std::string bias = floatInit(params_.name(static_cast<size_t>(pw)) + "_folded_bias",
                                           (b - mean) * f + beta);
        std::vector<int64_t> shape(static_cast<size_t>(w.dim()), 1);
        shape[0] = channels;
        const at::Tensor fw = f.view(shape);
        const std::string name = params_.name(static_cast<size_t>(pw));
        const std::string bnName =
            Graph::modulePath(bn).empty() ? "a BatchNorm" : Graph::modulePath(bn);
        const std::string convName =
            Graph::modulePath(conv).empty() ? name : Graph::modulePath(conv);
        const auto q = weights_.find(pw);
        if (q == weights_.end()) {
            out_.notes.push_back("folded " + bnName + " into " + convName);
            return {floatInit(name + "_folded", w * fw), bias};
        }
        const QuantizedWeight& old = q->second;
        const at::Tensor s = old.inverseStep.detach().to(at::kCPU, at::kDouble).flatten();
        const at::Tensor z = old.zero.detach().to(at::kCPU, at::kDouble).flatten();
        const at::Tensor codes = old.codes.detach().to(at::kCPU, at::kDouble);
        QuantizedWeight folded;
        folded.bits = old.bits;
        if (s.numel() == channels) {
            // (code + z)/s·f = (code + z)/(s/f); for f < 0, (-code - 1 + (1 - z))/(s/|f|).
            const at::Tensor negative = f.lt(0);
            const at::Tensor nv = negative.view(shape);
            folded.inverseStep = s / f.abs();
            folded.zero = at::where(negative, 1 - z, z);
            folded.codes = at::where(nv, -codes - 1, codes);
            out_.notes.push_back("folded " + bnName + " into " + convName +
                                 ": its per-channel grid rescaled, the codes kept");
        } else {
            const at::Tensor target = (codes + z) / s * fw;  // the folded dequantized weight
            const double lo = target.min().item<double>(), hi = target.max().item<double>();
            const double levels = static_cast<double>((int64_t{1} << old.bits) - 1);
            const double half = static_cast<double>(int64_t{1} << (old.bits - 1));
            const double sNew = levels / std::max(hi - lo, 1e-8);
            const double zNew = std::nearbyint(sNew * lo) + half;
            folded.inverseStep = at::full({1}, sNew, at::kDouble);
            folded.zero = at::full({1}, zNew, at::kDouble);
            folded.codes = at::round(target * sNew - zNew).clamp(-half, half - 1);
            const at::Tensor error = ((folded.codes + zNew) / sNew - target).abs();
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          ": its per-tensor grid recomputed on the folded weight (%d bits, "
                          "min/max); the weight moved by up to %.3g (%.0f %% of the new step)",
                          old.bits, error.max().item<double>(),
                          100 * error.max().item<double>() * sNew);
            out_.notes.push_back("folded " + bnName + " into " + convName + buf);
        }
        return {dequantizedWeight(name + "_folded", folded), bias};
    }

    // prim::ListConstruct's value from its elements.
    static c10::IValue listOf(const Node* n, const torch::jit::Stack& elements) {
        const auto kind = n->output()->type()->containedType(0)->kind();
        if (kind == c10::TypeKind::IntType) {
            std::vector<int64_t> v;
            for (const auto& e : elements)
                v.push_back(e.toInt());
            return v;
        }
        if (kind == c10::TypeKind::FloatType) {
            std::vector<double> v;
            for (const auto& e : elements)
                v.push_back(e.toDouble());
            return v;
        }
        if (kind == c10::TypeKind::TensorType) {
            c10::List<at::Tensor> v;
            for (const auto& e : elements)
                v.push_back(e.toTensor());
            return v;
        }
        throw std::runtime_error("a list of this type is not evaluated");
    }

    // The nodes the output depends on; input checks (isAssertion) and what only they read are
    // left out, and so are the inputs of nodes whose outputs are constants (findStaticValues).
    void markNeeded(const torch::jit::Graph& g) {
        std::vector<const Node*> work;
        for (const Value* v : g.outputs())
            work.push_back(v->node());
        while (!work.empty()) {
            const Node* n = work.back();
            work.pop_back();
            if (n->kind() == c10::prim::Param || !needed_.insert(n).second ||
                n->kind() == c10::prim::GetAttr || static_.count(n))
                continue;
            for (const Value* v : n->inputs())
                work.push_back(v->node());
        }
        for (const Node* n : g.nodes())
            if (!needed_.count(n) && !isAssertion(n) && n->kind() != c10::prim::Constant &&
                n->kind() != c10::prim::GetAttr && n->hasSideEffects())
                throw Error("ONNX export: " + graph_.describe(n) +
                            " has side effects that an ONNX graph cannot keep");
    }

    std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter_++); }

    void add(const std::string& op, std::vector<std::string> inputs,
             std::vector<std::string> outputs, std::vector<OnnxAttribute> attrs = {}) {
        OnnxNode n;
        n.op = op;
        n.name = op + "_" + std::to_string(out_.model.nodes.size());
        n.inputs = std::move(inputs);
        n.outputs = std::move(outputs);
        n.attributes = std::move(attrs);
        out_.model.nodes.push_back(std::move(n));
    }

    std::string addOut(const std::string& op, std::vector<std::string> inputs,
                       std::vector<OnnxAttribute> attrs = {}) {
        const std::string o = fresh(op);
        add(op, std::move(inputs), {o}, std::move(attrs));
        return o;
    }

    std::string floatInit(const std::string& base, const at::Tensor& t) {
        OnnxTensor x;
        x.name = fresh(base);
        x.type = OnnxType::Float;
        const at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
        x.dims = c.sizes().vec();
        x.floats.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        out_.model.initializers.push_back(std::move(x));
        return out_.model.initializers.back().name;
    }

    std::string intInit(const std::string& base, OnnxType type, std::vector<int64_t> dims,
                        std::vector<int64_t> values) {
        OnnxTensor x;
        x.name = fresh(base);
        x.type = type;
        x.dims = std::move(dims);
        x.ints = std::move(values);
        out_.model.initializers.push_back(std::move(x));
        return out_.model.initializers.back().name;
    }

    std::string int64s(const std::vector<int64_t>& v) {
        return intInit("const", OnnxType::Int64, {static_cast<int64_t>(v.size())}, v);
    }

    std::string scalar(double v) { return floatInit("const", at::scalar_tensor(v, at::kFloat)); }

    [[noreturn]] void fail(const Node* n, const std::string& why) const {
        throw Error("ONNX export: " + graph_.describe(n) + ": " + why);
    }

    // A value known before running: a constant, or a list of them.
    std::optional<c10::IValue> known(const Value* v) const {
        if (auto it = known_.find(v); it != known_.end())
            return it->second;
        if (v->node()->kind() == c10::prim::Constant)
            return torch::jit::toIValue(v);
        return std::nullopt;
    }

    int64_t knownInt(const Node* n, size_t input) const {
        const auto v = known(n->input(input));
        if (!v || !v->isInt())
            fail(n, "argument " + std::to_string(input) + " must be a constant integer");
        return v->toInt();
    }

    double knownDouble(const Node* n, size_t input) const {
        const auto v = known(n->input(input));
        if (v && v->isDouble())
            return v->toDouble();
        if (v && v->isInt())
            return static_cast<double>(v->toInt());
        fail(n, "argument " + std::to_string(input) + " must be a constant number");
    }

    bool knownBool(const Node* n, size_t input) const {
        const auto v = known(n->input(input));
        if (!v || !v->isBool())
            fail(n, "argument " + std::to_string(input) + " must be a constant boolean");
        return v->toBool();
    }

    std::vector<int64_t> knownInts(const Node* n, size_t input) const {
        const auto v = known(n->input(input));
        if (v && v->isIntList())
            return v->toIntVector();
        if (v && v->isInt())
            return {v->toInt()};
        fail(n, "argument " + std::to_string(input) + " must be a constant list of integers");
    }

    bool isNone(const Value* v) const {
        const auto k = known(v);
        return k && k->isNone();
    }

    // The ONNX tensor holding a value: a translated node's output, a parameter (as an
    // initializer, dequantized through DequantizeLinear when it is a quantized weight), or a
    // constant tensor or number.
    std::string tensor(const Value* v) {
        if (auto it = names_.find(v); it != names_.end())
            return it->second;
        const int p = graph_.paramOf(v);
        if (p >= 0) {
            const std::string name = param(p);
            names_[v] = name;
            return name;
        }
        if (const auto k = known(v)) {
            std::string name;
            if (k->isTensor())
                name = floatInit("const", k->toTensor());
            else if (k->isDouble() || k->isInt())
                name = scalar(k->isDouble() ? k->toDouble() : static_cast<double>(k->toInt()));
            if (!name.empty()) {
                names_[v] = name;
                return name;
            }
        }
        fail(v->node(), "its value '" + v->debugName() + "' has no ONNX translation");
    }

    std::string param(int p) {
        if (auto it = paramNames_.find(p); it != paramNames_.end())
            return it->second;
        const std::string pyName = params_.name(static_cast<size_t>(p));
        std::string name;
        const auto w = weights_.find(p);
        if (w == weights_.end()) {
            name = floatInit(pyName, params_.tensor(static_cast<size_t>(p)));
        } else {
            name = dequantizedWeight(pyName, w->second);
        }
        paramNames_[p] = name;
        return name;
    }

    std::string dequantizedWeight(const std::string& pyName, const QuantizedWeight& q) {
        const at::Tensor codes = q.codes.detach().to(at::kCPU, at::kLong).contiguous();
        const at::Tensor s = q.inverseStep.detach().to(at::kCPU, at::kDouble).flatten();
        const at::Tensor z = q.zero.detach().to(at::kCPU, at::kDouble).flatten();
        if (s.numel() != z.numel() || (s.numel() != 1 && s.numel() != codes.size(0)))
            throw Error("ONNX export: " + pyName + ": " + std::to_string(s.numel()) +
                        " scales for " + std::to_string(codes.size(0)) + " output channels");
        const int64_t half = int64_t{1} << (q.bits - 1);
        if (q.bits > 8)
            throw Error("ONNX export: " + pyName + " has " + std::to_string(q.bits) +
                        "-bit weights; int8 holds at most 8 bits");
        std::vector<int64_t> values(codes.data_ptr<int64_t>(),
                                    codes.data_ptr<int64_t>() + codes.numel());
        for (int64_t c : values)
            if (c < -half || c > half - 1)
                throw Error("ONNX export: " + pyName + " has a code outside its " +
                            std::to_string(q.bits) + "-bit range");
        // w^ = (code + z) / s = (code - (-z)) * (1/s): DequantizeLinear with zero point -z.
        const int64_t channels = s.numel();
        std::vector<int64_t> zeroPoints;
        std::vector<float> scales;
        OnnxExport::Encoding e;
        e.isParam = true;
        e.bits = q.bits;
        for (int64_t c = 0; c < channels; ++c) {
            const double zc = z[c].item<double>();
            const double sc = s[c].item<double>();
            const auto zp = static_cast<int64_t>(std::llround(-zc));
            if (zp < -128 || zp > 127)
                throw Error("ONNX export: " + pyName + ": channel " + std::to_string(c) +
                            " has zero point " + std::to_string(zp) + ", outside int8");
            zeroPoints.push_back(zp);
            scales.push_back(static_cast<float>(1.0 / sc));
            e.scale.push_back(1.0 / sc);
            e.offset.push_back(zc - static_cast<double>(half));
            e.min.push_back((static_cast<double>(-half) + zc) / sc);
            e.max.push_back((static_cast<double>(half - 1) + zc) / sc);
        }
        const std::string q8 =
            intInit(pyName + "_quantized", OnnxType::Int8, codes.sizes().vec(), std::move(values));
        OnnxTensor scale;
        scale.name = fresh(pyName + "_scale");
        scale.dims = channels > 1 ? std::vector<int64_t>{channels} : std::vector<int64_t>{};
        scale.floats = scales;
        out_.model.initializers.push_back(scale);
        const std::string zpName =
            intInit(pyName + "_zero_point", OnnxType::Int8, scale.dims, zeroPoints);
        const std::string name = fresh(pyName);
        std::vector<OnnxAttribute> attrs;
        if (channels > 1)
            attrs.push_back(intAttr("axis", 0));
        add("DequantizeLinear", {q8, scale.name, zpName}, {name}, std::move(attrs));
        e.tensor = q8;
        out_.encodings.push_back(std::move(e));
        return name;
    }

    // A 1-D int64 tensor from a list of integers, some of which may be computed (x.size(0)).
    std::string shapeTensor(const Node* n, const Value* list) {
        if (const auto k = known(list); k && k->isIntList())
            return int64s(k->toIntVector());
        const auto it = lists_.find(list);
        if (it == lists_.end())
            fail(n, "its shape is neither a constant nor a list");
        std::vector<std::string> parts;
        for (const Value* e : it->second) {
            if (const auto k = known(e); k && k->isInt()) {
                parts.push_back(int64s({k->toInt()}));
                continue;
            }
            parts.push_back(addOut("Unsqueeze", {tensor(e), int64s({0})}));
        }
        return addOut("Concat", parts, {intAttr("axis", 0)});
    }

    void alias(const Node* n, size_t input = 0) { names_[n->output(0)] = tensor(n->input(input)); }

    void output(const Node* n, const std::string& op, std::vector<std::string> inputs,
                std::vector<OnnxAttribute> attrs = {}) {
        names_[n->output(0)] = addOut(op, std::move(inputs), std::move(attrs));
    }

    // After an activation layer with a quantizer: QuantizeLinear -> Clip -> DequantizeLinear on
    // the grid x^ = (clamp(round(s*x - z), -2^(b-1), 2^(b-1) - 1) + z) / s (zero point -z).
    void quantizeActivation(const Node* n, const ActivationQuantizer& q) {
        const int64_t half = int64_t{1} << (q.bits - 1);
        const auto zp = static_cast<int64_t>(std::llround(-q.zero));
        if (q.bits > 8 || zp < -128 || zp > 127)
            fail(n, "its activation grid (" + std::to_string(q.bits) + " bits, zero point " +
                        std::to_string(zp) + ") does not fit int8");
        const std::string y = tensor(n->output(0));
        const std::string scale = scalar(1.0 / q.inverseStep);
        const std::string zero = intInit("zero_point", OnnxType::Int8, {}, {zp});
        std::string codes = addOut("QuantizeLinear", {y, scale, zero});
        if (q.bits < 8)
            codes = addOut("Clip", {codes, intInit("min", OnnxType::Int8, {}, {-half}),
                                    intInit("max", OnnxType::Int8, {}, {half - 1})});
        const std::string back = addOut("DequantizeLinear", {codes, scale, zero});
        names_[n->output(0)] = back;
        OnnxExport::Encoding e;
        e.tensor = y;
        e.bits = q.bits;
        e.scale = {1.0 / q.inverseStep};
        e.offset = {q.zero - static_cast<double>(half)};
        e.min = {(static_cast<double>(-half) + q.zero) / q.inverseStep};
        e.max = {(static_cast<double>(half - 1) + q.zero) / q.inverseStep};
        out_.encodings.push_back(std::move(e));
    }

    void translate(const Node* n);
    void translateActivation(const Node* n, const std::string& k);

    const Graph& graph_;
    const ParamStore& params_;
    const std::map<int, QuantizedWeight>& weights_;
    std::map<int, ActivationQuantizer> activations_;
    OnnxExport out_;
    std::unordered_set<const Node*> needed_;
    std::unordered_set<const Node*> static_;  // nodes whose outputs do not depend on the input
    std::unordered_map<const Value*, std::vector<int64_t>> shapes_;  // tensors' sizes at batch 3
    std::unordered_map<const Node*, const Node*> foldOf_;  // conv -> the BatchNorm folded into it
    bool foldBatchNorm_ = false;
    std::unordered_map<const Value*, std::string> names_;
    std::unordered_map<const Value*, c10::IValue> known_;
    std::unordered_map<const Value*, std::vector<const Value*>> lists_;
    std::unordered_map<int, std::string> paramNames_;
    int counter_ = 0;
};

void Builder::translateActivation(const Node* n, const std::string& k) {
    const std::string x = tensor(n->input(0));
    if (k == "relu") {
        output(n, "Relu", {x});
    } else if (k == "relu6") {
        output(n, "Clip", {x, scalar(0), scalar(6)});
    } else if (k == "hardtanh") {
        output(n, "Clip", {x, scalar(knownDouble(n, 1)), scalar(knownDouble(n, 2))});
    } else if (k == "leaky_relu") {
        output(n, "LeakyRelu", {x}, {floatAttr("alpha", knownDouble(n, 1))});
    } else if (k == "hardsigmoid") {
        output(n, "HardSigmoid", {x}, {floatAttr("alpha", 1.0 / 6), floatAttr("beta", 0.5)});
    } else if (k == "hardswish") {
        // x * relu6(x + 3) / 6 = x * hardsigmoid(x) (HardSwish itself needs opset 14).
        const std::string h =
            addOut("HardSigmoid", {x}, {floatAttr("alpha", 1.0 / 6), floatAttr("beta", 0.5)});
        output(n, "Mul", {x, h});
    } else if (k == "sigmoid") {
        output(n, "Sigmoid", {x});
    } else if (k == "tanh") {
        output(n, "Tanh", {x});
    } else if (k == "silu") {
        output(n, "Mul", {x, addOut("Sigmoid", {x})});
    } else if (k == "gelu") {
        const auto approximate = n->inputs().size() > 1 ? known(n->input(1)) : std::nullopt;
        if (approximate && approximate->isString() && approximate->toStringRef() != "none")
            fail(n, "GELU with approximate='" + approximate->toStringRef() +
                        "' is not exported (only the exact form)");
        // 0.5 * x * (1 + erf(x / sqrt(2)))
        const std::string e = addOut("Erf", {addOut("Div", {x, scalar(std::sqrt(2.0))})});
        const std::string one = addOut("Add", {e, scalar(1)});
        output(n, "Mul", {addOut("Mul", {x, one}), scalar(0.5)});
    } else if (k == "elu") {
        if (knownDouble(n, 2) != 1 || knownDouble(n, 3) != 1)
            fail(n, "ELU with a scale is not exported");
        output(n, "Elu", {x}, {floatAttr("alpha", knownDouble(n, 1))});
    } else {
        fail(n, "this activation has no ONNX translation");
    }
}

void Builder::translate(const Node* n) {
    const auto kind = n->kind();
    if (static_.count(n))
        return;  // its outputs are constants (findStaticValues)
    if (!n->blocks().empty())
        fail(n, "control flow that depends on the input cannot be exported");
    if (kind == c10::prim::Constant) {
        if (const auto v = torch::jit::toIValue(n->output()))
            known_[n->output()] = *v;
        return;
    }
    if (kind == c10::prim::GetAttr)
        return;  // a submodule, or a parameter: an initializer where it is read
    if (kind == c10::prim::ListConstruct) {
        bool allKnown = true;
        std::vector<const Value*> elements;
        for (const Value* v : n->inputs()) {
            elements.push_back(v);
            allKnown = allKnown && known(v).has_value();
        }
        const auto element = n->output()->type()->containedType(0)->kind();
        if (allKnown && element == c10::TypeKind::IntType) {
            std::vector<int64_t> ints;
            for (const Value* v : n->inputs())
                ints.push_back(known(v)->toInt());
            known_[n->output()] = c10::IValue(ints);
        } else if (allKnown && element == c10::TypeKind::FloatType) {
            std::vector<double> floats;
            for (const Value* v : n->inputs())
                floats.push_back(known(v)->toDouble());
            known_[n->output()] = c10::IValue(floats);
        }
        lists_[n->output()] = elements;
        return;
    }
    if (kind == c10::prim::NumToTensor || kind == c10::aten::Int || kind == c10::prim::ListUnpack) {
        if (kind == c10::prim::ListUnpack)
            fail(n, "unpacking a list is not exported");
        if (const auto k = known(n->input(0))) {
            known_[n->output(0)] = *k;
            return;
        }
        alias(n);
        return;
    }

    const std::string k = kindName(n);
    const std::string raw = kind.toUnqualString();
    if (kind.is_aten() && raw.size() > 2 && raw.back() == '_' && raw[raw.size() - 2] != '_')
        fail(n, "an in-place operation on a tensor that is read elsewhere is not exported");
    const int layer = graph_.layerOf(n);
    if (k == "contiguous" || k == "dropout" || k == "detach" || k == "clone" ||
        k == "feature_dropout" || k == "alpha_dropout") {
        alias(n);
    } else if (k == "size") {
        const std::string shape = addOut("Shape", {tensor(n->input(0))});
        if (n->inputs().size() == 1) {
            names_[n->output(0)] = shape;
        } else {
            const std::string index =
                intInit("const", OnnxType::Int64, {}, {knownInt(n, 1)});  // a scalar: 0-D out
            output(n, "Gather", {shape, index}, {intAttr("axis", 0)});
        }
    } else if (k == "_convolution" || k == "conv1d" || k == "conv2d" || k == "conv3d") {
        if (k == "_convolution" && knownBool(n, 6))
            fail(n, "transposed convolutions are not exported");
        const std::string x = tensor(n->input(0));
        const auto fold = foldOf_.find(n);
        const auto folded = fold != foldOf_.end() ? foldedConv(n, fold->second)
                                                  : std::pair<std::string, std::string>();
        const std::string w = folded.first.empty() ? tensor(n->input(1)) : folded.first;
        const int p = graph_.paramOf(n->input(1));
        const int64_t spatial = p >= 0 ? params_.tensor(static_cast<size_t>(p)).dim() - 2
                                       : (k == "conv1d"   ? 1
                                          : k == "conv3d" ? 3
                                                          : 2);
        std::vector<OnnxAttribute> attrs;
        if (p >= 0) {
            const auto sizes = params_.tensor(static_cast<size_t>(p)).sizes().vec();
            attrs.push_back(intsAttr("kernel_shape", {sizes.begin() + 2, sizes.end()}));
        }
        auto expand = [&](std::vector<int64_t> v) {
            if (v.size() == 1)
                v.assign(static_cast<size_t>(spatial), v[0]);
            return v;
        };
        attrs.push_back(intsAttr("strides", expand(knownInts(n, 3))));
        const auto padding = known(n->input(4));
        if (padding && padding->isString()) {
            if (padding->toStringRef() == "same")
                attrs.push_back([] {
                    OnnxAttribute a;
                    a.kind = OnnxAttribute::Kind::String;
                    a.name = "auto_pad";
                    a.s = "SAME_UPPER";
                    return a;
                }());
        } else {
            auto pads = expand(knownInts(n, 4));
            std::vector<int64_t> both = pads;
            both.insert(both.end(), pads.begin(), pads.end());
            attrs.push_back(intsAttr("pads", both));
        }
        attrs.push_back(intsAttr("dilations", expand(knownInts(n, 5))));
        attrs.push_back(intAttr("group", knownInt(n, k == "_convolution" ? 8 : 6)));
        std::vector<std::string> inputs{x, w};
        if (!folded.second.empty())
            inputs.push_back(folded.second);
        else if (!isNone(n->input(2)))
            inputs.push_back(tensor(n->input(2)));
        output(n, "Conv", inputs, std::move(attrs));
        if (fold != foldOf_.end())
            names_[fold->second->output(0)] = names_[n->output(0)];
    } else if (k == "linear") {
        const std::string wt =
            addOut("Transpose", {tensor(n->input(1))}, {intsAttr("perm", {1, 0})});
        std::string y = addOut("MatMul", {tensor(n->input(0)), wt});
        if (!isNone(n->input(2)))
            y = addOut("Add", {y, tensor(n->input(2))});
        names_[n->output(0)] = y;
    } else if (k == "t") {
        output(n, "Transpose", {tensor(n->input(0))}, {intsAttr("perm", {1, 0})});
    } else if (k == "matmul") {
        output(n, "MatMul", {tensor(n->input(0)), tensor(n->input(1))});
    } else if (k == "addmm") {
        output(n, "Gemm", {tensor(n->input(1)), tensor(n->input(2)), tensor(n->input(0))},
               {floatAttr("beta", knownDouble(n, 3)), floatAttr("alpha", knownDouble(n, 4))});
    } else if (k == "batch_norm" && names_.count(n->output(0))) {
        // folded into the convolution before it (foldedConv)
    } else if (k == "batch_norm") {
        const int pm = graph_.paramOf(n->input(3));
        if (pm < 0 || isNone(n->input(4)))
            fail(n, "BatchNorm without running statistics is not exported");
        const int64_t channels = params_.tensor(static_cast<size_t>(pm)).numel();
        const std::string scale =
            isNone(n->input(1)) ? floatInit("bn_scale", at::ones({channels})) : tensor(n->input(1));
        const std::string bias =
            isNone(n->input(2)) ? floatInit("bn_bias", at::zeros({channels})) : tensor(n->input(2));
        output(n, "BatchNormalization",
               {tensor(n->input(0)), scale, bias, tensor(n->input(3)), tensor(n->input(4))},
               {floatAttr("epsilon", knownDouble(n, 7))});
    } else if (k == "add" || k == "sub") {
        std::string b = tensor(n->input(1));
        if (n->inputs().size() > 2 && knownDouble(n, 2) != 1)
            b = addOut("Mul", {b, scalar(knownDouble(n, 2))});
        output(n, k == "add" ? "Add" : "Sub", {tensor(n->input(0)), b});
    } else if (k == "mul" || k == "div") {
        if (k == "div" && n->inputs().size() > 2 && !isNone(n->input(2)))
            fail(n, "division with a rounding mode is not exported");
        output(n, k == "mul" ? "Mul" : "Div", {tensor(n->input(0)), tensor(n->input(1))});
    } else if (k == "cat") {
        const auto it = lists_.find(n->input(0));
        if (it == lists_.end())
            fail(n, "its tensors are not a list built in the graph");
        std::vector<std::string> parts;
        for (const Value* v : it->second)
            parts.push_back(tensor(v));
        output(n, "Concat", parts, {intAttr("axis", knownInt(n, 1))});
    } else if (k == "flatten") {
        const int64_t start = knownInt(n, 1), end = knownInt(n, 2);
        if (end != -1 || (start != 1 && start != 0))
            fail(n, "only flatten(x, 1) and flatten(x, 0) are exported");
        if (start == 1)
            output(n, "Flatten", {tensor(n->input(0))}, {intAttr("axis", 1)});
        else
            output(n, "Reshape", {tensor(n->input(0)), int64s({-1})});
    } else if (k == "view" || k == "reshape") {
        output(n, "Reshape", {tensor(n->input(0)), shapeTensor(n, n->input(1))});
    } else if (k == "mean") {
        if (n->inputs().size() > 3 && !isNone(n->input(3)))
            fail(n, "mean with a dtype is not exported");
        output(n, "ReduceMean", {tensor(n->input(0))},
               {intsAttr("axes", knownInts(n, 1)), intAttr("keepdims", knownBool(n, 2))});
    } else if (k == "adaptive_avg_pool2d" || k == "adaptive_avg_pool1d") {
        const auto sizes = knownInts(n, 1);
        if (std::all_of(sizes.begin(), sizes.end(), [](int64_t v) { return v == 1; })) {
            output(n, "GlobalAveragePool", {tensor(n->input(0))});
        } else {
            // An even split of the input (known from findStaticValues) is a plain average pool.
            const auto in = shapes_.find(n->input(0));
            std::vector<int64_t> kernel;
            for (size_t d = 0; in != shapes_.end() && d < sizes.size(); ++d) {
                const int64_t size = in->second[in->second.size() - sizes.size() + d];
                if (sizes[d] <= 0 || size % sizes[d] != 0)
                    break;
                kernel.push_back(size / sizes[d]);
            }
            if (kernel.size() != sizes.size())
                fail(n,
                     "adaptive average pooling to a size that does not divide its input "
                     "evenly has no ONNX operator");
            std::vector<int64_t> pads(2 * kernel.size(), 0);
            output(n, "AveragePool", {tensor(n->input(0))},
                   {intsAttr("kernel_shape", kernel), intsAttr("strides", kernel),
                    intsAttr("pads", pads)});
        }
    } else if (k == "avg_pool2d" || k == "max_pool2d") {
        const bool avg = k == "avg_pool2d";
        const auto kernel = knownInts(n, 1);
        auto stride = knownInts(n, 2);
        if (stride.empty())
            stride = kernel;
        auto pads = knownInts(n, 3);
        auto two = [](std::vector<int64_t> v) {
            if (v.size() == 1)
                v.push_back(v[0]);
            return v;
        };
        std::vector<int64_t> both = two(pads);
        both.insert(both.end(), both.begin(), both.end());
        std::vector<OnnxAttribute> attrs{intsAttr("kernel_shape", two(kernel)),
                                         intsAttr("strides", two(stride)), intsAttr("pads", both)};
        if (avg) {
            attrs.push_back(intAttr("ceil_mode", knownBool(n, 4)));
            attrs.push_back(intAttr("count_include_pad", knownBool(n, 5)));
            if (n->inputs().size() > 6 && !isNone(n->input(6)))
                fail(n, "average pooling with a divisor override is not exported");
        } else {
            attrs.push_back(intsAttr("dilations", two(knownInts(n, 4))));
            attrs.push_back(intAttr("ceil_mode", knownBool(n, 5)));
        }
        output(n, avg ? "AveragePool" : "MaxPool", {tensor(n->input(0))}, std::move(attrs));
    } else if (k == "slice") {
        const int64_t dim = knownInt(n, 1);
        const int64_t start = isNone(n->input(2)) ? 0 : knownInt(n, 2);
        const int64_t end =
            isNone(n->input(3)) ? std::numeric_limits<int64_t>::max() : knownInt(n, 3);
        output(n, "Slice",
               {tensor(n->input(0)), int64s({start}), int64s({end}), int64s({dim}),
                int64s({knownInt(n, 4)})});
    } else if (k == "pad" || k == "constant_pad_nd") {
        const auto p = knownInts(n, 1);
        double value = 0;
        if (k == "pad") {
            const auto mode = known(n->input(2));
            if (mode && mode->isString() && mode->toStringRef() != "constant")
                fail(n, "only constant padding is exported");
            if (n->inputs().size() > 3 && !isNone(n->input(3)))
                value = knownDouble(n, 3);
        } else if (n->inputs().size() > 2) {
            value = knownDouble(n, 2);
        }
        // PyTorch lists (begin, end) from the last dimension backwards; ONNX all begins, then
        // all ends, from the first. The models here are N x C x H x W.
        if (p.size() % 2 || p.size() > 8)
            fail(n, "padding of more than four dimensions is not exported");
        std::vector<int64_t> pads(8, 0);
        for (size_t i = 0; i < p.size() / 2; ++i) {
            pads[3 - i] = p[2 * i];
            pads[7 - i] = p[2 * i + 1];
        }
        output(n, "Pad", {tensor(n->input(0)), int64s(pads), scalar(value)});
    } else if (k == "softmax") {
        output(n, "Softmax", {tensor(n->input(0))}, {intAttr("axis", knownInt(n, 1))});
    } else if (layer >= 0 &&
               graph_.layers()[static_cast<size_t>(layer)].role == LayerRole::Activation) {
        translateActivation(n, k);
    } else {
        fail(n, "no ONNX translation in this exporter");
    }
    if (layer >= 0) {
        const auto q = activations_.find(layer);
        if (q != activations_.end())
            quantizeActivation(n, q->second);
    }
}

}  // namespace

OnnxExport buildOnnx(const Graph& graph, const ParamStore& params,
                     const std::map<int, QuantizedWeight>& weights,
                     const std::vector<ActivationQuantizer>& activations,
                     const std::vector<int64_t>& inputShape, const OnnxExportOptions& options) {
    at::NoGradGuard noGrad;
    if (options.opset < 13 || options.opset > 17)
        throw Error("ONNX export: opset " + std::to_string(options.opset) +
                    " is not supported: per-channel DequantizeLinear needs 13 or later, and "
                    "ReduceMean's axes attribute ends at 17");
    return Builder(graph, params, weights, activations, options.foldBatchNorm)
        .build(inputShape, options.opset);
}

}  // namespace dfq::model
