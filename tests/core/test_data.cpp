#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/data/cifar_reader.h"
#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/data/idx_reader.h"
#include "core/data/image_folder_reader.h"
#include "core/data/preprocess.h"
#include "core/error.h"
#include "core/run/experiment_config.h"
#include "fixtures.h"

using dfq::Error;
using dfq::data::CifarKind;
using dfq::data::Dataset;
using dfq::data::loadDataset;
using dfq::data::Normalization;
using dfq::data::preprocess;
using dfq::data::readCifar;
using dfq::data::readIdx;
using dfq::data::readIdxImages;
using dfq::data::readImageFolder;
using dfq::data::Split;
using dfq::test::errorOf;
using dfq::test::tempDir;
using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

namespace {

void expectContains(const std::string& message, const std::vector<std::string>& parts) {
    for (const auto& part : parts)
        EXPECT_NE(message.find(part), std::string::npos)
            << "\"" << part << "\" is not in the message: " << message;
}

void writeFile(const std::string& path, const Bytes& bytes) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

void writeGzip(const std::string& path, const Bytes& bytes) {
    fs::create_directories(fs::path(path).parent_path());
    gzFile file = gzopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr) << path;
    ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(file), Z_OK);
}

Bytes readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void appendBigEndian32(Bytes& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<uint8_t>(v >> shift));
}

// Scrambled enough that a transposed or shifted read shows.
uint8_t idxPixel(int image, int y, int x) {
    return static_cast<uint8_t>(image * 53 + y * 17 + x * 5 + 1);
}

Bytes idxImages(int n, int h, int w, uint32_t magic = 0x00000803) {
    Bytes out;
    appendBigEndian32(out, magic);
    for (int d : {n, h, w})
        appendBigEndian32(out, static_cast<uint32_t>(d));
    for (int i = 0; i < n; ++i)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                out.push_back(idxPixel(i, y, x));
    return out;
}

Bytes idxLabels(const Bytes& labels) {
    Bytes out;
    appendBigEndian32(out, 0x00000801);
    appendBigEndian32(out, static_cast<uint32_t>(labels.size()));
    out.insert(out.end(), labels.begin(), labels.end());
    return out;
}

void expectIdxContents(const Dataset& data, int n, int h, int w, const Bytes& labels) {
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{n, 1, h, w}));
    ASSERT_EQ(data.images.scalar_type(), at::kByte);
    auto px = data.images.accessor<uint8_t, 4>();
    for (int i = 0; i < n; ++i)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                ASSERT_EQ(px[i][0][y][x], idxPixel(i, y, x)) << i << " " << y << " " << x;
    ASSERT_EQ(data.labels.scalar_type(), at::kLong);
    ASSERT_EQ(data.labels.size(0), n);
    for (int i = 0; i < n; ++i)
        EXPECT_EQ(data.labels[i].item<int64_t>(), labels[i]);
}

const std::vector<std::string> kDigits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kFashion = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                           "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                           "Bag",         "Ankle boot"};
const std::vector<std::string> kCifar10 = {"airplane", "automobile", "bird",  "cat",  "deer",
                                           "dog",      "frog",       "horse", "ship", "truck"};

// A folder with the t10k IDX pair: 3 images of 4x5 (76 bytes with the header), labels 7, 0, 9.
std::string writeMnist(const std::string& dir, bool gzip) {
    const std::string suffix = gzip ? ".gz" : "";
    const std::string images = dir + "/t10k-images-idx3-ubyte" + suffix;
    (gzip ? writeGzip : writeFile)(images, idxImages(3, 4, 5));
    (gzip ? writeGzip : writeFile)(dir + "/t10k-labels-idx1-ubyte" + suffix, idxLabels({7, 0, 9}));
    return images;
}

}  // namespace

TEST(IdxReader, ReadsRawFiles) {
    const std::string images = writeMnist(tempDir() + "/mnist", false);
    const Dataset data = readIdx(images);
    expectIdxContents(data, 3, 4, 5, {7, 0, 9});
    EXPECT_EQ(data.classNames, kDigits);
    EXPECT_EQ(data.format, "idx");
    EXPECT_EQ(data.source, images);
}

TEST(IdxReader, ReadsGzippedFiles) {
    const std::string images = writeMnist(tempDir() + "/mnist", true);
    ASSERT_EQ(readFile(images)[0], 0x1f);
    const Dataset data = readIdx(images);
    expectIdxContents(data, 3, 4, 5, {7, 0, 9});
}

