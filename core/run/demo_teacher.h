#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dfq::run {

// Where Debian's dataset-fashion-mnist package puts the gzipped IDX files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The built-in demo teacher: a small ResNet with BatchNorm (CIFAR-style BasicBlocks, one per
// stage) trained on Fashion-MNIST with a fixed seed and written as TorchScript with
// dfq_meta.json, the same kind of file a PyTorch user hands the workbench.
struct DemoTeacherOptions {
    std::string dataDir = kFashionMnistDir;
    std::string outPath;
    int epochs = 10;
    int64_t batchSize = 128;
    double lr = 0.1;  // peak of the warm-up + cosine schedule
    double weightDecay = 2e-4;
    uint64_t seed = 1;
    std::vector<int64_t> widths = {16, 32, 64};
    int64_t trainLimit = 0;  // use only the first N training images (0 = all); for quick checks
};

struct DemoTeacherEpoch {
    int epoch = 0;
    double trainLoss = 0;
    double trainTop1 = 0;
    double testTop1 = 0;
    double seconds = 0;
};

struct DemoTeacherResult {
    double testTop1 = 0;
    double testTop5 = 0;
    double seconds = 0;
    std::vector<DemoTeacherEpoch> epochs;
};

struct DemoTeacherCallbacks {
    // Every few iterations: 0-based epoch, iteration within it, iterations per epoch, loss.
    std::function<void(int, int64_t, int64_t, double)> iteration;
    std::function<void(const DemoTeacherEpoch&)> epochEnd;
};

// Trains the demo teacher and writes it to options.outPath. Deterministic for a given seed and
// thread count. Throws dfq::Error when the data is missing or the file cannot be written.
DemoTeacherResult trainDemoTeacher(const DemoTeacherOptions& options,
                                   const DemoTeacherCallbacks& callbacks = {});

// The path of the demo teacher shipped with the workbench (resources/demo/...).
std::string demoTeacherPath();
// The folder holding presets and the demo teacher: DFQ_RESOURCES when set, else the installed
// share folder beside the executable, else the source tree's resources/.
std::string resourceDir();

}  // namespace dfq::run
