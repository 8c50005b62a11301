#include "sweep.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../error.h"
#include "../safe_io.h"
#include "demo_teacher.h"
#include "run_directory.h"
#include "run_folder_reader.h"

namespace dfq::run {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxSpecBytes = 1 << 20;
constexpr size_t kMaxPoints = 100000;

// A value of a grid list as `--set` takes it: a scalar as written, anything else in flow style.
std::string flowText(const YAML::Node& n) {
    if (n.IsScalar())
        return n.Scalar();
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.c_str();
}

// "method.generator" -> "generator"
std::string shortKey(const std::string& key) {
    const auto dot = key.rfind('.');
    return dot == std::string::npos ? key : key.substr(dot + 1);
}

// One dimension of the product: one key (grid) or several that vary together (zip).
struct Dimension {
    std::vector<std::string> keys;
    std::vector<std::vector<std::string>> values;  // [position][key]
};

void checkKey(const std::string& key, const std::string& where) {
    if (configKeyDoc(key).empty())
        throw Error(where + ": unknown key '" + key + "' (dfq config-reference lists every key)");
}

std::vector<std::string> listOf(const YAML::Node& list, const std::string& where) {
    if (!list.IsSequence())
        throw Error(where + ": expected a list of values, such as [1, 2, 3]");
    if (list.size() == 0)
        throw Error(where + ": the list is empty; a sweep needs at least one value");
    std::vector<std::string> out;
    for (const auto& v : list)
        out.push_back(flowText(v));
    return out;
}

Dimension zipGroup(const YAML::Node& group, const std::string& where) {
    if (!group.IsMap() || group.size() == 0)
        throw Error(where + ": expected a map of keys to lists of equal length");
    Dimension d;
    std::vector<std::vector<std::string>> columns;
    for (const auto& kv : group) {
        const std::string key = kv.first.Scalar();
        checkKey(key, where);
        columns.push_back(listOf(kv.second, where + "." + key));
        if (columns.back().size() != columns.front().size())
            throw Error(where + "." + key + ": has " + std::to_string(columns.back().size()) +
                        " values, " + d.keys.front() + " has " +
                        std::to_string(columns.front().size()) +
                        "; keys that vary together need lists of equal length");
        d.keys.push_back(key);
    }
    d.values.resize(columns.front().size());
    for (size_t i = 0; i < d.values.size(); ++i)
        for (const auto& c : columns)
            d.values[i].push_back(c[i]);
    return d;
}

std::string pointName(int index, int width, const std::vector<std::string>& keys,
                      const std::vector<std::string>& values) {
    std::string idx = std::to_string(index);
    idx.insert(0, static_cast<size_t>(std::max(0, width - static_cast<int>(idx.size()))), '0');
    // key-value pairs while they fit; the values alone when they do not (the keys are in
    // sweep.yaml and in --status's legend), so that a long name is never cut mid-word.
    std::string label, bare;
    for (size_t k = 0; k < keys.size(); ++k) {
        label += (k ? "_" : "") + shortKey(keys[k]) + "-" + values[k];
        bare += (k ? "_" : "") + values[k];
    }
    label = safeName(label);
    if (label.size() > 64)
        label = safeName(bare);
    if (label.size() > 64)
        label.resize(64);
    return label.empty() ? idx : idx + "-" + label;
}

int64_t plannedSteps(const ExperimentConfig& c) {
    const int64_t search = c.methodGenerator == "autorecon" && c.autoreconArchitecture == "search"
                               ? c.autoreconSearchEpochs * c.scheduleIterations
                               : 0;
    return search + c.scheduleEpochs * c.scheduleIterations;
}

std::string relativeTo(const std::string& path, const std::string& dir) {
    if (path == "demo")
        return resourceDir() + "/presets/demo-fmnist-gdfq-w4a4.yaml";
    const fs::path p(path);
    return p.is_absolute() || dir.empty() ? path : (fs::path(dir) / p).lexically_normal().string();
}

// The iterations in metrics.csv: the step of its last whole row, plus one (read from the tail,
// so a long run's file is not read whole).
int64_t stepsWritten(const std::string& folder) {
    std::ifstream in(folder + "/metrics.csv", std::ios::binary);
    if (!in)
        return 0;
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    const std::streamoff from = std::max<std::streamoff>(0, size - 4096);
    in.seekg(from);
    std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The last line that ends in '\n' and starts with a number.
    size_t end = tail.rfind('\n');
    while (end != std::string::npos && end > 0) {
        const size_t begin = tail.rfind('\n', end - 1);
        const std::string line = tail.substr(begin == std::string::npos ? 0 : begin + 1,
                                             end - (begin == std::string::npos ? 0 : begin + 1));
        if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0])) &&
            (begin != std::string::npos || from == 0))
            return std::strtoll(line.c_str(), nullptr, 10) + 1;
        if (begin == std::string::npos)
            break;
        end = begin;
    }
    return 0;
}

