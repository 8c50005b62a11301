#pragma once

#include <memory>
#include <vector>

#include "graph.h"

namespace dfq::model {

// Batch statistics of one BatchNorm layer's input: per-channel mean and biased variance.
struct BnBatchStats {
    at::Tensor mean;
    at::Tensor var;
};

// Where workbench code enters a forward pass. The defaults leave the model unchanged.
class LayerHooks {
  public:
    virtual ~LayerHooks() = default;
    // The weight a conv/linear layer uses in this forward pass.
    virtual at::Tensor weight(const Layer& /*layer*/, const at::Tensor& w) { return w; }
    // The value every later node sees in place of a layer's output.
    virtual at::Tensor output(const Layer& /*layer*/, const at::Tensor& y) { return y; }
    // The input a conv/linear layer receives in this forward pass.
    virtual at::Tensor input(const Layer& /*layer*/, const at::Tensor& x) { return x; }
};

// Evaluates a Graph over a ParamStore. Layers run through the JIT's own operators with the
// weight/output hooks around them; every other node runs through the JIT's operator for it, so
// any traced or scripted model runs without a per-op mapping. Autograd flows through.
// Not thread-safe: one Interpreter per thread.
class Interpreter {
  public:
    Interpreter(std::shared_ptr<const Graph> graph, const ParamStore* params);
    ~Interpreter();
    Interpreter(Interpreter&&) noexcept;
    Interpreter& operator=(Interpreter&&) noexcept;

    // forward(input) for models taking one tensor and returning one tensor. Throws dfq::Error
    // naming the model file and the failing layer or op.
    at::Tensor forward(const at::Tensor& input);

    void setHooks(LayerHooks* hooks) { hooks_ = hooks; }
    // When on, every forward records the batch mean and biased variance of each BatchNorm
    // layer's input (graph-connected, so a loss on them reaches the input).
    void setBnProbe(bool on) { bnProbe_ = on; }
    // Indexed by Layer::roleIndex of the BN layers; from the last forward with the probe on.
    const std::vector<BnBatchStats>& bnStats() const { return bnStats_; }

    const Graph& graph() const { return *graph_; }
    const ParamStore& params() const { return *params_; }

    struct Code;  // compiled instructions, defined in the .cpp

  private:
    void run(const Code& code);

    std::shared_ptr<const Graph> graph_;
    const ParamStore* params_;
    std::unique_ptr<Code> code_;
    std::vector<c10::IValue> frameTemplate_;
    std::vector<c10::IValue> frame_;
    std::vector<c10::IValue> stack_;
    LayerHooks* hooks_ = nullptr;
    bool bnProbe_ = false;
    std::vector<BnBatchStats> bnStats_;
    const torch::jit::Node* current_ = nullptr;
};

}  // namespace dfq::model
