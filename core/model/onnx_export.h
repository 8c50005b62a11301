#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "export.h"
#include "graph.h"
#include "onnx_model.h"

namespace dfq::model {

// A quantized weight: integer codes on the grid of quant::makeGrid, w^ = (code + zero) / s, with
// s and zero per output channel (or one of each).
struct QuantizedWeight {
    at::Tensor codes;        // integers in [-2^(bits-1), 2^(bits-1) - 1], the weight's shape
    at::Tensor inverseStep;  // s: [channels] or [1]
    at::Tensor zero;         // z: the same shape, integers
    int bits = 8;
};

struct OnnxExportOptions {
    int opset = 13;
    // Folds each BatchNorm whose input is a convolution used by nothing else into that
    // convolution: w' = w·f, b' = (b - μ)·f + β with f = γ/√(σ² + ε) per channel. A per-channel
    // weight grid is rescaled exactly (the same codes, mirrored where f < 0); a per-tensor grid
    // cannot follow a per-channel factor and is recomputed on the folded weight (min/max at the
    // same bits), which changes the codes: OnnxExport::notes says by how much.
    bool foldBatchNorm = false;
};

struct OnnxExport {
    OnnxModel model;
    // Per quantized tensor, by its ONNX name: what an encodings file lists.
    struct Encoding {
        std::string tensor;
        bool isParam = false;
        int bits = 8;
        std::vector<double> scale, offset, min, max;  // one per channel, or one
        bool symmetric = false;
    };
    std::vector<Encoding> encodings;
    std::vector<std::string> notes;  // what the export changed, such as folded BatchNorms
};

// The graph's forward as ONNX: every parameter from `params` (by ParamStore index) as an
// initializer; the quantized weights (by ParamStore index) as int8 codes with a per-channel
// (axis 0) or per-tensor DequantizeLinear; after each activation layer with a quantizer
// QuantizeLinear -> Clip (to the b-bit range inside int8) -> DequantizeLinear. The input is the
// normalized image N x C x H x W (float), the output the logits. Throws dfq::Error naming the
// node for anything it cannot express.
OnnxExport buildOnnx(const Graph& graph, const ParamStore& params,
                     const std::map<int, QuantizedWeight>& weights,
                     const std::vector<ActivationQuantizer>& activations,
                     const std::vector<int64_t>& inputShape, const OnnxExportOptions& options);

}  // namespace dfq::model
