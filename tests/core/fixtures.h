#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dfq::model {
class Model;
}
namespace dfq::method {
class Pipeline;
}

namespace dfq::test {

// The pipeline (context and recipes) an experiment of these `key=value` settings builds for the
// teacher (which must outlive it).
std::unique_ptr<method::Pipeline> pipelineFor(const model::Model& teacher,
                                              const std::vector<std::string>& settings);

// The reference data PyTorch wrote beside a fixture model (NAME.io.pt).
struct FixtureIo {
    at::Tensor input;
    at::Tensor output;  // undefined for fixtures that must fail
    std::vector<std::string> bnOrder;
    std::vector<at::Tensor> bnMean;
    std::vector<at::Tensor> bnVar;
};

std::string fixturePath(const std::string& file);       // committed fixtures
std::string largeFixturePath(const std::string& file);  // made at build time
FixtureIo loadFixtureIo(const std::string& ioPath);
// Writes an uncompressed IDX pair (uint8 images [N, H, W] or [N, 1, H, W], labels [N]).
void writeIdx(const std::string& imagesPath, const std::string& labelsPath,
              const at::Tensor& images, const at::Tensor& labels);
// The message of the dfq::Error that fn throws, and a test failure when it throws none.
std::string errorOf(const std::function<void()>& fn);
// A fresh temporary folder, removed at exit of the process.
std::string tempDir();

}  // namespace dfq::test
