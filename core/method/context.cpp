#include "context.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "../error.h"
#include "scope_guards.h"

namespace dfq::method {

namespace {

// The number of classes: from the metadata, else from one forward pass.
int64_t classCount(const model::Model& teacher, model::Interpreter& interp, c10::Device device) {
    if (teacher.meta().numClasses > 0)
        return teacher.meta().numClasses;
    torch::NoGradGuard noGrad;
    std::vector<int64_t> shape{1};
    shape.insert(shape.end(), teacher.meta().inputShape.begin(), teacher.meta().inputShape.end());
    return interp.forward(at::zeros(shape, at::TensorOptions().device(device))).size(1);
}

std::pair<int, at::Tensor> classifierOf(const model::Model& teacher, int64_t classes) {
    const auto& layers = teacher.graph()->layers();
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        if (it->role != model::LayerRole::Conv && it->role != model::LayerRole::Linear)
            continue;
        const at::Tensor w = teacher.params().tensor(static_cast<size_t>(it->weightParam));
        const bool pointwise = w.dim() == 2 || (w.dim() == 4 && w.size(2) == 1 && w.size(3) == 1);
        if (!pointwise || w.size(0) != classes)
            return {-1, {}};
        return {it->index, w.detach().reshape({classes, -1})};
    }
    return {-1, {}};
}

// Records the input of one layer (the teacher's features at its classifier).
struct InputCapture : model::LayerHooks {
    int layer = -1;
    at::Tensor seen;
    at::Tensor input(const model::Layer& l, const at::Tensor& x) override {
        if (l.index == layer)
            seen = x;
        return x;
    }
};

// Keeps one layer's output, after the hooks it wraps (the student's quantizer) have had theirs;
// for the teacher, as a leaf that gradients stop at.
struct OutputCapture : model::LayerHooks {
    model::LayerHooks* inner = nullptr;
    int layer = -1;
    bool leaf = false;
    at::Tensor seen;
    at::Tensor weight(const model::Layer& l, const at::Tensor& w) override {
        return inner ? inner->weight(l, w) : w;
    }
    at::Tensor input(const model::Layer& l, const at::Tensor& x) override {
        return inner ? inner->input(l, x) : x;
    }
    at::Tensor output(const model::Layer& l, const at::Tensor& y) override {
        at::Tensor out = inner ? inner->output(l, y) : y;
        if (l.index == layer) {
            if (leaf)
                out = out.detach().requires_grad_(true);
            seen = out;
        }
        return out;
    }
};

model::ParamStore onDevice(const model::ParamStore& params, c10::Device device) {
    model::ParamStore out;
    for (size_t i = 0; i < params.size(); ++i)
        out.add(params.name(i), params.tensor(i).to(device), params.isBuffer(i));
    return out;
}

}  // namespace

void writeCount(torch::serialize::OutputArchive& a, const std::string& key, size_t n) {
    a.write(key, c10::IValue(static_cast<int64_t>(n)));
}

void checkCount(torch::serialize::InputArchive& a, const std::string& key, size_t expected) {
    c10::IValue v;
    a.read(key, v);
    if (v.toInt() != static_cast<int64_t>(expected))
        throw Error("the checkpoint does not fit this run: " + key + " is " +
                    std::to_string(v.toInt()) + ", this run has " + std::to_string(expected));
}

MethodContext::MethodContext(const model::Model& teacher, const quant::QuantConfig& quant,
                             c10::Device device, int64_t batchSize)
    : teacherModel_(teacher),
      device_(device),
      batchSize_(batchSize),
      teacherOnDevice_(device.is_cpu() ? model::ParamStore() : onDevice(teacher.params(), device)),
      teacherParams_(device.is_cpu() ? &teacher.params() : &teacherOnDevice_),
      teacher_(teacher.graph(), teacherParams_),
      student_(teacherParams_->clone()),
      quantizer_(std::make_unique<quant::StudentQuantizer>(*teacher.graph(), quant)),
      studentNet_(teacher.graph(), &student_) {
    if (!teacher.meta().hasInputShape())
        throw Error(teacher.path() +
                    ": the input shape is unknown; set it in the model's "
                    "dfq_meta.json or in the experiment");
    if (!teacher.hasBatchNorm())
        throw Error(teacher.path() +
                    ": data-free quantization needs BatchNorm layers in the teacher (their "
                    "statistics are what the synthetic data matches)");
    classes_ = classCount(teacher, teacher_, device);
    teacher_.setBnProbe(true);
    studentNet_.setHooks(quantizer_.get());
    for (size_t i = 0; i < student_.size(); ++i) {
        if (student_.isBuffer(i))
            continue;
        student_.tensor(i).requires_grad_(true);
        trainable_.push_back(student_.tensor(i));
        trainableIndex_.push_back(i);
    }
    std::tie(classifierLayer_, classifier_) = classifierOf(teacher, classes_);
}

MethodContext::TeacherPass MethodContext::teacherPass(const at::Tensor& images) {
    TeacherPass p;
    p.logits = asFloat(teacher_.forward(images));
    p.bns = bnsLoss(*teacherModel_.graph(), *teacherParams_, teacher_.bnStats());
    for (const auto& st : teacher_.bnStats())
        p.bnStats.push_back({st.mean.detach(), st.var.detach()});
    return p;
}

