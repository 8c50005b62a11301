// `dfq analyze`: per-layer diagnosis and mixed-precision plans from the command line
// (docs/analysis.md).
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "commands.h"
#include "core/analysis/report_io.h"
#include "core/error.h"
#include "core/run/analysis_job.h"
#include "core/run/demo_teacher.h"
#include "core/run/run_directory.h"
#include "progress_bar.h"

namespace dfq::app {
namespace {

std::string figure(double v, int digits) {
    if (std::isnan(v))
        return "-";
    if (std::isinf(v))
        return "exact";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

volatile std::sig_atomic_t gAnalysisCancelled = 0;

}  // namespace

int runAnalyze(const AnalyzeArgs& a) {
    namespace fs = std::filesystem;
    dfq::run::AnalysisRequest q;
    if (a.target.empty())
        throw dfq::Error("give a run folder, an experiment file or 'demo' to analyze");
    if (fs::is_directory(a.target)) {
        if (!fs::is_regular_file(fs::path(a.target) / "config.yaml"))
            throw dfq::Error(a.target + ": not a run folder (it has no config.yaml)");
        q.runFolder = a.target;
        q.config =
            dfq::run::loadExperimentConfig((fs::path(a.target) / "config.yaml").string(), a.sets);
    } else {
        const std::string path =
            a.target == "demo" ? dfq::run::resourceDir() + "/presets/demo-fmnist-gdfq-w4a4.yaml"
                               : a.target;
        q.config = dfq::run::loadExperimentConfig(path, a.sets);
    }
    q.source = a.source;
    q.bits = a.bits;
    q.candidates = a.candidates;
    q.sensitivity = a.sensitivity;
    q.budgetBits = a.budgetBits;
    q.budgetKiB = a.budgetKiB;
    q.batches = a.batches;
    q.batchSize = a.batchSize;
    q.realImages = a.realImages;
    q.warmupIterations = a.warmupIterations;
    q.measure = a.measure;
    if (!std::isnan(a.budgetBits) && !std::isnan(a.budgetKiB))
        throw dfq::Error("give one budget: --budget-bits or --budget-kib");
    const std::string outDir = a.out.empty() ? dfq::run::defaultAnalysisDir(q) : a.out;

    std::map<std::string, std::unique_ptr<ProgressBar>> bars;
    std::string lastStage;
    dfq::run::AnalysisCallbacks cb;
    cb.progress = [&](const std::string& stage, int64_t done, int64_t total) {
        if (stage != lastStage && bars.count(lastStage))
            bars[lastStage]->finish();
        lastStage = stage;
        auto& bar = bars[stage];
        if (!bar)
            bar = std::make_unique<ProgressBar>(stage, stage == "warm-up"    ? "it"
                                                       : stage == "analysis" ? "pass"
                                                                             : "plan");
        bar->update(done, total);
        return gAnalysisCancelled == 0;
    };
    cb.log = [&](const std::string& line) {
        if (bars.count(lastStage))
            bars[lastStage]->finish();
        std::fprintf(stderr, "%s\n", line.c_str());
    };
    gAnalysisCancelled = 0;
    handleStopSignals([](int) {
        gAnalysisCancelled = 1;
        handleStopSignals(SIG_DFL);
    });
    dfq::run::AnalysisJob job(q);
    const dfq::analysis::AnalysisResult result = job.run(cb);
    handleStopSignals(SIG_DFL);
    if (bars.count(lastStage))
        bars[lastStage]->finish();
    dfq::run::writeAnalysis(outDir, result, q.config);
    if (!result.planError.empty())
        throw dfq::Error("analysis: " + result.planError + " (the analysis is in " + outDir + ")");
    if (a.json) {
        std::cout << dfq::analysis::analysisJson(result) << "\n";
        return 0;
    }

    const auto& r = result.report;
    std::printf(
        "Per-layer sensitivity: %s, %lld %s images%s; weight ranges: %s, activation "
        "ranges: %s\n",
        r.source == "run"      ? "the run's generator"
        : r.source == "warmup" ? "a warmed-up generator"
                               : "real data",
        static_cast<long long>(r.images), r.source == "real" ? "real" : "synthetic",
        r.realImages > 0 && r.source != "real"
            ? (", real top-1 on " + std::to_string(r.realImages) + " test images").c_str()
            : "",
        r.weightRange.c_str(), r.calibration.c_str());
    std::printf(
        "KL(teacher || quantized) with only that quantizer on (isolated) and with every "
        "quantizer up to it on (cumulative)\n\n");
    std::printf("%-28s %-10s %9s", "quantizer", "kind", "params");
    for (int b : r.bits)
        std::printf(" %9s", ("KL@" + std::to_string(b)).c_str());
    std::printf(" %10s %10s\n", "SQNR@low", "cum KL@low");
    for (const auto& row : r.layers) {
        std::printf("%-28s %-10s %9s", row.name.c_str(), dfq::analysis::kindName(row.kind),
                    row.params > 0 ? humanCount(row.params).c_str() : "");
        for (size_t k = 0; k < r.bits.size(); ++k)
            std::printf(" %9s", figure(row.isolated[k].kl, 4).c_str());
        std::printf(" %10s %10s\n", (figure(row.isolated[0].sqnrDb, 1) + " dB").c_str(),
                    figure(row.cumulative[0].kl, 4).c_str());
    }
    // The most sensitive quantizers at the lowest bit-width.
    std::vector<size_t> order(r.layers.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        return r.layers[x].isolated[0].kl > r.layers[y].isolated[0].kl;
    });
    std::printf("\nMost sensitive at %d bits:", r.bits.front());
    for (size_t i = 0; i < std::min<size_t>(5, order.size()); ++i)
        std::printf("%s %s (%s)", i ? "," : "", r.layers[order[i]].name.c_str(),
                    figure(r.layers[order[i]].isolated[0].kl, 4).c_str());
    if (r.realImages > 0 && r.source != "real") {
        std::printf(
            "\nDo the %s batches rank the quantizers as real data does? Spearman's rank "
            "correlation of the isolated KL on them and on the %lld real images:",
            r.source.c_str(), static_cast<long long>(r.realImages));
        for (size_t k = 0; k < r.bits.size(); ++k)
            std::printf("%s %s at %d bits", k ? "," : "",
                        figure(r.realRankCorrelation(k), 2).c_str(), r.bits[k]);
    }
    std::printf("\n\n%-18s %9s %10s %9s %10s %10s %10s\n", "plan", "avg bits", "size KiB", "KL",
                "agree %", "top-1 %", "measured");
    auto planLine = [&](const dfq::analysis::PlanPoint& p) {
        std::printf("%-18s %9.3f %10.1f %9s %10s %10s %10s\n", p.label.c_str(), p.avgWeightBits,
                    p.sizeKiB, figure(p.predicted.kl, 4).c_str(),
                    figure(p.predicted.agreement, 2).c_str(),
                    figure(p.predicted.realTop1, 2).c_str(), figure(p.measuredTop1, 2).c_str());
    };
    for (const auto& p : result.points)
        planLine(p);
    if (result.hasPlan) {
        std::printf("\n");
        planLine(result.plan);
        std::string bits;
        for (const auto& [name, b] : result.plan.layerBits)
            bits += (bits.empty() ? "" : ", ") + name + ": " + std::to_string(b);
        std::printf("%-18s {%s}\n", "quant.layer_bits", bits.c_str());
        std::printf("%-18s dfq run %s\n", "run it with",
                    (fs::path(outDir) / "mixed-precision.yaml").string().c_str());
    }
    std::printf("\n%-18s %s (%.1f s)\n", "analysis folder", outDir.c_str(), r.seconds);
    return 0;
}

}  // namespace dfq::app
