// Milliseconds per iteration at the paper's CIFAR ResNet-20 shape (W4A4), split into the
// generator step and the student step, and the process's peak memory (run one configuration
// per process to read its own peak).
//
//   bench_gdfq [--batch N]... [--iterations N] [--device cpu|cuda|auto] [--model FILE]
//              [--set key=value]...
//              [--generator gdfq|qimera|autorecon] [--student kd|ait] [--conv-time]
//              [--precision fp32|bf16]... [--profile] [--worker-thread] [--warmup]
//
// gdfq: GDFQ's CIFAR generator (128 channels); qimera: the same with Qimera's CIFAR-10 settings
// (p 0.4, K 2, 64-wide embedding, no mapping); autorecon: AutoReCon's derived c10 cells (64
// channels). ait: AIT's student step with gradient inundation. --conv-time (CPU) adds the time
// spent inside convolutions, forward and backward, of each iteration: what the rest costs shows
// how close the iteration is to the convolutions' floor (bench_floor). Several --precision give
// one row per batch and precision, measured side by side (bf16: autocast, see precision.h).
// faults/it and sys ms/it are the process's minor page faults and kernel time per iteration
// (core/cpu_memory.h); --worker-thread trains on a second thread, as the window does.
// --warmup times warm-up iterations (the generator or the synthesis alone, no student step).
#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <chrono>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "core/device.h"
#include "core/method/pipeline.h"
#include "core/method/registry.h"
#include "core/model/model.h"
#include "core/precision.h"
#include "core/run/experiment_config.h"
#include "core/run/run_setup.h"
#include "core/runtime.h"

using dfq::bench::KernelUsage;
using dfq::bench::median;
using dfq::bench::OperatorProfile;
using dfq::bench::peakMb;

