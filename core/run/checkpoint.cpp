#include "checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/serialize/archive.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "../error.h"
#include "../method/pipeline.h"
#include "../model/export.h"
#include "../model/model.h"
#include "../safe_io.h"
#include "../zip_check.h"

namespace dfq::run {

namespace fs = std::filesystem;

namespace {

// Serializes in memory, then writes with checked writes through a temporary file and a rename,
// with the file's SHA-256 beside it (io::writeFileWithChecksum): a full disk is an error naming
// the file, and neither a crash nor a failed write leaves half a file behind.
void saveAtomically(torch::serialize::OutputArchive& archive, const std::string& path) {
    std::error_code ec;
    if (fs::path(path).has_parent_path())
        fs::create_directories(fs::path(path).parent_path(), ec);
    std::ostringstream bytes;
    try {
        archive.save_to(bytes);
    } catch (const c10::Error& e) {
        throw Error(path + ": cannot write (" + e.what_without_backtrace() + ")");
    }
    io::writeFileWithChecksum(path, bytes.str());
}

c10::IValue readValue(torch::serialize::InputArchive& a, const std::string& key) {
    c10::IValue v;
    a.read(key, v);
    return v;
}

}  // namespace

void writeCheckpoint(const std::string& path, const std::string& configYaml,
                     const std::string& modelSha256, const method::Pipeline& pipeline, int64_t step,
                     const RunSummary& summary, double wallSeconds) {
    torch::serialize::OutputArchive archive, method;
    archive.write("format", c10::IValue(int64_t{1}));
    archive.write("config", c10::IValue(configYaml));
    archive.write("model_sha256", c10::IValue(modelSha256));
    archive.write("step", c10::IValue(step));
    archive.write("wall_seconds", c10::IValue(wallSeconds));
    archive.write("fp_top1", c10::IValue(summary.fpTop1));
    archive.write("ptq_top1", c10::IValue(summary.ptqTop1));
    archive.write("best_top1", c10::IValue(summary.bestTop1));
    archive.write("last_top1", c10::IValue(summary.lastTop1));
    std::string warnings;
    for (const auto& w : summary.warnings)
        warnings += w + "\n";
    archive.write("warnings", c10::IValue(warnings));
    {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        archive.write("cpu_rng", gen.get_state(), true);
    }
    pipeline.saveState(method);
    archive.write("method", method);
    saveAtomically(archive, path);
}

ResumeState loadCheckpoint(const std::string& path, const std::string& configYaml,
                           const std::string& modelSha256, method::Pipeline& pipeline) {
    if (!fs::is_regular_file(path))
        throw Error(path +
                    ": no checkpoint here (a run writes one at the end of every epoch "
                    "and when it is cancelled)");
    // A damaged checkpoint would resume silently with wrong weights: its SHA-256 and the CRCs of
    // its members are checked first.
    verifyZipFile(path);
    io::verifyChecksum(path);
    torch::serialize::InputArchive archive, method;
    try {
        archive.load_from(path);
    } catch (const c10::Error& e) {
        throw Error(path + ": not a readable checkpoint (" + e.what_without_backtrace() + ")");
    }
    if (readValue(archive, "config").toStringRef() != configYaml)
        throw Error(path +
                    ": the checkpoint belongs to another configuration than the run's "
                    "config.yaml; resume with the configuration it was written with");
    if (readValue(archive, "model_sha256").toStringRef() != modelSha256)
        throw Error(path +
                    ": the model file has changed since this run started (its sha256 "
                    "differs); resume with the file the run was started with");
    ResumeState r;
    r.step = readValue(archive, "step").toInt();
    r.wallSeconds = readValue(archive, "wall_seconds").toDouble();
    r.summary.fpTop1 = readValue(archive, "fp_top1").toDouble();
    r.summary.ptqTop1 = readValue(archive, "ptq_top1").toDouble();
    r.summary.bestTop1 = readValue(archive, "best_top1").toDouble();
    r.summary.lastTop1 = readValue(archive, "last_top1").toDouble();
    r.summary.iterations = r.step;
    c10::IValue warnings;
    if (archive.try_read("warnings", warnings) && warnings.isString()) {
        std::istringstream lines(warnings.toStringRef());
        for (std::string line; std::getline(lines, line);)
            r.summary.warnings.push_back(line);
    }
    archive.read("method", method);
    pipeline.loadState(method);
    at::Tensor rng;
    archive.read("cpu_rng", rng, true);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
    return r;
}

void exportTorchScript(const std::string& path, const model::Model& teacher,
                       method::Pipeline& pipeline) {
    torch::NoGradGuard noGrad;
    auto& quantizer = pipeline.quantizer();
    const model::ParamStore& params = pipeline.studentParams();
    model::ParamStore out;
    for (size_t i = 0; i < params.size(); ++i)
        out.add(params.name(i), params.tensor(i).detach().cpu(), params.isBuffer(i));
    std::vector<model::ActivationQuantizer> activations;
    for (const auto& l : teacher.graph()->layers()) {
        if (l.weightParam >= 0 && quantizer.weightBits(l) > 0) {
            const at::Tensor w = params.tensor(l.weightParam).detach();
            const auto grid = quantizer.weightGrid(w, quantizer.weightBits(l));
            out.tensor(l.weightParam) =
                quant::dequantize(quant::quantizeCodes(w, grid), grid).cpu();
        }
        if (!quantizer.quantizesActivation(l))
            continue;
        const auto grid = quantizer.activationGrid(l, at::TensorOptions().dtype(at::kDouble));
        if (grid.scale.defined())
            activations.push_back(
                {l.index, grid.scale.item<double>(), grid.zero.item<double>(), grid.bits});
    }
    model::exportTorchScript(*teacher.graph(), out, activations, teacher.meta(), path);
}

void exportStudent(const std::string& path, const model::Model& teacher,
                   method::Pipeline& pipeline) {
    torch::NoGradGuard noGrad;
    const auto& layers = teacher.graph()->layers();
    auto& quantizer = pipeline.quantizer();
    model::ParamStore& params = pipeline.studentParams();
    std::vector<at::Tensor> dequantized(params.size());
    torch::serialize::OutputArchive archive, weights, quantLayers, activations;

    int64_t q = 0;
    for (const auto& l : layers) {
        if (l.weightParam < 0 || quantizer.weightBits(l) <= 0)
            continue;
        const at::Tensor w = params.tensor(l.weightParam).detach();
        const auto grid = quantizer.weightGrid(w, quantizer.weightBits(l));
        const at::Tensor codes = quant::quantizeCodes(w, grid);
        dequantized[l.weightParam] = quant::dequantize(codes, grid).cpu();
        torch::serialize::OutputArchive entry;
        entry.write("layer", c10::IValue(l.path));
        entry.write("bits", c10::IValue(int64_t{grid.bits}));
        entry.write("codes", codes.to(at::kCPU, grid.bits <= 8 ? at::kChar : at::kShort), true);
        entry.write("inverse_step", grid.scale.to(at::kCPU, at::kFloat).flatten(), true);
        entry.write("zero", grid.zero.to(at::kCPU, at::kFloat).flatten(), true);
        quantLayers.write(std::to_string(q++), entry);
    }
    quantLayers.write("count", c10::IValue(q));

    int64_t a = 0;
    for (const auto& l : layers) {
        if (!quantizer.quantizesActivation(l))
            continue;
        const auto grid = quantizer.activationGrid(l, at::TensorOptions().dtype(at::kDouble));
        if (!grid.scale.defined())
            continue;
        torch::serialize::OutputArchive entry;
        entry.write("layer", c10::IValue(l.path));
        entry.write("bits", c10::IValue(int64_t{grid.bits}));
        entry.write("inverse_step", c10::IValue(grid.scale.item<double>()));
        entry.write("zero", c10::IValue(grid.zero.item<double>()));
        activations.write(std::to_string(a++), entry);
    }
    activations.write("count", c10::IValue(a));

    for (size_t i = 0; i < params.size(); ++i) {
        at::Tensor t = dequantized[i].defined() ? dequantized[i] : params.tensor(i).detach().cpu();
        torch::serialize::OutputArchive entry;
        entry.write("name", c10::IValue(params.name(i)));
        entry.write("value", t, true);
        weights.write(std::to_string(i), entry);
    }
    weights.write("count", c10::IValue(static_cast<int64_t>(params.size())));

    archive.write("format", c10::IValue(int64_t{1}));
    archive.write("source_model", c10::IValue(teacher.path()));
    archive.write("parameters", weights);
    archive.write("weight_quantizers", quantLayers);
    archive.write("activation_quantizers", activations);
    saveAtomically(archive, path);
}

}  // namespace dfq::run
