#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>
#include <vector>

#include "graph.h"
#include "layer_info.h"
#include "model_meta.h"

namespace dfq::model {

// A TorchScript classifier as the workbench sees it: the module, its Graph, its parameters (the
// teacher's store) and its metadata.
class Model {
  public:
    // Loads a TorchScript file (traced or scripted) and its optional `dfq_meta.json`. Throws
    // dfq::Error naming the file and the cause. The archive's CRC-32s and, when a
    // `<path>.sha256` is beside it, its SHA-256 are checked first (`verifyIntegrity`; off only
    // to fuzz the importer behind the check).
    static Model load(const std::string& path, bool verifyIntegrity = true);

    const std::string& path() const { return path_; }
    const ModelMeta& meta() const { return meta_; }
    // Replaces the metadata (from a config or the user); validated against the model.
    void setMeta(const ModelMeta& meta);
    const std::shared_ptr<const Graph>& graph() const { return graph_; }
    const ParamStore& params() const { return params_; }
    ParamStore& params() { return params_; }
    const torch::jit::Module& module() const { return module_; }

    bool hasBatchNorm() const { return graph_->countRole(LayerRole::BatchNorm) > 0; }
    int64_t parameterCount() const;
    // Conv, linear, BN and activation layers with shapes and MACs at the model's input size
    // (runs one forward pass on a zero image; needs meta().inputShape, else no shapes or MACs).
    std::vector<LayerInfo> layerInfos() const;
    // Throws dfq::Error when a batch of this shape cannot be what the model expects.
    void checkInputShape(const std::vector<int64_t>& batchShape) const;

  private:
    std::string path_;
    torch::jit::Module module_;
    std::shared_ptr<const Graph> graph_;
    ParamStore params_;
    ModelMeta meta_;
};

}  // namespace dfq::model
