// `dfq`: the workbench's command line. Thin: parses arguments, calls the core, prints.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "core/analysis/report_io.h"
#include "core/cpu_features.h"
#include "core/data/dataset.h"
#include "core/data/evaluator.h"
#include "core/device.h"
#include "core/error.h"
#include "core/json_writer.h"
#include "core/method/registry.h"
#include "core/model/interpreter.h"
#include "core/model/model.h"
#include "core/run/analysis_job.h"
#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/run/export_run.h"
#include "core/run/run_directory.h"
#include "core/run/trainer.h"
#include "core/runtime.h"
#include "core/safe_io.h"
#include "progress_bar.h"

namespace {

using dfq::JsonWriter;
using dfq::app::formatDuration;
using dfq::app::handleStopSignals;
using dfq::app::humanCount;
using dfq::app::ProgressBar;

// "demo" names the built-in demo teacher.
std::string resolveModelPath(const std::string& arg) {
    return arg == "demo" ? dfq::run::demoTeacherPath() : arg;
}

dfq::model::Model loadModel(const std::string& arg, const std::vector<int64_t>& inputShape) {
    dfq::model::Model model = dfq::model::Model::load(resolveModelPath(arg));
    if (!inputShape.empty()) {
        dfq::model::ModelMeta meta = model.meta();
        meta.inputShape = inputShape;
        model.setMeta(meta);
    }
    return model;
}

std::string shapeString(const std::vector<int64_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i)
        s += (i ? "x" : "") + std::to_string(v[i]);
    return s.empty() ? "-" : s;
}

double average(const std::vector<float>& v) {
    double s = 0;
    for (float x : v)
        s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

int runInfo(const std::string& modelArg, const std::vector<int64_t>& inputShape, bool json) {
    auto model = loadModel(modelArg, inputShape);
    const auto layers = model.layerInfos();
    const auto& meta = model.meta();
    int64_t macs = 0;
    for (const auto& l : layers)
        macs += std::max<int64_t>(0, l.macs);
    const bool macsKnown = meta.hasInputShape();
    int bnCount = 0, quantCount = 0;
    for (const auto& l : layers) {
        bnCount += l.kind.rfind("BatchNorm", 0) == 0;
        quantCount += l.quantizable;
    }
    if (json) {
        JsonWriter w;
        w.beginObject();
        w.key("path").value(model.path());
        w.key("parameters").value(model.parameterCount());
        if (macsKnown)
            w.key("macs").value(macs);
        else
            w.key("macs").null();
        w.key("batchnorm_layers").value(bnCount);
        w.key("bns_loss_available").value(model.hasBatchNorm());
        w.key("meta").raw(meta.toJson());
        w.key("compute").beginObject();
        w.key("threads").value(static_cast<int64_t>(at::get_num_threads()));
        w.key("cpu_bf16_native").value(dfq::cpuBf16Support().native());
        w.key("cpu_bf16").value(dfq::cpuBf16Support().describe());
        w.key("cuda").value(dfq::cudaAvailable());
        w.endObject();
        w.key("layers").beginArray();
        for (const auto& l : layers) {
            w.beginObject();
            w.key("path").value(l.path);
            w.key("kind").value(l.kind);
            w.key("weight_shape").value(l.weightShape);
            w.key("output_shape").value(l.outputShape);
            w.key("params").value(l.params);
            if (l.macs >= 0)
                w.key("macs").value(l.macs);
            else
                w.key("macs").null();
            w.key("quantizable").value(l.quantizable);
            if (!l.runningMean.empty()) {
                w.key("running_mean").value(l.runningMean);
                w.key("running_var").value(l.runningVar);
            }
            w.endObject();
        }
        w.endArray();
        w.endObject();
        std::cout << w.str() << "\n";
        return 0;
    }
    std::printf("Model       %s\n", model.path().c_str());
    std::printf("Input       %s\n", meta.hasInputShape() ? shapeString(meta.inputShape).c_str()
                                                         : "unknown (give --input-shape C,H,W)");
    if (!meta.dataset.empty())
        std::printf("Dataset     %s\n", meta.dataset.c_str());
    if (meta.numClasses > 0)
        std::printf("Classes     %lld\n", static_cast<long long>(meta.numClasses));
    if (!meta.mean.empty()) {
        std::ostringstream ms;
        for (size_t i = 0; i < meta.mean.size(); ++i)
            ms << (i ? ", " : "") << meta.mean[i] << "/"
               << (i < meta.std.size() ? meta.std[i] : 1.0);
        std::printf("Mean/std    %s\n", ms.str().c_str());
    }
    std::printf("Parameters  %s (%lld)\n", humanCount(model.parameterCount()).c_str(),
                static_cast<long long>(model.parameterCount()));
    std::printf("MACs        %s per image\n", macsKnown ? humanCount(macs).c_str() : "-");
    std::printf("Layers      %d quantizable (conv/linear), %d BatchNorm\n", quantCount, bnCount);
    if (!model.hasBatchNorm())
        std::printf("Note        no BatchNorm layers: the BN-statistics loss is unavailable\n");
    const int threads = at::get_num_threads();
    std::printf("Compute     CPU %d thread%s, bfloat16 %s; CUDA %s\n", threads,
                threads == 1 ? "" : "s", dfq::cpuBf16Support().describe().c_str(),
                dfq::cudaAvailable() ? "available" : "not available");
    std::printf("\n%-32s %-20s %-14s %-12s %9s %9s %-5s %s\n", "layer", "kind", "weight", "output",
                "params", "MACs", "quant", "BN running mean / var (avg)");
    for (const auto& l : layers) {
        std::string bn;
        if (!l.runningMean.empty()) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%+.4f / %.4f", average(l.runningMean),
                          average(l.runningVar));
            bn = buf;
        }
        std::printf("%-32s %-20s %-14s %-12s %9s %9s %-5s %s\n",
                    l.path.empty() ? "(top)" : l.path.c_str(), l.kind.c_str(),
                    shapeString(l.weightShape).c_str(), shapeString(l.outputShape).c_str(),
                    humanCount(l.params).c_str(), humanCount(l.macs).c_str(),
                    l.quantizable ? "yes" : "", bn.c_str());
    }
    return 0;
}

