#include "run_directory.h"

#include <stb_image_write.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>

#include "../error.h"
#include "../json_writer.h"
#include "../runtime.h"
#include "../safe_io.h"
#include "run_folder_format.h"

namespace dfq::run {

namespace fs = std::filesystem;

namespace {

void openCsv(io::AppendFile& out, const fs::path& path, bool truncate = true) {
    out.open(path.string(), truncate);
}

// Comma-joined fields, each streamed as it is: row(a, b, c) == "a,b,c\n".
template <typename... T>
std::string row(const T&... fields) {
    std::ostringstream out;
    int i = 0;
    ((out << (i++ ? "," : "") << fields), ...);
    out << '\n';
    return out.str();
}

const std::string kMetricsHeader =
    std::string(columns::kMetrics) + "," + columns::kMetricsLater + "\n";
const std::string kEvalHeader = std::string(columns::kEval) + "\n";
const std::string kBnChannelsHeader = std::string(columns::kBnChannels) + "\n";

// Keeps the header and the rows `keep` accepts (given the row's comma-separated fields); returns
// whether the file has a header.
bool filterCsv(const fs::path& path,
               const std::function<bool(const std::vector<std::string>&)>& keep) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        return false;
    const std::string text = io::readFile(path.string(), int64_t{1} << 40, "CSV file");
    auto split = [](const std::string& line) {
        std::vector<std::string> fields;
        size_t from = 0;
        for (size_t comma; (comma = line.find(',', from)) != std::string::npos; from = comma + 1)
            fields.push_back(line.substr(from, comma - from));
        fields.push_back(line.substr(from));
        return fields;
    };
    std::string out;
    size_t columns = 0;
    bool header = false;
    // Only lines that end in a newline are whole: a crash or a full disk may have cut the last.
    for (size_t from = 0, end; (end = text.find('\n', from)) != std::string::npos; from = end + 1) {
        const std::string line = text.substr(from, end - from);
        if (!header) {
            header = true;
            columns = split(line).size();
            out += line + "\n";
            continue;
        }
        // A torn row (cut short and then continued by a later append) has another number of
        // fields than the header; drop it.
        const std::vector<std::string> fields = split(line);
        if (!line.empty() && fields.size() == columns && keep(fields))
            out += line + "\n";
    }
    writeFileAtomically(path.string(), out);
    return header;
}

int64_t toStep(const std::string& s) {
    try {
        return std::stoll(s);
    } catch (const std::exception&) {
        return std::numeric_limits<int64_t>::max();
    }
}

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

}  // namespace

std::string safeName(const std::string& name) {
    std::string out;
    for (char ch : name)
        out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')
                   ? ch
                   : '_';
    return out.empty() ? "run" : out;
}

std::string timestamp() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm local{};
    localtime_r(&now, &local);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &local);
    return buf;
}

void writeFileAtomically(const std::string& path, const std::string& text) {
    io::writeFileAtomically(path, text);
}

void writeSampleGrid(const std::string& path, const SampleBatch& s) {
    const int64_t cols = std::min<int64_t>(8, s.count), rows = (s.count + cols - 1) / cols;
    const int64_t gap = 2, w = cols * (s.width + gap) + gap, h = rows * (s.height + gap) + gap;
    std::vector<uint8_t> canvas(static_cast<size_t>(w * h * s.channels), 40);
    for (int64_t i = 0; i < s.count; ++i) {
        const int64_t x0 = gap + (i % cols) * (s.width + gap),
                      y0 = gap + (i / cols) * (s.height + gap);
        for (int64_t y = 0; y < s.height; ++y) {
            const uint8_t* src = s.pixels.data() + ((i * s.height + y) * s.width) * s.channels;
            std::copy(src, src + s.width * s.channels,
                      canvas.begin() + ((y0 + y) * w + x0) * s.channels);
        }
    }
    std::string png;
    const int ok = stbi_write_png_to_func(
        [](void* context, void* data, int size) {
            static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                                       static_cast<size_t>(size));
        },
        &png, static_cast<int>(w), static_cast<int>(h), static_cast<int>(s.channels), canvas.data(),
        static_cast<int>(w * s.channels));
    if (!ok)
        throw Error(path + ": cannot encode the sample grid");
    io::writeFileAtomically(path, png);
}

