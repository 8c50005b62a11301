#include "fixtures.h"

#include "core/method/pipeline.h"
#include "core/run/experiment_config.h"
#include "core/run/run_setup.h"

#include <gtest/gtest.h>

#include <torch/csrc/jit/serialization/import.h>
#include <yaml-cpp/yaml.h>

#include "core/error.h"

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace dfq::test {

std::unique_ptr<method::Pipeline> pipelineFor(const model::Model& teacher,
                                              const std::vector<std::string>& settings) {
    const auto config = run::parseExperimentConfig("name: test", "test.yaml", settings);
    return run::makePipeline(teacher, config);
}

std::string fixturePath(const std::string& file) {
    return std::string(DFQ_FIXTURES_DIR) + "/" + file;
}

std::string largeFixturePath(const std::string& file) {
    return std::string(DFQ_LARGE_FIXTURES_DIR) + "/" + file;
}

FixtureIo loadFixtureIo(const std::string& ioPath) {
    torch::jit::ExtraFilesMap extra{{"bn_order.json", ""}};
    auto holder = torch::jit::load(ioPath, at::kCPU, extra);
    FixtureIo io;
    io.input = holder.attr("input").toTensor();
    if (holder.hasattr("output"))
        io.output = holder.attr("output").toTensor();
    if (!extra["bn_order.json"].empty()) {
        for (const auto& name : YAML::Load(extra["bn_order.json"]))
            io.bnOrder.push_back(name.as<std::string>());
    }
    for (size_t i = 0; i < io.bnOrder.size(); ++i) {
        io.bnMean.push_back(holder.attr("bn_mean_" + std::to_string(i)).toTensor());
        io.bnVar.push_back(holder.attr("bn_var_" + std::to_string(i)).toTensor());
    }
    return io;
}

namespace {
void writeBigEndian32(std::ofstream& out, uint32_t v) {
    const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                           static_cast<char>(v >> 8), static_cast<char>(v)};
    out.write(bytes, 4);
}
}  // namespace

void writeIdx(const std::string& imagesPath, const std::string& labelsPath,
              const at::Tensor& images, const at::Tensor& labels) {
    at::Tensor img = images.reshape({images.size(0), images.size(-2), images.size(-1)})
                         .to(at::kByte)
                         .contiguous();
    std::ofstream out(imagesPath, std::ios::binary);
    writeBigEndian32(out, 0x803);
    for (int64_t d : img.sizes())
        writeBigEndian32(out, static_cast<uint32_t>(d));
    out.write(reinterpret_cast<const char*>(img.data_ptr<uint8_t>()), img.numel());
    at::Tensor lab = labels.to(at::kByte).contiguous();
    std::ofstream lout(labelsPath, std::ios::binary);
    writeBigEndian32(lout, 0x801);
    writeBigEndian32(lout, static_cast<uint32_t>(lab.size(0)));
    lout.write(reinterpret_cast<const char*>(lab.data_ptr<uint8_t>()), lab.numel());
}

namespace {
struct TempRoot {
    std::filesystem::path path;
    TempRoot() {
        path = std::filesystem::temp_directory_path() / ("dfq_tests_" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
    }
    ~TempRoot() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
}  // namespace

std::string errorOf(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const dfq::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no dfq::Error was thrown";
    return {};
}

std::string tempDir() {
    static TempRoot root;
    static int counter = 0;
    auto dir = root.path / std::to_string(counter++);
    std::filesystem::create_directories(dir);
    return dir.string();
}

}  // namespace dfq::test
