#include "export_run.h"

#include <torch/serialize/input-archive.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>

#include "../error.h"
#include "../json_writer.h"
#include "../model/model.h"
#include "../model/onnx_export.h"
#include "../safe_io.h"
#include "../sha256.h"
#include "experiment_config.h"
#include "run_folder_reader.h"
#include "run_setup.h"
#include "version.h"

namespace dfq::run {

namespace fs = std::filesystem;

namespace {

c10::IValue readValue(torch::serialize::InputArchive& a, const std::string& key) {
    c10::IValue v;
    a.read(key, v);
    return v;
}

at::Tensor readTensor(torch::serialize::InputArchive& a, const std::string& key) {
    at::Tensor t;
    a.read(key, t, /*is_buffer=*/true);
    return t;
}

// What quantized_student.pt holds (docs/run-folder.md), matched to the teacher's graph.
struct Student {
    model::ParamStore params;
    std::map<int, model::QuantizedWeight> weights;  // by ParamStore index
    std::vector<model::ActivationQuantizer> activations;
    std::map<std::string, int> bitsByLayer;  // weight bits per quantized layer
};

Student readStudent(const std::string& path, const model::Model& teacher) {
    if (!fs::is_regular_file(path))
        throw Error(path +
                    " is missing: the run has no quantized student yet (it is written when "
                    "the run finishes; continue it with dfq run --resume)");
    io::verifyChecksum(path);
    Student s;
    s.params = teacher.params().clone();
    const auto& layers = teacher.graph()->layers();
    try {
        torch::serialize::InputArchive archive, params, weights, activations;
        archive.load_from(path);
        if (readValue(archive, "format").toInt() != 1)
            throw Error(path + ": an unknown format of the quantized student");
        archive.read("parameters", params);
        const int64_t count = readValue(params, "count").toInt();
        for (int64_t i = 0; i < count; ++i) {
            torch::serialize::InputArchive entry;
            params.read(std::to_string(i), entry);
            const std::string name = readValue(entry, "name").toStringRef();
            const int p = s.params.find(name);
            if (p < 0)
                throw Error(path + ": parameter " + name + " is not in the teacher " +
                            teacher.path() + " (was the model file replaced?)");
            const at::Tensor v = readTensor(entry, "value");
            if (!v.sizes().equals(s.params.tensor(static_cast<size_t>(p)).sizes()))
                throw Error(path + ": parameter " + name + " has another shape than the teacher's");
            s.params.tensor(static_cast<size_t>(p)) = v;
        }
        // Quantizers in layer order: matched to the graph's layers of that path, in order.
        archive.read("weight_quantizers", weights);
        size_t next = 0;
        for (int64_t i = 0, n = readValue(weights, "count").toInt(); i < n; ++i) {
            torch::serialize::InputArchive entry;
            weights.read(std::to_string(i), entry);
            const std::string path_ = readValue(entry, "layer").toStringRef();
            while (next < layers.size() &&
                   (layers[next].weightParam < 0 || layers[next].path != path_ ||
                    layers[next].role == model::LayerRole::BatchNorm))
                ++next;
            if (next == layers.size())
                throw Error(path + ": quantized layer " + path_ + " is not in the teacher's graph");
            model::QuantizedWeight q;
            q.bits = static_cast<int>(readValue(entry, "bits").toInt());
            q.codes = readTensor(entry, "codes");
            q.inverseStep = readTensor(entry, "inverse_step");
            q.zero = readTensor(entry, "zero");
            s.weights[layers[next].weightParam] = q;
            s.bitsByLayer[path_] = q.bits;
            ++next;
        }
        archive.read("activation_quantizers", activations);
        next = 0;
        for (int64_t i = 0, n = readValue(activations, "count").toInt(); i < n; ++i) {
            torch::serialize::InputArchive entry;
            activations.read(std::to_string(i), entry);
            const std::string path_ = readValue(entry, "layer").toStringRef();
            while (next < layers.size() && (layers[next].role != model::LayerRole::Activation ||
                                            layers[next].path != path_))
                ++next;
            if (next == layers.size())
                throw Error(path + ": quantized activation " + path_ +
                            " is not in the teacher's graph");
            model::ActivationQuantizer a;
            a.layer = layers[next].index;
            a.bits = static_cast<int>(readValue(entry, "bits").toInt());
            a.inverseStep = readValue(entry, "inverse_step").toDouble();
            a.zero = readValue(entry, "zero").toDouble();
            s.activations.push_back(a);
            ++next;
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(path + ": cannot read the quantized student (" + e.what() + ")");
    }
    return s;
}

std::string scalarAt(const YAML::Node& root, const std::string& section, const std::string& key) {
    const YAML::Node n = root[section] ? root[section][key] : YAML::Node();
    return n && n.IsScalar() ? n.Scalar() : std::string();
}

std::string json(const std::vector<double>& v) {
    JsonWriter w;
    w.value(v);
    return w.str();
}

std::string encodingsJson(const std::vector<model::OnnxExport::Encoding>& encodings) {
    JsonWriter w;
    w.beginObject();
    w.key("version").value("0.6.1");
    for (const bool params : {false, true}) {
        w.key(params ? "param_encodings" : "activation_encodings").beginObject();
        for (const auto& e : encodings) {
            if (e.isParam != params)
                continue;
            w.key(e.tensor).beginArray();
            for (size_t c = 0; c < e.scale.size(); ++c) {
                w.beginObject();
                w.key("bitwidth").value(e.bits);
                w.key("dtype").value("int");
                w.key("is_symmetric").value(e.symmetric ? "True" : "False");
                w.key("max").value(e.max[c]);
                w.key("min").value(e.min[c]);
                w.key("offset").value(static_cast<int64_t>(std::llround(e.offset[c])));
                w.key("scale").value(e.scale[c]);
                w.endObject();
            }
            w.endArray();
        }
        w.endObject();
    }
    w.endObject();
    return w.str();
}

}  // namespace

std::string defaultExportPath(const std::string& runFolder, const std::string& format) {
    const std::string base = (fs::path(runFolder) / "quantized_model").string();
    if (format == "onnx")
        return base + ".onnx";
    if (format == "encodings")
        return base + ".encodings.json";
    if (format == "torchscript")
        return base + ".pt";
    throw Error("unknown export format '" + format + "' (onnx, encodings or torchscript)");
}

ExportResult exportRun(const ExportRequest& r) {
    ExportResult result;
    result.path = r.out.empty() ? defaultExportPath(r.runFolder, r.format) : r.out;
    defaultExportPath(r.runFolder, r.format);  // the format's name is checked
    const std::string configPath = (fs::path(r.runFolder) / "config.yaml").string();
    if (!fs::is_regular_file(configPath))
        throw Error(r.runFolder + " is not a run folder (it has no config.yaml)");
    const auto summary = readRunSummary(r.runFolder);
    if (!summary || summary->status != "finished") {
        const std::string status = summary ? summary->status : std::string("no summary.json");
        throw Error(r.runFolder + ": the run has not finished (" + status +
                    "), so it has no quantized student to export" +
                    (status == "cancelled" || !summary
                         ? "; continue it with dfq run --resume " + r.runFolder
                         : std::string()));
    }
    const std::string studentPath = (fs::path(r.runFolder) / "quantized_student.pt").string();

    if (r.format == "torchscript") {
        const std::string src = (fs::path(r.runFolder) / "quantized_model.pt").string();
        if (!fs::is_regular_file(src))
            throw Error(src + " is missing");
        io::verifyChecksum(src);
        const std::string bytes = io::readFile(src, int64_t{4} << 30, "TorchScript model");
        if (fs::absolute(src) != fs::absolute(result.path))
            io::writeFileWithChecksum(result.path, bytes);
        return result;
    }

    const std::string configYaml = io::readFile(configPath, 1 << 20, "config.yaml");
    const ExperimentConfig c = parseExperimentConfig(configYaml, configPath);
    model::Model teacher = model::Model::load(c.resolvedModelPath());
    if (!summary->modelSha256.empty() && sha256File(teacher.path()) != summary->modelSha256)
        throw Error("the teacher " + teacher.path() +
                    " is not the file this run was made from (its SHA-256 differs)");
    const model::ModelMeta meta = resolvedMeta(teacher, c);
    const Student student = readStudent(studentPath, teacher);
    model::OnnxExportOptions options;
    options.opset = r.opset;
    options.foldBatchNorm = r.foldBatchNorm;
    model::OnnxExport x = model::buildOnnx(*teacher.graph(), student.params, student.weights,
                                           student.activations, meta.inputShape, options);
    result.notes = x.notes;
    // quant.symmetric ranges [-m, m] give offset -2^(b-1): AIMET's symmetric encoding.
    for (auto& e : x.encodings)
        e.symmetric = c.quantSymmetric;

    if (r.format == "encodings") {
        io::writeFileAtomically(result.path, encodingsJson(x.encodings));
        return result;
    }

    const YAML::Node root = YAML::Load(configYaml);
    auto& m = x.model;
    m.producerVersion = kVersion;
    m.graphName = c.name.empty() ? "dfq_student" : c.name;
    m.output.dims = {
        -1, meta.numClasses > 0 ? meta.numClasses : static_cast<int64_t>(meta.classNames.size())};
    if (m.output.dims[1] == 0)
        m.output.dims[1] = -1;
    m.docString = "The quantized student of the run " + fs::path(r.runFolder).filename().string() +
                  " (DFQ Workbench): input the normalized image (x/255 - mean) / std, output the "
                  "logits.";
    JsonWriter names, bits;
    names.value(meta.classNames);
    bits.beginObject();
    for (const auto& [layer, b] : student.bitsByLayer)
        bits.key(layer).value(b);
    bits.endObject();
    m.metadata = {
        {"dfq.input_shape",
         [&] {
             JsonWriter w;
             w.value(meta.inputShape);
             return w.str();
         }()},
        {"dfq.mean", json(meta.mean)},
        {"dfq.std", json(meta.std)},
        {"dfq.class_names", names.str()},
        {"dfq.weight_bits", bits.str()},
        {"dfq.activation_bits", scalarAt(root, "quant", "activation_bits")},
        {"dfq.method",
         scalarAt(root, "method", "generator") + "+" + scalarAt(root, "method", "student")},
        {"dfq.per_channel", scalarAt(root, "quant", "per_channel")},
        {"dfq.first_last", scalarAt(root, "quant", "first_last")},
        {"dfq.weight_range", scalarAt(root, "quant", "weight_range")},
        {"dfq.calibration", scalarAt(root, "quant", "calibration")},
        {"dfq.batchnorm", r.foldBatchNorm ? "folded" : "kept"},
        {"dfq.seed", root["seed"] && root["seed"].IsScalar() ? root["seed"].Scalar() : ""},
        {"dfq.top1",
         [&] {
             char buf[64];
             std::snprintf(buf, sizeof buf, "%.2f", summary->lastTop1);
             return std::string(buf);
         }()},
    };
    io::writeFileAtomically(result.path, model::serializeOnnx(m));
    return result;
}

}  // namespace dfq::run
