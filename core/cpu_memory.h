#pragma once

#include <string>

namespace dfq {

// Where the memory of freed tensors goes (DFQ_CPU_MEMORY, read once at start-up):
//   keep    (default) glibc keeps it in its heap for the next allocation, and tensors are
//           allocated so that a freed block fits the next tensor of its size (cpu_memory.cpp
//           says why, with the figures that chose it);
//   system  glibc's defaults: large blocks come from the kernel and go back to it when freed.
enum class CpuMemoryMode { Keep, System };

// Sets the mode DFQ_CPU_MEMORY asks for (keep when unset). Call it first in main(), before the
// program starts threads: glibc's arena setting holds for threads made after it.
CpuMemoryMode initCpuMemory();

// Hands the heap's free pages back to the kernel: at the end of a run, an evaluation or an
// analysis, so that a window that stays open does not hold its last run's peak.
void releaseCpuMemory();

CpuMemoryMode cpuMemoryMode();
std::string describe(CpuMemoryMode mode);

}  // namespace dfq