RunDirectory::RunDirectory(const std::string& parent, const std::string& name,
                           const std::string& exactPath) {
    std::error_code ec;
    if (!exactPath.empty()) {
        path_ = exactPath;
        fs::create_directories(path_, ec);
        if (ec)
            throw Error(path_ + ": cannot create the run folder (" + ec.message() + ")");
    } else {
        // Created exclusively: a run started in the same second with the same name gets the
        // next free suffix instead of sharing the folder.
        const fs::path base = fs::path(parent) / (timestamp() + "-" + safeName(name));
        if (!parent.empty())
            fs::create_directories(parent, ec);
        for (int n = 1;; ++n) {
            path_ = base.string() + (n > 1 ? "-" + std::to_string(n) : "");
            if (fs::create_directory(path_, ec))
                break;
            if (ec || n >= 1000)
                throw Error(path_ + ": cannot create the run folder (" +
                            (ec ? ec.message() : "too many runs of this name this second") + ")");
        }
    }
    lock_ = std::make_unique<io::FolderLock>(path_);
    fs::create_directories(fs::path(path_) / "samples", ec);
    if (ec)
        throw Error(path_ + ": cannot create the run folder (" + ec.message() + ")");
    openCsv(metrics_, fs::path(path_) / "metrics.csv");
    metrics_.append(kMetricsHeader);
    openCsv(eval_, fs::path(path_) / "eval.csv");
    eval_.append(kEvalHeader);
    openCsv(bnMatch_, fs::path(path_) / "bn_match.csv");
    openCsv(bnChannels_, fs::path(path_) / "bn_channels.csv");
    bnChannels_.append(kBnChannelsHeader);
    openCsv(rounding_, fs::path(path_) / "rounding.csv");
}

RunDirectory::~RunDirectory() = default;
RunDirectory::RunDirectory(RunDirectory&&) noexcept = default;
RunDirectory& RunDirectory::operator=(RunDirectory&&) noexcept = default;

RunDirectory RunDirectory::reopen(const std::string& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec))
        throw Error(path + ": no such run folder");
    if (!fs::is_regular_file(fs::path(path) / "config.yaml", ec))
        throw Error(path + ": not a run folder (it has no config.yaml)");
    RunDirectory d;
    d.path_ = path;
    // A folder another run is writing to is refused before anything in it is touched.
    d.lock_ = std::make_unique<io::FolderLock>(path);
    // With the lock held nobody else writes here: temporary files are what a killed process
    // left (they would only keep the disk full).
    for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
        const std::string name = e.path().filename().string();
        const auto tmp = name.rfind(".tmp");
        if (e.is_regular_file(ec) && tmp != std::string::npos && tmp + 4 < name.size() &&
            std::isdigit(static_cast<unsigned char>(name[tmp + 4])))
            fs::remove(e.path(), ec);
    }
    return d;
}