struct EvalArgs {
    std::string model;
    std::string data;
    std::string split = "test";
    int64_t batch = dfq::data::kDefaultEvalBatch;
    std::vector<int64_t> inputShape;
    std::vector<double> mean, std;
    bool resize = false;
    bool json = false;
    std::string predictions;  // a CSV of every image's label, prediction and logits
};

int runEval(const EvalArgs& a) {
    auto model = loadModel(a.model, a.inputShape);
    auto meta = model.meta();
    if (!meta.hasInputShape())
        throw dfq::Error(model.path() +
                         ": the model has no dfq_meta.json input_shape; give --input-shape C,H,W");
    std::string dataPath = a.data;
    if (dataPath.empty()) {
        if (a.model != "demo")
            throw dfq::Error("eval: give the evaluation data with --data PATH");
        dataPath = dfq::run::kFashionMnistDir;
    }
    if (dataPath == "fashion-mnist")  // the same name as in an experiment's data.path
        dataPath = dfq::run::kFashionMnistDir;
    dfq::data::Normalization norm{meta.mean, meta.std};
    if (!a.mean.empty())
        norm.mean = a.mean;
    if (!a.std.empty())
        norm.std = a.std;
    const auto split = a.split == "train" ? dfq::data::Split::Train : dfq::data::Split::Test;
    auto data = dfq::data::loadDataset(dataPath, split, meta.inputShape);
    const std::string note = dfq::data::checkImageSize(data, meta.inputShape, a.resize, "--resize");
    if (!note.empty())
        std::fprintf(stderr, "%s\n", note.c_str());
    if (!a.json)
        std::fprintf(stderr, "Evaluating %s on %s (%s, %lld images)\n", model.path().c_str(),
                     data.source.c_str(), data.format.c_str(), static_cast<long long>(data.size()));
    dfq::model::Interpreter interp(model.graph(), &model.params());
    ProgressBar bar("eval", "img");
    std::vector<at::Tensor> logits;
    dfq::data::EvalOptions options;
    options.batchSize = a.batch;
    options.channelsLast = !model.graph()->fakeQuantized();
    auto result = dfq::data::evaluate(
        [&](const at::Tensor& x) {
            at::Tensor y = interp.forward(x);
            if (!a.predictions.empty())
                logits.push_back(y.detach().to(at::kCPU, at::kFloat));
            return y;
        },
        data, meta.inputShape, norm, options,
        [&](int64_t done, int64_t total) {
            if (!a.json)
                bar.update(done, total);
        });
    bar.finish();
    if (!a.predictions.empty()) {
        const at::Tensor all = at::cat(logits).contiguous();
        const at::Tensor labels = data.labels.to(at::kLong).contiguous();
        std::string csv = "index,label,predicted";
        for (int64_t k = 0; k < all.size(1); ++k)
            csv += ",logit" + std::to_string(k);
        csv += "\n";
        const auto predicted = all.argmax(1);
        char buf[32];
        for (int64_t i = 0; i < all.size(0); ++i) {
            csv += std::to_string(i) + "," + std::to_string(labels[i].item<int64_t>()) + "," +
                   std::to_string(predicted[i].item<int64_t>());
            const float* row = all.data_ptr<float>() + i * all.size(1);
            for (int64_t k = 0; k < all.size(1); ++k) {
                std::snprintf(buf, sizeof buf, ",%.7g", static_cast<double>(row[k]));
                csv += buf;
            }
            csv += "\n";
        }
        dfq::io::writeFileAtomically(a.predictions, csv);
    }
    if (a.json) {
        JsonWriter w;
        w.beginObject();
        w.key("top1").value(result.top1);
        w.key("top5").value(result.top5);
        w.key("images").value(result.images);
        w.key("seconds").value(result.seconds);
        w.endObject();
        std::cout << w.str() << "\n";
    } else {
        std::printf("top-1 %.2f %%   top-5 %.2f %%   %lld images in %s (%.0f img/s)\n", result.top1,
                    result.top5, static_cast<long long>(result.images),
                    formatDuration(result.seconds).c_str(),
                    static_cast<double>(result.images) / std::max(result.seconds, 1e-9));
    }
    return 0;
}

