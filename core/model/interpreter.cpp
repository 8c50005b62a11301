#include "interpreter.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "../error.h"
#include "../precision.h"

namespace dfq::model {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

namespace {

enum class Kind {
    Op,
    Param,
    ListConstruct,
    TupleConstruct,
    ListUnpack,
    TupleUnpack,
    Uninitialized,
    Alias,  // prim::unchecked_cast and friends: the output is the input
    If,
    Loop,
};

// Functional ops that may write into their first input when nothing else can see it
// (Interpreter::runInPlace): the ReLUs and residual additions of a forward pass without
// gradients then reuse their input's memory instead of allocating and filling a new tensor.
enum class InPlace : uint8_t { None, Relu, Hardtanh, Add };

}  // namespace

struct Interpreter::Code {
    struct Instr {
        Kind kind = Kind::Op;
        const Node* node = nullptr;
        mutable torch::jit::Operation op{nullptr};
        std::vector<int> in;
        std::vector<int> out;
        std::vector<int> freeAfter;  // slots whose last reader in this block is this instruction
        InPlace inPlace = InPlace::None;  // set only where this is the first input's last reader
        int param = -1;
        int layer = -1;
        c10::TypePtr elementType;
        std::vector<Code> blocks;
    };
    std::vector<Instr> instrs;
    std::vector<int> inputs;
    std::vector<int> outputs;
};

namespace {

class Compiler {
  public:
    Compiler(const Graph& graph, std::vector<c10::IValue>& constants)
        : graph_(graph), constants_(constants) {}

    void compile(const Block* block, Interpreter::Code& code) {
        for (const Value* v : block->inputs())
            code.inputs.push_back(slot(v));
        std::unordered_map<const Node*, int> position;
        for (const Node* n : block->nodes()) {
            if (n->kind() == c10::prim::Constant) {
                constants_[slot(n->output())] = *torch::jit::toIValue(n->output());
                isConstant_.insert(n->output());
                continue;
            }
            if (n->kind() == c10::prim::GetAttr && graph_.paramOf(n->output()) < 0) {
                checkOnlyAttributeReads(n->output());
                continue;  // a submodule: only read through, never a runtime value
            }
            position[n] = static_cast<int>(code.instrs.size());
            code.instrs.push_back(compileNode(n));
        }
        for (const Value* v : block->outputs())
            code.outputs.push_back(slot(v));
        computeFrees(block, code, position);
        for (auto& ins : code.instrs)
            markInPlace(ins);
    }

    int slotCount() const { return static_cast<int>(slots_.size()); }

  private:
    int slot(const Value* v) {
        auto it = slots_.find(v);
        if (it != slots_.end())
            return it->second;
        const int s = static_cast<int>(slots_.size());
        slots_[v] = s;
        if (constants_.size() <= static_cast<size_t>(s))
            constants_.resize(s + 1);
        return s;
    }

    void checkOnlyAttributeReads(const Value* v) {
        for (const auto& use : v->uses()) {
            if (use.user->kind() != c10::prim::GetAttr)
                throw Error(graph_.sourceName() + ": a module object is passed to " +
                            graph_.describe(use.user) + ", which the workbench cannot run");
        }
    }

    Interpreter::Code::Instr compileNode(const Node* n) {
        Interpreter::Code::Instr ins;
        ins.node = n;
        for (const Value* v : n->inputs())
            ins.in.push_back(slot(v));
        for (const Value* v : n->outputs())
            ins.out.push_back(slot(v));
        ins.layer = graph_.layerOf(n);
        const auto kind = n->kind();
        if (kind == c10::prim::GetAttr) {
            ins.kind = Kind::Param;
            ins.param = graph_.paramOf(n->output());
            ins.in.clear();
        } else if (kind == c10::prim::If || kind == c10::prim::Loop) {
            ins.kind = kind == c10::prim::If ? Kind::If : Kind::Loop;
            for (const Block* b : n->blocks()) {
                ins.blocks.emplace_back();
                compile(b, ins.blocks.back());
            }
        } else if (kind == c10::prim::ListConstruct) {
            ins.kind = Kind::ListConstruct;
            ins.elementType = n->output()->type()->expectRef<c10::ListType>().getElementType();
        } else if (kind == c10::prim::TupleConstruct) {
            ins.kind = Kind::TupleConstruct;
        } else if (kind == c10::prim::ListUnpack) {
            ins.kind = Kind::ListUnpack;
        } else if (kind == c10::prim::TupleUnpack) {
            ins.kind = Kind::TupleUnpack;
        } else if (kind == c10::prim::Uninitialized) {
            ins.kind = Kind::Uninitialized;
        } else if (n->maybeOperator()) {
            ins.kind = Kind::Op;
            ins.op = n->getOperation();
        } else if (kind == c10::prim::unchecked_cast ||
                   kind == c10::prim::unchecked_unwrap_optional) {
            ins.kind = Kind::Alias;
        } else {
            throw Error(graph_.sourceName() + ": op " + graph_.describe(n) +
                        " has no operator the workbench can run");
        }
        return ins;
    }

