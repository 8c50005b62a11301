// Nothing lost: run folders that cannot collide or tear, checked writes, integrity checks, and
// the collapse warning.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/cpu_memory.h"
#include "core/data/idx_reader.h"
#include "core/data/image_folder_reader.h"
#include "core/error.h"
#include "core/model/model.h"
#include "core/run/checkpoint.h"
#include "core/run/collapse_monitor.h"
#include "core/run/demo_teacher.h"
#include "core/run/experiment_config.h"
#include "core/run/run_directory.h"
#include "core/run/run_folder_reader.h"
#include "core/run/trainer.h"
#include "core/safe_io.h"
#include "core/sha256.h"
#include "core/zip_check.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using dfq::test::errorOf;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void spit(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Files a crash or a failed write could leave behind.
std::vector<std::string> temporaryFiles(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().filename().string().find(".tmp") != std::string::npos)
            out.push_back(e.path().string());
    return out;
}

// Lifts an injected full disk whatever a test does.
struct DiskGuard {
    ~DiskGuard() { dfq::io::injectDiskFullAfter(-1); }
};

dfq::run::ExperimentConfig tinyRun(std::vector<std::string> more = {}) {
    std::vector<std::string> sets = {"schedule.epochs=2",        "schedule.iterations=3",
                                     "schedule.warmup_epochs=1", "schedule.calibration_epochs=1",
                                     "generator.batch_size=16",  "generator.channels=16",
                                     "output.sample_every=3",    "output.layers_every=0"};
    sets.insert(sets.end(), more.begin(), more.end());
    return dfq::run::parseExperimentConfig("name: tiny", "tiny.yaml", sets);
}

// Fills the disk at the first event of the given kind (after the observers before it have
// written theirs), and frees it again when the run ends, before the observers after it.
struct DiskFiller : dfq::run::Observer {
    std::string at;
    explicit DiskFiller(std::string when) : at(std::move(when)) {}
    void onIteration(const dfq::run::IterationStats& s) override {
        if (at == "iteration" && s.step == 2)
            dfq::io::injectDiskFullAfter(0);
    }
    void onEval(const dfq::run::EvalStats&) override {
        if (at == "eval")
            dfq::io::injectDiskFullAfter(0);
    }
};
struct DiskFreer : dfq::run::Observer {
    void onFinish(const dfq::run::RunSummary&) override { dfq::io::injectDiskFullAfter(-1); }
};

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
#define DFQ_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DFQ_TEST_ASAN 1
#endif
#endif

namespace {

long threadMinorFaults() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return u.ru_minflt;
}

double residentMb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

// A 64 MB tensor written through on this thread (memset: no OpenMP worker touches it).
void writeLargeTensor() {
    at::Tensor t = at::empty({16 << 20});
    std::memset(t.data_ptr(), 1, t.nbytes());
}

}  // namespace

// What made an evaluation spend more time in the kernel than in the model: with glibc's
// defaults each freed feature map went back to the kernel, and the next one of its size was
// faulted in and zeroed afresh (16,384 faults for 64 MB).
TEST(CpuMemory, AFreedTensorsMemoryServesTheNextWithoutPageFaults) {
#ifdef DFQ_TEST_ASAN
    GTEST_SKIP() << "AddressSanitizer has an allocator of its own";
#endif
    ASSERT_EQ(dfq::cpuMemoryMode(), dfq::CpuMemoryMode::Keep);
    // Twice first, as a loop's first iterations: glibc's aligned allocation asks for a little
    // more than the size, so the very first block freed is a few bytes short for the second.
    writeLargeTensor();
    writeLargeTensor();
    const long before = threadMinorFaults();
    for (int i = 0; i < 3; ++i)
        writeLargeTensor();
    EXPECT_LT(threadMinorFaults() - before, 100);
}

TEST(CpuMemory, ReleaseHandsTheFreedPagesBack) {
#ifdef DFQ_TEST_ASAN
    GTEST_SKIP() << "AddressSanitizer has an allocator of its own";
#endif
    for (int i = 0; i < 4; ++i)
        writeLargeTensor();
    const double kept = residentMb();
    dfq::releaseCpuMemory();
    EXPECT_LT(residentMb(), kept - 48) << "kept " << kept << " MB";
}