int runTrainTeacher(dfq::run::DemoTeacherOptions o) {
    std::fprintf(stderr, "Training the demo teacher on %s: %d epochs, batch %lld, seed %llu\n",
                 o.dataDir.c_str(), o.epochs, static_cast<long long>(o.batchSize),
                 static_cast<unsigned long long>(o.seed));
    ProgressBar bar("train", "it");
    const int64_t epochs = o.epochs;
    dfq::run::DemoTeacherCallbacks cb;
    cb.iteration = [&](int epoch, int64_t it, int64_t perEpoch, double loss) {
        char extra[64];
        std::snprintf(extra, sizeof extra, "epoch %d/%lld  loss %.4f", epoch + 1,
                      static_cast<long long>(epochs), loss);
        bar.update(epoch * perEpoch + it, epochs * perEpoch, extra);
    };
    cb.epochEnd = [&](const dfq::run::DemoTeacherEpoch& e) {
        bar.finish();
        std::fprintf(stderr, "epoch %d  loss %.4f  train top-1 %.2f %%  test top-1 %.2f %%  %s\n",
                     e.epoch, e.trainLoss, e.trainTop1, e.testTop1,
                     formatDuration(e.seconds).c_str());
    };
    auto r = dfq::run::trainDemoTeacher(o, cb);
    std::printf("Wrote %s: Fashion-MNIST test top-1 %.2f %%, top-5 %.2f %%, trained in %s\n",
                o.outPath.c_str(), r.testTop1, r.testTop5, formatDuration(r.seconds).c_str());
    return 0;
}

