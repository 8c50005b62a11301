#pragma once

#include <c10/core/Device.h>
#include <torch/serialize/archive.h>

#include <memory>
#include <vector>

#include "../analysis/layer_probe.h"
#include "../model/interpreter.h"
#include "../model/model.h"
#include "../precision.h"
#include "../quant/student_quantizer.h"
#include "losses.h"
#include "recipe.h"

namespace dfq::method {

// What every recipe of a run shares: the frozen teacher with its BatchNorm probes, the quantized
// student (its parameters, quantizers and interpreter), the device and the batch size.
class MethodContext {
  public:
    // Throws dfq::Error for a teacher without an input shape or without BatchNorm layers.
    MethodContext(const model::Model& teacher, const quant::QuantConfig& quant, c10::Device device,
                  int64_t batchSize);

    const model::Model& teacherModel() const { return teacherModel_; }
    c10::Device device() const { return device_; }
    int64_t batchSize() const { return batchSize_; }
    // The type the training passes autocast to (precision.h): at::kFloat, or at::kBFloat16.
    c10::ScalarType computeType() const { return computeType_; }
    void setComputeType(c10::ScalarType t) { computeType_ = t; }
    int64_t classes() const { return classes_; }
    // The teacher's classifier: the last conv/linear layer when it maps a D-vector to the classes
    // (its index in the graph's layers and its weight as [classes, D]); -1 and undefined when
    // there is none.
    int classifierLayer() const { return classifierLayer_; }
    const at::Tensor& classifier() const { return classifier_; }

    // The teacher's pass over a batch (with gradients to the images): its logits, and the batch
    // against every BN layer's running statistics.
    struct TeacherPass {
        at::Tensor logits;
        BnsLoss bns;
        std::vector<model::BnBatchStats> bnStats;  // detached
    };
    TeacherPass teacherPass(const at::Tensor& images);
    // CE of logits against the batch's labels, or its soft targets when it is superposed.
    static at::Tensor crossEntropy(const Synthetic& batch, const at::Tensor& logits);

    // Student and teacher logits for images on any device, on the CPU, without gradients.
    at::Tensor studentForward(const at::Tensor& x);
    at::Tensor teacherForward(const at::Tensor& x);
    // The student's logits with gradients (training), in fp32 whatever the compute type.
    at::Tensor studentLogits(const at::Tensor& x) { return asFloat(studentNet_.forward(x)); }
    // The teacher's features (the input of its classifier, flattened) on the CPU; undefined
    // without a classifier.
    at::Tensor teacherFeatures(const at::Tensor& x);
    // A pass that also returns one layer's output (index into the graph's layers), with the
    // gradient path from it to the logits (Grad-CAM). The teacher's output is a fresh leaf:
    // nothing before it gets gradients, and the logits are the teacher's on x. The student's is
    // the student's own activation, with its graph; its logits are studentLogits(x)'s.
    struct FeaturePass {
        at::Tensor logits, feature;
    };
    FeaturePass teacherFeaturePass(const at::Tensor& x, int layer);
    FeaturePass studentFeaturePass(const at::Tensor& x, int layer);
    // The student against the teacher, layer by layer (analysis::LayerProbe).
    analysis::LayerProbeResult probeLayers(const at::Tensor& images);

    model::ParamStore& studentParams() { return student_; }
    const model::ParamStore& teacherParams() const { return *teacherParams_; }
    quant::StudentQuantizer& quantizer() { return *quantizer_; }
    // The student's trainable tensors (every parameter but the buffers), in store order, with
    // the index in the store of each.
    const std::vector<at::Tensor>& trainable() const { return trainable_; }
    const std::vector<size_t>& trainableIndex() const { return trainableIndex_; }

    // The student's tensors and the activation ranges.
    void save(torch::serialize::OutputArchive& archive) const;
    void load(torch::serialize::InputArchive& archive);

  private:
    const model::Model& teacherModel_;
    c10::Device device_;
    c10::ScalarType computeType_ = c10::ScalarType::Float;
    int64_t batchSize_;
    int64_t classes_ = 0;
    model::ParamStore teacherOnDevice_;       // empty on the CPU
    const model::ParamStore* teacherParams_;  // the teacher's own store, or teacherOnDevice_
    model::Interpreter teacher_;
    model::ParamStore student_;
    std::unique_ptr<quant::StudentQuantizer> quantizer_;
    model::Interpreter studentNet_;
    std::unique_ptr<analysis::LayerProbe> probe_;
    std::vector<at::Tensor> trainable_;
    std::vector<size_t> trainableIndex_;
    int classifierLayer_ = -1;
    at::Tensor classifier_;
};

// Archive helpers for recipes: a count written beside a list of tensors, and its check on load
// (dfq::Error "the checkpoint does not fit this run: ..." when it differs).
void writeCount(torch::serialize::OutputArchive& archive, const std::string& key, size_t n);
void checkCount(torch::serialize::InputArchive& archive, const std::string& key, size_t expected);

}  // namespace dfq::method