TEST(RunFolder, RunsStartedInTheSameSecondGetFoldersOfTheirOwn) {
    const std::string parent = dfq::test::tempDir() + "/same-second";
    dfq::run::RunDirectory a(parent, "x"), b(parent, "x"), c(parent, "x");
    EXPECT_NE(a.path(), b.path());
    EXPECT_NE(b.path(), c.path());
    EXPECT_NE(a.path(), c.path());
    for (const auto* d : {&a, &b, &c})
        EXPECT_TRUE(fs::is_regular_file(d->path() + "/metrics.csv"));
}

TEST(RunFolder, ASecondWriterIsRefusedAndAStaleLockIsTakenOver) {
    const std::string parent = dfq::test::tempDir() + "/locks";
    std::string path;
    {
        dfq::run::RunDirectory a(parent, "locked");
        path = a.path();
        spit(path + "/config.yaml", "name: locked\n");
        const std::string lock = slurp(path + "/run.lock");
        EXPECT_NE(lock.find("process " + std::to_string(::getpid())), std::string::npos) << lock;
        const std::string msg = errorOf([&] { dfq::run::RunDirectory::reopen(path); });
        EXPECT_NE(msg.find(path + ": another run is using this folder (process " +
                           std::to_string(::getpid())),
                  std::string::npos)
            << msg;
    }
    EXPECT_FALSE(fs::exists(path + "/run.lock"));  // released with the folder
    // A lock file left by a process that died (nobody holds its flock) is taken over.
    spit(path + "/run.lock", "process 999999 on elsewhere, since 2020-01-01 00:00:00\n");
    auto d = dfq::run::RunDirectory::reopen(path);
    EXPECT_NE(slurp(path + "/run.lock").find(std::to_string(::getpid())), std::string::npos);
}

TEST(SafeIo, AFailedAppendLeavesNoPartOfItsRows) {
    DiskGuard guard;
    const std::string path = dfq::test::tempDir() + "/append.csv";
    dfq::io::AppendFile f;
    f.open(path, true);
    f.append("a,b\n1,2\n");
    dfq::io::injectDiskFullAfter(5);
    const std::string msg = errorOf([&] { f.append("3,4\n5,6\n7,8\n"); });
    EXPECT_EQ(msg, path + ": cannot write (No space left on device)");
    EXPECT_EQ(slurp(path), "a,b\n1,2\n");
    dfq::io::injectDiskFullAfter(-1);
    f.append("9,10\n");
    EXPECT_EQ(slurp(path), "a,b\n1,2\n9,10\n");
}

TEST(SafeIo, AFailedAtomicWriteKeepsTheOldFileAndRemovesItsTemporary) {
    DiskGuard guard;
    const std::string dir = dfq::test::tempDir() + "/atomic";
    fs::create_directories(dir);
    dfq::io::writeFileAtomically(dir + "/summary.json", "old");
    dfq::io::injectDiskFullAfter(2);
    const std::string msg =
        errorOf([&] { dfq::io::writeFileAtomically(dir + "/summary.json", "newer text"); });
    EXPECT_EQ(msg, dir + "/summary.json: cannot write (No space left on device)");
    EXPECT_EQ(slurp(dir + "/summary.json"), "old");
    EXPECT_TRUE(temporaryFiles(dir).empty());
}