// Progress on stderr and a final table on stdout.
class CliObserver : public dfq::run::Observer {
  public:
    explicit CliObserver(int64_t epochs) : epochs_(epochs), bar_("run", "it") {}
    void onIteration(const dfq::run::IterationStats& s) override {
        char extra[128];
        std::snprintf(
            extra, sizeof extra, "epoch %lld/%lld  G %.3f  S %s",
            static_cast<long long>(s.epoch + 1), static_cast<long long>(epochs_), s.generatorLoss,
            s.studentTrained ? std::to_string(s.studentLoss).substr(0, 6).c_str() : "warm-up");
        bar_.update(s.step + 1, s.totalSteps, extra, s.etaSeconds);
    }
    void onBaseline(const std::string& name, double top1) override {
        bar_.finish();
        std::fprintf(stderr, "%s top-1 %.2f %%\n", name == "fp" ? "FP teacher" : "PTQ baseline",
                     top1);
    }
    void onEval(const dfq::run::EvalStats& e) override {
        bar_.finish();
        std::fprintf(stderr, "epoch %lld  student top-1 %.2f %%  (best %.2f %%)\n",
                     static_cast<long long>(e.epoch + 1), e.top1, e.bestTop1);
    }
    void onLog(const std::string& line) override {
        bar_.finish();
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    void onResume(int64_t step, const dfq::run::RunSummary&) override { bar_.setAlreadyDone(step); }
    void onFinish(const dfq::run::RunSummary&) override { bar_.finish(); }

  private:
    int64_t epochs_;
    ProgressBar bar_;
};

std::string top1Text(double v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f %%", v);
    return v >= 0 ? buf : "-";
}

dfq::run::RunControl* gControl = nullptr;
volatile std::sig_atomic_t gStopSignal = 0;

// The signals that stop a run: Ctrl-C, and what a scheduler or a closed terminal sends.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// The first Ctrl-C (or SIGTERM, SIGHUP) stops the run after the current iteration, with a
// checkpoint to resume from and a summary; a second one ends the program at once.
void onInterrupt(int sig) {
    gStopSignal = sig;
    if (gControl)
        gControl->cancel = true;
    for (int s : kStopSignals)
        std::signal(s, SIG_DFL);
}

}  // namespace

// Runs `config` into `dir`, from its checkpoint when `resume`: progress on stderr, the first
// Ctrl-C (SIGTERM, SIGHUP) stops it with a checkpoint, and the table of results on stdout.
int dfq::app::runInFolder(const dfq::run::ExperimentConfig& config, dfq::run::RunDirectory& dir,
                          bool resume, const std::string& continueWith) {
    dfq::run::TrainerFiles files;
    if (resume)
        files.resumeFrom = dir.checkpointPath();
    files.checkpoint = dir.checkpointPath();
    files.exportStudent = dir.studentPath();
    files.exportModel = dir.modelPath();
    files.syntheticSet = dir.syntheticSetPath();
    std::fprintf(stderr, "Run folder %s\n", dir.path().c_str());
    CliObserver cli(config.scheduleEpochs);
    dfq::run::RunControl control;
    gControl = &control;
    gStopSignal = 0;
    handleStopSignals(onInterrupt);
    dfq::run::Trainer trainer(config, {&cli, &dir}, files);
    const auto s = trainer.run(&control);
    gControl = nullptr;
    handleStopSignals(SIG_DFL);
    std::printf("\n%-16s %s\n", "FP teacher", top1Text(s.fpTop1).c_str());
    std::printf("%-16s %s\n", "PTQ baseline", top1Text(s.ptqTop1).c_str());
    // The method: generator recipe, plus the student recipe when it is not plain KD.
    const std::string method =
        dfq::method::methodTitle(config.methodGenerator, config.methodStudent);
    std::printf("%-16s %s (best), %s (last)\n", method.c_str(), top1Text(s.bestTop1).c_str(),
                top1Text(s.lastTop1).c_str());
    std::printf("%-16s %s for %lld iterations\n", "wall time",
                formatDuration(s.wallSeconds).c_str(), static_cast<long long>(s.iterations));
    std::printf("%-16s %s\n", "run folder", dir.path().c_str());
    for (const auto& w : s.warnings)
        std::printf("%-16s %s\n", "warning", w.c_str());
    if (s.status == "cancelled") {
        std::printf("%-16s stopped; continue with: %s\n", "status",
                    continueWith.empty() ? ("dfq run --resume " + dir.path()).c_str()
                                         : continueWith.c_str());
        return 128 + (gStopSignal ? static_cast<int>(gStopSignal) : SIGINT);
    }
    if (s.status == "diverged") {
        std::fprintf(stderr, "dfq: error: %s\n", s.error.c_str());
        return 1;
    }
    return 0;
}

