#pragma once

#include <string>
#include <vector>

#include "graph.h"
#include "model_meta.h"

namespace dfq::model {

// Per-tensor fake quantization of one activation layer's output, on the grid of
// quant::makeGrid: x^ = (clamp(round(s*x - z), -2^(bits-1), 2^(bits-1) - 1) + z) / s.
struct ActivationQuantizer {
    int layer = -1;          // index into Graph::layers()
    double inverseStep = 1;  // s
    double zero = 0;         // z, an integer
    int bits = 8;
};

// Writes `graph`'s forward as a standalone TorchScript module that PyTorch loads with
// torch.jit.load: every tensor the graph reads (`params`, by ParamStore index) becomes a parameter
// or buffer of the module, named as in PyTorch with '.' replaced by '_', and each listed
// activation's output goes through aten::fake_quantize_per_tensor_affine (scale 1/s, zero point
// -z). `meta` is stored as the dfq_meta.json extra file. Written to a temporary name and renamed;
// throws dfq::Error on failure.
void exportTorchScript(const Graph& graph, const ParamStore& params,
                       const std::vector<ActivationQuantizer>& activations, const ModelMeta& meta,
                       const std::string& path);

}  // namespace dfq::model
