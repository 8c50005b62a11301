// Milliseconds per iteration at the paper's CIFAR ResNet-20 shape (W4A4), split into the
// generator step and the student step, and the process's peak memory (run one configuration
// per process to read its own peak).
//
//   bench_gdfq [--batch N]... [--iterations N] [--device cpu|cuda|auto]
//              [--generator gdfq|qimera|autorecon] [--student kd|ait] [--conv-time]
//              [--precision fp32|bf16]... [--profile]
//
// gdfq: GDFQ's CIFAR generator (128 channels); qimera: the same with Qimera's CIFAR-10 settings
// (p 0.4, K 2, 64-wide embedding, no mapping); autorecon: AutoReCon's derived c10 cells (64
// channels). ait: AIT's student step with gradient inundation. --conv-time (CPU) adds the time
// spent inside convolutions, forward and backward, of each iteration: what the rest costs shows
// how close the iteration is to the convolutions' floor (bench_floor). Several --precision give
// one row per batch and precision, measured side by side (bf16: autocast, see precision.h).
#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <chrono>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
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

using dfq::bench::median;
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

// --profile: time per outermost operator (forward ops by name, backward by autograd node), on
// this thread, summed over the measured iterations.
thread_local int opDepth = 0;
thread_local std::chrono::steady_clock::time_point opStart;
std::map<std::string, std::pair<double, int64_t>> opTimes;
bool profiling = false;

at::CallbackHandle profileOperators() {
    return at::addThreadLocalCallback(
        at::RecordFunctionCallback(
            [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
                if (opDepth++ == 0)
                    opStart = std::chrono::steady_clock::now();
                return nullptr;
            },
            [](const at::RecordFunction& fn, at::ObserverContext*) {
                if (--opDepth == 0 && profiling) {
                    auto& [seconds, calls] = opTimes[fn.name()];
                    seconds +=
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - opStart)
                            .count();
                    ++calls;
                }
            })
            .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

void printProfile(int iterations) {
    std::vector<std::pair<double, std::string>> rows;
    double total = 0;
    for (const auto& [name, t] : opTimes) {
        rows.push_back({t.first, name});
        total += t.first;
    }
    std::sort(rows.rbegin(), rows.rend());
    std::printf("  %-40s %10s %8s %8s\n", "operator (outermost)", "ms/it", "calls/it", "share");
    for (size_t i = 0; i < rows.size() && i < 25; ++i)
        std::printf("  %-40s %10.2f %8.1f %7.1f%%\n", rows[i].second.c_str(),
                    1e3 * rows[i].first / iterations,
                    static_cast<double>(opTimes[rows[i].second].second) / iterations,
                    100 * rows[i].first / total);
    opTimes.clear();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int64_t> batches;
    std::vector<std::string> precisions;
    int iterations = 10;
    std::string deviceName = "cpu", generator = "gdfq", student = "kd";
    bool convTime = false, profile = false;
    for (int i = 1; i < argc; ++i) {
        convTime = convTime || std::strcmp(argv[i], "--conv-time") == 0;
        profile = profile || std::strcmp(argv[i], "--profile") == 0;
    }
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--generator") == 0)
            generator = argv[i + 1];
        if (std::strcmp(argv[i], "--student") == 0)
            student = argv[i + 1];
        if (std::strcmp(argv[i], "--device") == 0)
            deviceName = argv[i + 1];
        if (std::strcmp(argv[i], "--batch") == 0)
            batches.push_back(std::atoll(argv[i + 1]));
        if (std::strcmp(argv[i], "--precision") == 0)
            precisions.push_back(argv[i + 1]);
        if (std::strcmp(argv[i], "--iterations") == 0)
            iterations = std::atoi(argv[i + 1]);
    }
    if (batches.empty())
        batches = {32, 200};
    if (precisions.empty())
        precisions = {"fp32"};
    const int threads = dfq::initTorchThreads();
    const auto device = dfq::resolveDevice(deviceName);
    std::printf("%s, %d threads, device %s; CPU bfloat16: %s\n", dfq::versionString().c_str(),
                threads, device.str().c_str(), dfq::cpuBf16Support().describe().c_str());
    using dfq::method::findRecipe;
    if (!findRecipe(dfq::method::generatorRecipes(), generator) ||
        !findRecipe(dfq::method::studentRecipes(), student)) {
        std::fprintf(stderr, "--generator: a generator recipe, --student: a student recipe\n");
        return 2;
    }
    std::printf("CIFAR ResNet-20 (1x1 projection shortcuts), W4A4, generator %s, student %s\n",
                generator.c_str(), student.c_str());
    std::printf("median of %d iterations after 3 warm-up iterations\n\n", iterations);
    convTime = convTime && device.is_cpu();
    const at::CallbackHandle convHandle = convTime ? timeConvolutions() : 0;
    const at::CallbackHandle profileHandle = profile ? profileOperators() : 0;
    std::printf("%6s %9s %14s %14s %12s %14s %16s%s\n", "batch", "precision", "generator ms",
                "student ms", "whole ms", "peak RSS MB", "layer probe ms",
                convTime ? "   in convs ms" : "");

    auto teacher = dfq::model::Model::load(DFQ_FIXTURES_DIR "/cifar_resnet20_b.traced.pt");
    dfq::model::ModelMeta meta;
    meta.inputShape = {3, 32, 32};
    meta.numClasses = 10;
    teacher.setMeta(meta);
    for (int64_t batch : batches)
        for (const std::string& precision : precisions) {
            // The paper recipes' keys (the released Qimera scripts: random embedding, no mapping).
            const auto config = dfq::run::parseExperimentConfig(
                "name: bench_gdfq", "bench",
                {"device=" + deviceName, "precision=" + precision,
                 "generator.batch_size=" + std::to_string(batch), "method.generator=" + generator,
                 "method.student=" + student, "qimera.embedding_init=random",
                 "qimera.mapping=false", "autorecon.architecture=c10"});
            const auto pipeline = dfq::run::makePipeline(teacher, config);
            dfq::method::Pipeline& gdfq = *pipeline;
            for (int i = 0; i < 3; ++i)
                gdfq.step(true, false, 1e-3, 1e-4);
            std::vector<double> g, s, whole, conv, probe;
            for (int i = 0; i < iterations; ++i) {
                const double convBefore = convSeconds;
                profiling = profile;
                auto stats = gdfq.step(true, false, 1e-3, 1e-4);
                profiling = false;
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
            std::printf("%6lld %9s %14.1f %14.1f %12.1f %14.0f %16.1f",
                        static_cast<long long>(batch), precision.c_str(), 1e3 * median(g),
                        1e3 * median(s), 1e3 * median(whole), peakMb(), 1e3 * median(probe));
            if (convTime)
                std::printf(" %14.1f", 1e3 * median(conv));
            std::printf("\n");
            if (profile)
                printProfile(iterations);
        }
    if (convTime)
        at::removeCallback(convHandle);
    if (profile)
        at::removeCallback(profileHandle);
    return 0;
}
