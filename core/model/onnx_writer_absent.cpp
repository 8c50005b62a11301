// serializeOnnx in a build configured with -DDFQ_ONNX=OFF (no libonnx): ONNX export is refused
// with the way to get it; the other export formats work.
#include "../error.h"
#include "onnx_model.h"

namespace dfq::model {

std::string serializeOnnx(const OnnxModel&) {
    throw Error(
        "ONNX export: this build of the workbench has no ONNX writer (it was configured with "
        "-DDFQ_ONNX=OFF); export with --format encodings or torchscript, or rebuild with "
        "libonnx-dev installed");
}

}  // namespace dfq::model
