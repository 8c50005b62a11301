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
// The per-channel mean and biased variance of a BN layer's input [N, C, ...] as the BN probe
// records them: in fp32, and as sums of x - runningMean (exact also far from the mean; any
// shift works, an undefined one falls back to var_mean).
BnBatchStats bnBatchStats(const at::Tensor& input, const at::Tensor& runningMean);

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

    // A forward pass paused before one top-level instruction: the values live at that point.
    // Resuming it with other hooks re-runs only the rest of the graph, so a change at one layer
    // costs the layers after it, not a whole forward pass.
    struct Snapshot {
        int position = 0;
        std::vector<c10::IValue> frame;
    };
    // The top-level instruction that runs a layer (directly, or inside an If/Loop block there).
    int positionOf(int layerIndex) const { return layerPosition_.at(layerIndex); }
    // Whether snapshots hold their values unchanged until they are resumed: false when the
    // graph still mutates a tensor in place (a later instruction could then alter a value a
    // snapshot shares). Callers fall back to whole forward passes (position 0).
    bool resumable() const { return resumable_; }
    // forward(input), recording a snapshot before each position in `snapshotAt` (ascending;
    // repeats allowed) into `snapshots`.
    at::Tensor forward(const at::Tensor& input, const std::vector<int>& snapshotAt,
                       std::vector<Snapshot>& snapshots);
    // Continues a paused forward pass with the current hooks; records further snapshots at
    // `snapshotAt` (ascending, none before from.position) when given. The snapshot is not
    // changed.
    at::Tensor resume(const Snapshot& from, const std::vector<int>& snapshotAt = {},
                      std::vector<Snapshot>* snapshots = nullptr);

    void setHooks(LayerHooks* hooks) { hooks_ = hooks; }
    LayerHooks* hooks() const { return hooks_; }
    // When on, every forward records the batch mean and biased variance of each BatchNorm
    // layer's input (graph-connected, so a loss on them reaches the input).
    void setBnProbe(bool on) { bnProbe_ = on; }
    bool bnProbe() const { return bnProbe_; }
    // Indexed by Layer::roleIndex of the BN layers; from the last forward with the probe on.
    const std::vector<BnBatchStats>& bnStats() const { return bnStats_; }

    const Graph& graph() const { return *graph_; }
    const ParamStore& params() const { return *params_; }

    struct Code;  // compiled instructions, defined in the .cpp

  private:
    // Runs instructions [begin, end) of `code`; at top level, records the snapshots asked for.
    void run(const Code& code, size_t begin = 0, const std::vector<int>* snapshotAt = nullptr,
             std::vector<Snapshot>* snapshots = nullptr);
    void startFrame(const at::Tensor& input);
    using InPlaceOp = uint8_t;
    bool runInPlace(InPlaceOp op);
    // Runs the top-level code from `begin` on the current frame and returns the output tensor.
    at::Tensor runTop(size_t begin, const std::vector<int>* snapshotAt,
                      std::vector<Snapshot>* snapshots);

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
    std::vector<int> layerPosition_;
    bool resumable_ = true;
};

}  // namespace dfq::model