double secondsSinceModified(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return 0;
    return std::max(0.0, std::difftime(std::time(nullptr), st.st_mtime));
}

}  // namespace

std::string SweepPoint::value(const std::string& key) const {
    for (const auto& o : overrides)
        if (o.size() > key.size() && o.compare(0, key.size(), key) == 0 && o[key.size()] == '=')
            return o.substr(key.size() + 1);
    return {};
}

std::vector<std::string> Sweep::overrides(const SweepPoint& p) const {
    std::vector<std::string> all = sets;
    all.insert(all.end(), p.overrides.begin(), p.overrides.end());
    if (std::find(keys.begin(), keys.end(), "name") == keys.end())
        all.push_back("name=" + name + "-" + p.name.substr(0, p.name.find('-')));
    return all;
}

ExperimentConfig Sweep::config(const SweepPoint& p) const {
    try {
        return parseExperimentConfig(baseYaml, baseSource, overrides(p));
    } catch (const Error& e) {
        std::string keys;
        for (const auto& o : p.overrides)
            keys += (keys.empty() ? "" : ", ") + o;
        throw Error("point " + std::to_string(p.index) + " (" + keys + "): " + e.what());
    }
}

Sweep parseSweepSpec(const std::string& yaml, const std::string& source,
                     const std::vector<std::string>& sets) {
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        throw Error(source + ": not valid YAML: " + e.what());
    }
    if (!root.IsMap())
        throw Error(source + ": a sweep spec is a map with base: and grid: (docs/sweeps.md)");
    for (const auto& kv : root) {
        const std::string k = kv.first.Scalar();
        if (k != "name" && k != "base" && k != "set" && k != "grid" && k != "zip")
            throw Error(source + ": unknown key '" + k +
                        "' (a sweep spec has name, base, set, grid and zip)");
    }
    const std::string specDir = fs::path(source).parent_path().string();
    Sweep s;
    s.name = root["name"] ? root["name"].Scalar() : safeName(fs::path(source).stem().string());
    if (s.name.empty())
        s.name = "sweep";
    const YAML::Node base = root["base"];
    if (!base)
        throw Error(source +
                    ": base: names the experiment every point starts from (a file, "
                    "'demo', or a map of keys)");
    if (base.IsScalar()) {
        s.baseSource = relativeTo(base.Scalar(), specDir);
        s.baseYaml = io::readFile(s.baseSource, kMaxSpecBytes, "experiment file");
    } else if (base.IsMap()) {
        YAML::Emitter e;
        e << base;
        s.baseYaml = std::string(e.c_str()) + "\n";
        s.baseSource = source + " (base)";
    } else {
        throw Error(source + ": base: expected an experiment file or a map of keys");
    }
    if (const YAML::Node set = root["set"]) {
        if (!set.IsMap())
            throw Error(source + ": set: expected a map of keys, such as {schedule.epochs: 3}");
        for (const auto& kv : set) {
            checkKey(kv.first.Scalar(), source + ": set");
            s.sets.push_back(kv.first.Scalar() + "=" + flowText(kv.second));
        }
    }
    s.sets.insert(s.sets.end(), sets.begin(), sets.end());

    // The dimensions in the order the file gives them: grid keys and zip groups.
    std::vector<Dimension> dims;
    for (const auto& kv : root) {
        const std::string section = kv.first.Scalar();
        if (section == "grid") {
            if (!kv.second.IsMap())
                throw Error(source + ": grid: expected a map of keys to lists of values");
            for (const auto& g : kv.second) {
                const std::string key = g.first.Scalar();
                checkKey(key, source + ": grid");
                Dimension d;
                d.keys = {key};
                for (const auto& v : listOf(g.second, source + ": grid." + key))
                    d.values.push_back({v});
                dims.push_back(std::move(d));
            }
        } else if (section == "zip") {
            if (kv.second.IsSequence()) {
                for (size_t i = 0; i < kv.second.size(); ++i)
                    dims.push_back(
                        zipGroup(kv.second[i], source + ": zip[" + std::to_string(i) + "]"));
            } else {
                dims.push_back(zipGroup(kv.second, source + ": zip"));
            }
        }
    }
    for (const auto& d : dims)
        for (const auto& k : d.keys) {
            if (std::find(s.keys.begin(), s.keys.end(), k) != s.keys.end())
                throw Error(source + ": the key '" + k + "' varies twice (in grid and zip?)");
            s.keys.push_back(k);
        }
    size_t total = 1;
    for (const auto& d : dims) {
        total *= d.values.size();
        if (total > kMaxPoints)
            throw Error(source + ": more than " + std::to_string(kMaxPoints) + " points");
    }
    const int width = std::max(3, static_cast<int>(std::to_string(total - 1).size()));
    // The product, the last dimension fastest, as nested loops in the file's order.
    for (size_t i = 0; i < total; ++i) {
        size_t rest = i;
        std::vector<size_t> pos(dims.size());
        for (size_t d = dims.size(); d-- > 0;) {
            pos[d] = rest % dims[d].values.size();
            rest /= dims[d].values.size();
        }
        SweepPoint p;
        p.index = static_cast<int>(i);
        std::vector<std::string> values;
        for (size_t d = 0; d < dims.size(); ++d)
            for (size_t k = 0; k < dims[d].keys.size(); ++k) {
                p.overrides.push_back(dims[d].keys[k] + "=" + dims[d].values[pos[d]][k]);
                values.push_back(dims[d].values[pos[d]][k]);
            }
        p.name = pointName(p.index, width, s.keys, values);
        s.points.push_back(std::move(p));
    }
    // Every point against the schema, before anything runs.
    for (auto& p : s.points)
        p.totalSteps = plannedSteps(s.config(p));
    return s;
}

