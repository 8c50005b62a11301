#include "run_folder_reader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "../analysis/report_io.h"
#include "../error.h"
#include "run_folder_format.h"

namespace dfq::run {

namespace fs = std::filesystem;

namespace {

using Fields = std::vector<std::string>;

Fields split(const std::string& line) {
    Fields fields;
    size_t from = 0;
    for (size_t comma; (comma = line.find(',', from)) != std::string::npos; from = comma + 1)
        fields.push_back(line.substr(from, comma - from));
    fields.push_back(line.substr(from));
    return fields;
}

// A CSV file: its header and the rows with as many fields as the header (a row cut short by a
// writer still at work is left out). A missing file has neither.
struct Csv {
    Fields header;
    std::vector<Fields> rows;
    std::map<std::string, size_t> index;

    explicit Csv(const fs::path& path) {
        std::ifstream in(path);
        for (std::string line; std::getline(in, line);) {
            if (line.empty())
                continue;
            Fields f = split(line);
            if (header.empty()) {
                header = std::move(f);
                for (size_t i = 0; i < header.size(); ++i)
                    index.emplace(header[i], i);
            } else if (f.size() == header.size()) {
                rows.push_back(std::move(f));
            }
        }
    }
    // The column of that name in the header; -1 when the file has none.
    int column(const std::string& name) const {
        const auto it = index.find(name);
        return it == index.end() ? -1 : static_cast<int>(it->second);
    }
    // Whether the header starts with the given columns (the table in run_folder_format.h).
    bool has(const char* columnsText) const {
        const Fields want = split(columnsText);
        return header.size() >= want.size() && std::equal(want.begin(), want.end(), header.begin());
    }
};

double num(const Fields& f, int i) {
    if (i < 0 || static_cast<size_t>(i) >= f.size() || f[i].empty())
        return 0.0;
    if (f[i] == "inf")
        return std::numeric_limits<double>::infinity();
    if (f[i] == "-inf")
        return -std::numeric_limits<double>::infinity();
    return std::strtod(f[i].c_str(), nullptr);
}

int64_t integer(const Fields& f, int i) {
    return i < 0 || static_cast<size_t>(i) >= f.size() ? 0
                                                       : std::strtoll(f[i].c_str(), nullptr, 10);
}

std::string before(const std::string& s, char c) {
    return s.substr(0, s.find(c));
}

std::string after(const std::string& s, char c) {
    const auto p = s.find(c);
    return p == std::string::npos ? "" : s.substr(p + 1);
}

void readMetrics(const fs::path& dir, RunRecord& d) {
    const Csv csv(dir / "metrics.csv");
    if (!csv.has(columns::kMetrics))
        return;
    auto c = [&](const char* name) { return csv.column(name); };
    for (const auto& f : csv.rows) {
        IterationStats s;
        s.step = integer(f, c("step"));
        s.epoch = integer(f, c("epoch"));
        s.iteration = integer(f, c("iteration"));
        s.generatorCe = num(f, c("g_ce"));
        s.generatorBns = num(f, c("g_bns"));
        s.generatorLoss = num(f, c("g_loss"));
        s.studentCe = num(f, c("s_ce"));
        s.studentKd = num(f, c("s_kd"));
        s.studentLoss = num(f, c("s_loss"));
        s.studentCam = num(f, c("s_cam"));
        s.studentTrained = f[c("student_trained")] == "1";
        s.calibrating = f[c("calibrating")] == "1";
        s.lrGenerator = num(f, c("lr_g"));
        s.lrStudent = num(f, c("lr_s"));
        s.iterationsPerSecond = num(f, c("it_per_s"));
        s.generatorMs = num(f, c("g_ms"));
        s.studentMs = num(f, c("s_ms"));
        d.iterations.push_back(s);
    }
}

void readEval(const fs::path& dir, RunRecord& d) {
    const Csv csv(dir / "eval.csv");
    if (!csv.has(columns::kEval))
        return;
    auto c = [&](const char* name) { return csv.column(name); };
    for (const auto& f : csv.rows) {
        const std::string& epoch = f[c("epoch")];
        if (epoch == "fp" || epoch == "ptq") {
            (epoch == "fp" ? d.fpTop1 : d.ptqTop1) = num(f, c("top1"));
            continue;
        }
        d.evals.push_back({integer(f, c("epoch")), integer(f, c("step")), num(f, c("top1")),
                           num(f, c("top5")), num(f, c("best_top1")), num(f, c("seconds"))});
    }
}

void readBn(const fs::path& dir, RunRecord& d) {
    const Csv csv(dir / "bn_match.csv");
    if (!csv.has(columns::kBnMatchLead) || csv.rows.empty())
        return;
    std::vector<std::string> layers;
    for (size_t i = 1; i + 1 < csv.header.size(); i += 2)
        layers.push_back(before(csv.header[i], ':'));
    auto match = [&](const Fields& f) {
        BnMatch m;
        m.step = integer(f, 0);
        m.layers = layers;
        for (size_t l = 0; l < layers.size(); ++l) {
            m.meanMse.push_back(num(f, static_cast<int>(1 + 2 * l)));
            m.varMse.push_back(num(f, static_cast<int>(2 + 2 * l)));
        }
        return m;
    };
    d.firstBn = match(csv.rows.front());
    d.lastBn = match(csv.rows.back());
    const Csv channels(dir / "bn_channels.csv");
    if (!channels.has(columns::kBnChannels))
        return;
    auto c = [&](const char* name) { return channels.column(name); };
    for (const auto& f : channels.rows) {
        const int64_t step = integer(f, c("step"));
        BnMatch* target = step == d.lastBn->step    ? &*d.lastBn
                          : step == d.firstBn->step ? &*d.firstBn
                                                    : nullptr;
        if (!target)
            continue;
        const std::string& layer = f[c("layer")];
        if (target->channels.empty() || target->channels.back().layer != layer)
            target->channels.push_back({layer, {}, {}, {}, {}});
        auto& ch = target->channels.back();
        ch.batchMean.push_back(num(f, c("batch_mean")));
        ch.batchVar.push_back(num(f, c("batch_var")));
        ch.runningMean.push_back(num(f, c("running_mean")));
        ch.runningVar.push_back(num(f, c("running_var")));
    }
}

void readRounding(const fs::path& dir, RunRecord& d) {
    const Csv csv(dir / "rounding.csv");
    if (!csv.has(columns::kRoundingLead))
        return;
    const std::vector<std::string> layers(csv.header.begin() + 2, csv.header.end());
    for (const auto& f : csv.rows) {
        RoundingStats s{integer(f, 0), layers, {}, num(f, 1), {}, 0.0};
        for (size_t i = 2; i < f.size(); ++i)
            s.perLayer.push_back(num(f, static_cast<int>(i)));
        d.rounding.push_back(std::move(s));
    }
    // AIT: α per layer and the passing threshold, by step.
    const Csv alpha(dir / "alpha.csv");
    if (!alpha.has(columns::kAlphaLead))
        return;
    size_t next = 0;
    for (const auto& f : alpha.rows) {
        const int64_t step = integer(f, 0);
        while (next < d.rounding.size() && d.rounding[next].step < step)
            ++next;
        if (next == d.rounding.size() || d.rounding[next].step != step)
            continue;
        d.rounding[next].threshold = num(f, 1);
        for (size_t i = 2; i < f.size(); ++i)
            d.rounding[next].alphas.push_back(num(f, static_cast<int>(i)));
    }
}

void readArchitecture(const fs::path& dir, RunRecord& d) {
    // The search's reports ("c1 op2:dil5" columns) and the derived architecture.
    const Csv csv(dir / "architecture.csv");
    if (csv.has(columns::kArchitectureLead))
        for (const auto& f : csv.rows) {
            ArchitectureStats a;
            a.step = integer(f, 0);
            a.temperature = num(f, 1);
            for (size_t i = 2; i < f.size(); ++i) {
                const std::string edge = before(csv.header[i], ':');
                if (a.edges.empty() || a.edges.back() != edge) {
                    a.edges.push_back(edge);
                    a.choices.emplace_back();
                    a.probabilities.emplace_back();
                }
                a.choices.back().push_back(after(csv.header[i], ':'));
                a.probabilities.back().push_back(static_cast<float>(num(f, static_cast<int>(i))));
            }
            d.architecture.push_back(std::move(a));
        }
    std::ifstream derived(dir / "architecture.txt");
    std::stringstream text;
    text << derived.rdbuf();
    d.derivedArchitecture = text.str();
    while (!d.derivedArchitecture.empty() &&
           std::isspace(static_cast<unsigned char>(d.derivedArchitecture.back())))
        d.derivedArchitecture.pop_back();
}

void readBoundaryAndFeatures(const fs::path& dir, RunRecord& d) {
    const Csv boundary(dir / "boundary.csv");
    if (boundary.has(columns::kBoundary))
        for (const auto& f : boundary.rows) {
            if (!d.boundary || d.boundary->step != integer(f, 0))
                d.boundary = BoundarySweep{integer(f, 0), integer(f, 1), integer(f, 2), {}, {}, {}};
            d.boundary->t.push_back(num(f, 3));
            d.boundary->pa.push_back(num(f, 4));
            d.boundary->pb.push_back(num(f, 5));
        }
    const Csv features(dir / "features.csv");
    if (features.has(columns::kFeatures))
        for (const auto& f : features.rows) {
            if (!d.features || d.features->step != integer(f, 0)) {
                d.features = FeatureMap{};
                d.features->step = integer(f, 0);
            }
            d.features->kind.push_back(static_cast<int>(integer(f, 1)));
            d.features->label.push_back(integer(f, 2));
            d.features->x.push_back(static_cast<float>(num(f, 3)));
            d.features->y.push_back(static_cast<float>(num(f, 4)));
        }
}

}  // namespace

std::optional<RunSummary> readRunSummary(const std::string& folder) {
    const fs::path dir(folder);
    if (!fs::is_regular_file(dir / "summary.json"))
        return std::nullopt;
    YAML::Node o;
    try {
        o = YAML::LoadFile((dir / "summary.json").string());
    } catch (const YAML::Exception&) {
        return std::nullopt;  // being written, or damaged: the run shows as running
    }
    if (!o.IsMap())
        return std::nullopt;
    auto number = [&](const char* key, double otherwise) {
        try {
            return o[key] && o[key].IsScalar() ? o[key].as<double>() : otherwise;
        } catch (const YAML::Exception&) {
            return otherwise;
        }
    };
    auto text = [&](const char* key) {
        return o[key] && o[key].IsScalar() ? o[key].Scalar() : std::string();
    };
    RunSummary s;
    s.fpTop1 = number("fp_top1", -1);
    s.ptqTop1 = number("ptq_top1", -1);
    s.bestTop1 = number("best_top1", -1);
    s.lastTop1 = number("last_top1", -1);
    s.iterations = static_cast<int64_t>(number("iterations", 0));
    s.wallSeconds = number("wall_seconds", 0);
    s.status = text("status");
    s.error = text("error");
    s.modelSha256 = text("model_sha256");
    if (o["warnings"] && o["warnings"].IsSequence())
        for (const auto& w : o["warnings"])
            if (w.IsScalar())
                s.warnings.push_back(w.Scalar());
    return s;
}

std::vector<LayerStats> readLayersCsv(const std::string& path) {
    std::vector<LayerStats> out;
    const Csv csv(path);
    if (!csv.has(columns::kLayers))
        return out;
    for (const auto& f : csv.rows) {
        const int64_t step = integer(f, 0);
        const std::string& source = f[1];
        if (out.empty() || out.back().step != step || out.back().source != source) {
            out.emplace_back();
            out.back().step = step;
            out.back().source = source;
        }
        LayerStats& l = out.back();
        if (f[3] == "bn") {
            l.bnLayers.push_back(f[2]);
            l.bnMeanMse.push_back(num(f, 5));
            l.bnVarMse.push_back(num(f, 6));
        } else {
            l.layers.push_back(f[2]);
            l.kinds.push_back(f[3]);
            l.sqnrDb.push_back(num(f, 4));
        }
    }
    return out;
}

RunRecord readRunFolder(const std::string& folder) {
    const fs::path dir(folder);
    std::ifstream config(dir / "config.yaml");
    if (!config)
        throw Error(folder + ": not a run folder (it has no config.yaml)");
    RunRecord d;
    d.folder = folder;
    std::stringstream text;
    text << config.rdbuf();
    d.configYaml = text.str();
    readMetrics(dir, d);
    readEval(dir, d);
    readBn(dir, d);
    readRounding(dir, d);
    readArchitecture(dir, d);
    readBoundaryAndFeatures(dir, d);
    d.layers = readLayersCsv((dir / "layers.csv").string());
    // An analysis folder that cannot be read (still being written) is left out.
    if (fs::is_regular_file(dir / "analysis" / "analysis.json")) {
        try {
            d.analysis = analysis::readAnalysisFolder((dir / "analysis").string());
        } catch (const std::exception&) {
        }
    }
    std::error_code ec;
    std::string latest;
    for (const auto& e : fs::directory_iterator(dir / "samples", ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("step-", 0) == 0 && name.size() > 9 &&
            name.compare(name.size() - 4, 4, ".png") == 0 && name > latest)
            latest = name;
    }
    if (!latest.empty()) {
        d.sampleGridPath = (dir / "samples" / latest).string();
        d.sampleGridStep = std::strtoll(latest.substr(5).c_str(), nullptr, 10);
    }
    d.summary = readRunSummary(dir.string());
    return d;
}

}  // namespace dfq::run
