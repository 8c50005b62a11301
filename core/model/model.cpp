#include "model.h"
#include "model_summary.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/jit/serialization/import.h>

#include <filesystem>
#include <fstream>

#include "../error.h"
#include "../safe_io.h"
#include "../zip_check.h"
#include "interpreter.h"

namespace dfq::model {

using torch::jit::Node;

namespace {

std::string firstLine(const std::string& s) {
    const auto end = s.find('\n');
    return end == std::string::npos ? s : s.substr(0, end);
}

int64_t convGroups(const Node* n) {
    // aten::_convolution(input, weight, bias, stride, padding, dilation, transposed,
    //                    output_padding, groups, ...); aten::convNd(..., dilation, groups)
    const size_t pos = n->kind() == c10::Symbol::aten("_convolution") ? 8 : 6;
    if (n->inputs().size() <= pos)
        return 1;
    auto iv = torch::jit::toIValue(n->input(pos));
    return iv && iv->isInt() ? iv->toInt() : 1;
}

// Records the per-sample output shape of every layer during one forward pass.
class ShapeRecorder : public LayerHooks {
  public:
    explicit ShapeRecorder(size_t layers) : shapes(layers) {}
    at::Tensor output(const Layer& layer, const at::Tensor& y) override {
        auto sizes = y.sizes().vec();
        if (!sizes.empty())
            sizes.erase(sizes.begin());
        shapes[layer.index] = sizes;
        return y;
    }
    std::vector<std::vector<int64_t>> shapes;
};

int64_t product(const std::vector<int64_t>& v, size_t from = 0) {
    int64_t p = 1;
    for (size_t i = from; i < v.size(); ++i)
        p *= v[i];
    return p;
}

std::vector<float> toFloatVector(const at::Tensor& t) {
    at::Tensor c = t.detach().to(at::kFloat).contiguous().cpu();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

Model Model::load(const std::string& path, bool verifyIntegrity) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw Error(path + ": no such file");
    if (fs::is_directory(path, ec))
        throw Error(path + ": is a folder, not a TorchScript file");
    if (!looksLikeZip(path))
        throw Error(path +
                    ": not a TorchScript file (expected the zip archive written by "
                    "torch.jit.save)");

    // LibTorch checks neither the archive's CRCs nor anything else about its bytes: a damaged
    // file would load with wrong weights.
    if (verifyIntegrity) {
        verifyZipFile(path);
        io::verifyChecksum(path);
    }

    Model m;
    m.path_ = path;
    torch::jit::ExtraFilesMap extra{{"dfq_meta.json", ""}};
    try {
        m.module_ = torch::jit::load(path, at::kCPU, extra);
    } catch (const c10::Error& e) {
        const std::string msg = firstLine(e.what_without_backtrace());
        if (msg.find("constants.pkl") != std::string::npos ||
            msg.find("code/") != std::string::npos)
            throw Error(path +
                        ": not a TorchScript file; it looks like a torch.save() checkpoint. "
                        "Export the model with torch.jit.script or torch.jit.trace and save "
                        "it with torch.jit.save (" +
                        msg + ")");
        throw Error(path + ": not a TorchScript file (" + msg + ")");
    } catch (const std::exception& e) {
        throw Error(path + ": cannot be read as TorchScript (" + firstLine(e.what()) + ")");
    }
    m.module_.eval();
    if (!extra["dfq_meta.json"].empty())
        m.meta_ = ModelMeta::fromJson(extra["dfq_meta.json"], path);
    m.graph_ = Graph::fromModule(m.module_, path);
    m.params_ = m.graph_->initialParams();
    // The teacher is frozen: its tensors never ask autograd for gradients, so a backward pass
    // through it (the generator's loss) computes none for them. A student clones and opts in.
    for (size_t i = 0; i < m.params_.size(); ++i)
        m.params_.tensor(i) = m.params_.tensor(i).detach();
    return m;
}

void Model::setMeta(const ModelMeta& meta) {
    meta.validate(path_);
    // The classes the metadata names must be the model's outputs.
    if (meta.hasInputShape() && (meta.numClasses > 0 || !meta.classNames.empty())) {
        c10::NoGradGuard noGrad;
        std::vector<int64_t> shape{1};
        shape.insert(shape.end(), meta.inputShape.begin(), meta.inputShape.end());
        torch::jit::Module m = module_;
        int64_t outputs = -1;
        try {
            const c10::IValue out = m.forward({at::zeros(shape)});
            if (out.isTensor() && out.toTensor().dim() == 2)
                outputs = out.toTensor().size(1);
        } catch (const std::exception&) {
            // A model that cannot run on this shape is reported where it runs, with the shape.
        }
        const int64_t named =
            meta.numClasses > 0 ? meta.numClasses : static_cast<int64_t>(meta.classNames.size());
        if (outputs > 0 && named != outputs)
            throw Error(path_ + ": the model gives " + std::to_string(outputs) +
                        " outputs per image, but " +
                        (meta.numClasses > 0 ? "num_classes is " : "class_names has ") +
                        std::to_string(named) +
                        " (from model.num_classes or the model's dfq_meta.json)");
    }
    meta_ = meta;
}

int64_t Model::parameterCount() const {
    int64_t n = 0;
    for (size_t i = 0; i < params_.size(); ++i)
        if (!params_.isBuffer(i))
            n += params_.tensor(i).numel();
    return n;
}

void Model::checkInputShape(const std::vector<int64_t>& batchShape) const {
    if (!meta_.hasInputShape())
        return;
    const auto& s = meta_.inputShape;
    if (batchShape.size() != 4 || batchShape[1] != s[0] || batchShape[2] != s[1] ||
        batchShape[3] != s[2]) {
        std::string got = "[";
        for (size_t i = 0; i < batchShape.size(); ++i)
            got += (i ? ", " : "") + std::to_string(batchShape[i]);
        throw Error(path_ + ": wrong input shape " + got + "]; the model expects [N, " +
                    std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " +
                    std::to_string(s[2]) + "]");
    }
}

std::vector<LayerInfo> Model::layerInfos() const {
    const auto& layers = graph_->layers();
    std::vector<std::vector<int64_t>> shapes(layers.size());
    if (meta_.hasInputShape()) {
        c10::NoGradGuard noGrad;
        ParamStore params = params_;
        Interpreter interp(graph_, &params);
        ShapeRecorder recorder(layers.size());
        interp.setHooks(&recorder);
        std::vector<int64_t> shape{1};
        shape.insert(shape.end(), meta_.inputShape.begin(), meta_.inputShape.end());
        interp.forward(at::zeros(shape));
        shapes = recorder.shapes;
    }

    std::vector<LayerInfo> infos;
    for (const auto& layer : layers) {
        LayerInfo info;
        info.path = layer.path;
        info.outputShape = shapes[layer.index];
        const at::Tensor* weight =
            layer.weightParam >= 0 ? &params_.tensor(layer.weightParam) : nullptr;
        if (weight)
            info.weightShape = weight->sizes().vec();
        if (layer.weightParam >= 0)
            info.params += params_.tensor(layer.weightParam).numel();
        if (layer.biasParam >= 0)
            info.params += params_.tensor(layer.biasParam).numel();
        const bool known = !info.outputShape.empty();
        switch (layer.role) {
            case LayerRole::Conv: {
                const int64_t groups = convGroups(layer.node);
                const int64_t dims = weight ? weight->dim() - 2 : 2;
                info.kind = "Conv" + std::to_string(dims) + "d";
                if (groups > 1 && weight && groups == weight->size(0))
                    info.kind += " (depthwise)";
                else if (groups > 1)
                    info.kind += " (groups=" + std::to_string(groups) + ")";
                info.quantizable = weight != nullptr;
                if (known && weight)
                    info.macs = product(info.outputShape) * product(info.weightShape, 1);
                break;
            }
            case LayerRole::Linear:
                info.kind = "Linear";
                info.quantizable = weight != nullptr;
                if (known && weight)
                    info.macs = product(info.outputShape) * weight->size(1);
                break;
            case LayerRole::BatchNorm:
                info.kind = known && info.outputShape.size() == 3   ? "BatchNorm2d"
                            : known && info.outputShape.size() == 4 ? "BatchNorm3d"
                                                                    : "BatchNorm1d";
                if (!known)
                    info.kind = "BatchNorm";
                if (layer.runningMeanParam >= 0)
                    info.runningMean = toFloatVector(params_.tensor(layer.runningMeanParam));
                if (layer.runningVarParam >= 0)
                    info.runningVar = toFloatVector(params_.tensor(layer.runningVarParam));
                break;
            case LayerRole::Activation:
                info.kind = activationName(layer.activation);
                break;
        }
        if (known && layer.role != LayerRole::Conv && layer.role != LayerRole::Linear)
            info.macs = 0;
        infos.push_back(std::move(info));
    }
    return infos;
}

}  // namespace dfq::model

namespace dfq::model {

ModelSummary summarizeModel(const std::string& path, const std::vector<int64_t>& inputShape) {
    Model m = Model::load(path);
    if (!inputShape.empty()) {
        ModelMeta meta = m.meta();
        meta.inputShape = inputShape;
        m.setMeta(meta);
    }
    ModelSummary s;
    s.path = m.path();
    s.meta = m.meta();
    s.parameters = m.parameterCount();
    s.hasBatchNorm = m.hasBatchNorm();
    s.layers = m.layerInfos();
    return s;
}

}  // namespace dfq::model
