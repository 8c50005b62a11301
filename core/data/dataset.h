#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace dfq::data {

// Labelled images as stored on disk: uint8 pixels, before any normalization.
struct Dataset {
    at::Tensor images;                    // uint8 [N, C, H, W]
    at::Tensor labels;                    // int64 [N]
    std::vector<std::string> classNames;  // empty when the format has none
    std::string format;                   // "idx", "cifar10", "cifar100", "image-folder"
    std::string source;                   // the path it was read from

    int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

enum class Split { Test, Train };

// Reads evaluation data, detecting the format from the path:
//  - IDX (MNIST, Fashion-MNIST), gzipped or raw: a folder holding
//    {t10k,train}-{images-idx3,labels-idx1}-ubyte[.gz], or the images file itself (the labels
//    file is found beside it);
//  - CIFAR-10 binary: a folder holding test_batch.bin / data_batch_{1..5}.bin, or one .bin file;
//  - CIFAR-100 binary: a folder holding test.bin / train.bin (two label bytes per record);
//  - an image folder: one subfolder per class with PNG/JPEG files; images are resized (shorter
//    side to the target size / 0.875) and centre-cropped to targetShape [C, H, W].
// Throws dfq::Error naming the file, and the byte offset or record, for truncated or corrupt data.
Dataset loadDataset(const std::string& path, Split split = Split::Test,
                    const std::vector<int64_t>& targetShape = {});

// The images offset, offset + stride, offset + 2 stride, ..., at most `limit` of them (0: all):
// a part of a file that another part, with another offset, never overlaps. CIFAR's and the real
// kit's files are ordered by class, so a part of whole classes needs stride > 1, not a range.
// Views of `data`'s tensors, no copy. Throws dfq::Error when nothing is left.
Dataset selectImages(const Dataset& data, int64_t offset, int64_t stride, int64_t limit);

// Checks that the images have the model's spatial size `inputShape` [C, H, W]. Image folders are
// always fitted (resized and centre-cropped). For the other formats a different size is an error
// naming the dataset, the sizes and `resizeKey`, unless `resize` is true: then the images are
// resized bilinearly for evaluation and the returned note says so (empty when nothing is resized).
std::string checkImageSize(const Dataset& data, const std::vector<int64_t>& inputShape, bool resize,
                           const std::string& resizeKey);

}  // namespace dfq::data