TEST(IdxReader, FashionFolderGetsFashionClassNames) {
    const Dataset data = readIdx(writeMnist(tempDir() + "/My-FASHION-data", true));
    EXPECT_EQ(data.classNames, kFashion);
}

TEST(IdxReader, LabelsPathReplacesImagesIdx3) {
    EXPECT_EQ(dfq::data::idxLabelsPath("/d/train-images-idx3-ubyte.gz"),
              "/d/train-labels-idx1-ubyte.gz");
    expectContains(errorOf([] { dfq::data::idxLabelsPath("/d/pictures.bin"); }),
                   {"/d/pictures.bin", "images-idx3"});
}

TEST(IdxReader, TruncatedRawFileNamesTheOffset) {
    const std::string path = tempDir() + "/t10k-images-idx3-ubyte";
    Bytes bytes = idxImages(3, 4, 5);
    bytes.resize(66);  // the header and 2.5 of the 3 images
    writeFile(path, bytes);
    const std::string message = errorOf([&] { readIdxImages(path); });
    expectContains(
        message, {path + ": truncated at byte offset 66 (expected 76 bytes for 3 images of 4x5)"});
}

TEST(IdxReader, TruncatedGzipDataNamesTheUncompressedOffset) {
    const std::string path = tempDir() + "/t10k-images-idx3-ubyte.gz";
    Bytes bytes = idxImages(3, 4, 5);
    bytes.resize(66);
    writeGzip(path, bytes);
    expectContains(
        errorOf([&] { readIdxImages(path); }),
        {path + ": truncated at byte offset 66 of the uncompressed data (expected 76 bytes "
                "for 3 images of 4x5)"});
}

TEST(IdxReader, CutGzipFileIsTruncated) {
    const std::string path = tempDir() + "/t10k-images-idx3-ubyte.gz";
    writeGzip(path, idxImages(40, 28, 28));
    Bytes gz = readFile(path);
    gz.resize(gz.size() / 2);
    writeFile(path, gz);
    expectContains(errorOf([&] { readIdxImages(path); }),
                   {path + ": truncated at byte offset ",
                    " of the uncompressed data (expected 31376 "
                    "bytes for 40 images of 28x28)"});
}

TEST(IdxReader, CorruptGzipReportsZlibError) {
    const std::string path = tempDir() + "/t10k-images-idx3-ubyte.gz";
    writeGzip(path, idxImages(3, 4, 5));
    Bytes gz = readFile(path);
    // Past the 10-byte gzip header, all-ones bits make the first deflate block of reserved type 3.
    std::fill(gz.begin() + 10, gz.end(), 0xff);
    writeFile(path, gz);
    expectContains(errorOf([&] { readIdxImages(path); }),
                   {path + ": corrupt gzip data at or after byte offset 0 of the uncompressed "
                           "data: invalid block type"});
}

TEST(IdxReader, GzipChecksumMismatchIsCorrupt) {
    const std::string path = tempDir() + "/t10k-images-idx3-ubyte.gz";
    writeGzip(path, idxImages(3, 4, 5));
    Bytes gz = readFile(path);
    gz[gz.size() - 8] ^= 0xff;  // the CRC-32 trailer
    writeFile(path, gz);
    expectContains(errorOf([&] { readIdxImages(path); }),
                   {path + ": corrupt gzip data at or after byte offset ",
                    "uncompressed data: incorrect data check"});
}

TEST(IdxReader, BadMagic) {
    const std::string dir = tempDir();
    writeFile(dir + "/a", idxImages(3, 4, 5, 0x12345678));
    expectContains(errorOf([&] { readIdxImages(dir + "/a"); }),
                   {dir + "/a: bad magic 0x12345678 at byte offset 0: not an IDX file"});
    writeFile(dir + "/b", idxImages(3, 4, 5, 0x00000D03));
    expectContains(
        errorOf([&] { readIdxImages(dir + "/b"); }),
        {dir + "/b: bad magic 0x00000D03 at byte offset 0", "0x0D is not unsigned bytes"});
    writeFile(dir + "/c", idxLabels({1, 2}));
    expectContains(errorOf([&] { readIdxImages(dir + "/c"); }),
                   {dir + "/c: bad magic 0x00000801", "1 dimensions where IDX images have 3"});
}