    static void markInPlace(Interpreter::Code::Instr& ins) {
        if (ins.kind != Kind::Op || ins.in.empty() || ins.out.size() != 1)
            return;
        const auto kind = ins.node->kind();
        InPlace candidate = InPlace::None;
        if (kind == c10::aten::relu && ins.in.size() == 1)
            candidate = InPlace::Relu;
        else if (kind == c10::aten::hardtanh && ins.in.size() == 3)
            candidate = InPlace::Hardtanh;
        else if (kind == c10::aten::add && ins.in.size() == 3 &&
                 ins.node->input(1)->type()->kind() == c10::TypeKind::TensorType)
            candidate = InPlace::Add;
        const int self = ins.in[0];
        const bool lastRead =
            std::find(ins.freeAfter.begin(), ins.freeAfter.end(), self) != ins.freeAfter.end();
        if (lastRead && std::count(ins.in.begin(), ins.in.end(), self) == 1)
            ins.inPlace = candidate;
    }

    // Frees each value after its last reader so a forward pass holds only live activations.
    void computeFrees(const Block* block, Interpreter::Code& code,
                      const std::unordered_map<const Node*, int>& position) {
        auto release = [&](const Value* v, int definedAt) {
            if (isConstant_.count(v))
                return;
            int last = definedAt;
            for (const auto& use : v->uses()) {
                const Node* user = use.user;
                while (user && user->owningBlock() != block)
                    user = user->owningBlock()->owningNode();
                if (!user || user == block->return_node())
                    return;  // a block output: kept
                auto it = position.find(user);
                if (it == position.end())
                    return;
                last = std::max(last, it->second);
            }
            if (last >= 0)
                code.instrs[last].freeAfter.push_back(slots_.at(v));
        };
        for (const Value* v : block->inputs())
            release(v, -1);
        for (const Node* n : block->nodes()) {
            auto it = position.find(n);
            if (it == position.end())
                continue;
            for (const Value* v : n->outputs())
                release(v, it->second);
        }
    }

