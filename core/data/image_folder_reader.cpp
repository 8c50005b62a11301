#include "image_folder_reader.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>

#include "../error.h"

namespace dfq::data {
namespace {

namespace fs = std::filesystem;

// The ImageNet evaluation convention: resize to size / 0.875 (256 for 224), then crop the centre.
constexpr double kCropFraction = 0.875;

struct Item {
    std::string file;
    int64_t label;
};

bool isHidden(const fs::path& p) {
    return p.filename().string().rfind('.', 0) == 0;
}

bool isImageFile(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<Item> listImages(const std::string& root, std::vector<std::string>& classNames) {
    std::vector<fs::path> classDirs;
    for (const auto& entry : fs::directory_iterator(root))
        if (entry.is_directory() && !isHidden(entry.path()))
            classDirs.push_back(entry.path());
    if (classDirs.empty())
        throw Error(root +
                    ": no class subfolders (expected one folder of PNG/JPEG images per "
                    "class)");
    std::sort(classDirs.begin(), classDirs.end());
    std::vector<Item> items;
    for (size_t label = 0; label < classDirs.size(); ++label) {
        std::vector<std::string> files;
        for (const auto& entry : fs::recursive_directory_iterator(classDirs[label]))
            if (entry.is_regular_file() && isImageFile(entry.path()))
                files.push_back(entry.path().string());
        if (files.empty())
            throw Error(classDirs[label].string() +
                        ": class folder holds no PNG or JPEG files (.png, .jpg, .jpeg)");
        std::sort(files.begin(), files.end());
        for (auto& file : files)
            items.push_back({std::move(file), static_cast<int64_t>(label)});
        classNames.push_back(classDirs[label].filename().string());
    }
    return items;
}

using Pixels = std::unique_ptr<stbi_uc, decltype(&stbi_image_free)>;

// Larger than any photo a classifier is evaluated on (a 48-megapixel camera gives 8064x6048);
// a header claiming more would have the decoder allocate gigabytes.
constexpr int kMaxSide = 16384;

// Refuses an image of w x h pixels that is empty or too large to decode (the decoder accepts a
// header claiming 0x0, and would allocate gigabytes for one claiming 100000x100000).
void checkSides(const std::string& file, int w, int h) {
    if (w <= 0 || h <= 0)
        throw Error(file + ": the image is " + std::to_string(w) + "x" + std::to_string(h) +
                    " pixels; it holds no pixels");
    if (w > kMaxSide || h > kMaxSide)
        throw Error(file + ": a " + std::to_string(w) + "x" + std::to_string(h) +
                    " image is larger than " + std::to_string(kMaxSide) +
                    " pixels a side; it is not decoded");
}

// Refuses a file whose header claims an image that checkSides refuses (whatever it holds after).
void checkSize(const std::string& file) {
    int w = 0, h = 0, stored = 0;
    if (stbi_info(file.c_str(), &w, &h, &stored))
        checkSides(file, w, h);
}

// Decodes, resizes and crops one image into out ([C, H, W] uint8).
void loadInto(const Item& item, at::Tensor out, bool fit) {
    const int channels = static_cast<int>(out.size(0));
    const int64_t height = out.size(1), width = out.size(2);
    checkSize(item.file);
    int w = 0, h = 0, stored = 0;
    Pixels decoded(stbi_load(item.file.c_str(), &w, &h, &stored, channels), &stbi_image_free);
    if (!decoded)
        throw Error(item.file + ": cannot decode image: " + stbi_failure_reason());
    checkSides(item.file, w, h);
    if (!fit) {
        if (h != height || w != width)
            throw Error(item.file + ": " + std::to_string(w) + "x" + std::to_string(h) +
                        " image; the first image is " + std::to_string(width) + "x" +
                        std::to_string(height) + " (give a target shape to resize them)");
        out.copy_(at::from_blob(decoded.get(), {h, w, channels}, at::kByte).permute({2, 0, 1}));
        return;
    }
    const auto coverH =
        static_cast<int64_t>(std::lround(static_cast<double>(height) / kCropFraction));
    const auto coverW =
        static_cast<int64_t>(std::lround(static_cast<double>(width) / kCropFraction));
    const double scale = std::max(static_cast<double>(coverH) / h, static_cast<double>(coverW) / w);
    // A sliver (1x5000) would be stretched to gigabytes along its long side.
    if (h * scale > kMaxSide || w * scale > kMaxSide)
        throw Error(item.file + ": covering " + std::to_string(width) + "x" +
                    std::to_string(height) + " would resize this " + std::to_string(w) + "x" +
                    std::to_string(h) + " image to more than " + std::to_string(kMaxSide) +
                    " pixels a side; crop it first");
    // The side that sets the scale gets exactly its cover size, the other one is truncated like
    // torchvision's Resize does.
    const int newH = static_cast<int>(std::max(coverH, static_cast<int64_t>(h * scale)));
    const int newW = static_cast<int>(std::max(coverW, static_cast<int64_t>(w * scale)));
    at::Tensor resized = at::from_blob(decoded.get(), {h, w, channels}, at::kByte);
    if (newH != h || newW != w) {
        resized = at::empty({newH, newW, channels}, at::kByte);
        if (!stbir_resize_uint8(decoded.get(), w, h, 0, resized.data_ptr<uint8_t>(), newW, newH, 0,
                                channels))
            throw Error(item.file + ": cannot resize " + std::to_string(w) + "x" +
                        std::to_string(h) + " to " + std::to_string(newW) + "x" +
                        std::to_string(newH));
    }
    // Halves rounded to even, as torchvision's CenterCrop (Python's round) does.
    const auto top = static_cast<int64_t>(std::nearbyint((newH - height) / 2.0));
    const auto left = static_cast<int64_t>(std::nearbyint((newW - width) / 2.0));
    out.copy_(resized.narrow(0, top, height).narrow(1, left, width).permute({2, 0, 1}));
}

}  // namespace

Dataset readImageFolder(const std::string& root, const std::vector<int64_t>& targetShape) {
    const bool fit = !targetShape.empty();
    if (fit && (targetShape.size() != 3 || (targetShape[0] != 1 && targetShape[0] != 3) ||
                targetShape[1] <= 0 || targetShape[2] <= 0 || targetShape[1] > kMaxSide ||
                targetShape[2] > kMaxSide))
        throw Error(root + ": the target shape " + c10::str(at::IntArrayRef(targetShape)) +
                    " is not [C, H, W] with C = 1 (gray) or 3 (RGB) and sides of 1 to " +
                    std::to_string(kMaxSide) + " pixels");
    Dataset data;
    const std::vector<Item> items = listImages(root, data.classNames);
    std::vector<int64_t> shape = targetShape;
    if (!fit) {
        int w = 0, h = 0, stored = 0;
        if (!stbi_info(items[0].file.c_str(), &w, &h, &stored))
            throw Error(items[0].file + ": cannot decode image: " + stbi_failure_reason());
        checkSize(items[0].file);
        // Gray + alpha counts as gray, RGBA as RGB: the alpha channel is dropped.
        shape = {stored <= 2 ? 1 : 3, h, w};
    }
    const auto n = static_cast<int64_t>(items.size());
    data.images = at::empty({n, shape[0], shape[1], shape[2]}, at::kByte);
    std::vector<int64_t> labels;
    for (const auto& item : items)
        labels.push_back(item.label);
    // Decoding dominates for large folders; each image is independent, and stb keeps its failure
    // reason per thread.
    at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            loadInto(items[i], data.images[i], fit);
    });
    data.labels = at::tensor(labels, at::kLong);
    data.format = "image-folder";
    data.source = root;
    return data;
}

}  // namespace dfq::data