TEST(IdxReader, TrailingDataIsAnError) {
    const std::string path = tempDir() + "/t10k-images-idx3-ubyte";
    Bytes bytes = idxImages(3, 4, 5);
    bytes.push_back(0);
    writeFile(path, bytes);
    expectContains(errorOf([&] { readIdxImages(path); }),
                   {path + ": unexpected data after byte offset 76"});
}

TEST(IdxReader, CountMismatch) {
    const std::string dir = tempDir();
    writeFile(dir + "/t10k-images-idx3-ubyte", idxImages(3, 4, 5));
    writeFile(dir + "/t10k-labels-idx1-ubyte", idxLabels({1, 2}));
    expectContains(errorOf([&] { readIdx(dir + "/t10k-images-idx3-ubyte"); }),
                   {dir + "/t10k-images-idx3-ubyte: 3 images, but " + dir +
                    "/t10k-labels-idx1-ubyte holds 2 labels"});
}

TEST(IdxReader, MissingLabelsFile) {
    const std::string dir = tempDir();
    writeFile(dir + "/t10k-images-idx3-ubyte", idxImages(3, 4, 5));
    expectContains(errorOf([&] { readIdx(dir + "/t10k-images-idx3-ubyte"); }),
                   {dir + "/t10k-labels-idx1-ubyte is missing"});
}

TEST(IdxReader, LabelOutOfRangeNamesTheRecord) {
    const std::string dir = tempDir();
    writeFile(dir + "/t10k-images-idx3-ubyte", idxImages(3, 4, 5));
    writeFile(dir + "/t10k-labels-idx1-ubyte", idxLabels({1, 12, 2}));
    expectContains(errorOf([&] { readIdx(dir + "/t10k-images-idx3-ubyte"); }),
                   {dir + "/t10k-labels-idx1-ubyte: record 1 (byte offset 9) has label 12"});
}

namespace {

uint8_t cifarPixel(int record, int c, int y, int x) {
    return static_cast<uint8_t>(record * 71 + c * 29 + y * 11 + x * 3);
}

// CIFAR records with the given label bytes each, and pixel (c, y, x) at byte
// labelBytes + c * 1024 + y * 32 + x.
Bytes cifarRecords(const std::vector<Bytes>& labels) {
    Bytes out;
    for (size_t r = 0; r < labels.size(); ++r) {
        out.insert(out.end(), labels[r].begin(), labels[r].end());
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x)
                    out.push_back(cifarPixel(static_cast<int>(r), c, y, x));
    }
    return out;
}

void expectCifarPixels(const at::Tensor& images, int n) {
    ASSERT_EQ(images.sizes(), (std::vector<int64_t>{n, 3, 32, 32}));
    ASSERT_EQ(images.scalar_type(), at::kByte);
    auto px = images.accessor<uint8_t, 4>();
    for (int r = 0; r < n; ++r)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x)
                    ASSERT_EQ(px[r][c][y][x], cifarPixel(r, c, y, x)) << r << c << y << x;
}

std::vector<int64_t> labelsOf(const Dataset& data) {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < data.size(); ++i)
        out.push_back(data.labels[i].item<int64_t>());
    return out;
}

}  // namespace

TEST(CifarReader, Cifar10RecordsAreChw) {
    const std::string path = tempDir() + "/test_batch.bin";
    const Bytes bytes = cifarRecords({{3}, {0}, {9}});
    ASSERT_EQ(bytes.size(), 3u * 3073);
    ASSERT_EQ(bytes[3073 + 1 + 2 * 1024 + 5 * 32 + 7], cifarPixel(1, 2, 5, 7));
    writeFile(path, bytes);
    const Dataset data = readCifar({path}, CifarKind::Cifar10);
    expectCifarPixels(data.images, 3);
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{3, 0, 9}));
    EXPECT_EQ(data.classNames, kCifar10);
    EXPECT_EQ(data.format, "cifar10");
    EXPECT_EQ(data.source, path);
}

TEST(CifarReader, Cifar10ClassNamesFromMetaFile) {
    const std::string dir = tempDir();
    writeFile(dir + "/test_batch.bin", cifarRecords({{1}}));
    std::ofstream(dir + "/batches.meta.txt") << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj \n\n";
    const Dataset data = readCifar({dir + "/test_batch.bin"}, CifarKind::Cifar10);
    EXPECT_EQ(data.classNames,
              (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}));
    std::ofstream(dir + "/batches.meta.txt") << "a\nb\n";
    expectContains(errorOf([&] { readCifar({dir + "/test_batch.bin"}, CifarKind::Cifar10); }),
                   {dir + "/batches.meta.txt: 2 class names; expected 10"});
}