at::Tensor MethodContext::crossEntropy(const Synthetic& batch, const at::Tensor& logits) {
    return batch.superposed() ? softCrossEntropy(logits, batch.targets)
                              : at::cross_entropy_loss(logits, batch.labels);
}

at::Tensor MethodContext::studentForward(const at::Tensor& x) {
    torch::NoGradGuard noGrad;
    quantizer_->setCalibrating(false);
    return studentNet_.forward(x.to(device_)).cpu();
}

at::Tensor MethodContext::teacherForward(const at::Tensor& x) {
    torch::NoGradGuard noGrad;
    return teacher_.forward(x.to(device_)).cpu();
}

at::Tensor MethodContext::teacherFeatures(const at::Tensor& x) {
    if (classifierLayer_ < 0)
        return {};
    torch::NoGradGuard noGrad;
    InputCapture capture;
    capture.layer = classifierLayer_;
    {
        teacher_.setHooks(&capture);
        const ScopeExit unhook([&] { teacher_.setHooks(nullptr); });
        teacher_.forward(x.to(device_));
    }
    return capture.seen.reshape({x.size(0), -1}).to(at::kCPU, at::kFloat);
}

MethodContext::FeaturePass MethodContext::teacherFeaturePass(const at::Tensor& x, int layer) {
    OutputCapture capture;
    capture.layer = layer;
    capture.leaf = true;
    FeaturePass p;
    {
        torch::AutoGradMode grad(true);
        teacher_.setHooks(&capture);
        teacher_.setBnProbe(false);
        const ScopeExit restore([&] {
            teacher_.setHooks(nullptr);
            teacher_.setBnProbe(true);
        });
        p.logits = asFloat(teacher_.forward(x.detach().to(device_)));
    }
    p.feature = capture.seen;
    if (!p.feature.defined())
        throw Error("layer " + std::to_string(layer) + " did not run in the teacher's pass");
    return p;
}

MethodContext::FeaturePass MethodContext::studentFeaturePass(const at::Tensor& x, int layer) {
    OutputCapture capture;
    capture.inner = quantizer_.get();
    capture.layer = layer;
    FeaturePass p;
    {
        studentNet_.setHooks(&capture);
        const ScopeExit restore([&] { studentNet_.setHooks(quantizer_.get()); });
        p.logits = studentLogits(x);
    }
    p.feature = capture.seen;
    if (!p.feature.defined())
        throw Error("layer " + std::to_string(layer) + " did not run in the student's pass");
    return p;
}

analysis::LayerProbeResult MethodContext::probeLayers(const at::Tensor& images) {
    if (!probe_)
        probe_ = std::make_unique<analysis::LayerProbe>(*teacherModel_.graph(), *quantizer_);
    const bool calibrating = quantizer_->calibrating();
    quantizer_->setCalibrating(false);
    const ScopeExit restore([&] { quantizer_->setCalibrating(calibrating); });
    return probe_->probe(teacher_, studentNet_, quantizer_.get(), *teacherParams_,
                         images.to(device_));
}

void MethodContext::save(torch::serialize::OutputArchive& archive) const {
    torch::NoGradGuard noGrad;
    torch::serialize::OutputArchive student;
    writeCount(student, "count", student_.size());
    for (size_t i = 0; i < student_.size(); ++i)
        student.write("p" + std::to_string(i), student_.tensor(i).detach().cpu());
    const auto& trackers = quantizer_->activationRanges();
    at::Tensor ranges = at::zeros({static_cast<int64_t>(trackers.size()), 5}, at::kDouble);
    for (size_t i = 0; i < trackers.size(); ++i) {
        const auto st = trackers[i].state();
        const double row[5] = {st.lo, st.hi, st.beta, static_cast<double>(st.updates),
                               st.frozen ? 1.0 : 0.0};
        for (int j = 0; j < 5; ++j)
            ranges[static_cast<int64_t>(i)][j] = row[j];
    }
    archive.write("student", student);
    archive.write("activation_ranges", ranges, true);
}

void MethodContext::load(torch::serialize::InputArchive& archive) {
    torch::NoGradGuard noGrad;
    torch::serialize::InputArchive student;
    archive.read("student", student);
    checkCount(student, "count", student_.size());
    for (size_t i = 0; i < student_.size(); ++i) {
        at::Tensor t;
        student.read("p" + std::to_string(i), t);
        if (!t.sizes().equals(student_.tensor(i).sizes()))
            throw Error("the checkpoint does not fit this run: " + student_.name(i) +
                        " has shape " + c10::str(t.sizes()));
        student_.tensor(i).copy_(t);
    }
    at::Tensor ranges;
    archive.read("activation_ranges", ranges, true);
    auto& trackers = quantizer_->activationRanges();
    if (ranges.size(0) != static_cast<int64_t>(trackers.size()))
        throw Error("the checkpoint does not fit this run: it has " +
                    std::to_string(ranges.size(0)) + " activation ranges, this run " +
                    std::to_string(trackers.size()));
    auto r = ranges.accessor<double, 2>();
    for (size_t i = 0; i < trackers.size(); ++i) {
        const auto k = static_cast<int64_t>(i);
        trackers[i].setState(
            {r[k][0], r[k][1], r[k][2], static_cast<int64_t>(r[k][3]), r[k][4] != 0.0});
    }
}

}  // namespace dfq::method