namespace {

int runExperiment(const std::string& configPath, const std::vector<std::string>& sets,
                  const std::string& outDir, const std::string& resumeDir) {
    if (!resumeDir.empty()) {
        if (!configPath.empty() || !sets.empty() || !outDir.empty())
            throw dfq::Error(
                "--resume continues a run with its own config.yaml; give no CONFIG, "
                "--set or --out with it");
        auto dir = dfq::run::RunDirectory::reopen(resumeDir);
        return dfq::app::runInFolder(dfq::run::loadExperimentConfig(dir.configPath()), dir, true);
    }
    if (configPath.empty())
        throw dfq::Error("give an experiment file (or 'demo'), or --resume RUN_FOLDER");
    const std::string path = configPath == "demo"
                                 ? dfq::run::resourceDir() + "/presets/demo-fmnist-gdfq-w4a4.yaml"
                                 : configPath;
    const auto config = dfq::run::loadExperimentConfig(path, sets);
    dfq::run::RunDirectory dir(outDir.empty() ? config.outputDir : outDir, config.name);
    return dfq::app::runInFolder(config, dir, false);
}

}  // namespace

namespace dfq::app {

std::string humanCount(int64_t n) {
    char buf[32];
    if (n < 0)
        return "-";
    if (n >= 1000000000)
        std::snprintf(buf, sizeof buf, "%.2fG", static_cast<double>(n) / 1e9);
    else if (n >= 1000000)
        std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(n) / 1e6);
    else if (n >= 10000)
        std::snprintf(buf, sizeof buf, "%.1fk", static_cast<double>(n) / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    return buf;
}

void handleStopSignals(void (*handler)(int)) {
    for (int s : kStopSignals)
        std::signal(s, handler);
}

}  // namespace dfq::app

// The recipes a run can combine (method.generator, method.student), from the registry.
std::string recipesHelp() {
    std::string text = "Recipes (every generator recipe runs with every student recipe):\n";
    for (const auto* list : {&dfq::method::generatorRecipes(), &dfq::method::studentRecipes()}) {
        const bool generator = list == &dfq::method::generatorRecipes();
        text += generator ? "  method.generator:\n" : "  method.student:\n";
        for (const auto& r : *list)
            text += "    " + r.name + std::string(12 - std::min<size_t>(11, r.name.size()), ' ') +
                    r.doc + "\n";
    }
    return text + "Every key: dfq config-reference (docs/config.md).";
}

