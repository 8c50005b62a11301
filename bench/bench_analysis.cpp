// Time of the per-layer analysis (docs/analysis.md) of the paper's CIFAR ResNet-20: the whole
// layer x {2, 3, 4, 8} bits table, isolated and cumulative, from 8 batches of 64 images, with
// each setting continuing the FP pass from its first quantized layer against whole forward
// passes per setting (the same figures).
//
//   bench_analysis [--batches N] [--batch B] [--whole]
#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_util.h"
#include "core/analysis/layer_analyzer.h"
#include "core/model/model.h"
#include "core/runtime.h"

namespace {

double timeAnalysis(const dfq::model::Model& teacher, const std::vector<at::Tensor>& inputs,
                    bool resume, dfq::analysis::LayerReport& report) {
    dfq::analysis::AnalysisOptions o;
    o.bits = {2, 3, 4, 8};
    o.resume = resume;
    o.quant.weightBits = 4;
    o.quant.activationBits = 4;
    dfq::analysis::LayerAnalyzer analyzer(teacher, o);
    std::vector<dfq::analysis::InputBatch> batches;
    for (const auto& x : inputs)
        batches.push_back({x, {}});
    const auto t0 = std::chrono::steady_clock::now();
    analyzer.setInputs(batches);
    report = analyzer.analyze();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    int batches = 8, batch = 64;
    bool whole = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
            batches = std::atoi(argv[++i]);
        else if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = std::atoi(argv[++i]);
        else if (std::strcmp(argv[i], "--whole") == 0)
            whole = true;
    }
    const int threads = dfq::initRuntime();
    std::printf("%s, %d threads\n", dfq::versionString().c_str(), threads);
    auto teacher = dfq::model::Model::load(DFQ_FIXTURES_DIR "/cifar_resnet20_b.traced.pt");
    dfq::model::ModelMeta meta;
    meta.inputShape = {3, 32, 32};
    meta.numClasses = 10;
    teacher.setMeta(meta);
    at::manual_seed(1);
    std::vector<at::Tensor> inputs;
    for (int i = 0; i < batches; ++i)
        inputs.push_back(at::randn({batch, 3, 32, 32}));

    dfq::analysis::LayerReport report;
    const double resumed = timeAnalysis(teacher, inputs, true, report);
    int weights = 0, activations = 0;
    for (const auto& l : report.layers)
        (l.kind == dfq::analysis::QuantizerKind::Weight ? weights : activations)++;
    std::printf(
        "CIFAR ResNet-20: %d weight and %d activation quantizers x bits {2,3,4,8}, "
        "isolated + cumulative, %d batches of %d\n",
        weights, activations, batches, batch);
    std::printf("  resumed from each quantized layer:  %.1f s\n", resumed);
    if (whole) {
        dfq::analysis::LayerReport again;
        const double full = timeAnalysis(teacher, inputs, false, again);
        double maxDiff = 0;
        for (size_t q = 0; q < report.layers.size(); ++q)
            for (size_t k = 0; k < report.bits.size(); ++k)
                maxDiff = std::max(
                    {maxDiff,
                     std::abs(report.layers[q].isolated[k].kl - again.layers[q].isolated[k].kl),
                     std::abs(report.layers[q].cumulative[k].kl -
                              again.layers[q].cumulative[k].kl)});
        std::printf(
            "  whole forward pass per setting:     %.1f s (%.2fx), largest KL difference %g\n",
            full, full / resumed, maxDiff);
    }
    std::printf("  peak memory %.0f MB\n\n", dfq::bench::peakMb());
    std::printf("%-28s %-10s %10s %10s %10s\n", "quantizer (W3 / A3)", "kind", "SQNR dB", "KL",
                "agree %");
    const int k = report.bitsIndex(3);
    for (const auto& l : report.layers)
        std::printf("%-28s %-10s %10.2f %10.4f %10.2f\n", l.name.c_str(),
                    dfq::analysis::kindName(l.kind), l.isolated[k].sqnrDb, l.isolated[k].kl,
                    l.isolated[k].agreement);
    return 0;
}
