#pragma once

#include <c10/core/Device.h>

#include <string>

namespace dfq {

// The device a run uses: "cpu", "cuda" (throws dfq::Error when this LibTorch has no CUDA or no
// GPU is visible) or "auto" (CUDA when available, else the CPU).
c10::Device resolveDevice(const std::string& requested);

// Whether this LibTorch was built with CUDA and sees a GPU.
bool cudaAvailable();

}  // namespace dfq