TEST(CifarReader, Cifar100UsesTheFineLabel) {
    const std::string dir = tempDir();
    writeFile(dir + "/test.bin", cifarRecords({{1, 57}, {19, 99}}));
    Dataset data = readCifar({dir + "/test.bin"}, CifarKind::Cifar100);
    expectCifarPixels(data.images, 2);
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{57, 99}));
    EXPECT_TRUE(data.classNames.empty());
    EXPECT_EQ(data.format, "cifar100");

    std::ofstream names(dir + "/fine_label_names.txt");
    for (int i = 0; i < 100; ++i)
        names << "class" << i << "\n";
    names.close();
    data = readCifar({dir + "/test.bin"}, CifarKind::Cifar100);
    ASSERT_EQ(data.classNames.size(), 100u);
    EXPECT_EQ(data.classNames[57], "class57");
}

TEST(CifarReader, TruncatedRecordNamesIndexAndOffset) {
    const std::string path = tempDir() + "/test_batch.bin";
    Bytes bytes = cifarRecords({{1}, {2}, {3}});
    bytes.resize(2 * 3073 + 100);
    writeFile(path, bytes);
    expectContains(
        errorOf([&] { readCifar({path}, CifarKind::Cifar10); }),
        {path + ": truncated: record 2 at byte offset 6146 is incomplete (100 of 3073 bytes"});
}

TEST(CifarReader, LabelOutOfRangeNamesTheRecord) {
    const std::string dir = tempDir();
    writeFile(dir + "/test_batch.bin", cifarRecords({{1}, {10}}));
    expectContains(errorOf([&] { readCifar({dir + "/test_batch.bin"}, CifarKind::Cifar10); }),
                   {dir + "/test_batch.bin: record 1 (byte offset 3073) has label 10, out of range "
                          "for 10 classes"});
    writeFile(dir + "/test.bin", cifarRecords({{1, 2}, {3, 4}, {5, 100}}));
    expectContains(errorOf([&] { readCifar({dir + "/test.bin"}, CifarKind::Cifar100); }),
                   {dir + "/test.bin: record 2 (byte offset 6148) has label 100"});
}

TEST(CifarReader, KindFromName) {
    const std::string dir = tempDir();
    EXPECT_EQ(dfq::data::cifarKindOf(dir + "/test.bin"), CifarKind::Cifar100);
    EXPECT_EQ(dfq::data::cifarKindOf(dir + "/data_batch_3.bin"), CifarKind::Cifar10);
    writeFile(dir + "/other.bin", cifarRecords({{1, 2}}));
    EXPECT_EQ(dfq::data::cifarKindOf(dir + "/other.bin"), CifarKind::Cifar100);
}

namespace {

// A w x h image of one colour, written as PNG or, for a .jpg/.jpeg name, as a best-quality JPEG.
void writeSolid(const std::string& path, int w, int h, const Bytes& colour) {
    fs::create_directories(fs::path(path).parent_path());
    const int channels = static_cast<int>(colour.size());
    Bytes pixels;
    for (int i = 0; i < w * h; ++i)
        pixels.insert(pixels.end(), colour.begin(), colour.end());
    const std::string ext = fs::path(path).extension().string();
    const bool jpeg = ext == ".jpg" || ext == ".JPG" || ext == ".jpeg" || ext == ".JPeG";
    const int ok = jpeg ? stbi_write_jpg(path.c_str(), w, h, channels, pixels.data(), 100)
                        : stbi_write_png(path.c_str(), w, h, channels, pixels.data(), w * channels);
    ASSERT_NE(ok, 0) << path;
}

// Classes sorted: ant (gray PNG), cat (red PNG and red JPEG), dog (blue JPEG).
std::string writeImageFolder() {
    const std::string root = tempDir() + "/images";
    writeSolid(root + "/cat/1.PNG", 40, 30, {255, 0, 0});
    writeSolid(root + "/cat/2.jpg", 30, 40, {255, 0, 0});
    writeSolid(root + "/dog/x/deep.JPeG", 20, 20, {0, 0, 255});
    writeSolid(root + "/ant/a.png", 12, 50, {77});
    std::ofstream(root + "/cat/notes.txt") << "not an image";
    fs::create_directories(root + "/.hidden");
    return root;
}

// The colour of image i, checked to be uniform within tolerance (JPEG and resizing round).
void expectSolid(const at::Tensor& images, int64_t i, const std::vector<int>& colour,
                 int tolerance) {
    for (int64_t c = 0; c < images.size(1); ++c) {
        const at::Tensor plane = images[i][c].to(at::kInt);
        EXPECT_LE((plane - colour[c]).abs().max().item<int>(), tolerance)
            << "image " << i << " channel " << c;
    }
}

}  // namespace

