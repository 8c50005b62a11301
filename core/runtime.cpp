#include "runtime.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <cstdlib>
#include <thread>

#include "cpu_memory.h"
#include "version.h"

namespace dfq {

int initTorchThreads() {
    int threads = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("DFQ_THREADS")) {
        const int requested = std::atoi(env);
        if (requested > 0)
            threads = requested;
    }
    if (threads < 1)
        threads = 1;
    at::set_num_threads(threads);
    return at::get_num_threads();
}

int initRuntime() {
    initCpuMemory();
    return initTorchThreads();
}

std::string versionString() {
    return std::string("dfq-workbench ") + kVersion + " (LibTorch " + TORCH_VERSION + ")";
}

}  // namespace dfq
