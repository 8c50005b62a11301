#include "graph.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <functional>
#include <optional>

#include "../error.h"

namespace dfq::model {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

const char* activationName(ActivationKind kind) {
    switch (kind) {
        case ActivationKind::None:
            return "None";
        case ActivationKind::ReLU:
            return "ReLU";
        case ActivationKind::ReLU6:
            return "ReLU6";
        case ActivationKind::Hardtanh:
            return "Hardtanh";
        case ActivationKind::LeakyReLU:
            return "LeakyReLU";
        case ActivationKind::Hardswish:
            return "Hardswish";
        case ActivationKind::Hardsigmoid:
            return "Hardsigmoid";
        case ActivationKind::Sigmoid:
            return "Sigmoid";
        case ActivationKind::Tanh:
            return "Tanh";
        case ActivationKind::SiLU:
            return "SiLU";
        case ActivationKind::GELU:
            return "GELU";
        case ActivationKind::ELU:
            return "ELU";
    }
    return "?";
}

int ParamStore::add(const std::string& name, const at::Tensor& tensor, bool isBuffer) {
    const int idx = static_cast<int>(tensors_.size());
    names_.push_back(name);
    tensors_.push_back(tensor);
    isBuffer_.push_back(isBuffer);
    index_[name] = idx;
    return idx;
}

int ParamStore::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? -1 : it->second;
}

ParamStore ParamStore::clone() const {
    ParamStore copy = *this;
    for (auto& t : copy.tensors_)
        t = t.detach().clone();
    return copy;
}

