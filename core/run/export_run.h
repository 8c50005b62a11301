#pragma once

#include <string>
#include <vector>

namespace dfq::run {

// `dfq export` and File -> Export: a finished run's quantized student in a deployable form
// (docs/export.md).
struct ExportRequest {
    std::string runFolder;
    std::string format = "onnx";  // onnx | encodings | torchscript
    std::string out;              // empty: <run folder>/quantized_model.<onnx|encodings.json|pt>
    int opset = 13;
    bool foldBatchNorm = false;  // model::OnnxExportOptions::foldBatchNorm
};

struct ExportResult {
    std::string path;                // the file written
    std::vector<std::string> notes;  // what the export did, for the user
};

// Writes the file through a temporary name and a rename, so that nothing partial is left behind.
// Throws dfq::Error when the run has no finished student, its files are damaged, the graph has
// an operation the format cannot express (naming the node), or the file cannot be written.
ExportResult exportRun(const ExportRequest& request);

// The default file for a format: <run folder>/quantized_model.onnx, .encodings.json or .pt.
std::string defaultExportPath(const std::string& runFolder, const std::string& format);

}  // namespace dfq::run