void RunDirectory::onResume(int64_t step, const RunSummary& soFar) {
    const fs::path dir(path_);
    auto before = [&](const std::vector<std::string>& f) { return toStep(f[0]) < step; };
    auto reopenCsv = [&](io::AppendFile& out, const char* name, const std::string& header) {
        const bool hasHeader = filterCsv(dir / name, before);
        openCsv(out, dir / name, false);
        if (!hasHeader && !header.empty())
            out.append(header);
        return hasHeader;
    };
    reopenCsv(metrics_, "metrics.csv", kMetricsHeader);
    bnHeader_ = reopenCsv(bnMatch_, "bn_match.csv", "");
    reopenCsv(bnChannels_, "bn_channels.csv", kBnChannelsHeader);
    roundingHeader_ = reopenCsv(rounding_, "rounding.csv", "");
    if (fs::exists(dir / "alpha.csv"))
        alphaHeader_ = reopenCsv(alpha_, "alpha.csv", "");
    if (fs::exists(dir / "features.csv"))
        featuresHeader_ = reopenCsv(features_, "features.csv", "");
    if (fs::exists(dir / "boundary.csv"))
        boundaryHeader_ = reopenCsv(boundary_, "boundary.csv", "");
    if (fs::exists(dir / "layers.csv"))
        layersHeader_ = reopenCsv(layers_, "layers.csv", "");
    if (fs::exists(dir / "architecture.csv"))
        architectureHeader_ = reopenCsv(architecture_, "architecture.csv", "");
    // eval.csv: baselines the checkpoint knows, and evaluations up to its iteration.
    const bool evalHeader = filterCsv(dir / "eval.csv", [&](const std::vector<std::string>& f) {
        if (f[0] == "fp")
            return soFar.fpTop1 >= 0;
        if (f[0] == "ptq")
            return soFar.ptqTop1 >= 0;
        return f.size() > 1 && toStep(f[1]) <= step;
    });
    openCsv(eval_, dir / "eval.csv", false);
    if (!evalHeader)
        eval_.append(kEvalHeader);
}

void RunDirectory::onStart(const std::string& yaml, int64_t) {
    writeFileAtomically((fs::path(path_) / "config.yaml").string(), yaml);
}

void RunDirectory::onIteration(const IterationStats& s) {
    metrics_.append(row(s.step, s.epoch, s.iteration, fmt(s.generatorCe), fmt(s.generatorBns),
                        fmt(s.generatorLoss), fmt(s.studentCe), fmt(s.studentKd),
                        fmt(s.studentLoss), s.studentTrained, s.calibrating, fmt(s.lrGenerator),
                        fmt(s.lrStudent), fmt(s.iterationsPerSecond), fmt(s.generatorMs),
                        fmt(s.studentMs), fmt(s.studentCam)));
}

void RunDirectory::onBaseline(const std::string& name, double top1) {
    eval_.append(row(name, -1, fmt(top1), "", "", ""));
}

void RunDirectory::onEval(const EvalStats& s) {
    eval_.append(row(s.epoch, s.step, fmt(s.top1), fmt(s.top5), fmt(s.bestTop1), fmt(s.seconds)));
}

void RunDirectory::onBnMatch(const BnMatch& m) {
    if (!bnHeader_) {
        std::string header = columns::kBnMatchLead;
        for (const auto& l : m.layers)
            header += "," + l + ":mean_mse," + l + ":var_mse";
        bnMatch_.append(header + "\n");
        bnHeader_ = true;
    }
    std::string line = std::to_string(m.step);
    for (size_t i = 0; i < m.layers.size(); ++i)
        line += "," + fmt(m.meanMse[i]) + "," + fmt(m.varMse[i]);
    bnMatch_.append(line + "\n");
    std::string rows;
    for (const auto& ch : m.channels)
        for (size_t c = 0; c < ch.batchMean.size(); ++c)
            rows += row(m.step, ch.layer, c, fmt(ch.batchMean[c]), fmt(ch.batchVar[c]),
                        fmt(ch.runningMean[c]), fmt(ch.runningVar[c]));
    if (!rows.empty())
        bnChannels_.append(rows);
}

void RunDirectory::onRounding(const RoundingStats& r) {
    if (!roundingHeader_) {
        std::string header = columns::kRoundingLead;
        for (const auto& l : r.layers)
            header += "," + l;
        rounding_.append(header + "\n");
        roundingHeader_ = true;
    }
    std::string line = std::to_string(r.step) + "," + fmt(r.overall);
    for (double v : r.perLayer)
        line += "," + fmt(v);
    rounding_.append(line + "\n");
    if (r.alphas.empty())
        return;
    std::string header = columns::kAlphaLead,
                alphaRow = std::to_string(r.step) + ',' + fmt(r.threshold);
    for (const auto& l : r.layers)
        header += ',' + l;
    for (double a : r.alphas)
        alphaRow += ',' + fmt(a);
    appendOptionalCsv(alpha_, alphaHeader_, "alpha.csv", header, alphaRow + "\n");
}

