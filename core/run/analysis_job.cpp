#include "analysis_job.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>

#include "../analysis/layer_analyzer.h"
#include "../analysis/mixed_precision.h"
#include "../analysis/report_io.h"
#include "../data/dataset.h"
#include "../data/evaluator.h"
#include "../data/preprocess.h"
#include "../device.h"
#include "../error.h"
#include "../method/pipeline.h"
#include "../quant/calibration.h"
#include "../sha256.h"
#include "checkpoint.h"
#include "run_directory.h"
#include "run_setup.h"

namespace dfq::run {

namespace fs = std::filesystem;
using analysis::AnalysisResult;
using analysis::PlanPoint;

namespace {

// Keeps LibTorch's global CPU generator as it was: warm-ups and checkpoints set it.
class GlobalRngGuard {
  public:
    GlobalRngGuard() {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        state_ = gen.get_state();
    }
    ~GlobalRngGuard() {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(state_);
    }

  private:
    at::Tensor state_;
};

std::string fixed(double v, int digits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

}  // namespace

struct AnalysisJob::Impl {
    AnalysisRequest request;
    std::optional<model::Model> teacher;
    model::ModelMeta meta;
    data::Normalization norm;
    std::optional<data::Dataset> evalData;
    std::string dataNote;  // what data.resize resized
    std::unique_ptr<analysis::LayerAnalyzer> analyzer;

    void say(const AnalysisCallbacks& cb, const std::string& line) const {
        if (cb.log)
            cb.log(line);
    }
    static bool report(const AnalysisCallbacks& cb, const std::string& stage, size_t done,
                       size_t total) {
        return !cb.progress ||
               cb.progress(stage, static_cast<int64_t>(done), static_cast<int64_t>(total));
    }

    std::string source() const {
        if (!request.source.empty())
            return request.source;
        return request.runFolder.empty() ? "warmup" : "run";
    }

    const data::Dataset& realData() {
        if (!evalData) {
            const ExperimentConfig& c = request.config;
            if (c.dataPath.empty())
                throw Error("analysis: real data needs data.path in the experiment");
            evalData = loadEvalData(c, meta, dataNote);
        }
        return *evalData;
    }

    // The first n labelled real images, normalized, in batches.
    std::vector<analysis::InputBatch> realBatches(int64_t n) {
        const data::Dataset& d = realData();
        std::vector<analysis::InputBatch> out;
        n = std::min(n, d.size());
        for (int64_t i = 0; i < n; i += request.batchSize) {
            const int64_t k = std::min(request.batchSize, n - i);
            out.push_back({data::preprocess(d.images.narrow(0, i, k), meta.inputShape, norm),
                           d.labels.narrow(0, i, k)});
        }
        return out;
    }

    // Batches from a generator: batch i from the seed's stream seed + 1000 + i.
    std::vector<analysis::InputBatch> generatorBatches(method::Pipeline& p, uint64_t seed) {
        std::vector<analysis::InputBatch> out;
        for (int64_t i = 0; i < request.batches; ++i)
            out.push_back(
                {p.synthesize(request.batchSize, false, seed + 1000 + static_cast<uint64_t>(i))
                     .first.detach(),
                 {}});
        return out;
    }

    std::vector<analysis::InputBatch> runBatches(const AnalysisCallbacks& cb) {
        if (request.runFolder.empty())
            throw Error("analysis: the source 'run' needs a run folder");
        const fs::path folder(request.runFolder);
        const ExperimentConfig runConfig = loadExperimentConfig((folder / "config.yaml").string());
        model::Model runTeacher = model::Model::load(runConfig.resolvedModelPath());
        runTeacher.setMeta(resolvedMeta(runTeacher, runConfig));
        const auto pipeline = makePipeline(runTeacher, runConfig);
        const ResumeState r =
            loadCheckpoint((folder / "checkpoints" / "last.pt").string(), toYaml(runConfig),
                           sha256File(runTeacher.path()), *pipeline);
        say(cb, "synthetic batches from the generator of " + request.runFolder + " after " +
                    std::to_string(r.step) + " iterations");
        return generatorBatches(*pipeline, static_cast<uint64_t>(request.config.seed));
    }

    std::vector<analysis::InputBatch> warmupBatches(const AnalysisCallbacks& cb) {
        const ExperimentConfig& c = request.config;
        const int64_t steps = request.warmupIterations >= 0
                                  ? request.warmupIterations
                                  : c.scheduleWarmupEpochs * c.scheduleIterations;
        at::manual_seed(static_cast<uint64_t>(c.seed));
        const auto pipeline = makePipeline(*teacher, c);
        method::Pipeline& warm = *pipeline;
        say(cb, "warming up a fresh generator for " + std::to_string(steps) + " iterations");
        for (int64_t i = 0; i < steps; ++i) {
            warm.step(false, false, c.generatorLr, 0.0);
            if (!report(cb, "warm-up", static_cast<size_t>(i + 1), static_cast<size_t>(steps)))
                throw Error("the analysis was cancelled");
        }
        return generatorBatches(warm, static_cast<uint64_t>(c.seed));
    }