int main(int argc, char** argv) {
    dfq::initRuntime();
    CLI::App app{"dfq: generative data-free quantization of CNN classifiers"};
    app.set_version_flag("--version", dfq::versionString());
    app.require_subcommand(1);

    std::string infoModel;
    std::vector<int64_t> infoShape;
    bool infoJson = false;
    auto* info = app.add_subcommand("info", "Show a model's metadata and layer table");
    info->add_option("MODEL", infoModel, "TorchScript file, or 'demo' for the built-in teacher")
        ->required();
    info->add_option("--input-shape", infoShape, "C,H,W when the model has no dfq_meta.json")
        ->delimiter(',')
        ->expected(3);
    info->add_flag("--json", infoJson, "Print machine-readable JSON");

    EvalArgs ev;
    auto* eval = app.add_subcommand("eval", "Top-1/top-5 accuracy of a model on real data");
    eval->add_option("MODEL", ev.model, "TorchScript file, or 'demo' for the built-in teacher")
        ->required();
    eval->add_option("--data", ev.data,
                     "IDX (MNIST/Fashion-MNIST) folder or file, CIFAR-10/100 binary folder or "
                     "file, or an image folder with one subfolder per class; 'fashion-mnist' "
                     "names Debian's dataset-fashion-mnist files (the default for 'demo')");
    eval->add_option("--split", ev.split, "Which split of a dataset folder")
        ->check(CLI::IsMember({"test", "train"}))
        ->capture_default_str();
    eval->add_option("--predictions", ev.predictions,
                     "Write every image's label, predicted class and logits to this CSV file");
    eval->add_option("--batch", ev.batch, "Batch size")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    eval->add_option("--input-shape", ev.inputShape, "C,H,W (overrides the model's metadata)")
        ->delimiter(',')
        ->expected(3);
    eval->add_option("--mean", ev.mean, "Per-channel mean of x/255 (overrides the metadata)")
        ->delimiter(',');
    eval->add_option("--std", ev.std, "Per-channel std of x/255 (overrides the metadata)")
        ->delimiter(',');
    eval->add_flag("--resize", ev.resize,
                   "Resize IDX or CIFAR images whose size differs from the model's input");
    eval->add_flag("--json", ev.json, R"(Print {"top1", "top5", "images", "seconds"} as JSON)");

    dfq::run::DemoTeacherOptions teacher;
    teacher.outPath = "fmnist-resnet8.pt";
    auto* train = app.add_subcommand("train-teacher",
                                     "Train the demo teacher (small BN ResNet) on Fashion-MNIST");
    train->add_option("--data", teacher.dataDir, "Fashion-MNIST folder (gzipped IDX files)")
        ->capture_default_str();
    train->add_option("--out", teacher.outPath, "Output TorchScript file")->capture_default_str();
    train->add_option("--epochs", teacher.epochs)
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    train->add_option("--batch", teacher.batchSize)
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    train->add_option("--lr", teacher.lr, "Peak learning rate")->capture_default_str();
    train->add_option("--weight-decay", teacher.weightDecay)->capture_default_str();
    train->add_option("--seed", teacher.seed)->capture_default_str();
    train->add_option("--widths", teacher.widths, "Channels per stage")
        ->delimiter(',')
        ->capture_default_str();

    std::string runConfig, runOut, runResume;
    std::vector<std::string> runSets;
    auto* run = app.add_subcommand("run", "Run an experiment (YAML) and write its run folder");
    run->add_option("CONFIG", runConfig, "Experiment YAML file, or 'demo' for the built-in demo");
    run->add_option("--set", runSets, "Override a key: --set schedule.epochs=3 (repeatable)");
    run->add_option("--out", runOut, "Folder for the run folder (default: output.dir)");
    run->add_option("--resume", runResume,
                    "Continue a stopped run from its folder's last checkpoint (Ctrl-C stops a "
                    "run after the current iteration and keeps one)");
    run->footer(recipesHelp());

    dfq::app::SweepArgs sw;
    auto* sweep = app.add_subcommand(
        "sweep",
        "Run the points of a sweep spec (a grid of keys over a base experiment) here, K at once, "
        "or as a Slurm job array; show their status; results in sweep.csv and summary.csv");
    sweep
        ->add_option("SPEC", sw.spec,
                     "Sweep spec (YAML: base, set, grid, zip; docs/sweeps.md), or a sweep folder")
        ->required();
    sweep->add_option("--set", sw.sets, "Override a key for every point (repeatable)");
    sweep->add_option("--out", sw.out, "The sweep folder (default: sweeps/<name>)");
    sweep
        ->add_option("--jobs", sw.jobs,
                     "Points at once: here, splitting the cores between them; on Slurm, the "
                     "array's limit of tasks at once")
        ->check(CLI::PositiveNumber);
    sweep->add_flag("--slurm", sw.slurm,
                    "Write <out>/sweep.sbatch, a job array of the points not finished, and submit "
                    "it with sbatch");
    sweep
        ->add_option("--sbatch-arg", sw.sbatchArgs,
                     "An argument for sbatch, such as --sbatch-arg=--partition=gpu (repeatable)")
        ->allow_extra_args(false);
    sweep->add_option("--index", sw.index, "Run only this point (what each array task does)")
        ->check(CLI::NonNegativeNumber);
    sweep->add_flag("--status", sw.status,
                    "Show every point's state and results, and the means over seeds");
    sweep->add_flag("--markdown", sw.markdown,
                    "Print the means over seeds as a Markdown table (for a README or a paper)");
    sweep->footer(
        "Re-running a sweep skips finished points, resumes stopped ones from their checkpoints "
        "and starts failed ones again. Ctrl-C stops every running point with a checkpoint.");

    dfq::app::AnalyzeArgs an;
    auto* analyze = app.add_subcommand(
        "analyze",
        "Per-layer quantization sensitivity (isolated and cumulative SQNR, KL, agreement, "
        "real top-1) for several bit-widths, and mixed-precision plans for a budget");
    analyze
        ->add_option("TARGET", an.target,
                     "A run folder (its generator makes the batches), an experiment file, or "
                     "'demo'")
        ->required();
    analyze->add_option("--set", an.sets, "Override a key: --set quant.activation_bits=4");
    analyze->add_option("--bits", an.bits, "Bit-widths to measure")
        ->delimiter(',')
        ->capture_default_str();
    analyze
        ->add_option("--source", an.source,
                     "Batches: the run folder's generator (run; the default for a folder), a "
                     "fresh generator warm-up (warmup; the default for an experiment), or "
                     "data.path (real)")
        ->check(CLI::IsMember({"run", "warmup", "real"}));
    analyze->add_option("--budget-bits", an.budgetBits,
                        "Plan for this average number of weight bits (writes "
                        "mixed-precision.yaml)");
    analyze->add_option("--budget-kib", an.budgetKiB,
                        "Plan for this model size in KiB (FP parameters at 32 bits)");
    analyze
        ->add_option("--sensitivity", an.sensitivity,
                     "What a plan adds up per layer: KL, or the share of samples whose top-1 "
                     "class changes with only that layer quantized (disagreement)")
        ->check(CLI::IsMember({"kl", "disagreement"}))
        ->capture_default_str();
    analyze
        ->add_option("--candidates", an.candidates,
                     "Weight bit-widths a plan may choose (default: --bits)")
        ->delimiter(',');
    analyze->add_option("--batches", an.batches, "Batches to measure on")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    analyze->add_option("--batch-size", an.batchSize, "Images per batch")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    analyze
        ->add_option("--real-images", an.realImages,
                     "Labelled images of data.path for real top-1 beside synthetic batches (0: "
                     "none)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    analyze
        ->add_option("--warmup-iterations", an.warmupIterations,
                     "Generator iterations of the warm-up source (default: "
                     "schedule.warmup_epochs x schedule.iterations)")
        ->check(CLI::NonNegativeNumber);
    analyze->add_flag("--measure", an.measure,
                      "Measure every plan's top-1 on the whole evaluation data (data.path)");
    analyze->add_option("--out", an.out,
                        "Analysis folder (default: RUN_FOLDER/analysis, or "
                        "<output.dir>/<date>-<time>-<name>-analysis)");
    analyze->add_flag("--json", an.json, "Print the layers and the plan as JSON");

    dfq::run::ExportRequest ex;
    auto* exportCmd = app.add_subcommand(
        "export",
        "A finished run's quantized student as ONNX (QuantizeLinear/DequantizeLinear, int8 "
        "weights), an encodings JSON, or TorchScript (docs/export.md)");
    exportCmd->add_option("RUN_FOLDER", ex.runFolder, "The run folder")->required();
    exportCmd->add_option("--format", ex.format, "onnx, encodings or torchscript")
        ->check(CLI::IsMember({"onnx", "encodings", "torchscript"}))
        ->capture_default_str();
    exportCmd->add_option("--out", ex.out,
                          "The file to write (default: RUN_FOLDER/quantized_model.onnx, "
                          ".encodings.json or .pt)");
    exportCmd->add_flag("--fold-bn", ex.foldBatchNorm,
                        "Fold each BatchNorm into the convolution before it (per-channel grids "
                        "are rescaled exactly; per-tensor grids are recomputed, as reported)");
    exportCmd->add_option("--opset", ex.opset, "The ONNX opset (13 to 17)")
        ->check(CLI::Range(13, 17))
        ->capture_default_str();

    auto* reference = app.add_subcommand(
        "config-reference", "Print the reference of every experiment key (docs/config.md)");

    CLI11_PARSE(app, argc, argv);
    try {
        if (*info)
            return runInfo(infoModel, infoShape, infoJson);
        if (*eval)
            return runEval(ev);
        if (*train)
            return runTrainTeacher(teacher);
        if (*run)
            return runExperiment(runConfig, runSets, runOut, runResume);
        if (*analyze)
            return dfq::app::runAnalyze(an);
        if (*sweep)
            return dfq::app::runSweep(sw);
        if (*exportCmd) {
            const auto r = dfq::run::exportRun(ex);
            for (const auto& note : r.notes)
                std::printf("%s\n", note.c_str());
            std::printf("Wrote %s\n", r.path.c_str());
            return 0;
        }
        if (*reference) {
            std::cout << dfq::run::configReferenceMarkdown();
            return 0;
        }
    } catch (const dfq::Error& e) {
        std::fprintf(stderr, "dfq: error: %s\n", e.what());
        return 1;
    } catch (const c10::Error& e) {
        std::fprintf(stderr, "dfq: internal error: %s\n", e.what_without_backtrace());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dfq: internal error: %s\n", e.what());
        return 2;
    }
    return 0;
}
