// The TorchScript import as a user's file meets it: the archive check (zip structure, every
// member's CRC-32), then LibTorch's reader, dfq_meta.json and the graph the workbench builds from
// the module, with one forward pass when the input is small.
//
// The check comes first on purpose: with it switched off, libFuzzer finds within seconds that
// LibTorch's unpickler allocates whatever a mutated length field asks for (gigabytes). Random
// damage cannot pass the CRC-32s, so such a file is refused before LibTorch reads it.
#include <ATen/ATen.h>

#include "core/model/model.h"
#include "core/zip_check.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = dfq::fuzz::writeScratch("model.pt", data, size);
    try {
        auto model = dfq::model::Model::load(path);
        const auto& shape = model.meta().inputShape;
        if (shape.size() == 3 && shape[0] * shape[1] * shape[2] <= 4096)
            model.layerInfos();
    } catch (const std::exception&) {
    }
    return 0;
}
