#pragma once

#include <cstdint>
#include <string>

#include "events.h"

namespace dfq::method {
class Pipeline;
}
namespace dfq::model {
class Model;
}

namespace dfq::run {

// What a checkpoint holds beside the method's own state.
struct ResumeState {
    int64_t step = 0;  // iterations done
    double wallSeconds = 0;
    RunSummary summary;  // baselines and top-1 so far
};

// Writes the run's complete state after `step` iterations: the method's state, the CPU random
// generator, the baselines and top-1 so far, and the resolved configuration it belongs to.
// Written to a temporary name and renamed.
void writeCheckpoint(const std::string& path, const std::string& configYaml,
                     const std::string& modelSha256, const method::Pipeline& pipeline, int64_t step,
                     const RunSummary& summary, double wallSeconds);
// Loads a checkpoint into `pipeline` and the CPU random generator. Throws dfq::Error when the file
// is missing or unreadable, or was written for another configuration or model file.
ResumeState loadCheckpoint(const std::string& path, const std::string& configYaml,
                           const std::string& modelSha256, method::Pipeline& pipeline);

// The quantized student (see docs/run-folder.md): every parameter by its PyTorch name (weights
// dequantized onto their grids), per quantized layer its integer codes, inverse step and zero
// point, and per quantized activation its frozen range. Written to a temporary name and renamed.
void exportStudent(const std::string& path, const model::Model& teacher,
                   method::Pipeline& pipeline);
// The quantized student as a TorchScript module PyTorch runs: torch.jit.load(path)(x), with the
// weights on their grids and fake quantization after each quantized activation; it carries the
// teacher's dfq_meta.json, so the workbench evaluates it too (model::exportTorchScript).
void exportTorchScript(const std::string& path, const model::Model& teacher,
                       method::Pipeline& pipeline);

}  // namespace dfq::run