TEST(ImageFolderReader, RgbTargetResizesAndCrops) {
    const std::string root = writeImageFolder();
    const Dataset data = readImageFolder(root, {3, 16, 16});
    EXPECT_EQ(data.classNames, (std::vector<std::string>{"ant", "cat", "dog"}));
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{0, 1, 1, 2}));
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{4, 3, 16, 16}));
    EXPECT_EQ(data.images.scalar_type(), at::kByte);
    expectSolid(data.images, 0, {77, 77, 77}, 1);
    expectSolid(data.images, 1, {255, 0, 0}, 1);
    expectSolid(data.images, 2, {255, 0, 0}, 4);
    expectSolid(data.images, 3, {0, 0, 255}, 4);
    EXPECT_EQ(data.format, "image-folder");
    EXPECT_EQ(data.source, root);
}

TEST(ImageFolderReader, GrayTargetUsesLuma) {
    const Dataset data = readImageFolder(writeImageFolder(), {1, 8, 8});
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{4, 1, 8, 8}));
    expectSolid(data.images, 0, {77}, 1);
    // stb_image's conversion: (77 R + 150 G + 29 B) >> 8.
    expectSolid(data.images, 1, {76}, 1);
    expectSolid(data.images, 3, {28}, 4);
}

TEST(ImageFolderReader, CropIsCentred) {
    // 24x8, target 7x7: the cover size is round(7 / 0.875) = 8, so no resize; the crop starts at
    // row round(0.5) = 0 and column round(8.5) = 8, halves rounding to even as in torchvision.
    const std::string root = tempDir() + "/crop";
    fs::create_directories(root + "/only");
    Bytes pixels;
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 24; ++x)
            pixels.push_back(static_cast<uint8_t>(x * 10 + y));
    ASSERT_NE(stbi_write_png((root + "/only/a.png").c_str(), 24, 8, 1, pixels.data(), 24), 0);
    const Dataset data = readImageFolder(root, {1, 7, 7});
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{1, 1, 7, 7}));
    auto px = data.images.accessor<uint8_t, 4>();
    for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 7; ++x)
            EXPECT_EQ(px[0][0][y][x], (x + 8) * 10 + y) << y << " " << x;
}

TEST(ImageFolderReader, ResizeCoversTheTargetBeforeCropping) {
    // A 40x20 image with a left and a right half: scaled to 18x9 for an 8x8 target (shorter side
    // round(8 / 0.875) = 9), the centre crop keeps columns 5..12, 4 from each half.
    const std::string root = tempDir() + "/halves";
    fs::create_directories(root + "/only");
    Bytes pixels;
    for (int y = 0; y < 20; ++y)
        for (int x = 0; x < 40; ++x)
            pixels.push_back(x < 20 ? 0 : 200);
    ASSERT_NE(stbi_write_png((root + "/only/a.png").c_str(), 40, 20, 1, pixels.data(), 40), 0);
    const Dataset data = readImageFolder(root, {1, 8, 8});
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{1, 1, 8, 8}));
    auto px = data.images.accessor<uint8_t, 4>();
    for (int y = 0; y < 8; ++y) {
        EXPECT_LE(px[0][0][y][0], 5) << y;
        EXPECT_GE(px[0][0][y][7], 195) << y;
    }
}

TEST(ImageFolderReader, NoTargetKeepsTheFirstImageSize) {
    const std::string root = tempDir() + "/same";
    writeSolid(root + "/a/1.png", 6, 5, {10, 20, 30});
    writeSolid(root + "/b/1.png", 6, 5, {40, 50, 60, 255});
    const Dataset data = readImageFolder(root);
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 3, 5, 6}));
    expectSolid(data.images, 0, {10, 20, 30}, 0);
    expectSolid(data.images, 1, {40, 50, 60}, 0);

    writeSolid(root + "/b/2.png", 7, 5, {1, 2, 3});
    expectContains(errorOf([&] { readImageFolder(root); }),
                   {root + "/b/2.png: 7x5 image; the first image is 6x5"});
}

