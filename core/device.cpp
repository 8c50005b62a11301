#include "device.h"

#include <torch/cuda.h>

#include "error.h"

namespace dfq {

bool cudaAvailable() {
    return torch::cuda::is_available();
}

c10::Device resolveDevice(const std::string& requested) {
    if (requested == "cpu")
        return c10::Device(c10::kCPU);
    if (requested == "cuda" || requested == "auto") {
        if (cudaAvailable())
            return c10::Device(c10::kCUDA, 0);
        if (requested == "auto")
            return c10::Device(c10::kCPU);
        throw Error(
            "device: cuda was asked for, but this build of LibTorch has no CUDA support "
            "or sees no GPU; use device: cpu or auto");
    }
    throw Error("device: '" + requested + "' is not one of auto, cpu, cuda");
}

}  // namespace dfq
