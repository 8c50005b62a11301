#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace dfq::model {

// What the workbench does with a node. Everything that is not a layer runs through the JIT's own
// operator for it.
enum class LayerRole { Conv, Linear, BatchNorm, Activation };

enum class ActivationKind {
    None,
    ReLU,
    ReLU6,
    Hardtanh,
    LeakyReLU,
    Hardswish,
    Hardsigmoid,
    Sigmoid,
    Tanh,
    SiLU,
    GELU,
    ELU,
};

const char* activationName(ActivationKind kind);

// A node the workbench cares about: the weight of a conv/linear goes through a weight hook, the
// input of a batch_norm is probed, the output of an activation goes through an output hook.
struct Layer {
    int index = 0;      // position in Graph::layers()
    int roleIndex = 0;  // position among the layers of the same role (BN #k, conv/linear #k)
    LayerRole role = LayerRole::Conv;
    ActivationKind activation = ActivationKind::None;
    std::string path;  // module path, "layer1.0.conv1"; may be empty for top-level functional ops
    std::string op;    // "aten::_convolution", "aten::batch_norm", "aten::relu", ...
    int weightParam = -1;  // ParamStore index of the weight (conv, linear, BN affine weight)
    int biasParam = -1;
    int runningMeanParam = -1;  // BN only
    int runningVarParam = -1;
    const torch::jit::Node* node = nullptr;
};

// Named tensors of a model: parameters and buffers, addressed by index. The teacher and the
// student are two stores over one Graph.
class ParamStore {
  public:
    int add(const std::string& name, const at::Tensor& tensor, bool isBuffer);
    int find(const std::string& name) const;  // -1 when absent
    size_t size() const { return tensors_.size(); }
    const std::string& name(size_t i) const { return names_[i]; }
    bool isBuffer(size_t i) const { return isBuffer_[i]; }
    const at::Tensor& tensor(size_t i) const { return tensors_[i]; }
    at::Tensor& tensor(size_t i) { return tensors_[i]; }
    // Deep copy: the clone's tensors share no storage with this store's.
    ParamStore clone() const;

  private:
    std::vector<std::string> names_;
    std::vector<at::Tensor> tensors_;
    std::vector<bool> isBuffer_;
    std::unordered_map<std::string, int> index_;
};

// The forward graph of a TorchScript module, inlined, with module attributes resolved: tensor
// attributes become parameter slots, other attributes become constants (the module is read in
// eval mode, so `self.training` folds away), in-place tensor ops are made functional where that
// provably keeps the semantics.
class Graph {
  public:
    // Throws dfq::Error naming `sourceName` when the module has no forward or uses a construct
    // the interpreter cannot run.
    static std::shared_ptr<const Graph> fromModule(torch::jit::Module module,
                                                   const std::string& sourceName);

    const std::shared_ptr<torch::jit::Graph>& jitGraph() const { return graph_; }
    const std::vector<Layer>& layers() const { return layers_; }
    const ParamStore& initialParams() const { return params_; }
    const std::string& sourceName() const { return sourceName_; }

    // ParamStore index for a Value produced by a resolved attribute read, or -1.
    int paramOf(const torch::jit::Value* v) const;
    // Layer index for a node, or -1.
    int layerOf(const torch::jit::Node* n) const;
    // Module path of any node, from its inlined call stack ("" for top-level code).
    static std::string modulePath(const torch::jit::Node* n);
    // "layer1.0.conv1 (aten::_convolution)" for error messages.
    std::string describe(const torch::jit::Node* n) const;

    int countRole(LayerRole role) const;
    // Whether the forward pass fake-quantizes (aten::fake_quantize_*): a quantized model, such
    // as the workbench exports.
    bool fakeQuantized() const { return fakeQuantized_; }

  private:
    void resolveAttributes(const torch::jit::Module& module);
    void findLayers();

    std::shared_ptr<torch::jit::Graph> graph_;
    std::string sourceName_;
    ParamStore params_;
    std::vector<Layer> layers_;
    std::unordered_map<const torch::jit::Value*, int> paramOfValue_;
    std::unordered_map<const torch::jit::Node*, int> layerOfNode_;
    bool fakeQuantized_ = false;
};

}  // namespace dfq::model
