#include "cpu_memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__SANITIZE_ADDRESS__)
#define DFQ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DFQ_ASAN 1
#endif
#endif

namespace dfq {
namespace {

// Why: a training or evaluation loop frees and reallocates the same multi-megabyte feature maps
// thousands of times. With glibc's defaults, blocks above its mmap threshold (128 KiB, rising
// to at most 32 MiB) come from mmap and go back with munmap, and the heap's top is trimmed
// whenever more than twice that is free, so each such tensor came back as fresh pages the
// kernel had to fault in and zero: 1.4 million minor faults for 2,000 CIFAR images at batch
// 256, and more kernel than model time.
//
// Two remedies were measured side by side on one machine (docs/performance.md): these settings,
// and a caching tensor allocator installed with c10::SetCPUAllocator (free lists per size
// class, bounded by a multiple of the most bytes ever live). Both removed most faults, but the
// cache reuses a block only for a tensor of its own size class: an evaluation, whose feature
// maps halve at each stage, needs every stage's blocks at once, so a bound of 1.25x the live
// peak evicted and refaulted every batch (225,000 faults for 5,000 images), and 2x still left
// 5,300 faults per training iteration at batch 200 against 1,400 here, with 10 % more peak
// memory in evaluation (14 % less in training). glibc's heap splits and merges free blocks
// across sizes, and these settings also cover what does not go through LibTorch's allocator
// (oneDNN's and OpenBLAS's buffers). So the heap it is:
//  - M_MMAP_MAX 0: no block comes from mmap (the heap serves them all);
//  - M_TRIM_THRESHOLD "never": the heap's top is not handed back after each free;
//  - M_ARENA_MAX 1: every thread allocates from the main heap. A second thread (the window's
//    training thread) otherwise gets an arena of 64 MiB heaps, and glibc still serves blocks
//    larger than that with mmap: 39,000 faults per iteration at batch 200 and 35 % more peak
//    memory, measured with bench_gdfq --worker-thread.
// releaseCpuMemory() gives the free pages back at the end of a run.
//
// And LibTorch's tensors through plain malloc: LibTorch's own allocator asks glibc for 64-byte
// aligned blocks (posix_memalign), which glibc 2.36 serves by asking for the size plus the
// alignment and a header, so a freed block is a few bytes too small for the next tensor of its
// size: each such tensor then extended the heap anew (a test allocates 64 MB five times). This
// allocator asks malloc for the size plus 64 bytes and aligns inside, so a freed block fits the
// next tensor of its size exactly; the block's start is kept just before the aligned pointer.
constexpr size_t kAlignment = 64;  // LibTorch's (c10::gAlignment): AVX-512 loads

void freeAligned(void* p) {
    if (p)
        std::free(static_cast<void**>(p)[-1]);
}

class AlignedMallocAllocator final : public c10::Allocator {
  public:
    c10::DataPtr allocate(size_t n) const override {
        if (n == 0)
            return {nullptr, nullptr, &freeAligned, c10::Device(c10::DeviceType::CPU)};
        void* raw = std::malloc(n + kAlignment);
        TORCH_CHECK(raw, "not enough memory: a tensor of ", n, " bytes does not fit");
        // malloc's blocks are 16-byte aligned, so there are at least 16 bytes before the
        // aligned pointer for the block's start.
        const auto start = reinterpret_cast<uintptr_t>(raw);
        void* p = reinterpret_cast<void*>((start + kAlignment) & ~(kAlignment - 1));
        static_cast<void**>(p)[-1] = raw;
        return {p, p, &freeAligned, c10::Device(c10::DeviceType::CPU)};
    }
    c10::DeleterFnPtr raw_deleter() const override { return &freeAligned; }
};

CpuMemoryMode installed = CpuMemoryMode::System;

}  // namespace

CpuMemoryMode initCpuMemory() {
    static std::once_flag once;
    std::call_once(once, [] {
        const char* env = std::getenv("DFQ_CPU_MEMORY");
        installed =
            env && std::strcmp(env, "system") == 0 ? CpuMemoryMode::System : CpuMemoryMode::Keep;
        if (installed == CpuMemoryMode::Keep) {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, -1);  // an unsigned threshold: -1 is "never"
            mallopt(M_ARENA_MAX, 1);
#ifndef DFQ_ASAN
            // Never destroyed: it must outlive every tensor, static ones included.
            c10::SetCPUAllocator(new AlignedMallocAllocator, /*priority=*/1);
#endif
        }
    });
    return installed;
}

void releaseCpuMemory() {
    malloc_trim(0);
}

CpuMemoryMode cpuMemoryMode() {
    return installed;
}

std::string describe(CpuMemoryMode mode) {
    return mode == CpuMemoryMode::Keep ? "freed memory kept for reuse" : "glibc defaults";
}

}  // namespace dfq
