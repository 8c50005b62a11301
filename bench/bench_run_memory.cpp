// Memory over a whole run: the resident memory after every epoch of an experiment (the W4A4
// demo preset unless another is given), so that a long run shows whether it grows without
// bound, with the peak, the minor page faults and the kernel time of each epoch.
//
//   bench_run_memory [PRESET.yaml] [--set key=value]... [--worker-thread]
//
// --worker-thread trains on a second thread, as the window does. DFQ_CPU_MEMORY=system runs
// with glibc's defaults (core/cpu_memory.h), for a before/after in one call.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "core/cpu_memory.h"
#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/run/trainer.h"
#include "core/runtime.h"

namespace {

using dfq::bench::KernelUsage;

struct MemoryPerEpoch : dfq::run::Observer {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    KernelUsage last = KernelUsage::now();
    double firstRss = 0, lastRss = 0;

    void onEval(const dfq::run::EvalStats& e) override {
        const KernelUsage now = KernelUsage::now(), used = now - last;
        last = now;
        lastRss = dfq::bench::rssMb();
        if (firstRss == 0)
            firstRss = lastRss;
        std::printf(
            "%6lld %9.2f %9.0f %9.0f %12ld %9.2f %9.0f\n", static_cast<long long>(e.epoch + 1),
            e.top1, lastRss, dfq::bench::peakMb(), used.minorFaults, used.systemSeconds,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        std::fflush(stdout);
    }
};

}  // namespace

int main(int argc, char** argv) {
    std::string preset;
    std::vector<std::string> sets;
    bool workerThread = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            sets.push_back(argv[++i]);
        else if (std::strcmp(argv[i], "--worker-thread") == 0)
            workerThread = true;
        else
            preset = argv[i];
    }
    const int threads = dfq::initRuntime();
    if (preset.empty())
        preset = dfq::run::resourceDir() + "/presets/demo-fmnist-gdfq-w4a4.yaml";
    const auto config = dfq::run::loadExperimentConfig(preset, sets);
    std::printf("%s, %d threads, CPU memory: %s%s\n%s\n\n", dfq::versionString().c_str(), threads,
                dfq::describe(dfq::cpuMemoryMode()).c_str(),
                workerThread ? ", on a worker thread" : "", preset.c_str());
    std::printf("%6s %9s %9s %9s %12s %9s %9s\n", "epoch", "top-1", "RSS MB", "peak MB",
                "minor faults", "system s", "wall s");
    MemoryPerEpoch observer;
    auto body = [&] {
        if (workerThread)
            dfq::initTorchThreads();
        dfq::run::Trainer(config, {&observer}).run();
    };
    if (workerThread)
        std::thread(body).join();
    else
        body();
    std::printf("\nresident after the first epoch %.0f MB, after the last %.0f MB; peak %.0f MB\n",
                observer.firstRss, observer.lastRss, dfq::bench::peakMb());
    return 0;
}
