// dfq_meta.json, the metadata a TorchScript file carries.
#include "core/model/model_meta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto meta = dfq::model::ModelMeta::fromJson(
            std::string(reinterpret_cast<const char*>(data), size), "dfq_meta.json");
        meta.validate("dfq_meta.json");
        dfq::model::ModelMeta::fromJson(meta.toJson(), "written");
    } catch (const std::exception&) {
    }
    return 0;
}
