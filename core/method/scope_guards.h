#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <utility>
#include <vector>

namespace dfq::method {

// Runs a function when the scope ends, however it ends (an exception included).
template <typename F>
class ScopeExit {
  public:
    explicit ScopeExit(F f) : f_(std::move(f)) {}
    ~ScopeExit() { f_(); }
    ScopeExit(const ScopeExit&) = delete;
    ScopeExit& operator=(const ScopeExit&) = delete;

  private:
    F f_;
};

// Keeps a module's buffers (the generator's BatchNorm running statistics) as they are now and
// puts them back when the scope ends, so that a pass made for a report or a calibration set
// never changes what the run trains, even when the pass throws.
class BufferRestore {
  public:
    explicit BufferRestore(torch::nn::Module& module) : module_(module) {
        for (const auto& b : module_.buffers())
            saved_.push_back(b.clone());
    }
    ~BufferRestore() {
        auto buffers = module_.buffers();
        for (size_t i = 0; i < buffers.size() && i < saved_.size(); ++i)
            buffers[i].copy_(saved_[i]);
    }
    BufferRestore(const BufferRestore&) = delete;
    BufferRestore& operator=(const BufferRestore&) = delete;

  private:
    torch::nn::Module& module_;
    std::vector<at::Tensor> saved_;
};

}  // namespace dfq::method
