// The experiment parser: the input is YAML, optionally followed by a NUL and --set overrides,
// one per line; the result is also written back and parsed again (it must round-trip).
#include <cstdlib>

#include "core/run/experiment_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const size_t nul = input.find('\0');
    const std::string yaml = input.substr(0, nul);
    std::vector<std::string> sets;
    if (nul != std::string::npos) {
        size_t from = nul + 1;
        for (size_t end; (end = input.find('\n', from)) != std::string::npos; from = end + 1)
            sets.push_back(input.substr(from, end - from));
        sets.push_back(input.substr(from));
    }
    dfq::run::ExperimentConfig c;
    try {
        c = dfq::run::parseExperimentConfig(yaml, "fuzz.yaml", sets);
    } catch (const std::exception&) {
        return 0;
    }
    // What the workbench writes as config.yaml must read back as the same experiment.
    const std::string written = dfq::run::toYaml(c);
    try {
        if (dfq::run::toYaml(dfq::run::parseExperimentConfig(written, "config.yaml")) != written)
            std::abort();
    } catch (const std::exception&) {
        std::abort();
    }
    return 0;
}