TEST(ImageFolderReader, UndecodableFileIsNamed) {
    const std::string root = tempDir() + "/broken";
    writeSolid(root + "/a/good.png", 4, 4, {1, 2, 3});
    std::ofstream(root + "/a/bad.png") << "this is not a PNG";
    expectContains(errorOf([&] {
                       readImageFolder(root, {3, 4, 4});
                   }),
                   {root + "/a/bad.png: cannot decode image: "});
}

TEST(ImageFolderReader, EmptyFoldersAreErrors) {
    const std::string root = tempDir();
    expectContains(errorOf([&] {
                       readImageFolder(root, {3, 4, 4});
                   }),
                   {root + ": no class subfolders"});
    fs::create_directories(root + "/cat");
    std::ofstream(root + "/cat/readme.txt") << "no images here";
    expectContains(errorOf([&] {
                       readImageFolder(root, {3, 4, 4});
                   }),
                   {root + "/cat: class folder holds no PNG or JPEG files"});
}

TEST(ImageFolderReader, EmptyAndSliverImagesAreRefused) {
    // The decoder returns a 0x0 image for a PPM header whose sides are not numbers.
    const std::string root = tempDir() + "/odd";
    fs::create_directories(root + "/a");
    std::ofstream(root + "/a/empty.png", std::ios::binary) << "P6NG\r\n\x1a\n";
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{}, {3, 8, 8}})
        expectContains(errorOf([&] { readImageFolder(root, shape); }),
                       {root + "/a/empty.png: the image is 0x0 pixels; it holds no pixels"});
    fs::remove(root + "/a/empty.png");
    // Covering 224x224 scales the 1-pixel side to 256, so the 200-pixel side to 51200.
    writeSolid(root + "/a/wide.png", 200, 1, {1, 2, 3});
    expectContains(errorOf([&] {
                       readImageFolder(root, {3, 224, 224});
                   }),
                   {root + "/a/wide.png: covering 224x224 would resize this 200x1 image to more "
                           "than 16384 pixels a side; crop it first"});
    EXPECT_EQ(readImageFolder(root, {3, 8, 8}).images.sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
}

TEST(ImageFolderReader, BadTargetShape) {
    expectContains(errorOf([] {
                       readImageFolder(writeImageFolder(), {2, 8, 8});
                   }),
                   {"the target shape [2, 8, 8] is not [C, H, W]"});
}

TEST(LoadDataset, DetectsIdxFolderAndFiles) {
    const std::string dir = tempDir() + "/fashion-mnist";
    const std::string images = writeMnist(dir, true);
    Dataset data = loadDataset(dir);
    expectIdxContents(data, 3, 4, 5, {7, 0, 9});
    EXPECT_EQ(data.format, "idx");
    EXPECT_EQ(data.classNames, kFashion);
    data = loadDataset(images);
    expectIdxContents(data, 3, 4, 5, {7, 0, 9});

    writeFile(dir + "/train-images-idx3-ubyte", idxImages(2, 4, 5));
    writeFile(dir + "/train-labels-idx1-ubyte", idxLabels({4, 5}));
    data = loadDataset(dir, Split::Train);
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{4, 5}));

    expectContains(
        errorOf([&] { loadDataset(dir + "/t10k-labels-idx1-ubyte.gz"); }),
        {"an IDX labels file; give the images file beside it (t10k-images-idx3-ubyte.gz)"});
}

TEST(LoadDataset, DetectsCifarFoldersAndFiles) {
    const std::string root = tempDir();
    const std::string cifar10 = root + "/cifar-10-batches-bin";
    writeFile(cifar10 + "/test_batch.bin", cifarRecords({{4}, {5}}));
    for (int i = 1; i <= 5; ++i)
        writeFile(cifar10 + "/data_batch_" + std::to_string(i) + ".bin",
                  cifarRecords({{static_cast<uint8_t>(i)}}));
    Dataset data = loadDataset(root);
    EXPECT_EQ(data.format, "cifar10");
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{4, 5}));
    data = loadDataset(cifar10, Split::Train);
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(loadDataset(cifar10 + "/data_batch_2.bin").format, "cifar10");

    const std::string cifar100 = tempDir() + "/cifar-100-binary";
    writeFile(cifar100 + "/test.bin", cifarRecords({{0, 42}}));
    writeFile(cifar100 + "/train.bin", cifarRecords({{0, 43}}));
    data = loadDataset(fs::path(cifar100).parent_path().string());
    EXPECT_EQ(data.format, "cifar100");
    EXPECT_EQ(labelsOf(data), (std::vector<int64_t>{42}));
    EXPECT_EQ(labelsOf(loadDataset(cifar100, Split::Train)), (std::vector<int64_t>{43}));
    EXPECT_EQ(loadDataset(cifar100 + "/test.bin").format, "cifar100");
}