void RunDirectory::appendOptionalCsv(io::AppendFile& out, bool& header, const char* name,
                                     const std::string& headerLine, const std::string& rows) {
    if (!out.isOpen())
        openCsv(out, fs::path(path_) / name, false);
    if (!header) {
        out.append(headerLine + "\n");
        header = true;
    }
    out.append(rows);
}

void RunDirectory::onBoundary(const BoundarySweep& b) {
    std::string rows;
    for (size_t i = 0; i < b.t.size(); ++i)
        rows += row(b.step, b.a, b.b, fmt(b.t[i]), fmt(b.pa[i]), fmt(b.pb[i]));
    if (!rows.empty())
        appendOptionalCsv(boundary_, boundaryHeader_, "boundary.csv", columns::kBoundary, rows);
}

void RunDirectory::onFeatures(const FeatureMap& f) {
    std::string rows;
    for (size_t i = 0; i < f.x.size(); ++i)
        rows += row(f.step, f.kind[i], f.label[i], fmt(f.x[i]), fmt(f.y[i]));
    if (!rows.empty())
        appendOptionalCsv(features_, featuresHeader_, "features.csv", columns::kFeatures, rows);
}

void RunDirectory::onLayers(const LayerStats& l) {
    // One row per quantizer (SQNR) and per BatchNorm layer (statistics) of the report,
    // appended as one piece.
    std::string rows;
    for (size_t i = 0; i < l.layers.size(); ++i)
        rows += row(l.step, l.source, l.layers[i], l.kinds[i], fmt(l.sqnrDb[i]), "", "");
    for (size_t i = 0; i < l.bnLayers.size(); ++i)
        rows +=
            row(l.step, l.source, l.bnLayers[i], "bn", "", fmt(l.bnMeanMse[i]), fmt(l.bnVarMse[i]));
    if (!rows.empty())
        appendOptionalCsv(layers_, layersHeader_, "layers.csv", columns::kLayers, rows);
}

void RunDirectory::onArchitecture(const ArchitectureStats& a) {
    // One row per report: every edge's probability of every candidate ("c1 op2:dil5").
    std::string header = columns::kArchitectureLead,
                line = std::to_string(a.step) + ',' + fmt(a.temperature);
    for (size_t e = 0; e < a.edges.size(); ++e)
        for (size_t k = 0; k < a.choices[e].size(); ++k) {
            header += ',' + a.edges[e] + ':' + a.choices[e][k];
            line += ',' + fmt(a.probabilities[e][k]);
        }
    if (!a.edges.empty())
        appendOptionalCsv(architecture_, architectureHeader_, "architecture.csv", header,
                          line + "\n");
    if (a.final)
        writeFileAtomically((fs::path(path_) / "architecture.txt").string(), a.architecture + "\n");
}

void RunDirectory::onSamples(const SampleBatch& s) {
    char name[32];
    std::snprintf(name, sizeof name, "step-%07lld.png", static_cast<long long>(s.step));
    writeSampleGrid((fs::path(path_) / "samples" / name).string(), s);
}

void RunDirectory::onFinish(const RunSummary& s) {
    JsonWriter w;
    auto top1 = [&](const char* key, double v) {
        if (v >= 0)
            w.key(key).value(v);
        else
            w.key(key).null();
    };
    w.beginObject();
    top1("fp_top1", s.fpTop1);
    top1("ptq_top1", s.ptqTop1);
    top1("best_top1", s.bestTop1);
    top1("last_top1", s.lastTop1);
    w.key("iterations").value(s.iterations);
    w.key("wall_seconds").value(s.wallSeconds);
    w.key("status").value(s.status);
    w.key("model_sha256").value(s.modelSha256);
    w.key("version").value(versionString());
    if (!s.error.empty())
        w.key("error").value(s.error);
    w.key("warnings").value(s.warnings);
    w.endObject();
    writeFileAtomically((fs::path(path_) / "summary.json").string(), w.str() + "\n");
}

}  // namespace dfq::run