Sweep loadSweepSpec(const std::string& path, const std::vector<std::string>& sets) {
    return parseSweepSpec(io::readFile(path, kMaxSpecBytes, "sweep spec"), path, sets);
}

std::string Sweep::toYaml() const {
    YAML::Emitter e;
    e << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << name;
    e << YAML::Key << "base_source" << YAML::Value << baseSource;
    e << YAML::Key << "base" << YAML::Value << YAML::Literal << baseYaml;
    e << YAML::Key << "set" << YAML::Value << YAML::BeginSeq;
    for (const auto& o : sets)
        e << YAML::DoubleQuoted << o;
    e << YAML::EndSeq;
    e << YAML::Key << "keys" << YAML::Value << YAML::Flow << keys;
    e << YAML::Key << "points" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : points) {
        e << YAML::BeginMap;
        e << YAML::Key << "index" << YAML::Value << p.index;
        e << YAML::Key << "name" << YAML::Value << p.name;
        e << YAML::Key << "steps" << YAML::Value << p.totalSteps;
        e << YAML::Key << "overrides" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& o : p.overrides)
            e << YAML::DoubleQuoted << o;
        e << YAML::EndSeq;
        e << YAML::EndMap;
    }
    e << YAML::EndSeq << YAML::EndMap;
    return "# The points of this sweep, written once by dfq sweep: their indices never change.\n" +
           std::string(e.c_str()) + "\n";
}

bool isSweepFolder(const std::string& dir) {
    std::error_code ec;
    return fs::is_regular_file(fs::path(dir) / "sweep.yaml", ec);
}