namespace {

std::string joinPath(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

std::string stripSuffix(const std::string& s, const std::string& suffix) {
    if (s.size() >= suffix.size() &&
        s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
        return s.substr(0, s.size() - suffix.size() - (s.size() > suffix.size() ? 1 : 0));
    return s;
}

std::optional<double> constantDouble(const Value* v) {
    auto iv = torch::jit::toIValue(v);
    if (!iv)
        return std::nullopt;
    if (iv->isDouble())
        return iv->toDouble();
    if (iv->isInt())
        return static_cast<double>(iv->toInt());
    return std::nullopt;
}

ActivationKind activationKindOf(const Node* n) {
    std::string name = n->kind().toUnqualString();
    if (!name.empty() && name.back() == '_')
        name.pop_back();
    if (name == "relu")
        return ActivationKind::ReLU;
    if (name == "relu6")
        return ActivationKind::ReLU6;
    if (name == "hardtanh") {
        auto lo = constantDouble(n->input(1));
        auto hi = constantDouble(n->input(2));
        if (lo && hi && *lo == 0.0 && *hi == 6.0)
            return ActivationKind::ReLU6;
        return ActivationKind::Hardtanh;
    }
    if (name == "leaky_relu")
        return ActivationKind::LeakyReLU;
    if (name == "hardswish")
        return ActivationKind::Hardswish;
    if (name == "hardsigmoid")
        return ActivationKind::Hardsigmoid;
    if (name == "sigmoid")
        return ActivationKind::Sigmoid;
    if (name == "tanh")
        return ActivationKind::Tanh;
    if (name == "silu")
        return ActivationKind::SiLU;
    if (name == "gelu")
        return ActivationKind::GELU;
    if (name == "elu")
        return ActivationKind::ELU;
    return ActivationKind::None;
}

bool isConvKind(const Node* n) {
    const auto k = n->kind();
    if (k == c10::Symbol::aten("_convolution")) {
        auto transposed = torch::jit::toIValue(n->input(6));
        return transposed && transposed->isBool() && !transposed->toBool();
    }
    return k == c10::Symbol::aten("conv1d") || k == c10::Symbol::aten("conv2d") ||
           k == c10::Symbol::aten("conv3d");
}

bool returnsAlias(const Node* n) {
    const auto* schema = n->maybeSchema();
    if (!schema)
        return true;
    for (const auto& ret : schema->returns())
        if (ret.alias_info())
            return true;
    return false;
}

// Rewrites in-place aten ops (relu_, add_, hardtanh_, ...) into their out-of-place forms, so
// autograd and the layer hooks see fresh tensors. Only where the mutated tensor is an
// intermediate that nothing else can alias: produced by an op returning a new tensor and never
// viewed. Later readers of the mutated tensor read the new result instead. Unlike the JIT's
// mutation-removal pass this keeps the nodes in execution order.
void functionalizeInPlaceOps(Block* block) {
    for (auto it = block->nodes().begin(); it != block->nodes().end();) {
        Node* n = *it;
        ++it;
        for (Block* sub : n->blocks())
            functionalizeInPlaceOps(sub);
        if (!n->kind().is_aten() || n->outputs().size() != 1 || n->inputs().empty())
            continue;
        std::string name = n->kind().toUnqualString();
        if (name.size() < 2 || name.back() != '_' || name.compare(0, 2, "__") == 0)
            continue;
        Value* self = n->input(0);
        const Node* producer = self->node();
        if (producer->kind() == c10::prim::Param || producer->kind() == c10::prim::GetAttr ||
            returnsAlias(producer))
            continue;
        bool viewed = false;
        for (const auto& use : self->uses())
            viewed = viewed || (use.user != n && returnsAlias(use.user));
        if (viewed)
            continue;
        name.pop_back();
        Node* functional = block->owningGraph()->create(c10::Symbol::aten(name), n->inputs(), 1);
        functional->copyMetadata(n);
        functional->output()->setType(n->output()->type());
        functional->insertBefore(n);
        if (!functional->maybeOperator()) {
            functional->destroy();
            continue;
        }
        self->replaceAllUsesAfterNodeWith(n, functional->output());
        n->output()->replaceAllUsesWith(functional->output());
        n->destroy();
    }
}

bool containsFakeQuantization(const Block* block) {
    for (const Node* n : block->nodes()) {
        if (n->kind().is_aten() &&
            std::string(n->kind().toUnqualString()).rfind("fake_quantize", 0) == 0)
            return true;
        for (const Block* sub : n->blocks())
            if (containsFakeQuantization(sub))
                return true;
    }
    return false;
}

}  // namespace

std::shared_ptr<const Graph> Graph::fromModule(torch::jit::Module module,
                                               const std::string& sourceName) {
    auto method = module.find_method("forward");
    if (!method)
        throw Error(sourceName + ": the TorchScript module has no forward() method");
    auto g = std::shared_ptr<Graph>(new Graph());
    g->sourceName_ = sourceName;
    g->graph_ = method->graph()->copy();
    torch::jit::Inline(*g->graph_);
    g->resolveAttributes(module);
    g->findLayers();
    g->fakeQuantized_ = containsFakeQuantization(g->graph_->block());
    return g;
}

void Graph::resolveAttributes(const torch::jit::Module& module) {
    using ObjectPtr = c10::intrusive_ptr<c10::ivalue::Object>;
    std::unordered_map<const Value*, ObjectPtr> objects;
    std::unordered_map<const Value*, std::string> paths;

    // First pass: fold every attribute that is neither a tensor nor a module into a constant,
    // so that `self.training`, strides and padding modes propagate away.
    objects[graph_->inputs().at(0)] = module._ivalue();
    std::function<void(Block*)> fold = [&](Block* block) {
        for (auto it = block->nodes().begin(); it != block->nodes().end();) {
            Node* n = *it;
            ++it;
            for (Block* sub : n->blocks())
                fold(sub);
            if (n->kind() != c10::prim::GetAttr)
                continue;
            auto obj = objects.find(n->input(0));
            if (obj == objects.end())
                continue;
            const std::string& name = n->s(c10::attr::name);
            c10::IValue value = obj->second->getAttr(name);
            if (value.isObject()) {
                objects[n->output()] = value.toObject();
                continue;
            }
            if (value.isTensor())
                continue;
            torch::jit::WithInsertPoint guard(n);
            auto constant = torch::jit::tryInsertConstant(*graph_, value);
            if (!constant)
                continue;
            n->output()->replaceAllUsesWith(*constant);
            n->destroy();
        }
    };
    fold(graph_->block());
    torch::jit::ConstantPropagation(graph_);
    functionalizeInPlaceOps(graph_->block());
    torch::jit::EliminateDeadCode(graph_);

    // Second pass: map tensor attributes to parameter slots; anything else left is unsupported.
    objects.clear();
    objects[graph_->inputs().at(0)] = module._ivalue();
    paths[graph_->inputs().at(0)] = "";
    std::function<void(Block*)> map = [&](Block* block) {
        for (Node* n : block->nodes()) {
            if (n->kind() == c10::prim::GetAttr) {
                auto obj = objects.find(n->input(0));
                if (obj == objects.end())
                    throw Error(sourceName_ +
                                ": attribute read on a value that is not a module, at " +
                                describe(n));
                const std::string& name = n->s(c10::attr::name);
                const std::string path = joinPath(paths[n->input(0)], name);
                c10::IValue value = obj->second->getAttr(name);
                if (value.isObject()) {
                    objects[n->output()] = value.toObject();
                    paths[n->output()] = path;
                } else if (value.isTensor()) {
                    int idx = params_.find(path);
                    if (idx < 0) {
                        const auto& type = obj->second->type();
                        const bool isParam = type->is_parameter(type->getAttributeSlot(name));
                        idx = params_.add(path, value.toTensor(), !isParam);
                    }
                    paramOfValue_[n->output()] = idx;
                } else {
                    throw Error(sourceName_ + ": attribute '" + path + "' of type " +
                                value.type()->str() + " is not supported");
                }
            }
            for (Block* sub : n->blocks())
                map(sub);
        }
    };
    map(graph_->block());
}

void Graph::findLayers() {
    int convLinear = 0, bn = 0, act = 0;
    std::function<void(Block*)> visit = [&](Block* block) {
        for (Node* n : block->nodes()) {
            for (Block* sub : n->blocks())
                visit(sub);
            Layer layer;
            layer.node = n;
            layer.op = n->kind().toQualString();
            if (isConvKind(n) || n->kind() == c10::Symbol::aten("linear")) {
                layer.role = isConvKind(n) ? LayerRole::Conv : LayerRole::Linear;
                layer.roleIndex = convLinear++;
                layer.weightParam = paramOf(n->input(1));
                layer.biasParam = paramOf(n->input(2));
                layer.path = layer.weightParam >= 0
                                 ? stripSuffix(params_.name(layer.weightParam), "weight")
                                 : modulePath(n);
            } else if (n->kind() == c10::Symbol::aten("batch_norm")) {
                layer.role = LayerRole::BatchNorm;
                layer.roleIndex = bn++;
                layer.weightParam = paramOf(n->input(1));
                layer.biasParam = paramOf(n->input(2));
                layer.runningMeanParam = paramOf(n->input(3));
                layer.runningVarParam = paramOf(n->input(4));
                layer.path = layer.runningMeanParam >= 0
                                 ? stripSuffix(params_.name(layer.runningMeanParam), "running_mean")
                                 : modulePath(n);
            } else if (activationKindOf(n) != ActivationKind::None) {
                layer.role = LayerRole::Activation;
                layer.roleIndex = act++;
                layer.activation = activationKindOf(n);
                layer.path = modulePath(n);
            } else {
                continue;
            }
            layer.index = static_cast<int>(layers_.size());
            layerOfNode_[n] = layer.index;
            layers_.push_back(layer);
        }
    };
    visit(graph_->block());
}

int Graph::paramOf(const Value* v) const {
    auto it = paramOfValue_.find(v);
    return it == paramOfValue_.end() ? -1 : it->second;
}

int Graph::layerOf(const Node* n) const {
    auto it = layerOfNode_.find(n);
    return it == layerOfNode_.end() ? -1 : it->second;
}

int Graph::countRole(LayerRole role) const {
    int count = 0;
    for (const auto& l : layers_)
        count += l.role == role;
    return count;
}

std::string Graph::modulePath(const Node* n) {
    auto cs = n->callstack();
    if (!cs)
        return "";
    std::string path;
    for (const auto& entry : (*cs)->vec()) {
        const auto& info = std::get<torch::jit::kModuleInstanceInfo>(entry);
        if (!info)
            continue;
        const std::string name = info->instance_name();
        if (name.empty() || name == "SELF")
            continue;
        path = joinPath(path, name);
    }
    return path;
}

std::string Graph::describe(const Node* n) const {
    const std::string path = modulePath(n);
    const std::string op = n->kind().toQualString();
    return path.empty() ? op : path + " (" + op + ")";
}

}  // namespace dfq::model
