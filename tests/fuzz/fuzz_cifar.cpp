// The CIFAR-10 and CIFAR-100 binary readers.
#include "core/data/cifar_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string file = dfq::fuzz::writeScratch("test_batch.bin", data, size);
    for (auto kind : {dfq::data::CifarKind::Cifar10, dfq::data::CifarKind::Cifar100}) {
        try {
            dfq::data::readCifar({file}, kind);
        } catch (const std::exception&) {
        }
    }
    return 0;
}