    analysis::LayerReport lastReport;  // of the last run()

    // The plan for an average number of weight bits or a size in KiB, with its predicted
    // figures; none when no plan fits.
    std::optional<PlanPoint> plan(double avgBits, double kib, const AnalysisCallbacks& cb) {
        const auto sensitivity = analysis::parseSensitivity(request.sensitivity);
        const auto layers = analysis::planLayers(lastReport, request.candidates, sensitivity);
        const bool bySize = std::isfinite(kib);
        const double total =
            bySize ? analysis::weightBitsForSize(kib, lastReport.otherParams)
                   : analysis::weightBitsForAverage(avgBits, lastReport.weightParams());
        const auto plan = analysis::planMixedPrecision(layers, total);
        if (!plan.feasible)
            return std::nullopt;
        if (!plan.exact)
            say(cb,
                "the plan counted the budget in coarser units than one weight bit (a large "
                "model); it fits the budget but may not be the best one");
        PlanPoint p = analysis::planPoint(
            lastReport, layers, plan,
            bySize ? "plan " + fixed(kib, 1) + " KiB" : "plan " + fixed(avgBits, 2) + " bits");
        p.budgetBits = bySize ? p.avgWeightBits : avgBits;
        return predicted(p);
    }

    PlanPoint predicted(PlanPoint p) {
        p.predicted = analyzer->evaluate(p.layerBits,
                                         request.config.quantActivationBits > 0
                                             ? static_cast<int>(request.config.quantActivationBits)
                                             : 0);
        return p;
    }
};

AnalysisJob::AnalysisJob(AnalysisRequest request) : impl_(std::make_unique<Impl>()) {
    impl_->request = std::move(request);
}

AnalysisJob::~AnalysisJob() = default;

const AnalysisRequest& AnalysisJob::request() const {
    return impl_->request;
}

bool AnalysisJob::canMeasure() const {
    return !impl_->request.config.dataPath.empty();
}

AnalysisResult AnalysisJob::run(const AnalysisCallbacks& cb) {
    Impl& m = *impl_;
    const AnalysisRequest& q = m.request;
    const ExperimentConfig& c = q.config;
    const std::string source = m.source();
    if (source != "run" && source != "warmup" && source != "real")
        throw Error("analysis: unknown source '" + source + "'; use run, warmup or real");
    analysis::parseSensitivity(q.sensitivity);
    if (q.batches < 1 || q.batchSize < 1)
        throw Error("analysis: give at least one batch of at least one image");
    GlobalRngGuard rngGuard;
    m.teacher.emplace(model::Model::load(c.resolvedModelPath()));
    m.meta = resolvedMeta(*m.teacher, c);
    m.teacher->setMeta(m.meta);
    m.norm = {m.meta.mean, m.meta.std};

    std::vector<analysis::InputBatch> batches, real;
    if (source == "run")
        batches = m.runBatches(cb);
    else if (source == "warmup")
        batches = m.warmupBatches(cb);
    else
        batches = m.realBatches(q.batches * q.batchSize);
    if (source != "real" && q.realImages > 0 && !c.dataPath.empty())
        real = m.realBatches(q.realImages);

    analysis::AnalysisOptions o;
    o.bits = q.bits;
    o.quant = quantConfig(c);
    o.calibration = calibration(c);
    o.seed = static_cast<uint64_t>(c.seed);
    o.device = resolveDevice(choiceName(c.device));
    m.analyzer = std::make_unique<analysis::LayerAnalyzer>(*m.teacher, o);
    m.analyzer->setInputs(std::move(batches), std::move(real));
    AnalysisResult result;
    result.report = m.analyzer->analyze([&](int64_t done, int64_t total) {
        return Impl::report(cb, "analysis", static_cast<size_t>(done), static_cast<size_t>(total));
    });
    result.report.source = source;
    char line[160];
    std::snprintf(line, sizeof line,
                  "%zu quantizers x %zu bit-widths measured on %lld images in %.1f s",
                  result.report.layers.size(), result.report.bits.size(),
                  static_cast<long long>(result.report.images), result.report.seconds);
    m.say(cb, line);

    // Plans: the budget asked for, and the points of the size-vs-accuracy plot.
    result.report.sensitivity =
        analysis::sensitivityName(analysis::parseSensitivity(q.sensitivity));
    m.lastReport = result.report;
    const std::vector<int>& cands = q.candidates.empty() ? result.report.bits : q.candidates;
    const int lo = *std::min_element(cands.begin(), cands.end());
    const int hi = *std::max_element(cands.begin(), cands.end());
    std::vector<PlanPoint> points;
    for (int b : cands)
        points.push_back(
            analysis::uniformPoint(result.report, b, analysis::parseSensitivity(q.sensitivity)));
    for (double avg : q.planBudgets)
        if (avg >= lo && avg <= hi)
            if (auto p = m.plan(avg, analysis::kNoValue, cb))
                points.push_back(*p);
    if (std::isfinite(q.budgetBits) || std::isfinite(q.budgetKiB)) {
        const auto p = m.plan(q.budgetBits, q.budgetKiB, cb);
        if (p) {
            result.hasPlan = true;
            result.plan = *p;
        } else {
            const bool bySize = std::isfinite(q.budgetKiB);
            const double least =
                static_cast<double>(lo) * static_cast<double>(result.report.weightParams());
            result.planError =
                "no plan fits the budget; the smallest, every weight at " + std::to_string(lo) +
                " bits, needs " +
                (bySize ? fixed(analysis::sizeKiB(least, result.report.otherParams), 1) + " KiB"
                        : fixed(static_cast<double>(lo), 2) + " bits on average");
            m.say(cb, result.planError);
        }
    }
    for (size_t i = 0; i < points.size(); ++i) {
        if (points[i].uniform)
            points[i] = m.predicted(points[i]);
        if (!Impl::report(cb, "plans", i + 1, points.size()))
            throw Error("the analysis was cancelled");
    }
    result.points = std::move(points);
    if (q.measure) {
        measure(result.points, cb);
        if (result.hasPlan) {
            std::vector<PlanPoint> one{result.plan};
            measure(one, cb);
            result.plan = one.front();
        }
    }
    return result;
}

std::optional<PlanPoint> AnalysisJob::plan(double averageBits, double sizeKiB,
                                           const AnalysisCallbacks& callbacks) {
    if (!impl_->analyzer)
        throw Error("analysis: run the analysis before planning");
    return impl_->plan(averageBits, sizeKiB, callbacks);
}

void AnalysisJob::measure(std::vector<PlanPoint>& points, const AnalysisCallbacks& cb) {
    Impl& m = *impl_;
    if (!m.analyzer)
        throw Error("analysis: run the analysis before measuring its plans");
    const data::Dataset& d = m.realData();
    const int act = m.request.config.quantActivationBits > 0
                        ? static_cast<int>(m.request.config.quantActivationBits)
                        : 0;
    data::EvalOptions options;
    options.batchSize = m.request.config.dataBatchSize;
    options.channelsLast = false;  // quantized, as the student's evaluations (evaluator.h)
    for (size_t i = 0; i < points.size(); ++i) {
        const auto forward = m.analyzer->forwardFn(points[i].layerBits, act);
        points[i].measuredTop1 =
            data::evaluate(forward, d, m.meta.inputShape, m.norm, options).top1;
        if (!Impl::report(cb, "measure", i + 1, points.size()))
            throw Error("the measurement was cancelled");
    }
}

ExperimentConfig planExperiment(const ExperimentConfig& base, const PlanPoint& plan) {
    ExperimentConfig c = base;
    c.quantLayerBits.clear();
    for (const auto& [name, bits] : plan.layerBits)
        c.quantLayerBits[name] = bits;
    c.name = base.name + "-mixed-" + fixed(plan.avgWeightBits, 2) + "bits";
    return c;
}

void writeAnalysis(const std::string& dir, const AnalysisResult& result,
                   const ExperimentConfig& config) {
    analysis::writeAnalysisFolder(dir, result);
    if (result.hasPlan)
        writeFileAtomically((fs::path(dir) / "mixed-precision.yaml").string(),
                            "# A mixed-precision plan of dfq analyze: " + result.plan.label + ", " +
                                fixed(result.plan.avgWeightBits, 3) + " weight bits on average, " +
                                fixed(result.plan.sizeKiB, 1) + " KiB\n" +
                                toYaml(planExperiment(config, result.plan)));
}

std::string defaultAnalysisDir(const AnalysisRequest& request) {
    if (!request.runFolder.empty())
        return (fs::path(request.runFolder) / "analysis").string();
    return (fs::path(request.config.outputDir) /
            (timestamp() + "-" + safeName(request.config.name) + "-analysis"))
        .string();
}

}  // namespace dfq::run