TEST(LoadDataset, DetectsImageFolder) {
    const Dataset data = loadDataset(writeImageFolder(), Split::Test, {3, 8, 8});
    EXPECT_EQ(data.format, "image-folder");
    EXPECT_EQ(data.images.sizes(), (std::vector<int64_t>{4, 3, 8, 8}));
}

TEST(LoadDataset, UnknownPathsAreErrors) {
    const std::string dir = tempDir();
    expectContains(errorOf([&] { loadDataset(dir + "/nope"); }),
                   {dir + "/nope: no such file or folder"});
    std::ofstream(dir + "/readme.txt") << "hello";
    expectContains(errorOf([&] { loadDataset(dir); }),
                   {dir + ": no dataset found for the test split; looked for "
                          "t10k-images-idx3-ubyte[.gz]",
                    "test_batch.bin (CIFAR-10)", "test.bin (CIFAR-100)", "cifar-10-batches-bin",
                    "class subfolders"});
    expectContains(errorOf([&] { loadDataset(dir + "/readme.txt"); }),
                   {dir + "/readme.txt: unknown dataset file"});
}

TEST(Preprocess, NormalizesWithHandComputedValues) {
    // One mean and std for all channels: (0 - 0.5) / 0.25 and (1 - 0.5) / 0.25.
    at::Tensor gray = at::tensor(std::vector<uint8_t>{0, 255}, at::kByte).view({1, 1, 1, 2});
    at::Tensor x = preprocess(gray, {1, 1, 2}, {{0.5}, {0.25}});
    EXPECT_EQ(x.scalar_type(), at::kFloat);
    EXPECT_TRUE(x.is_contiguous());
    EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), -2.0f);
    EXPECT_FLOAT_EQ(x[0][0][0][1].item<float>(), 2.0f);

    // Per channel: (51/255 - 0.1) / 0.5 = 0.2, (102/255 - 0.2) / 0.25 = 0.8, (204/255 - 0.3) / 0.2
    // = 2.5.
    at::Tensor rgb = at::tensor(std::vector<uint8_t>{51, 102, 204}, at::kByte).view({1, 3, 1, 1});
    x = preprocess(rgb, {3, 1, 1}, {{0.1, 0.2, 0.3}, {0.5, 0.25, 0.2}});
    EXPECT_NEAR(x[0][0][0][0].item<float>(), 0.2f, 1e-6);
    EXPECT_NEAR(x[0][1][0][0].item<float>(), 0.8f, 1e-6);
    EXPECT_NEAR(x[0][2][0][0].item<float>(), 2.5f, 1e-6);

    // No normalization: only the scaling to [0, 1].
    x = preprocess(rgb, {3, 1, 1}, {});
    EXPECT_NEAR(x[0][2][0][0].item<float>(), 0.8f, 1e-6);
}

namespace {

// 20 CIFAR-shaped images whose label is the brightest of the first ten pixels of row 0, and a
// "model" that reads it back through view(): a view that NCHW strides allow and NHWC ones do not.
Dataset brightestPixelData() {
    Dataset d;
    d.source = "brightest";
    d.images = at::randint(0, 200, {20, 3, 4, 16}, at::kByte);
    d.labels = at::arange(20, at::kLong).remainder(10);
    for (int64_t i = 0; i < 20; ++i)
        d.images[i][0][0][d.labels[i].item<int64_t>()] = 255;
    return d;
}

}  // namespace

TEST(Evaluate, ModelsGetChannelsLastBatchesAndTheSamePredictions) {
    const Dataset d = brightestPixelData();
    std::vector<bool> channelsLast;
    const auto r = dfq::data::evaluate(
        [&](const at::Tensor& x) {
            channelsLast.push_back(x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                                   !x.is_contiguous());
            return x.select(1, 0).select(1, 0).narrow(1, 0, 10).contiguous();
        },
        d, {3, 4, 16}, {}, 8);
    EXPECT_EQ(channelsLast, (std::vector<bool>{true, true, true}));
    EXPECT_DOUBLE_EQ(r.top1, 100.0);
    EXPECT_EQ(r.images, 20);
}