Sweep readSweepFolder(const std::string& dir) {
    const std::string path = (fs::path(dir) / "sweep.yaml").string();
    if (!isSweepFolder(dir))
        throw Error(dir + ": not a sweep folder (it has no sweep.yaml)");
    try {
        const YAML::Node root = YAML::Load(io::readFile(path, 64 << 20, "sweep.yaml"));
        Sweep s;
        s.name = root["name"].Scalar();
        s.baseSource = root["base_source"].Scalar();
        s.baseYaml = root["base"].Scalar();
        for (const auto& o : root["set"])
            s.sets.push_back(o.Scalar());
        for (const auto& k : root["keys"])
            s.keys.push_back(k.Scalar());
        for (const auto& n : root["points"]) {
            SweepPoint p;
            p.index = n["index"].as<int>();
            p.name = n["name"].Scalar();
            p.totalSteps = n["steps"].as<int64_t>();
            for (const auto& o : n["overrides"])
                p.overrides.push_back(o.Scalar());
            if (p.index != static_cast<int>(s.points.size()) || p.name.empty() ||
                p.name.find('/') != std::string::npos || p.name.find("..") != std::string::npos)
                throw Error("point " + std::to_string(s.points.size()) + " is damaged");
            s.points.push_back(std::move(p));
        }
        return s;
    } catch (const YAML::Exception& e) {
        throw Error(path + ": cannot be read: " + e.what());
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
}

void prepareSweepFolder(const std::string& dir, const Sweep& sweep) {
    fs::create_directories(fs::path(dir) / "runs");
    fs::create_directories(fs::path(dir) / "logs");
    if (!isSweepFolder(dir)) {
        io::writeFileAtomically((fs::path(dir) / "sweep.yaml").string(), sweep.toYaml());
        return;
    }
    const Sweep before = readSweepFolder(dir);
    auto refuse = [&](const std::string& what) {
        throw Error(dir + ": was made by another sweep (" + what +
                    "); give another --out, or the spec and --set it was made with");
    };
    if (before.baseYaml != sweep.baseYaml)
        refuse("the base experiment differs");
    if (before.sets != sweep.sets)
        refuse("the keys set for every point differ");
    if (before.points.size() != sweep.points.size())
        refuse(std::to_string(before.points.size()) + " points there, " +
               std::to_string(sweep.points.size()) + " now");
    for (size_t i = 0; i < sweep.points.size(); ++i)
        if (before.points[i].overrides != sweep.points[i].overrides)
            refuse("point " + std::to_string(i) + " was " + before.points[i].name + ", now " +
                   sweep.points[i].name);
}

const char* stateName(PointState s) {
    switch (s) {
        case PointState::Pending:
            return "pending";
        case PointState::Running:
            return "running";
        case PointState::Finished:
            return "finished";
        case PointState::Cancelled:
            return "cancelled";
        case PointState::Failed:
            return "failed";
        case PointState::Diverged:
            return "diverged";
    }
    return "?";
}

std::string pointFolder(const std::string& dir, const SweepPoint& p) {
    return (fs::path(dir) / "runs" / p.name).string();
}

PointStatus pointStatus(const std::string& dir, const SweepPoint& p) {
    PointStatus s;
    s.folder = pointFolder(dir, p);
    s.totalSteps = p.totalSteps;
    std::error_code ec;
    if (!fs::is_directory(s.folder, ec))
        return s;
    s.owner = io::lockOwner(s.folder);
    s.step = stepsWritten(s.folder);
    if (!s.owner.empty()) {
        s.state = PointState::Running;
        s.wallSeconds = secondsSinceModified(s.folder + "/run.lock");
        return s;
    }
    if (!fs::is_regular_file(fs::path(s.folder) / "config.yaml", ec))
        return s;  // made, but nothing written: starts there
    s.resumable = fs::is_regular_file(fs::path(s.folder) / "checkpoints" / "last.pt", ec);
    s.summary = readRunSummary(s.folder);
    if (!s.summary) {
        s.state = s.resumable ? PointState::Cancelled : PointState::Failed;
        return s;
    }
    s.wallSeconds = s.summary->wallSeconds;
    const std::string& st = s.summary->status;
    s.state = st == "finished"    ? PointState::Finished
              : st == "diverged"  ? PointState::Diverged
              : st == "cancelled" ? (s.resumable ? PointState::Cancelled : PointState::Failed)
                                  : PointState::Failed;
    return s;
}

std::vector<PointStatus> sweepStatus(const std::string& dir, const Sweep& sweep) {
    std::vector<PointStatus> out;
    for (const auto& p : sweep.points)
        out.push_back(pointStatus(dir, p));
    return out;
}

PointAction pointAction(const PointStatus& s) {
    switch (s.state) {
        case PointState::Pending:
            return PointAction::Start;
        case PointState::Cancelled:
            return PointAction::Resume;
        case PointState::Failed:
            return PointAction::Restart;
        default:
            return PointAction::Skip;
    }
}

std::string setAsideFailedRun(const std::string& dir, const PointStatus& s) {
    const fs::path to =
        fs::path(dir) / "failed" / (fs::path(s.folder).filename().string() + "-" + timestamp());
    fs::create_directories(to.parent_path());
    std::error_code ec;
    fs::rename(s.folder, to, ec);
    if (ec)
        throw Error(s.folder + ": cannot move it to " + to.string() + " (" + ec.message() + ")");
    return to.string();
}

}  // namespace dfq::run
