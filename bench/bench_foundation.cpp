// Foundation figures: model import time, interpreter overhead against the JIT, evaluation
// throughput. Prints a table; not a test.
//
//   bench_foundation [--repeats N]
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/model/interpreter.h"
#include "core/model/model.h"
#include "core/run/demo_teacher.h"
#include "core/runtime.h"
#include "core/zip_check.h"

using dfq::bench::median;
using dfq::bench::peakMb;

namespace {

double seconds(const std::function<void()>& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Median time of `repeats` calls after two warm-up calls.
double timeIt(int repeats, const std::function<void()>& fn) {
    fn();
    fn();
    std::vector<double> t;
    for (int i = 0; i < repeats; ++i)
        t.push_back(seconds(fn));
    return median(t);
}

struct Case {
    std::string name;
    std::string path;
    std::vector<int64_t> shape;  // [N, C, H, W]
};

}  // namespace

int main(int argc, char** argv) {
    int repeats = 20;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--repeats") == 0)
            repeats = std::atoi(argv[i + 1]);
    const int threads = dfq::initRuntime();
    std::printf("%s, %d threads\n\n", dfq::versionString().c_str(), threads);
    c10::NoGradGuard noGrad;

    const std::string large = DFQ_LARGE_FIXTURES_DIR;
    const std::string small = DFQ_FIXTURES_DIR;
    const std::string resnet18 = large + "/resnet18.traced.pt";
    if (std::filesystem::exists(resnet18)) {
        std::vector<double> t, unchecked, check;
        for (int i = 0; i < 5; ++i) {
            t.push_back(seconds([&] { dfq::model::Model::load(resnet18); }));
            unchecked.push_back(seconds([&] { dfq::model::Model::load(resnet18, false); }));
            check.push_back(seconds([&] { dfq::verifyZipFile(resnet18); }));
        }
        std::printf(
            "Import resnet18 (traced, 11.2M params): %.0f ms (median of 5); without the "
            "integrity check %.0f ms; the CRC-32 check alone %.1f ms (%.0f MB)\n\n",
            1e3 * median(t), 1e3 * median(unchecked), 1e3 * median(check),
            static_cast<double>(std::filesystem::file_size(resnet18)) / 1e6);
    } else {
        std::printf("Import resnet18: skipped, %s not built\n\n", resnet18.c_str());
    }

    std::vector<Case> cases = {
        {"demo teacher, batch 32", dfq::run::demoTeacherPath(), {32, 1, 28, 28}},
        {"cifar resnet20 traced, batch 32", small + "/cifar_resnet20_b.traced.pt", {32, 3, 32, 32}},
        {"cifar resnet20 scripted, batch 32",
         small + "/cifar_resnet20_b.scripted.pt",
         {32, 3, 32, 32}},
        {"resnet18 traced, batch 32, 64x64", resnet18, {32, 3, 64, 64}},
        {"mobilenet_v2 scripted, batch 32, 64x64",
         large + "/mobilenet_v2.scripted.pt",
         {32, 3, 64, 64}},
    };
    std::printf("Forward pass, median of %d (no grad)\n", repeats);
    std::printf("%-40s %12s %12s %8s\n", "model", "JIT ms", "Interp ms", "ratio");
    for (const auto& c : cases) {
        if (!std::filesystem::exists(c.path))
            continue;
        auto model = dfq::model::Model::load(c.path);
        auto jit = torch::jit::load(c.path);
        jit.eval();
        dfq::model::Interpreter interp(model.graph(), &model.params());
        at::manual_seed(0);
        at::Tensor x = at::randn(c.shape);
        // Interleave the two so that machine noise hits both alike.
        std::vector<double> tj, ti;
        for (int i = 0; i < 2; ++i) {
            jit.forward({x});
            interp.forward(x);
        }
        for (int i = 0; i < repeats; ++i) {
            tj.push_back(seconds([&] { jit.forward({x}); }));
            ti.push_back(seconds([&] { interp.forward(x); }));
        }
        const double j = median(tj), in = median(ti);
        std::printf("%-40s %12.2f %12.2f %7.3fx\n", c.name.c_str(), 1e3 * j, 1e3 * in, in / j);
    }

    const std::string fmnist = dfq::run::kFashionMnistDir;
    if (std::filesystem::exists(fmnist) && std::filesystem::exists(dfq::run::demoTeacherPath())) {
        auto model = dfq::model::Model::load(dfq::run::demoTeacherPath());
        auto data = dfq::data::loadDataset(fmnist, dfq::data::Split::Test);
        dfq::model::Interpreter interp(model.graph(), &model.params());
        const auto& meta = model.meta();
        dfq::data::EvalResult r;
        const double t = timeIt(2, [&] {
            r = dfq::data::evaluate([&](const at::Tensor& x) { return interp.forward(x); }, data,
                                    meta.inputShape, {meta.mean, meta.std}, 256);
        });
        std::printf(
            "\nEvaluation, demo teacher on the Fashion-MNIST test set (batch 256): "
            "%.0f images/s (%lld images in %.2f s, top-1 %.2f %%)\n",
            static_cast<double>(r.images) / t, static_cast<long long>(r.images), t, r.top1);
    }
    return 0;
}
