#pragma once

#include <string>

namespace dfq {

// Sets LibTorch's intra-op thread count to the number of cores (or DFQ_THREADS when set).
// Debian's LibTorch otherwise picks 1 thread on small machines. Returns the count in use.
int initTorchThreads();

// What every program does first: the CPU memory mode (cpu_memory.h), then initTorchThreads().
// Returns the thread count.
int initRuntime();

// "dfq-workbench 0.1.0 (LibTorch 1.13.0)"
std::string versionString();

}  // namespace dfq
