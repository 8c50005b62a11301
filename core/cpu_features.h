#pragma once

#include <string>

namespace dfq {

// What this CPU offers for bfloat16: native instructions (AVX512-BF16, AMX-BF16) make bf16
// convolutions through oneDNN faster than fp32; without them bf16 is emulated and slower.
struct CpuBf16Support {
    bool avx512Bf16 = false;
    bool amxBf16 = false;
    bool onednn = false;  // this LibTorch has oneDNN (MKL-DNN), which runs the bf16 kernels
    bool native() const { return onednn && (avx512Bf16 || amxBf16); }
    // "native (AVX512-BF16, AMX-BF16)" or "not native (...why)".
    std::string describe() const;
};

CpuBf16Support cpuBf16Support();

// The vector units this CPU offers and the operating system enables, which decide the kernels
// oneDNN and the BLAS run (and so the order in which they sum): "AVX2 FMA AVX-512 AVX512-VNNI
// AVX512-BF16 AMX-BF16", as many as apply; "" on other processors.
std::string cpuVectorUnits();

}  // namespace dfq
