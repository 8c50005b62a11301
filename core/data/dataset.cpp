#include "dataset.h"

#include <filesystem>

#include <ATen/ATen.h>

#include "../error.h"
#include "cifar_reader.h"
#include "idx_reader.h"
#include "image_folder_reader.h"

namespace dfq::data {
namespace {

namespace fs = std::filesystem;

Dataset loadFile(const fs::path& file) {
    const std::string name = file.filename().string();
    if (name.find("images-idx3") != std::string::npos)
        return readIdx(file.string());
    if (const auto pos = name.find("labels-idx1"); pos != std::string::npos)
        throw Error(file.string() + ": an IDX labels file; give the images file beside it (" +
                    std::string(name).replace(pos, 11, "images-idx3") + ")");
    if (file.extension() == ".bin")
        return readCifar({file.string()}, cifarKindOf(file.string()));
    throw Error(file.string() +
                ": unknown dataset file; expected an IDX images file (*-images-idx3-ubyte, "
                "optionally .gz) or a CIFAR binary batch (*.bin)");
}

Dataset loadFolder(const fs::path& dir, Split split, const std::vector<int64_t>& targetShape) {
    const bool test = split == Split::Test;
    const std::string idxImages = std::string(test ? "t10k" : "train") + "-images-idx3-ubyte";
    for (const char* suffix : {"", ".gz"})
        if (fs::exists(dir / (idxImages + suffix)))
            return readIdx((dir / (idxImages + suffix)).string());

    const std::string cifar10 = test ? "test_batch.bin" : "data_batch_1.bin";
    if (fs::exists(dir / cifar10)) {
        std::vector<std::string> files;
        if (test)
            files.push_back((dir / cifar10).string());
        else
            for (int i = 1; i <= 5; ++i)
                files.push_back((dir / ("data_batch_" + std::to_string(i) + ".bin")).string());
        return readCifar(files, CifarKind::Cifar10);
    }
    const std::string cifar100 = test ? "test.bin" : "train.bin";
    if (fs::exists(dir / cifar100))
        return readCifar({(dir / cifar100).string()}, CifarKind::Cifar100);

    // The folders the CIFAR archives unpack to.
    for (const char* sub : {"cifar-10-batches-bin", "cifar-100-binary"})
        if (fs::is_directory(dir / sub))
            return loadFolder(dir / sub, split, targetShape);

    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_directory() && entry.path().filename().string().rfind('.', 0) != 0)
            return readImageFolder(dir.string(), targetShape);

    throw Error(dir.string() + ": no dataset found for the " + (test ? "test" : "train") +
                " split; looked for " + idxImages + "[.gz] (MNIST, Fashion-MNIST), " + cifar10 +
                " (CIFAR-10), " + cifar100 +
                " (CIFAR-100), a cifar-10-batches-bin or cifar-100-binary subfolder, and class "
                "subfolders of PNG/JPEG images");
}

}  // namespace

Dataset loadDataset(const std::string& path, Split split, const std::vector<int64_t>& targetShape) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (!fs::exists(status))
        throw Error(path + ": no such file or folder");
    if (fs::is_directory(status))
        return loadFolder(path, split, targetShape);
    return loadFile(path);
}

Dataset selectImages(const Dataset& data, int64_t offset, int64_t stride, int64_t limit) {
    if (offset < 0 || stride < 1 || limit < 0)
        throw Error(data.source + ": offset " + std::to_string(offset) + ", stride " +
                    std::to_string(stride) + " and limit " + std::to_string(limit) +
                    " do not select images");
    if (offset == 0 && stride == 1 && (limit == 0 || limit >= data.size()))
        return data;
    if (offset >= data.size())
        throw Error(data.source + ": offset " + std::to_string(offset) + " is past its " +
                    std::to_string(data.size()) + " images");
    Dataset out = data;
    out.images = data.images.slice(0, offset, data.size(), stride);
    out.labels = data.labels.slice(0, offset, data.size(), stride);
    if (limit > 0 && limit < out.size()) {
        out.images = out.images.narrow(0, 0, limit);
        out.labels = out.labels.narrow(0, 0, limit);
    }
    return out;
}

std::string checkImageSize(const Dataset& data, const std::vector<int64_t>& inputShape, bool resize,
                           const std::string& resizeKey) {
    if (data.format == "image-folder" || inputShape.size() != 3 || !data.images.defined() ||
        data.images.dim() != 4)
        return "";
    const int64_t h = data.images.size(2), w = data.images.size(3);
    if (h == inputShape[1] && w == inputShape[2])
        return "";
    const std::string sizes = std::to_string(h) + "x" + std::to_string(w) +
                              " images, but the model takes " + std::to_string(inputShape[1]) +
                              "x" + std::to_string(inputShape[2]);
    if (!resize)
        throw Error(data.source + ": " + sizes + "; is it the right dataset? (" + resizeKey +
                    " resizes them)");
    return data.source + ": " + sizes + "; resized bilinearly for evaluation (" + resizeKey + ")";
}

}  // namespace dfq::data
