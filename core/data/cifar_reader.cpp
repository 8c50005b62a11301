#include "cifar_reader.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "../error.h"
#include "label_check.h"

namespace dfq::data {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSide = 32;
constexpr int64_t kPixelBytes = 3 * kSide * kSide;

struct Layout {
    const char* name;
    const char* format;
    int64_t labelBytes;
    int64_t classes;
    const char* namesFile;
    int64_t recordBytes() const { return labelBytes + kPixelBytes; }
};

Layout layoutOf(CifarKind kind) {
    if (kind == CifarKind::Cifar10)
        return {"CIFAR-10", "cifar10", 1, 10, "batches.meta.txt"};
    return {"CIFAR-100", "cifar100", 2, 100, "fine_label_names.txt"};
}

int64_t recordCount(const std::string& file, const Layout& layout) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(file, ec));
    if (ec)
        throw Error(file + ": cannot read: " + ec.message());
    const int64_t recordBytes = layout.recordBytes();
    const int64_t complete = size / recordBytes;
    if (size % recordBytes != 0)
        throw Error(file + ": truncated: record " + std::to_string(complete) + " at byte offset " +
                    std::to_string(complete * recordBytes) + " is incomplete (" +
                    std::to_string(size - complete * recordBytes) + " of " +
                    std::to_string(recordBytes) + " bytes; " + layout.name + " records are " +
                    std::to_string(recordBytes) + " bytes)");
    if (complete == 0)
        throw Error(file + ": empty; expected " + layout.name + " records of " +
                    std::to_string(recordBytes) + " bytes");
    return complete;
}

std::vector<std::string> classNames(const fs::path& folder, const Layout& layout) {
    const fs::path file = folder / layout.namesFile;
    if (!fs::exists(file)) {
        if (layout.classes == 10)
            return {"airplane", "automobile", "bird",  "cat",  "deer",
                    "dog",      "frog",       "horse", "ship", "truck"};
        return {};
    }
    std::ifstream in(file);
    std::vector<std::string> names;
    for (std::string line; std::getline(in, line);) {
        line.erase(line.find_last_not_of(" \t\r") + 1);
        if (!line.empty())
            names.push_back(line);
    }
    if (static_cast<int64_t>(names.size()) != layout.classes)
        throw Error(file.string() + ": " + std::to_string(names.size()) +
                    " class names; expected " + std::to_string(layout.classes) + ", one a line");
    return names;
}

}  // namespace

CifarKind cifarKindOf(const std::string& file) {
    const std::string name = fs::path(file).filename().string();
    if (name == "test.bin" || name == "train.bin")
        return CifarKind::Cifar100;
    if (name.rfind("data_batch", 0) == 0 || name.rfind("test_batch", 0) == 0)
        return CifarKind::Cifar10;
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(file, ec));
    const bool cifar100 = !ec && size % layoutOf(CifarKind::Cifar10).recordBytes() != 0 &&
                          size % layoutOf(CifarKind::Cifar100).recordBytes() == 0;
    return cifar100 ? CifarKind::Cifar100 : CifarKind::Cifar10;
}

Dataset readCifar(const std::vector<std::string>& files, CifarKind kind) {
    if (files.empty())
        throw Error("readCifar: no files given");
    const Layout layout = layoutOf(kind);
    const int64_t recordBytes = layout.recordBytes();
    // Every size is checked before anything is read, so a truncated last batch fails at once.
    std::vector<int64_t> counts;
    int64_t total = 0;
    for (const auto& file : files) {
        counts.push_back(recordCount(file, layout));
        total += counts.back();
    }
    at::Tensor records = at::empty({total, recordBytes}, at::kByte);
    int64_t first = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        at::Tensor part = records.narrow(0, first, counts[i]);
        std::ifstream in(files[i], std::ios::binary);
        in.read(reinterpret_cast<char*>(part.data_ptr<uint8_t>()), counts[i] * recordBytes);
        if (in.gcount() != counts[i] * recordBytes)
            throw Error(files[i] + ": read error at byte offset " + std::to_string(in.gcount()));
        checkLabelRange(part.select(1, layout.labelBytes - 1), layout.classes, files[i], 0,
                        recordBytes);
        first += counts[i];
    }
    Dataset data;
    data.labels = records.select(1, layout.labelBytes - 1).to(at::kLong);
    data.images =
        records.narrow(1, layout.labelBytes, kPixelBytes).reshape({total, 3, kSide, kSide});
    data.classNames = classNames(fs::path(files[0]).parent_path(), layout);
    data.format = layout.format;
    data.source = files.size() == 1 ? files[0] : fs::path(files[0]).parent_path().string();
    return data;
}

}  // namespace dfq::data