TEST(SafeIo, ChecksumFilesAreWrittenAndChecked) {
    const std::string path = dfq::test::tempDir() + "/model.bin";
    dfq::io::writeFileWithChecksum(path, "abc");
    // sha256sum's format: the digest, two spaces, the file name.
    EXPECT_EQ(slurp(path + ".sha256"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  model.bin\n");
    EXPECT_TRUE(dfq::io::verifyChecksum(path));
    spit(path, "abd");
    const std::string msg = errorOf([&] { dfq::io::verifyChecksum(path); });
    EXPECT_NE(msg.find(path + ": the file is damaged: its SHA-256 differs"), std::string::npos)
        << msg;
}

TEST(ZipCheck, AFlippedByteInAnyMemberIsFoundAndNamed) {
    const std::string original = slurp(dfq::test::fixturePath("nobn.traced.pt"));
    EXPECT_NO_THROW(dfq::verifyZip(original, "nobn.traced.pt"));
    // The last member's data lies just before the central directory; flip a byte in the
    // middle of the archive, which is tensor data in this file.
    std::string damaged = original;
    damaged[damaged.size() / 3] ^= 0x10;
    const std::string msg = errorOf([&] { dfq::verifyZip(damaged, "nobn.traced.pt"); });
    EXPECT_NE(msg.find("nobn.traced.pt: the file is damaged (member '"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fails its CRC-32 check"), std::string::npos) << msg;
    // And the loader refuses the file, where LibTorch alone would load it.
    const std::string path = dfq::test::tempDir() + "/flipped.pt";
    spit(path, damaged);
    EXPECT_NE(errorOf([&] { dfq::model::Model::load(path); }).find("fails its CRC-32 check"),
              std::string::npos);
    // A mutated no_forward.scripted.pt whose pickle asks LibTorch's unpickler for gigabytes
    // (found by the fuzzer with the check off): the check refuses it before LibTorch reads it.
    const std::string huge = std::string(DFQ_SOURCE_DIR) +
                             "/tests/fuzz/regressions/fuzz_torchscript/unpickler-huge-length.pt";
    EXPECT_NE(errorOf([&] { dfq::model::Model::load(huge); }).find("the file is damaged (member '"),
              std::string::npos);
    // Cut short, empty and garbage archives are refused with a reason, never read out of bounds.
    for (const std::string& bad :
         {original.substr(0, original.size() - 10), std::string(), std::string(100, 'x')})
        EXPECT_NE(
            errorOf([&] { dfq::verifyZip(bad, "bad.pt"); }).find("bad.pt: the file is damaged"),
            std::string::npos);
}

TEST(RunFolder, ResumeDropsTornRowsAndRowsAfterTheCheckpoint) {
    const std::string dir = dfq::test::tempDir() + "/torn";
    { dfq::run::RunDirectory d("", "", dir); }
    spit(dir + "/config.yaml", "name: torn\n");
    const std::string header =
        "step,epoch,iteration,g_ce,g_bns,g_loss,s_ce,s_kd,s_loss,student_trained,calibrating,lr_g,"
        "lr_s,it_per_s,g_ms,s_ms\n";
    const std::string row = ",0,0,1,2,3,0,0,0,0,1,0.001,0,5,10,0\n";
    // Row 2 was torn by a full disk and continued by a later append; row 4 was cut by a crash.
    spit(dir + "/metrics.csv",
         header + "0" + row + "1" + row + "12,1,2,3\n" + "3" + row + "4,0,0,1");
    spit(dir + "/eval.csv", "epoch,step,top1,top5,best_top1,seconds\nfp,-1,90,,,\n0,3,80,9");
    // A process killed while writing left a temporary file; reopening removes it.
    spit(dir + "/summary.json.tmp4242-0", "{");
    auto d = dfq::run::RunDirectory::reopen(dir);
    EXPECT_TRUE(temporaryFiles(dir).empty());
    dfq::run::RunSummary soFar;
    soFar.fpTop1 = 90;
    d.onResume(3, soFar);
    EXPECT_EQ(slurp(dir + "/metrics.csv"), header + "0" + row + "1" + row);
    EXPECT_EQ(slurp(dir + "/eval.csv"), "epoch,step,top1,top5,best_top1,seconds\nfp,-1,90,,,\n");
}

TEST(Checkpoint, ADamagedCheckpointIsRefusedNamingTheFile) {
    const std::string dir = dfq::test::tempDir() + "/damaged-checkpoint";
    const auto config =
        tinyRun({"schedule.epochs=1", "schedule.warmup_epochs=0", "schedule.calibration_epochs=0"});
    {
        dfq::run::RunDirectory folder("", "", dir);
        dfq::run::TrainerFiles files;
        files.checkpoint = folder.checkpointPath();
        dfq::run::Trainer(config, {&folder}, files).run();
    }
    const std::string ckpt = dir + "/checkpoints/last.pt";
    ASSERT_TRUE(fs::is_regular_file(ckpt + ".sha256"));
    const std::string good = slurp(ckpt);
    auto resume = [&] {
        dfq::run::TrainerFiles files;
        files.resumeFrom = ckpt;
        dfq::run::Trainer(config, {}, files).run();
    };
    // A flipped bit in the tensor data: the archive's CRC and the SHA-256 both catch it.
    std::string flipped = good;
    flipped[flipped.size() / 2] ^= 0x01;
    spit(ckpt, flipped);
    std::string msg = errorOf(resume);
    EXPECT_NE(msg.find(ckpt + ": the file is damaged"), std::string::npos) << msg;
    // A file whose zip structure is intact but whose bytes are not the ones written (the
    // checksum was recorded for another file): the SHA-256 catches it.
    spit(ckpt, good);
    spit(ckpt + ".sha256", std::string(64, '0') + "  last.pt\n");
    msg = errorOf(resume);
    EXPECT_NE(msg.find(ckpt + ": the file is damaged: its SHA-256 differs"), std::string::npos)
        << msg;
}

TEST(Trainer, AFullDiskFailsTheRunWithASummaryAndNoTemporaryFiles) {
    DiskGuard guard;
    for (const std::string when : {"iteration", "eval"}) {
        SCOPED_TRACE(when);
        const std::string dir = dfq::test::tempDir() + "/full-" + when;
        auto config = tinyRun({"data.path=fashion-mnist", "data.limit=200"});
        if (!fs::exists(dfq::run::kFashionMnistDir))
            GTEST_SKIP() << "Fashion-MNIST is not installed";
        dfq::run::RunDirectory folder("", "", dir);
        dfq::run::TrainerFiles files;
        files.checkpoint = folder.checkpointPath();
        DiskFiller filler(when);
        DiskFreer freer;
        // The filler fills the disk after the folder has written the event's rows, so that the
        // next write fails: metrics.csv at the next iteration, or the checkpoint after the
        // evaluation. The freer frees it before the folder writes the summary.
        const std::string msg = errorOf([&] {
            dfq::run::Trainer(config, {&freer, &folder, &filler}, files).run();
        });
        // At an iteration the next row fails (of metrics.csv, or bn_match.csv when it is due);
        // after the evaluation, the checkpoint.
        EXPECT_EQ(msg.rfind(when == "iteration" ? dir + "/" : folder.checkpointPath(), 0), 0u)
            << msg;
        EXPECT_NE(msg.find(": cannot write (No space left on device)"), std::string::npos) << msg;
        const std::string summary = slurp(dir + "/summary.json");
        EXPECT_NE(summary.find("\"status\":\"failed\""), std::string::npos) << summary;
        EXPECT_NE(summary.find("No space left on device"), std::string::npos) << summary;
        EXPECT_TRUE(temporaryFiles(dir).empty());
    }
}

TEST(Trainer, ADiskThatStaysFullIsReportedWhenEvenTheSummaryCannotBeWritten) {
    DiskGuard guard;
    const std::string dir = dfq::test::tempDir() + "/full-for-good";
    dfq::run::RunDirectory folder("", "", dir);
    DiskFiller filler("iteration");
    const std::string msg = errorOf([&] {
        dfq::run::Trainer(tinyRun(), {&folder, &filler}).run();
    });
    EXPECT_NE(msg.find(": cannot write (No space left on device); the run folder could not record "
                       "it either: " +
                       dir + "/summary.json: cannot write"),
              std::string::npos)
        << msg;
    EXPECT_TRUE(temporaryFiles(dir).empty());
}

TEST(Trainer, ARunThatFailsBeforeItStartsLeavesItsConfigAndAFailedSummary) {
    const std::string dir = dfq::test::tempDir() + "/early-failure";
    dfq::run::RunDirectory folder("", "", dir);
    auto config = tinyRun({"model.path=" + dir + "/missing.pt"});
    const std::string msg = errorOf([&] { dfq::run::Trainer(config, {&folder}).run(); });
    EXPECT_EQ(msg, dir + "/missing.pt: no such file");
    EXPECT_NE(slurp(dir + "/config.yaml").find("missing.pt"), std::string::npos);
    const std::string summary = slurp(dir + "/summary.json");
    EXPECT_NE(summary.find("\"status\":\"failed\""), std::string::npos) << summary;
    EXPECT_NE(summary.find("missing.pt: no such file"), std::string::npos) << summary;
}

TEST(Model, NumClassesThatDisagreeWithTheOutputsAreRefused) {
    auto teacher = dfq::model::Model::load(dfq::run::demoTeacherPath());
    auto meta = teacher.meta();
    ASSERT_EQ(meta.numClasses, 10);
    meta.numClasses = 12;
    meta.classNames.clear();
    const std::string msg = errorOf([&] { teacher.setMeta(meta); });
    EXPECT_NE(msg.find("the model gives 10 outputs per image, but num_classes is 12"),
              std::string::npos)
        << msg;
    meta.inputShape = {3, 100000, 100000};
    EXPECT_NE(errorOf([&] { teacher.setMeta(meta); }).find("is too large an image"),
              std::string::npos);
}

TEST(CollapseMonitor, WarnsOnceWhenPredictionsCollapseOrTheCeStaysHigh) {
    // Healthy: the CE falls far below ln(10) and the batch covers every class.
    dfq::run::CollapseMonitor healthy(10, 64, 10);
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(healthy.add(i, 2.3 * std::exp(-0.1 * i), 10).empty());
    // Collapsed: two classes only, and a CE that stays at a uniform guess.
    dfq::run::CollapseMonitor collapsed(10, 64, 10);
    std::vector<std::string> warnings;
    for (int i = 0; i < 100; ++i)
        for (const auto& w : collapsed.add(i, 2.5, 2))
            warnings.push_back(w);
    ASSERT_EQ(warnings.size(), 2u);  // each kind once, at the end of the second window
    EXPECT_EQ(warnings[0].rfind("generator collapse (classes): at iteration 20 the teacher sees "
                                "only 2.0 of the 10 classes",
                                0),
              0u)
        << warnings[0];
    EXPECT_EQ(warnings[1].rfind("generator collapse (CE): at iteration 20 the generator's CE is "
                                "2.5 and has not fallen",
                                0),
              0u)
        << warnings[1];
    // A batch smaller than the class count cannot show every class; that is no collapse.
    dfq::run::CollapseMonitor small(100, 8, 10);
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(small.add(i, 0.01, 8).empty());
}

TEST(Trainer, ACollapsingGeneratorEndsWithAWarning) {
    for (const std::string lr : {"10", "0.001"}) {
        SCOPED_TRACE("generator.lr=" + lr);
        const std::string dir = dfq::test::tempDir() + "/collapse-" + lr;
        dfq::run::RunDirectory folder("", "", dir);
        // Warm-up only: the generator trains, the student waits.
        const auto config = tinyRun({"generator.lr=" + lr, "schedule.epochs=1",
                                     "schedule.iterations=200", "schedule.warmup_epochs=1",
                                     "schedule.calibration_epochs=0", "generator.batch_size=16",
                                     "output.sample_every=1000", "output.bn_every=1000"});
        const auto summary = dfq::run::Trainer(config, {&folder}).run();
        EXPECT_EQ(summary.status, "finished");
        const std::string json = slurp(dir + "/summary.json");
        if (lr == "10") {
            ASSERT_FALSE(summary.warnings.empty());
            EXPECT_EQ(summary.warnings[0].rfind("generator collapse", 0), 0u)
                << summary.warnings[0];
            EXPECT_NE(json.find("\"warnings\":[\"generator collapse"), std::string::npos) << json;
        } else {
            EXPECT_TRUE(summary.warnings.empty()) << summary.warnings[0];
            EXPECT_NE(json.find("\"warnings\":[]"), std::string::npos) << json;
        }
    }
}

TEST(IdxReader, AnEmptyFileWithHugeSidesIsAnErrorNotACrash) {
    // Found by the fuzzer: 0 images of 4177395959x3155623936 made LibTorch compute overflowing
    // strides and crash (SEGV) instead of throwing.
    const std::string path =
        std::string(DFQ_SOURCE_DIR) + "/tests/fuzz/regressions/fuzz_idx/empty-with-huge-sides.idx";
    EXPECT_NE(errorOf([&] { dfq::data::readIdxImages(path); })
                  .find(": image size 4177395959x3155623936 at byte offset 8 is larger than "
                        "16384 pixels a side"),
              std::string::npos);
    const std::string empty = dfq::test::tempDir() + "/empty-idx";
    spit(empty, std::string("\0\0\x08\x03\0\0\0\0\0\0\0\x1c\0\0\0\x1c", 16));
    EXPECT_EQ(errorOf([&] { dfq::data::readIdxImages(empty); }),
              empty + ": the file holds no images (count 0 at byte offset 4)");
}

TEST(RunFolderReader, ReadsBackWhatTheWriterWrote) {
    if (!fs::exists(dfq::run::kFashionMnistDir))
        GTEST_SKIP() << "Fashion-MNIST is not installed";
    struct Recorder : dfq::run::Observer {
        std::vector<dfq::run::IterationStats> iterations;
        std::vector<dfq::run::EvalStats> evals;
        std::vector<dfq::run::RoundingStats> rounding;
        std::vector<dfq::run::BnMatch> bn;
        std::vector<dfq::run::LayerStats> layers;
        dfq::run::RunSummary summary;
        double fp = -1, ptq = -1;
        void onIteration(const dfq::run::IterationStats& s) override { iterations.push_back(s); }
        void onEval(const dfq::run::EvalStats& e) override { evals.push_back(e); }
        void onRounding(const dfq::run::RoundingStats& r) override { rounding.push_back(r); }
        void onBnMatch(const dfq::run::BnMatch& m) override { bn.push_back(m); }
        void onLayers(const dfq::run::LayerStats& l) override { layers.push_back(l); }
        void onBaseline(const std::string& name, double top1) override {
            (name == "fp" ? fp : ptq) = top1;
        }
        void onFinish(const dfq::run::RunSummary& s) override { summary = s; }
    } rec;
    const std::string dir = dfq::test::tempDir() + "/read-back";
    {
        dfq::run::RunDirectory folder("", "", dir);
        const auto config =
            tinyRun({"data.path=fashion-mnist", "data.limit=200", "output.layers_every=2",
                     "output.bn_every=2", "method.student=ait"});
        dfq::run::Trainer(config, {&rec, &folder}).run();
    }
    const dfq::run::RunRecord r = dfq::run::readRunFolder(dir);
    auto near = [](double a, double b) {
        return std::abs(a - b) <= 1e-5 * std::max(1.0, std::abs(b));
    };
    ASSERT_EQ(r.iterations.size(), rec.iterations.size());
    for (size_t i = 0; i < r.iterations.size(); ++i) {
        EXPECT_EQ(r.iterations[i].step, rec.iterations[i].step);
        EXPECT_EQ(r.iterations[i].studentTrained, rec.iterations[i].studentTrained);
        EXPECT_TRUE(near(r.iterations[i].generatorCe, rec.iterations[i].generatorCe));
        EXPECT_TRUE(near(r.iterations[i].studentLoss, rec.iterations[i].studentLoss));
        EXPECT_TRUE(near(r.iterations[i].lrStudent, rec.iterations[i].lrStudent));
    }
    ASSERT_EQ(r.evals.size(), rec.evals.size());
    EXPECT_TRUE(near(r.evals.back().top1, rec.evals.back().top1));
    EXPECT_TRUE(near(r.fpTop1, rec.fp));
    EXPECT_TRUE(near(r.ptqTop1, rec.ptq));
    ASSERT_EQ(r.rounding.size(), rec.rounding.size());
    ASSERT_FALSE(r.rounding.empty());
    EXPECT_EQ(r.rounding.back().layers, rec.rounding.back().layers);
    EXPECT_EQ(r.rounding.back().alphas.size(), rec.rounding.back().alphas.size());  // AIT
    EXPECT_TRUE(near(r.rounding.back().threshold, rec.rounding.back().threshold));
    ASSERT_TRUE(r.lastBn.has_value());
    EXPECT_EQ(r.lastBn->step, rec.bn.back().step);
    EXPECT_EQ(r.lastBn->layers, rec.bn.back().layers);
    EXPECT_EQ(r.lastBn->channels.size(), rec.bn.back().channels.size());
    ASSERT_EQ(r.layers.size(), rec.layers.size());
    EXPECT_EQ(r.layers.back().layers, rec.layers.back().layers);
    EXPECT_EQ(r.layers.back().source, rec.layers.back().source);
    ASSERT_TRUE(r.summary.has_value());
    EXPECT_EQ(r.summary->status, "finished");
    EXPECT_EQ(r.summary->iterations, rec.summary.iterations);
    EXPECT_TRUE(near(r.summary->lastTop1, rec.summary.lastTop1));
    EXPECT_EQ(r.sampleGridStep, 3);
    EXPECT_NE(r.configYaml.find("student: ait"), std::string::npos);
}

TEST(ImageFolderReader, AnImageClaimingGigapixelsIsRefusedBeforeDecoding) {
    // Found by the fuzzer: a 17-byte JPEG header claiming 63481x63482 pixels made the decoder
    // allocate 12 GB.
    const std::string input =
        slurp(std::string(DFQ_SOURCE_DIR) +
              "/tests/fuzz/regressions/fuzz_image_folder/jpeg-claiming-63481x63482");
    const std::string root = dfq::test::tempDir() + "/huge-image";
    fs::create_directories(root + "/cat");
    spit(root + "/cat/a.jpg", input.substr(1));  // the fuzz input's first byte picks ".jpg"
    for (const std::vector<int64_t>& shape :
         {std::vector<int64_t>{}, std::vector<int64_t>{3, 32, 32}})
        EXPECT_NE(errorOf([&] {
                      dfq::data::readImageFolder(root, shape);
                  }).find("a.jpg: a 63481x63482 image is larger than 16384 pixels a side"),
                  std::string::npos);
}
