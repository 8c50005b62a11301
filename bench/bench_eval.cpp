// Evaluation speed: `dfq eval`'s loop (data::evaluate over the workbench's interpreter) on a
// real model and data set, one row per batch size and memory format, with what the kernel did
// meanwhile (minor page faults, system time) and the peak resident memory.
//
//   bench_eval MODEL DATA [--batch N]... [--variant plain|channels-last|inference-mode]...
//              [--limit N] [--profile]
//
// channels-last hands the model NHWC batches; inference-mode runs the loop under
// c10::InferenceMode instead of NoGradGuard.
//
// bench/eval_check.sh runs it beside PyTorch's own forward of the same file
// (bench/eval_reference.py) and `dfq eval`, in one call on one machine.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/cpu_memory.h"
#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/model/interpreter.h"
#include "core/model/model.h"
#include "core/runtime.h"

using dfq::bench::KernelUsage;
using dfq::bench::OperatorProfile;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: bench_eval MODEL DATA [--batch N]... "
                     "[--variant plain|channels-last|inference-mode]... [--limit N] [--profile]\n");
        return 2;
    }
    std::vector<int64_t> batches;
    std::vector<std::string> variants;
    int64_t limit = 0;
    bool profile = false;
    for (int i = 3; i < argc; ++i) {
        profile = profile || std::strcmp(argv[i], "--profile") == 0;
        if (i + 1 >= argc)
            continue;
        if (std::strcmp(argv[i], "--batch") == 0)
            batches.push_back(std::atoll(argv[i + 1]));
        if (std::strcmp(argv[i], "--variant") == 0)
            variants.push_back(argv[i + 1]);
        if (std::strcmp(argv[i], "--limit") == 0)
            limit = std::atoll(argv[i + 1]);
    }
    if (batches.empty())
        batches = {dfq::data::kDefaultEvalBatch};
    if (variants.empty())
        variants = {"plain"};
    const int threads = dfq::initRuntime();
    std::printf("%s, %d threads, CPU memory: %s\n", dfq::versionString().c_str(), threads,
                dfq::describe(dfq::cpuMemoryMode()).c_str());
    auto model = dfq::model::Model::load(argv[1]);
    const auto& meta = model.meta();
    auto data = dfq::data::loadDataset(argv[2], dfq::data::Split::Test, meta.inputShape);
    if (limit > 0 && limit < data.size()) {
        data.images = data.images.narrow(0, 0, limit);
        data.labels = data.labels.narrow(0, 0, limit);
    }
    std::printf("%s on %s (%lld images)\n\n", model.path().c_str(), data.source.c_str(),
                static_cast<long long>(data.size()));
    std::unique_ptr<OperatorProfile> profiler;
    if (profile)
        profiler = std::make_unique<OperatorProfile>();
    std::printf("%6s %14s %9s %9s %12s %10s %12s %9s\n", "batch", "variant", "seconds", "img/s",
                "minor faults", "system s", "peak RSS MB", "top-1");
    dfq::model::Interpreter interp(model.graph(), &model.params());
    for (const int64_t batch : batches)
        for (const std::string& variant : variants) {
            const bool channelsLast = variant == "channels-last";
            std::optional<c10::InferenceMode> inferenceMode;
            if (variant == "inference-mode")
                inferenceMode.emplace();
            OperatorProfile::recording() = profile;
            const KernelUsage before = KernelUsage::now();
            const auto r = dfq::data::evaluate(
                [&](const at::Tensor& x) {
                    return interp.forward(
                        channelsLast ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
                },
                data, meta.inputShape, {meta.mean, meta.std}, batch);
            inferenceMode.reset();
            const KernelUsage used = KernelUsage::now() - before;
            OperatorProfile::recording() = false;
            std::printf("%6lld %14s %9.2f %9.0f %12ld %10.2f %12.0f %8.2f%%\n",
                        static_cast<long long>(batch), variant.c_str(), r.seconds,
                        static_cast<double>(r.images) / r.seconds, used.minorFaults,
                        used.systemSeconds, dfq::bench::peakMb(), r.top1);
            if (profile)
                OperatorProfile::print(static_cast<int>((data.size() + batch - 1) / batch),
                                       "batch");
        }
    return 0;
}
