#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "../model/interpreter.h"
#include "../quant/student_quantizer.h"
#include "layer_report.h"

namespace dfq::analysis {

// A quantizer of a network as the analysis names it: every conv/linear weight by its module
// path, every ReLU/ReLU6 activation by its module path (its op at top level, "relu"), with "#k"
// for an activation that shares its name with another quantizer (functional ReLUs inside a
// block), k its place among them in network order.
struct QuantizerRef {
    int layer = -1;  // index in the graph's layers
    QuantizerKind kind = QuantizerKind::Weight;
    std::string name;
};

// Every conv/linear with a weight and every ReLU/ReLU6 of the graph, in layer order.
std::vector<QuantizerRef> listQuantizers(const model::Graph& graph);

// How far a student is from its teacher, layer by layer, on one batch.
struct LayerProbeResult {
    std::vector<std::string> names;  // the student's quantizers, in network order
    std::vector<QuantizerKind> kinds;
    std::vector<double> sqnrDb;  // the student's layer output against the teacher's
    std::vector<std::string> bnNames;
    std::vector<double> bnMeanMse, bnVarMse;  // the student's BN-input statistics vs running
};

// Compares the quantized student with the FP teacher on the same images: the SQNR of the output
// of every quantized layer of the student (the conv/linear output for a weight, the activation
// for an activation; the errors of every layer before it included), and the mean squared
// distance of the student's BatchNorm-input mean and variance from the teacher's running
// statistics. No gradients; the interpreters' hooks and probes are restored afterwards.
class LayerProbe {
  public:
    LayerProbe(const model::Graph& graph, const quant::StudentQuantizer& quantizer);
    LayerProbeResult probe(model::Interpreter& teacher, model::Interpreter& student,
                           model::LayerHooks* studentHooks, const model::ParamStore& teacherParams,
                           const at::Tensor& images) const;

  private:
    const model::Graph& graph_;
    std::vector<QuantizerRef> quantizers_;  // the student's quantized ones
};

}  // namespace dfq::analysis
