#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

#include "cpu_features.h"

namespace dfq {

// The floating-point type of the mixed-precision passes for `precision` ("fp32", "bf16"), or
// throws dfq::Error saying why it cannot run on `device`: bf16 on a CPU without native support
// is refused rather than emulated slowly. fp32 gives at::kFloat (no autocast).
c10::ScalarType computeType(const std::string& precision, c10::Device device,
                            const CpuBf16Support& cpu = cpuBf16Support());

// Autocast to `type` on `device` for this scope (nothing for at::kFloat): convolutions and
// matrix products run in `type`, with fp32 weights kept as the master copy.
class AutocastScope {
  public:
    AutocastScope(c10::ScalarType type, c10::Device device);
    ~AutocastScope();
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

  private:
    bool active_ = false;
    bool cuda_ = false;
    bool wasEnabled_ = false;
    c10::ScalarType previous_ = c10::ScalarType::Float;
};

// The type autocast is on for `device`'s kind in this thread; at::kFloat when it is off.
c10::ScalarType activeAutocastType(c10::Device device);

// A lower-precision floating tensor as fp32; any other tensor as it is.
template <typename T>
T asFloat(const T& t) {
    const auto s = t.scalar_type();
    return s == c10::ScalarType::BFloat16 || s == c10::ScalarType::Half
               ? t.to(c10::ScalarType::Float)
               : t;
}

}  // namespace dfq
