#include "precision.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "error.h"

namespace dfq {

namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register states the operating system saves (and so allows).
unsigned long long xcr0() {
    unsigned eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

}  // namespace

CpuBf16Support cpuBf16Support() {
    CpuBf16Support s;
    s.onednn = at::hasMKLDNN();
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))  // OSXSAVE
        return s;
    const unsigned long long xcr = xcr0();
    const bool avx512State = (xcr & 0xE6) == 0xE6;               // XMM, YMM, opmask, ZMM state
    const bool amxState = (xcr & (3ull << 17)) == (3ull << 17);  // XTILECFG, XTILEDATA
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        const bool avx512f = b & (1u << 16);
        s.amxBf16 = amxState && (d & (1u << 22));
        unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
        if (avx512f && avx512State && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
            s.avx512Bf16 = a1 & (1u << 5);
    }
#endif
    return s;
}

std::string cpuVectorUnits() {
    std::string units;
#if defined(__x86_64__) || defined(__i386__)
    auto add = [&](bool has, const char* name) {
        if (has)
            units += std::string(units.empty() ? "" : " ") + name;
    };
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))  // OSXSAVE
        return units;
    const bool fma = c & (1u << 12);
    const unsigned long long xcr = xcr0();
    const bool ymmState = (xcr & 0x6) == 0x6;
    const bool zmmState = (xcr & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return units;
    const bool avx512 = zmmState && (b & (1u << 16));
    add(ymmState && (b & (1u << 5)), "AVX2");
    add(ymmState && fma, "FMA");
    add(avx512, "AVX-512");
    add(avx512 && (c & (1u << 11)), "AVX512-VNNI");
    const CpuBf16Support bf16 = cpuBf16Support();
    add(bf16.avx512Bf16, "AVX512-BF16");
    add(bf16.amxBf16, "AMX-BF16");
#endif
    return units;
}

std::string CpuBf16Support::describe() const {
    std::string units;
    if (avx512Bf16)
        units += "AVX512-BF16";
    if (amxBf16)
        units += std::string(units.empty() ? "" : ", ") + "AMX-BF16";
    if (native())
        return "native (" + units + ")";
    if (!onednn)
        return "not native (this LibTorch has no oneDNN)";
    return "not native (no AVX512-BF16 or AMX-BF16 on this CPU)";
}

c10::ScalarType computeType(const std::string& precision, c10::Device device,
                            const CpuBf16Support& cpu) {
    if (precision == "fp32")
        return c10::ScalarType::Float;
    if (precision == "bf16") {
        if (device.is_cpu()) {
            if (!cpu.native())
                throw Error(
                    "precision: bf16 needs a CPU with native bfloat16 (AVX512-BF16 or "
                    "AMX-BF16); this CPU's bfloat16 is " +
                    cpu.describe() +
                    " and would be emulated, slower than fp32. Use precision: fp32, or a GPU");
        }
        return c10::ScalarType::BFloat16;
    }
    throw Error("precision: '" + precision + "' is not one of fp32, bf16");
}

namespace {

// LibTorch 2.4 replaced the per-device autocast calls (is_enabled, is_cpu_enabled,
// set_autocast_gpu_dtype ...) by calls that take the device type; later versions drop the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocastEnabled(c10::DeviceType d) {
    return at::autocast::is_autocast_enabled(d);
}
c10::ScalarType autocastType(c10::DeviceType d) {
    return at::autocast::get_autocast_dtype(d);
}
void setAutocast(c10::DeviceType d, bool enabled, c10::ScalarType type) {
    at::autocast::set_autocast_dtype(d, type);
    at::autocast::set_autocast_enabled(d, enabled);
}
#else
bool autocastEnabled(c10::DeviceType d) {
    return d == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
c10::ScalarType autocastType(c10::DeviceType d) {
    return d == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                           : at::autocast::get_autocast_cpu_dtype();
}
void setAutocast(c10::DeviceType d, bool enabled, c10::ScalarType type) {
    if (d == c10::kCUDA) {
        at::autocast::set_autocast_gpu_dtype(type);
        at::autocast::set_enabled(enabled);
    } else {
        at::autocast::set_autocast_cpu_dtype(type);
        at::autocast::set_cpu_enabled(enabled);
    }
}
#endif

}  // namespace

c10::ScalarType activeAutocastType(c10::Device device) {
    const c10::DeviceType d = device.is_cuda() ? c10::kCUDA : c10::kCPU;
    return autocastEnabled(d) ? autocastType(d) : c10::ScalarType::Float;
}

AutocastScope::AutocastScope(c10::ScalarType type, c10::Device device) {
    if (type == c10::ScalarType::Float)
        return;
    active_ = true;
    cuda_ = device.is_cuda();
    const c10::DeviceType d = cuda_ ? c10::kCUDA : c10::kCPU;
    wasEnabled_ = autocastEnabled(d);
    previous_ = autocastType(d);
    setAutocast(d, true, type);
    at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
    if (!active_)
        return;
    // The cast weights are cached within the outermost scope only: they change at every step.
    if (at::autocast::decrement_nesting() == 0)
        at::autocast::clear_cache();
    setAutocast(cuda_ ? c10::kCUDA : c10::kCPU, wasEnabled_, previous_);
}

}  // namespace dfq