TEST(Evaluate, AModelThatNeedsNchwStridesGetsNchwBatches) {
    const Dataset d = brightestPixelData();
    int calls = 0;
    const auto r = dfq::data::evaluate(
        [&](const at::Tensor& x) {
            ++calls;
            return x.view({x.size(0), -1}).narrow(1, 0, 10);  // throws for NHWC strides
        },
        d, {3, 4, 16}, {}, 8);
    EXPECT_DOUBLE_EQ(r.top1, 100.0);
    EXPECT_EQ(calls, 4);  // the first batch twice, then NCHW only
}

TEST(Evaluate, TheDefaultBatchIsTheSameForDfqEvalAndRuns) {
    EXPECT_EQ(dfq::run::ExperimentConfig{}.dataBatchSize, dfq::data::kDefaultEvalBatch);
}

TEST(Preprocess, GrayIsReplicatedToRgb) {
    at::Tensor gray =
        at::tensor(std::vector<uint8_t>{0, 51, 102, 255}, at::kByte).view({1, 1, 2, 2});
    const at::Tensor x = preprocess(gray, {3, 2, 2}, {});
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 2, 2}));
    EXPECT_TRUE(x.is_contiguous());
    const at::Tensor expected = gray.to(at::kFloat).div(255.0);
    for (int c = 0; c < 3; ++c)
        EXPECT_TRUE(at::allclose(x.select(1, c), expected.select(1, 0))) << c;
}

TEST(Preprocess, RgbBecomesLuma) {
    at::Tensor rgb = at::tensor(std::vector<uint8_t>{30, 60, 90}, at::kByte).view({1, 3, 1, 1});
    const at::Tensor x = preprocess(rgb, {1, 1, 1}, {{0.0}, {1.0}});
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 1, 1, 1}));
    EXPECT_NEAR(x.item<float>(), (77 * 30 + 150 * 60 + 29 * 90) / 256.0f / 255.0f, 1e-6);
}

TEST(Preprocess, ResizesBilinearly) {
    at::Tensor images = at::full({2, 3, 4, 4}, 100, at::kByte);
    at::Tensor x = preprocess(images, {3, 8, 6}, {});
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, 8, 6}));
    EXPECT_TRUE(at::allclose(x, at::full({2, 3, 8, 6}, 100.0f / 255.0f)));

    // Half-pixel centres: output columns sample 0, 0.25, 0.75 and 1 (clamped) of the way.
    at::Tensor edge = at::tensor(std::vector<uint8_t>{0, 255}, at::kByte).view({1, 1, 1, 2});
    x = preprocess(edge, {1, 1, 4}, {});
    const std::vector<float> expected = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int i = 0; i < 4; ++i)
        EXPECT_NEAR(x[0][0][0][i].item<float>(), expected[i], 1e-6) << i;
}

TEST(Preprocess, RejectsBadArguments) {
    at::Tensor rgb = at::zeros({1, 3, 2, 2}, at::kByte);
    expectContains(errorOf([&] {
                       preprocess(rgb, {3, 2, 2}, {{0.1, 0.2}, {}});
                   }),
                   {"normalization mean: 2 values for 3 channels"});
    expectContains(errorOf([&] {
                       preprocess(rgb, {3, 2, 2}, {{}, {0.0}});
                   }),
                   {"normalization std"});
    expectContains(errorOf([&] {
                       preprocess(rgb, {2, 2, 2}, {});
                   }),
                   {"cannot turn 3-channel images into 2 channels"});
    expectContains(errorOf([&] { preprocess(rgb, {2, 2}, {}); }), {"is not [C, H, W]"});
}

TEST(FashionMnistData, ReadsTheInstalledTestSet) {
    const std::string dir = "/usr/share/datasets/fashion-mnist";
    if (!fs::is_directory(dir))
        GTEST_SKIP() << dir << " is missing (Debian package dataset-fashion-mnist)";
    const Dataset data = loadDataset(dir);
    EXPECT_EQ(data.format, "idx");
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
    EXPECT_EQ(data.classNames, kFashion);
    const at::Tensor perClass = data.labels.bincount();
    ASSERT_EQ(perClass.size(0), 10);
    for (int c = 0; c < 10; ++c)
        EXPECT_EQ(perClass[c].item<int64_t>(), 1000) << c;
    EXPECT_GT(data.images.to(at::kFloat).mean().item<float>(), 0.0f);
}