    const Graph& graph_;
    std::vector<c10::IValue>& constants_;
    std::unordered_map<const Value*, int> slots_;
    std::unordered_set<const Value*> isConstant_;
};

// Records `position` for every layer `ins` runs (inside its blocks too), and clears `resumable`
// when one of its nodes writes to an input in place.
void markLayers(const Interpreter::Code::Instr& ins, int position, std::vector<int>& positions,
                bool& resumable) {
    if (ins.layer >= 0)
        positions[static_cast<size_t>(ins.layer)] = position;
    if (const auto* schema = ins.node->maybeSchema())
        for (const auto& arg : schema->arguments())
            if (arg.alias_info() && arg.alias_info()->isWrite())
                resumable = false;
    for (const auto& block : ins.blocks)
        for (const auto& inner : block.instrs)
            markLayers(inner, position, positions, resumable);
}

}  // namespace

Interpreter::Interpreter(std::shared_ptr<const Graph> graph, const ParamStore* params)
    : graph_(std::move(graph)), params_(params), code_(std::make_unique<Code>()) {
    Compiler compiler(*graph_, frameTemplate_);
    compiler.compile(graph_->jitGraph()->block(), *code_);
    frameTemplate_.resize(compiler.slotCount());
    bnStats_.resize(graph_->countRole(LayerRole::BatchNorm));
    layerPosition_.assign(graph_->layers().size(), -1);
    for (size_t i = 0; i < code_->instrs.size(); ++i)
        markLayers(code_->instrs[i], static_cast<int>(i), layerPosition_, resumable_);
}

Interpreter::~Interpreter() = default;
Interpreter::Interpreter(Interpreter&&) noexcept = default;
Interpreter& Interpreter::operator=(Interpreter&&) noexcept = default;

void Interpreter::startFrame(const at::Tensor& input) {
    const auto& graphInputs = code_->inputs;
    if (graphInputs.size() != 2)
        throw Error(graph_->sourceName() + ": forward() takes " +
                    std::to_string(graphInputs.size() - 1) + " inputs; the workbench needs one");
    frame_ = frameTemplate_;
    frame_[graphInputs[1]] = input;
}

at::Tensor Interpreter::forward(const at::Tensor& input) {
    startFrame(input);
    return runTop(0, nullptr, nullptr);
}

at::Tensor Interpreter::forward(const at::Tensor& input, const std::vector<int>& snapshotAt,
                                std::vector<Snapshot>& snapshots) {
    startFrame(input);
    return runTop(0, &snapshotAt, &snapshots);
}

at::Tensor Interpreter::resume(const Snapshot& from, const std::vector<int>& snapshotAt,
                               std::vector<Snapshot>* snapshots) {
    if (from.frame.size() != frameTemplate_.size() || from.position < 0 ||
        static_cast<size_t>(from.position) > code_->instrs.size())
        throw Error(graph_->sourceName() + ": the snapshot is not one of this model's");
    frame_ = from.frame;
    return runTop(static_cast<size_t>(from.position),
                  snapshots && !snapshotAt.empty() ? &snapshotAt : nullptr, snapshots);
}

at::Tensor Interpreter::runTop(size_t begin, const std::vector<int>* snapshotAt,
                               std::vector<Snapshot>* snapshots) {
    current_ = nullptr;
    try {
        run(*code_, begin, snapshotAt, snapshots);
    } catch (const Error&) {
        throw;
    } catch (const c10::Error& e) {
        const std::string where = current_ ? graph_->describe(current_) : "forward";
        throw Error(graph_->sourceName() + ": " + where + " failed: " + e.what_without_backtrace());
    } catch (const std::exception& e) {
        const std::string where = current_ ? graph_->describe(current_) : "forward";
        throw Error(graph_->sourceName() + ": " + where + " failed: " + e.what());
    }
    c10::IValue out = std::move(frame_[code_->outputs.at(0)]);
    frame_.clear();
    stack_.clear();
    if (!out.isTensor())
        throw Error(graph_->sourceName() + ": forward() returns " + out.tagKind() +
                    "; the workbench needs a tensor of logits");
    return out.toTensor();
}

// Runs a functional op in place when that cannot change any value: no gradients are recorded,
// this is the input's last reader (compiled), and no one else holds the tensor or a view of its
// memory (the frame slot and the stack are its only references; a hook, a snapshot or a view
// would add one). The result is the same tensor with the same values.
bool Interpreter::runInPlace(InPlaceOp op) {
    if (c10::GradMode::is_enabled() || !stack_[0].isTensor())
        return false;
    at::Tensor& self = stack_[0].toTensor();
    if (self.use_count() != 2 || !self.has_storage() || self.storage().use_count() != 1 ||
        !self.is_non_overlapping_and_dense())
        return false;
    switch (static_cast<InPlace>(op)) {
        case InPlace::Relu:
            at::relu_(self);
            break;
        case InPlace::Hardtanh:
            at::hardtanh_(self, stack_[1].toScalar(), stack_[2].toScalar());
            break;
        case InPlace::Add: {
            const at::Tensor& other = stack_[1].toTensor();
            if (at::result_type(self, other) != self.scalar_type() ||
                at::infer_size(self.sizes(), other.sizes()) != self.sizes())
                return false;
            self.add_(other, stack_[2].toScalar());
            break;
        }
        case InPlace::None:
            return false;
    }
    stack_.resize(1);
    return true;
}

void Interpreter::run(const Code& code, size_t begin, const std::vector<int>* snapshotAt,
                      std::vector<Snapshot>* snapshots) {
    const auto& layers = graph_->layers();
    // Under autocast (precision.h), convolutions and linear layers get their inputs in the
    // autocast type here: traced graphs call aten::_convolution, which autocast passes by.
    const c10::ScalarType autocast = activeAutocastType(
        params_->size() > 0 ? params_->tensor(0).device() : c10::Device(c10::kCPU));
    size_t nextSnapshot = 0;
    for (size_t i = begin; i < code.instrs.size(); ++i) {
        const auto& ins = code.instrs[i];
        while (snapshotAt && nextSnapshot < snapshotAt->size() &&
               (*snapshotAt)[nextSnapshot] <= static_cast<int>(i)) {
            if ((*snapshotAt)[nextSnapshot] == static_cast<int>(i))
                snapshots->push_back({static_cast<int>(i), frame_});
            ++nextSnapshot;
        }
        current_ = ins.node;
        switch (ins.kind) {
            case Kind::Op: {
                stack_.clear();
                for (int s : ins.in)
                    stack_.push_back(frame_[s]);
                const Layer* layer = ins.layer >= 0 ? &layers[ins.layer] : nullptr;
                if (layer) {
                    if (hooks_ &&
                        (layer->role == LayerRole::Conv || layer->role == LayerRole::Linear)) {
                        stack_[0] = hooks_->input(*layer, stack_[0].toTensor());
                        stack_[1] = hooks_->weight(*layer, stack_[1].toTensor());
                    }
                    if (autocast != at::kFloat &&
                        (layer->role == LayerRole::Conv || layer->role == LayerRole::Linear))
                        for (int k = 0; k < 3 && k < static_cast<int>(stack_.size()); ++k)
                            if (stack_[k].isTensor() && stack_[k].toTensor().is_floating_point())
                                stack_[k] = stack_[k].toTensor().to(autocast);
                    if (bnProbe_ && layer->role == LayerRole::BatchNorm) {
                        bnStats_[layer->roleIndex] = bnBatchStats(
                            stack_[0].toTensor(), stack_.size() > 3 && stack_[3].isTensor()
                                                      ? stack_[3].toTensor()
                                                      : at::Tensor());
                    }
                }
                if (ins.inPlace == InPlace::None ||
                    !runInPlace(static_cast<InPlaceOp>(ins.inPlace)))
                    ins.op(stack_);
                for (size_t k = 0; k < ins.out.size(); ++k)
                    frame_[ins.out[k]] = std::move(stack_[k]);
                if (layer && hooks_)
                    frame_[ins.out[0]] = hooks_->output(*layer, frame_[ins.out[0]].toTensor());
                break;
            }
            case Kind::Param:
                frame_[ins.out[0]] = params_->tensor(ins.param);
                break;
            case Kind::ListConstruct: {
                c10::impl::GenericList list(ins.elementType);
                list.reserve(ins.in.size());
                for (int s : ins.in)
                    list.push_back(frame_[s]);
                frame_[ins.out[0]] = c10::IValue(std::move(list));
                break;
            }
            case Kind::TupleConstruct: {
                std::vector<c10::IValue> items;
                items.reserve(ins.in.size());
                for (int s : ins.in)
                    items.push_back(frame_[s]);
                frame_[ins.out[0]] = c10::ivalue::Tuple::create(std::move(items));
                break;
            }
            case Kind::ListUnpack: {
                auto list = frame_[ins.in[0]].toList();
                if (list.size() != ins.out.size())
                    throw Error(graph_->sourceName() + ": " + graph_->describe(ins.node) +
                                " expected a list of " + std::to_string(ins.out.size()) +
                                " items, got " + std::to_string(list.size()));
                for (size_t k = 0; k < ins.out.size(); ++k)
                    frame_[ins.out[k]] = list.get(k);
                break;
            }
            case Kind::TupleUnpack: {
                const auto& items = frame_[ins.in[0]].toTupleRef().elements();
                for (size_t k = 0; k < ins.out.size(); ++k)
                    frame_[ins.out[k]] = items[k];
                break;
            }
            case Kind::Uninitialized:
                frame_[ins.out[0]] = c10::IValue();
                break;
            case Kind::Alias:
                frame_[ins.out[0]] = frame_[ins.in[0]];
                break;
            case Kind::If: {
                const Code& branch = ins.blocks[frame_[ins.in[0]].toBool() ? 0 : 1];
                run(branch);
                for (size_t k = 0; k < ins.out.size(); ++k)
                    frame_[ins.out[k]] = frame_[branch.outputs[k]];
                break;
            }
            case Kind::Loop: {
                const Code& body = ins.blocks[0];
                const int64_t maxTrips = frame_[ins.in[0]].toInt();
                bool cond = frame_[ins.in[1]].toBool();
                for (size_t k = 0; k < ins.out.size(); ++k)
                    frame_[ins.out[k]] = frame_[ins.in[k + 2]];
                for (int64_t i = 0; cond && i < maxTrips; ++i) {
                    frame_[body.inputs[0]] = i;
                    for (size_t k = 0; k < ins.out.size(); ++k)
                        frame_[body.inputs[k + 1]] = frame_[ins.out[k]];
                    run(body);
                    cond = frame_[body.outputs[0]].toBool();
                    for (size_t k = 0; k < ins.out.size(); ++k)
                        frame_[ins.out[k]] = frame_[body.outputs[k + 1]];
                }
                current_ = ins.node;
                break;
            }
        }
        for (int s : ins.freeAfter)
            frame_[s] = c10::IValue();
    }
}

}  // namespace dfq::model
