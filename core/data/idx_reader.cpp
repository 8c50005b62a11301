#include "idx_reader.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "../error.h"
#include "label_check.h"

namespace dfq::data {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr uint8_t kUnsignedByteType = 0x08;
constexpr int64_t kIdxClasses = 10;
constexpr uint64_t kMaxSide = 16384;
// Data is read chunk by chunk into a growing buffer, so that a header claiming more data than the
// file holds fails as truncated instead of allocating the claimed size up front.
constexpr uint64_t kReadChunk = uint64_t{1} << 24;

std::string hex(uint32_t value, int digits) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%0*X", digits, value);
    return buf;
}

// Sequential reads through zlib, which passes raw files through unchanged (its transparent mode),
// so offsets always count bytes of the uncompressed data.
class IdxStream {
  public:
    explicit IdxStream(const std::string& path) : path_(path) {
        errno = 0;
        file_ = gzopen(path.c_str(), "rb");
        if (!file_)
            throw Error(path +
                        ": cannot open: " + (errno ? std::strerror(errno) : "out of memory"));
    }
    ~IdxStream() { gzclose(file_); }
    IdxStream(const IdxStream&) = delete;
    IdxStream& operator=(const IdxStream&) = delete;

    const std::string& path() const { return path_; }
    uint64_t offset() const { return offset_; }

    // Exactly n bytes; `expected` describes the whole file for the message when it ends early.
    std::vector<uint8_t> read(uint64_t n, const std::string& expected) {
        std::vector<uint8_t> data;
        while (data.size() < n) {
            // Chunks grow with what has been read (64 KiB, then doubling up to 16 MiB), so a
            // short file costs little however much its header claims.
            const uint64_t step =
                std::min<uint64_t>(kReadChunk, std::max<uint64_t>(uint64_t{1} << 16, data.size()));
            const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n - data.size(), step));
            const size_t old = data.size();
            data.resize(old + chunk);
            const size_t got = readSome(data.data() + old, chunk);
            data.resize(old + got);
            if (got < chunk)
                throw Error(path_ + ": truncated at byte offset " + std::to_string(offset_) +
                            where() + " (expected " + expected + ")");
        }
        return data;
    }

    // Reading past the expected end also makes zlib verify the gzip CRC, which it checks only
    // once it reaches the end of the stream.
    void expectEnd(const std::string& expected) {
        uint8_t extra = 0;
        if (readSome(&extra, 1) != 0)
            throw Error(path_ + ": unexpected data after byte offset " +
                        std::to_string(offset_ - 1) + where() + " (expected " + expected + ")");
    }

    uint32_t readBigEndian32(const std::string& expected) {
        const auto b = read(4, expected);
        return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    }

  private:
    std::string where() const { return gzdirect(file_) ? "" : " of the uncompressed data"; }

    size_t readSome(uint8_t* out, size_t n) {
        const int got = gzread(file_, out, static_cast<unsigned>(n));
        if (got < 0) {
            int code = Z_OK;
            std::string what = gzerror(file_, &code);
            // zlib prefixes its messages with the path, which ours already starts with.
            if (what.rfind(path_ + ": ", 0) == 0)
                what.erase(0, path_.size() + 2);
            throw Error(path_ + (gzdirect(file_) ? ": read error" : ": corrupt gzip data") +
                        " at or after byte offset " + std::to_string(offset_) + where() + ": " +
                        what);
        }
        offset_ += static_cast<uint64_t>(got);
        return static_cast<size_t>(got);
    }

    std::string path_;
    gzFile file_ = nullptr;
    uint64_t offset_ = 0;
};

// Reads the magic and the dimensions, checking both against what the file should hold.
std::vector<uint64_t> readHeader(IdxStream& in, uint32_t expectedMagic, const char* kind) {
    const size_t ndims = expectedMagic & 0xff;
    const std::string header = std::to_string(4 + 4 * ndims) + " bytes of IDX " + kind + " header";
    const uint32_t magic = in.readBigEndian32(header);
    std::string problem;
    if (magic >> 16 != 0)
        problem = "not an IDX file";
    else if ((magic >> 8 & 0xff) != kUnsignedByteType)
        problem = "data type " + hex(magic >> 8 & 0xff, 2) + " is not unsigned bytes (0x08)";
    else if ((magic & 0xff) != ndims)
        problem = std::to_string(magic & 0xff) + " dimensions where IDX " + kind + " have " +
                  std::to_string(ndims);
    if (!problem.empty())
        throw Error(in.path() + ": bad magic " + hex(magic, 8) + " at byte offset 0: " + problem +
                    " (expected " + hex(expectedMagic, 8) + ", IDX " + kind + ")");
    std::vector<uint64_t> dims;
    for (size_t i = 0; i < ndims; ++i)
        dims.push_back(in.readBigEndian32(header));
    return dims;
}

