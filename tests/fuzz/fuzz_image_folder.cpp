// The image-folder reader: one class folder holding the input as an image file (PNG, JPEG,
// BMP ... as the decoder sees it), read raw and fitted to 3x32x32.
#include "core/data/image_folder_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The first byte picks the file's extension, the rest is its content.
    static const char* const kNames[] = {"cat/a.png", "cat/a.jpg", "cat/a.jpeg", "cat/a.bmp"};
    const char* name = kNames[size > 0 ? data[0] % 4 : 0];
    if (size > 0) {
        ++data;
        --size;
    }
    std::error_code ec;
    std::filesystem::remove_all(dfq::fuzz::scratch() + "/images", ec);
    dfq::fuzz::writeScratch(std::string("images/") + name, data, size);
    for (const std::vector<int64_t>& shape :
         {std::vector<int64_t>{}, std::vector<int64_t>{3, 32, 32}}) {
        try {
            dfq::data::readImageFolder(dfq::fuzz::scratch() + "/images", shape);
        } catch (const std::exception&) {
        }
    }
    return 0;
}
