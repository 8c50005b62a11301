// The IDX reader (MNIST, Fashion-MNIST), raw and gzipped: images, labels, and the pair.
#include "core/data/idx_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string images = dfq::fuzz::writeScratch("t10k-images-idx3-ubyte", data, size);
    const std::string labels = dfq::fuzz::writeScratch("t10k-labels-idx1-ubyte", data, size);
    try {
        dfq::data::readIdxImages(images);
    } catch (const std::exception&) {
    }
    try {
        dfq::data::readIdxLabels(labels);
    } catch (const std::exception&) {
    }
    try {
        dfq::data::readIdx(images);
    } catch (const std::exception&) {
    }
    return 0;
}