bool isFashion(const std::string& imagesPath) {
    const fs::path p(imagesPath);
    std::string names = p.filename().string() + "/" + p.parent_path().filename().string();
    std::transform(names.begin(), names.end(), names.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return names.find("fashion") != std::string::npos;
}

}  // namespace

at::Tensor readIdxImages(const std::string& path) {
    IdxStream in(path);
    const auto dims = readHeader(in, kImagesMagic, "images");
    const uint64_t n = dims[0], h = dims[1], w = dims[2];
    if (h == 0 || w == 0)
        throw Error(path + ": image size " + std::to_string(h) + "x" + std::to_string(w) +
                    " at byte offset 8 is empty");
    // Sides beyond any classifier's input. (LibTorch 1.13 crashes, not throws, on a tensor whose
    // strides overflow, which an empty file with such sides would otherwise reach.)
    if (h > kMaxSide || w > kMaxSide)
        throw Error(path + ": image size " + std::to_string(h) + "x" + std::to_string(w) +
                    " at byte offset 8 is larger than " + std::to_string(kMaxSide) +
                    " pixels a side; is it an IDX images file?");
    if (n == 0)
        throw Error(path + ": the file holds no images (count 0 at byte offset 4)");
    const uint64_t imageBytes = h * w;  // both at most 2^14, so no overflow
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / imageBytes)
        throw Error(path + ": " + std::to_string(n) + " images of " + std::to_string(h) + "x" +
                    std::to_string(w) + " are more than can be addressed");
    const std::string expected = std::to_string(in.offset() + n * imageBytes) + " bytes for " +
                                 std::to_string(n) + " images of " + std::to_string(h) + "x" +
                                 std::to_string(w);
    auto pixels = in.read(n * imageBytes, expected);
    in.expectEnd(expected);
    const auto sizes = {static_cast<int64_t>(n), int64_t{1}, static_cast<int64_t>(h),
                        static_cast<int64_t>(w)};
    return at::from_blob(pixels.data(), sizes, at::kByte).clone();
}

at::Tensor readIdxLabels(const std::string& path) {
    IdxStream in(path);
    const uint64_t n = readHeader(in, kLabelsMagic, "labels")[0];
    if (n == 0)
        throw Error(path + ": the file holds no labels (count 0 at byte offset 4)");
    const std::string expected =
        std::to_string(in.offset() + n) + " bytes for " + std::to_string(n) + " labels";
    auto labels = in.read(n, expected);
    in.expectEnd(expected);
    return at::from_blob(labels.data(), {static_cast<int64_t>(n)}, at::kByte).to(at::kLong);
}

std::string idxLabelsPath(const std::string& imagesPath) {
    static const std::string kImages = "images-idx3", kLabels = "labels-idx1";
    const fs::path p(imagesPath);
    std::string name = p.filename().string();
    const auto pos = name.find(kImages);
    if (pos == std::string::npos)
        throw Error(imagesPath + ": cannot find the IDX labels file: the name does not contain \"" +
                    kImages + "\"");
    name.replace(pos, kImages.size(), kLabels);
    return (p.parent_path() / name).string();
}

Dataset readIdx(const std::string& imagesPath) {
    const std::string labelsPath = idxLabelsPath(imagesPath);
    if (!fs::exists(labelsPath))
        throw Error(imagesPath + ": the labels file " + labelsPath + " is missing");
    Dataset data;
    data.images = readIdxImages(imagesPath);
    data.labels = readIdxLabels(labelsPath);
    if (data.images.size(0) != data.labels.size(0))
        throw Error(imagesPath + ": " + std::to_string(data.images.size(0)) + " images, but " +
                    labelsPath + " holds " + std::to_string(data.labels.size(0)) + " labels");
    checkLabelRange(data.labels, kIdxClasses, labelsPath, 8, 1);
    if (isFashion(imagesPath))
        data.classNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                           "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    else
        data.classNames = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    data.format = "idx";
    data.source = imagesPath;
    return data;
}

}  // namespace dfq::data