namespace {

// Time inside convolution ops on this thread (CPU autograd runs the backward on it too),
// counting nested convolution ops (conv2d -> convolution -> mkldnn_convolution) once.
thread_local int convDepth = 0;
thread_local std::chrono::steady_clock::time_point convStart;
thread_local double convSeconds = 0;

bool isConvolution(const at::RecordFunction& fn) {
    const char* n = fn.name();
    return std::strstr(n, "convolution") || std::strstr(n, "conv2d") || std::strstr(n, "slow_conv");
}

at::CallbackHandle timeConvolutions() {
    return at::addThreadLocalCallback(
        at::RecordFunctionCallback(
            [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
                if (isConvolution(fn) && convDepth++ == 0)
                    convStart = std::chrono::steady_clock::now();
                return nullptr;
            },
            [](const at::RecordFunction& fn, at::ObserverContext*) {
                if (isConvolution(fn) && --convDepth == 0)
                    convSeconds +=
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - convStart)
                            .count();
            })
            .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

struct Options {
    std::vector<int64_t> batches;
    std::vector<std::string> precisions;
    int iterations = 10;
    std::string deviceName = "cpu", generator = "gdfq", student = "kd";
    std::string model;  // a TorchScript file with its input shape; the ResNet-20 fixture if empty
    std::vector<std::string> sets;  // more key=value settings
    bool convTime = false, profile = false, warmup = false;
};

// One row per batch and precision.
void measure(const Options& o) {
    const at::CallbackHandle convHandle = o.convTime ? timeConvolutions() : 0;
    std::unique_ptr<OperatorProfile> profiler;
    if (o.profile)
        profiler = std::make_unique<OperatorProfile>();
    std::printf("%6s %9s %14s %14s %12s %14s %16s %12s %9s%s\n", "batch", "precision",
                "generator ms", "student ms", "whole ms", "peak RSS MB", "layer probe ms",
                "faults/it", "sys ms/it", o.convTime ? "   in convs ms" : "");
    auto teacher = dfq::model::Model::load(
        o.model.empty() ? DFQ_FIXTURES_DIR "/cifar_resnet20_b.traced.pt" : o.model);
    if (o.model.empty()) {
        dfq::model::ModelMeta meta;
        meta.inputShape = {3, 32, 32};
        meta.numClasses = 10;
        teacher.setMeta(meta);
    }
    for (int64_t batch : o.batches)
        for (const std::string& precision : o.precisions) {
            // The paper recipes' keys (the released Qimera scripts: random embedding, no mapping).
            std::vector<std::string> sets = {"device=" + o.deviceName,
                                             "precision=" + precision,
                                             "generator.batch_size=" + std::to_string(batch),
                                             "method.generator=" + o.generator,
                                             "method.student=" + o.student,
                                             "qimera.embedding_init=random",
                                             "qimera.mapping=false",
                                             "autorecon.architecture=c10"};
            sets.insert(sets.end(), o.sets.begin(), o.sets.end());
            const auto config = dfq::run::parseExperimentConfig("name: bench_gdfq", "bench", sets);
            const auto pipeline = dfq::run::makePipeline(teacher, config);
            dfq::method::Pipeline& gdfq = *pipeline;
            for (int i = 0; i < 3; ++i)
                gdfq.step(!o.warmup, false, 1e-3, 1e-4);
            std::vector<double> g, s, whole, conv, probe;
            const auto kernelBefore = KernelUsage::now();
            for (int i = 0; i < o.iterations; ++i) {
                const double convBefore = convSeconds;
                OperatorProfile::recording() = o.profile;
                auto stats = gdfq.step(!o.warmup, false, 1e-3, 1e-4);
                OperatorProfile::recording() = false;
                g.push_back(stats.generatorSeconds);
                s.push_back(stats.studentSeconds);
                whole.push_back(stats.generatorSeconds + stats.studentSeconds);
                conv.push_back(convSeconds - convBefore);
                // The live layer report a run makes every output.layers_every iterations.
                const auto t0 = std::chrono::steady_clock::now();
                const at::Tensor& x = gdfq.lastImages();
                gdfq.probeLayers(x.narrow(0, 0, std::min<int64_t>(64, x.size(0))));
                probe.push_back(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            const KernelUsage kernel = KernelUsage::now() - kernelBefore;
            std::printf("%6lld %9s %14.1f %14.1f %12.1f %14.0f %16.1f %12.0f %9.1f",
                        static_cast<long long>(batch), precision.c_str(), 1e3 * median(g),
                        1e3 * median(s), 1e3 * median(whole), peakMb(), 1e3 * median(probe),
                        static_cast<double>(kernel.minorFaults) / o.iterations,
                        1e3 * kernel.systemSeconds / o.iterations);
            if (o.convTime)
                std::printf(" %14.1f", 1e3 * median(conv));
            std::printf("\n");
            if (o.profile)
                OperatorProfile::print(o.iterations);
        }
    if (o.convTime)
        at::removeCallback(convHandle);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    bool workerThread = false;
    for (int i = 1; i < argc; ++i) {
        o.convTime = o.convTime || std::strcmp(argv[i], "--conv-time") == 0;
        o.profile = o.profile || std::strcmp(argv[i], "--profile") == 0;
        o.warmup = o.warmup || std::strcmp(argv[i], "--warmup") == 0;
        workerThread = workerThread || std::strcmp(argv[i], "--worker-thread") == 0;
    }
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--generator") == 0)
            o.generator = argv[i + 1];
        if (std::strcmp(argv[i], "--student") == 0)
            o.student = argv[i + 1];
        if (std::strcmp(argv[i], "--device") == 0)
            o.deviceName = argv[i + 1];
        if (std::strcmp(argv[i], "--model") == 0)
            o.model = argv[i + 1];
        if (std::strcmp(argv[i], "--set") == 0)
            o.sets.push_back(argv[i + 1]);
        if (std::strcmp(argv[i], "--batch") == 0)
            o.batches.push_back(std::atoll(argv[i + 1]));
        if (std::strcmp(argv[i], "--precision") == 0)
            o.precisions.push_back(argv[i + 1]);
        if (std::strcmp(argv[i], "--iterations") == 0)
            o.iterations = std::atoi(argv[i + 1]);
    }
    if (o.batches.empty())
        o.batches = {32, 200};
    if (o.precisions.empty())
        o.precisions = {"fp32"};
    const int threads = dfq::initRuntime();
    const auto device = dfq::resolveDevice(o.deviceName);
    std::printf("%s, %d threads, device %s; CPU bfloat16: %s\n", dfq::versionString().c_str(),
                threads, device.str().c_str(), dfq::cpuBf16Support().describe().c_str());
    using dfq::method::findRecipe;
    if (!findRecipe(dfq::method::generatorRecipes(), o.generator) ||
        !findRecipe(dfq::method::studentRecipes(), o.student)) {
        std::fprintf(stderr, "--generator: a generator recipe, --student: a student recipe\n");
        return 2;
    }
    std::printf("%s, W4A4, generator %s, student %s%s\n",
                o.model.empty() ? "CIFAR ResNet-20 (1x1 projection shortcuts)" : o.model.c_str(),
                o.generator.c_str(), o.student.c_str(),
                workerThread ? ", on a worker thread as in the window" : "");
    std::printf("median of %d iterations after 3 warm-up iterations\n\n", o.iterations);
    o.convTime = o.convTime && device.is_cpu();
    if (!workerThread) {
        measure(o);
        return 0;
    }
    // The window trains on a second thread, where glibc's defaults give memory from another
    // arena than the main thread's (core/cpu_memory.cpp).
    std::thread([&] {
        dfq::initTorchThreads();
        measure(o);
    }).join();
    return 0;
}
