#include "export.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <filesystem>
#include <functional>
#include <sstream>
#include <unordered_map>

#include "../error.h"
#include "../safe_io.h"

namespace dfq::model {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

namespace {

// Pairs every node of `a`, in execution order, with the node at the same place in its copy `b`.
void pairNodes(const Block* a, Block* b, std::vector<std::pair<const Node*, Node*>>& out) {
    auto ia = a->nodes().begin();
    auto ib = b->nodes().begin();
    for (; ia != a->nodes().end() && ib != b->nodes().end(); ++ia, ++ib) {
        out.emplace_back(*ia, *ib);
        for (size_t k = 0; k < ia->blocks().size(); ++k)
            pairNodes(ia->blocks()[k], ib->blocks()[k], out);
    }
    if (ia != a->nodes().end() || ib != b->nodes().end())
        throw Error("TorchScript export: the graph copy does not match the graph");
}

std::string attributeName(const std::string& name) {
    std::string s = name;
    for (char& c : s)
        if (c == '.')
            c = '_';
    return s;
}

// fake_quantize_per_tensor_affine with PyTorch's parameters when the zero point fits its range,
// else the same grid as plain arithmetic.
Value* insertFakeQuant(torch::jit::Graph& g, Value* y, const ActivationQuantizer& q) {
    const int64_t half = int64_t{1} << (q.bits - 1);
    const auto zero = static_cast<int64_t>(q.zero);
    const int64_t zeroPoint = -zero;
    if (zeroPoint >= -half && zeroPoint <= half - 1)
        return g.insert(c10::Symbol::aten("fake_quantize_per_tensor_affine"),
                        {y, 1.0 / q.inverseStep, zeroPoint, -half, half - 1});
    Value* v = g.insert(c10::Symbol::aten("mul"), {y, q.inverseStep});
    v = g.insert(c10::Symbol::aten("sub"), {v, static_cast<double>(zero)});
    v = g.insert(c10::Symbol::aten("round"), {v});
    v = g.insert(c10::Symbol::aten("clamp"),
                 {v, static_cast<double>(-half), static_cast<double>(half - 1)});
    v = g.insert(c10::Symbol::aten("add"), {v, static_cast<double>(zero)});
    return g.insert(c10::Symbol::aten("div"), {v, q.inverseStep});
}

}  // namespace

void exportTorchScript(const Graph& graph, const ParamStore& params,
                       const std::vector<ActivationQuantizer>& activations, const ModelMeta& meta,
                       const std::string& path) {
    at::NoGradGuard noGrad;
    const std::shared_ptr<torch::jit::Graph> src = graph.jitGraph();
    std::shared_ptr<torch::jit::Graph> g = src->copy();
    // In graph order, so that attributes are registered in the same order on every export.
    std::vector<std::pair<const Node*, Node*>> nodes;
    pairNodes(src->block(), g->block(), nodes);
    const std::unordered_map<const Node*, Node*> copyOf(nodes.begin(), nodes.end());

    torch::jit::Module module("__torch__.dfq.QuantizedStudent");
    if (!module.hasattr("training"))
        module.register_attribute("training", c10::BoolType::get(), false);
    Value* self = g->inputs().at(0);
    self->setType(module.type());

    // Every tensor read becomes one attribute read on self.
    std::vector<bool> registered(params.size(), false);
    for (const auto& [a, b] : nodes) {
        for (size_t k = 0; k < a->outputs().size(); ++k) {
            const int p = graph.paramOf(a->outputs()[k]);
            if (p < 0)
                continue;
            const std::string name = attributeName(params.name(static_cast<size_t>(p)));
            if (!registered[p]) {
                const at::Tensor t = params.tensor(static_cast<size_t>(p)).detach().cpu().clone();
                if (params.isBuffer(static_cast<size_t>(p)))
                    module.register_buffer(name, t);
                else
                    module.register_parameter(name, t, /*is_buffer=*/false);
                registered[p] = true;
            }
            torch::jit::WithInsertPoint guard(b);
            Value* read = g->insertGetAttr(self, name);
            b->outputs()[k]->replaceAllUsesWith(read);
        }
    }
    for (const auto& q : activations) {
        if (q.layer < 0 || q.layer >= static_cast<int>(graph.layers().size()))
            throw Error("TorchScript export: no layer " + std::to_string(q.layer));
        Node* n = copyOf.at(graph.layers()[q.layer].node);
        Value* y = n->output(0);
        torch::jit::WithInsertPoint guard(n->next());
        Value* out = insertFakeQuant(*g, y, q);
        y->replaceAllUsesAfterNodeWith(out->node(), out);
    }
    torch::jit::EliminateDeadCode(g);
    g->lint();

    auto fn = module._ivalue()->compilation_unit()->create_function(
        c10::QualifiedName(*module.type()->name(), "forward"), g);
    module.type()->addMethod(fn);
    module.setattr("training", false);

    // Serialized in memory, then written with checked writes and its SHA-256 beside it, so a
    // full disk is an error naming the file and never leaves half a file behind.
    std::ostringstream bytes;
    try {
        module.save(bytes, {{"dfq_meta.json", meta.toJson()}});
    } catch (const std::exception& e) {
        throw Error("TorchScript export to " + path + " failed: " + e.what());
    }
    io::writeFileWithChecksum(path, bytes.str());
}

}  // namespace dfq::model
