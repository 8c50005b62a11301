// Time of AIT's gradient-inundation step-size search for every conv and linear weight of the
// paper's CIFAR ResNet-20 (W4, passing threshold 1e-3, lr 1e-4), with the gradients of a real
// GDFQ student step at batch 200: the reference's sequential search against the fused one, which
// finds the same α.
//
//   bench_ait [--repeats N]
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_util.h"
#include "core/method/gradient_inundation.h"
#include "core/method/pipeline.h"
#include "core/model/model.h"
#include "core/run/experiment_config.h"
#include "core/run/run_setup.h"
#include "core/runtime.h"

using dfq::bench::median;

int main(int argc, char** argv) {
    int repeats = 20;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--repeats") == 0)
            repeats = std::atoi(argv[i + 1]);
    const int threads = dfq::initRuntime();
    std::printf("%s, %d threads\n", dfq::versionString().c_str(), threads);

    auto teacher = dfq::model::Model::load(DFQ_FIXTURES_DIR "/cifar_resnet20_b.traced.pt");
    dfq::model::ModelMeta meta;
    meta.inputShape = {3, 32, 32};
    meta.numClasses = 10;
    teacher.setMeta(meta);
    at::manual_seed(1);
    const auto pipeline = dfq::run::makePipeline(
        teacher, dfq::run::parseExperimentConfig("name: bench_ait", "bench", {"device=cpu"}));
    dfq::method::Pipeline& gdfq = *pipeline;
    for (int i = 0; i < 2; ++i)
        gdfq.step(true, false, 1e-3, 1e-4);

    // The Nesterov direction of a first step, g + 0.9 * g, per conv/linear weight.
    std::vector<at::Tensor> weights, directions;
    int64_t elements = 0;
    for (const auto& l : teacher.graph()->layers()) {
        if (l.weightParam < 0 ||
            (l.role != dfq::model::LayerRole::Conv && l.role != dfq::model::LayerRole::Linear))
            continue;
        const at::Tensor& w = gdfq.studentParams().tensor(l.weightParam);
        weights.push_back(w.detach());
        directions.push_back(w.grad().detach() * 1.9);
        elements += w.numel();
    }
    std::printf("%zu weight tensors, %lld weights; W4, threshold 1e-3, lr 1e-4\n\n", weights.size(),
                static_cast<long long>(elements));

    dfq::method::AlphaSearch s;
    s.bits = 4;
    s.threshold = 1e-3;
    using Clock = std::chrono::steady_clock;
    enum class Search { Reference, Fused, SideBySide };
    auto timeSearch = [&](Search how, std::vector<double>& alphas, int& passes) {
        std::vector<double> ms;
        for (int r = 0; r < repeats; ++r) {
            alphas.clear();
            passes = 0;
            const auto t0 = Clock::now();
            std::vector<dfq::method::AlphaResult> found;
            if (how == Search::SideBySide) {
                std::vector<dfq::method::AlphaTask> tasks;
                for (size_t k = 0; k < weights.size(); ++k)
                    tasks.push_back({weights[k], directions[k], s});
                found = dfq::method::findAlphas(tasks, 1e-4);
            } else {
                for (size_t k = 0; k < weights.size(); ++k)
                    found.push_back(
                        how == Search::Fused
                            ? dfq::method::findAlpha(weights[k], directions[k], 1e-4, s)
                            : dfq::method::referenceAlpha(weights[k], directions[k], 1e-4, s));
            }
            ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - t0).count());
            for (const auto& a : found) {
                alphas.push_back(a.alpha);
                passes += a.passes;
            }
        }
        return median(ms);
    };
    std::vector<double> refAlphas, fusedAlphas, fastAlphas;
    int refPasses = 0, fusedPasses = 0, fastPasses = 0;
    const double refMs = timeSearch(Search::Reference, refAlphas, refPasses);
    const double fusedMs = timeSearch(Search::Fused, fusedAlphas, fusedPasses);
    const double fastMs = timeSearch(Search::SideBySide, fastAlphas, fastPasses);
    std::printf("%-34s %10s %8s\n", "search", "ms/step", "sweeps");
    std::printf("%-34s %10.2f %8d\n", "reference (sequential)", refMs, refPasses);
    std::printf("%-34s %10.2f %8d\n", "fused, one tensor after another", fusedMs, fusedPasses);
    std::printf("%-34s %10.2f %8d\n", "fused, tensors side by side", fastMs, fastPasses);
    std::printf("\nsame alpha for every tensor: %s\n",
                refAlphas == fusedAlphas && refAlphas == fastAlphas ? "yes" : "NO");
    std::sort(fastAlphas.begin(), fastAlphas.end());
    std::printf("alpha: min %g, median %g, max %g\n", fastAlphas.front(),
                fastAlphas[fastAlphas.size() / 2], fastAlphas.back());
    return 0;
}
