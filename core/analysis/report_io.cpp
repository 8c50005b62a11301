#include "report_io.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "../error.h"
#include "../json_writer.h"
#include "../run/run_directory.h"

namespace dfq::analysis {

namespace fs = std::filesystem;

namespace {

// Numbers that do not exist are empty fields; an exact quantizer's SQNR is "inf".
std::string num(double v) {
    if (std::isnan(v))
        return "";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.8g", v);
    return buf;
}

std::string layerBitsText(const std::map<std::string, int>& bits) {
    std::string s;
    for (const auto& [name, b] : bits)
        s += (s.empty() ? "" : ";") + name + "=" + std::to_string(b);
    return s;
}

constexpr const char* kAnalysisHeader =
    "layer,kind,bits,params,sqnr_db,kl,agreement,real_top1,cum_sqnr_db,cum_kl,cum_agreement,"
    "cum_real_top1,range_lo,range_hi,step,clipped";
constexpr const char* kChannelsHeader = "layer,channel,min,max,bits,step,clipped";
constexpr const char* kPlansHeader =
    "label,uniform,budget_bits,avg_weight_bits,size_kib,sensitivity,kl,agreement,real_top1,"
    "measured_top1,layer_bits";

// A CSV file of the analysis folder read row by row, fields by header name.
class CsvReader {
  public:
    CsvReader(const fs::path& path, const char* expectedHeader) : path_(path.string()) {
        in_.open(path);
        if (!in_)
            throw Error(path_ + ": cannot read (not an analysis folder?)");
        std::string header;
        std::getline(in_, header);
        if (expectedHeader && header.rfind(expectedHeader, 0) != 0)
            throw Error(path_ + ": unexpected header '" + header + "'");
        header_ = split(header);
    }
    bool next() {
        std::string line;
        while (std::getline(in_, line)) {
            ++line_;
            if (line.empty())
                continue;
            fields_ = split(line);
            if (fields_.size() != header_.size())
                throw Error(path_ + ": line " + std::to_string(line_ + 1) + " has " +
                            std::to_string(fields_.size()) + " fields, the header " +
                            std::to_string(header_.size()));
            return true;
        }
        return false;
    }
    const std::string& text(size_t i) const { return fields_.at(i); }
    const std::string& text(const std::string& name) const { return fields_.at(column(name)); }
    double number(size_t i) const { return parse(fields_.at(i)); }
    double number(const std::string& name) const { return parse(text(name)); }
    size_t columns() const { return header_.size(); }

  private:
    static std::vector<std::string> split(const std::string& line) {
        std::vector<std::string> out;
        std::stringstream ss(line);
        for (std::string f; std::getline(ss, f, ',');)
            out.push_back(f);
        if (!line.empty() && line.back() == ',')
            out.emplace_back();
        return out;
    }
    size_t column(const std::string& name) const {
        for (size_t i = 0; i < header_.size(); ++i)
            if (header_[i] == name)
                return i;
        throw Error(path_ + ": no column '" + name + "'");
    }
    double parse(const std::string& f) const {
        if (f.empty())
            return kNoValue;
        try {
            size_t used = 0;
            const double v = std::stod(f, &used);
            if (used != f.size())
                throw std::invalid_argument(f);
            return v;
        } catch (const std::exception&) {
            throw Error(path_ + ": line " + std::to_string(line_ + 1) + ": '" + f +
                        "' is not a number");
        }
    }

    std::string path_;
    std::ifstream in_;
    std::vector<std::string> header_, fields_;
    int line_ = 0;
};

void figuresJson(JsonWriter& w, const Figures& f) {
    w.key("sqnr_db").value(f.sqnrDb);
    w.key("kl").value(f.kl);
    w.key("agreement").value(f.agreement);
    w.key("real_top1").value(f.realTop1);
    w.key("real_kl").value(f.realKl);
}

void pointJson(JsonWriter& w, const PlanPoint& p) {
    w.beginObject();
    w.key("label").value(p.label);
    w.key("uniform").value(p.uniform);
    w.key("budget_bits").value(p.budgetBits);
    w.key("layer_bits").beginObject();
    for (const auto& [name, b] : p.layerBits)
        w.key(name).value(b);
    w.endObject();
    w.key("avg_weight_bits").value(p.avgWeightBits);
    w.key("size_kib").value(p.sizeKiB);
    w.key("sensitivity").value(p.sensitivity);
    w.key("predicted").beginObject();
    w.key("kl").value(p.predicted.kl);
    w.key("agreement").value(p.predicted.agreement);
    w.key("real_top1").value(p.predicted.realTop1);
    w.endObject();
    w.key("measured_top1").value(p.measuredTop1);
    w.endObject();
}

}  // namespace

std::string analysisJson(const AnalysisResult& result) {
    const LayerReport& r = result.report;
    JsonWriter w;
    w.beginObject();
    w.key("layers").beginArray();
    for (const auto& row : r.layers)
        for (size_t k = 0; k < r.bits.size(); ++k) {
            w.beginObject();
            w.key("name").value(row.name);
            w.key("kind").value(kindName(row.kind));
            w.key("bits").value(r.bits[k]);
            w.key("params").value(row.params);
            figuresJson(w, row.isolated[k]);
            w.key("cumulative").beginObject();
            figuresJson(w, row.cumulative[k]);
            w.endObject();
            w.key("clipped").value(row.clipped[k]);
            w.endObject();
        }
    w.endArray();
    w.key("plan");
    if (result.hasPlan)
        pointJson(w, result.plan);
    else
        w.null();
    w.key("points").beginArray();
    for (const auto& p : result.points)
        pointJson(w, p);
    w.endArray();
    w.key("meta").beginObject();
    w.key("bits").value(std::vector<int64_t>(r.bits.begin(), r.bits.end()));
    w.key("activation_bits").value(r.activationBits);
    w.key("images").value(r.images);
    w.key("real_images").value(r.realImages);
    w.key("fp_real_top1").value(r.fpRealTop1);
    std::vector<double> rho;
    for (size_t k = 0; k < r.bits.size(); ++k)
        rho.push_back(r.realRankCorrelation(k));
    w.key("real_rank_correlation").value(rho);
    w.key("other_params").value(r.otherParams);
    w.key("weight_params").value(r.weightParams());
    w.key("source").value(r.source);
    w.key("calibration").value(r.calibration);
    w.key("weight_range").value(r.weightRange);
    w.key("sensitivity").value(r.sensitivity);
    w.key("seconds").value(r.seconds);
    w.endObject();
    w.endObject();
    return w.str();
}

void writeAnalysisFolder(const std::string& dir, const AnalysisResult& result) {
    const LayerReport& r = result.report;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw Error(dir + ": cannot create the analysis folder (" + ec.message() + ")");
    std::ostringstream a, ch, hist, plans;
    // real_kl, added later, after the columns older folders have.
    a << kAnalysisHeader << ",real_kl\n";
    ch << kChannelsHeader << '\n';
    size_t bins = 0;
    for (const auto& row : r.layers)
        bins = std::max(bins, row.histFp.size());
    hist << "layer,bits,lo,hi";
    for (size_t i = 0; i < bins; ++i)
        hist << ",bin" << i;
    hist << '\n';
    for (const auto& row : r.layers) {
        for (size_t k = 0; k < r.bits.size(); ++k) {
            const Figures& f = row.isolated[k];
            const Figures& c = row.cumulative[k];
            a << row.name << ',' << kindName(row.kind) << ',' << r.bits[k] << ',' << row.params
              << ',' << num(f.sqnrDb) << ',' << num(f.kl) << ',' << num(f.agreement) << ','
              << num(f.realTop1) << ',' << num(c.sqnrDb) << ',' << num(c.kl) << ','
              << num(c.agreement) << ',' << num(c.realTop1) << ',' << num(row.rangeLo[k]) << ','
              << num(row.rangeHi[k]) << ',' << num(row.step[k]) << ',' << num(row.clipped[k]) << ','
              << num(f.realKl) << '\n';
            for (size_t i = 0; k < row.channelStep.size() && i < row.channelMin.size(); ++i)
                ch << row.name << ',' << i << ',' << num(row.channelMin[i]) << ','
                   << num(row.channelMax[i]) << ',' << r.bits[k] << ','
                   << num(row.channelStep[k][i]) << ',' << num(row.channelClipped[k][i]) << '\n';
        }
        auto histRow = [&](int b, const std::vector<double>& counts) {
            hist << row.name << ',' << b << ',' << num(row.histLo) << ',' << num(row.histHi);
            for (size_t i = 0; i < bins; ++i)
                hist << ',' << num(i < counts.size() ? counts[i] : 0.0);
            hist << '\n';
        };
        histRow(0, row.histFp);
        for (size_t k = 0; k < row.histQuant.size(); ++k)
            histRow(r.bits[k], row.histQuant[k]);
    }
    plans << kPlansHeader << '\n';
    auto planRow = [&](const PlanPoint& p) {
        plans << p.label << ',' << (p.uniform ? 1 : 0) << ',' << num(p.budgetBits) << ','
              << num(p.avgWeightBits) << ',' << num(p.sizeKiB) << ',' << num(p.sensitivity) << ','
              << num(p.predicted.kl) << ',' << num(p.predicted.agreement) << ','
              << num(p.predicted.realTop1) << ',' << num(p.measuredTop1) << ','
              << layerBitsText(p.layerBits) << '\n';
    };
    for (const auto& p : result.points)
        planRow(p);
    const fs::path d(dir);
    run::writeFileAtomically((d / "analysis.csv").string(), a.str());
    run::writeFileAtomically((d / "channels.csv").string(), ch.str());
    run::writeFileAtomically((d / "histograms.csv").string(), hist.str());
    run::writeFileAtomically((d / "plans.csv").string(), plans.str());
    run::writeFileAtomically((d / "analysis.json").string(), analysisJson(result) + "\n");
}

namespace {

using RowIndex = std::map<std::string, size_t>;

LayerRow& rowNamed(LayerReport& r, const RowIndex& rowOf, const std::string& name,
                   const fs::path& file) {
    const auto it = rowOf.find(name);
    if (it == rowOf.end())
        throw Error(file.string() + ": unknown layer '" + name + "'");
    return r.layers[it->second];
}

void readMeta(const YAML::Node& meta, LayerReport& r) {
    auto metaNum = [&](const char* key) {
        const YAML::Node n = meta[key];
        return n && !n.IsNull() ? n.as<double>() : kNoValue;
    };
    for (const auto& b : meta["bits"])
        r.bits.push_back(b.as<int>());
    r.activationBits = static_cast<int>(metaNum("activation_bits"));
    r.images = static_cast<int64_t>(metaNum("images"));
    r.realImages = static_cast<int64_t>(metaNum("real_images"));
    r.fpRealTop1 = metaNum("fp_real_top1");
    r.otherParams = static_cast<int64_t>(metaNum("other_params"));
    r.seconds = metaNum("seconds");
    r.source = meta["source"] ? meta["source"].as<std::string>() : "";
    r.calibration = meta["calibration"] ? meta["calibration"].as<std::string>() : "";
    r.sensitivity = meta["sensitivity"] ? meta["sensitivity"].as<std::string>() : "";
    r.weightRange = meta["weight_range"] ? meta["weight_range"].as<std::string>() : "";
}

// analysis.csv: one row per layer and bit-width.
void readLayers(const fs::path& d, LayerReport& r, RowIndex& rowOf) {
    const size_t nB = r.bits.size();
    CsvReader a(d / "analysis.csv", kAnalysisHeader);
    while (a.next()) {
        const std::string name = a.text(0);
        if (!rowOf.count(name)) {
            rowOf[name] = r.layers.size();
            LayerRow row;
            row.name = name;
            row.kind =
                a.text(1) == "activation" ? QuantizerKind::Activation : QuantizerKind::Weight;
            row.params = static_cast<int64_t>(a.number(3));
            row.isolated.resize(nB);
            row.cumulative.resize(nB);
            row.rangeLo.assign(nB, kNoValue);
            row.rangeHi.assign(nB, kNoValue);
            row.step.assign(nB, kNoValue);
            row.clipped.assign(nB, kNoValue);
            r.layers.push_back(std::move(row));
        }
        LayerRow& row = r.layers[rowOf[name]];
        const int k = r.bitsIndex(static_cast<int>(a.number(2)));
        if (k < 0)
            throw Error((d / "analysis.csv").string() + ": bits " + a.text(2) +
                        " are not in the analysis's bits");
        const auto kk = static_cast<size_t>(k);
        row.isolated[kk] = {a.number(4), a.number(5), a.number(6), a.number(7)};
        row.cumulative[kk] = {a.number(8), a.number(9), a.number(10), a.number(11)};
        row.rangeLo[kk] = a.number(12);
        row.rangeHi[kk] = a.number(13);
        row.step[kk] = a.number(14);
        row.clipped[kk] = a.number(15);
        if (a.columns() > 16)
            row.isolated[kk].realKl = a.number("real_kl");
    }
}

void readChannels(const fs::path& d, LayerReport& r, const RowIndex& rowOf) {
    const size_t nB = r.bits.size();
    CsvReader ch(d / "channels.csv", kChannelsHeader);
    while (ch.next()) {
        LayerRow& row = rowNamed(r, rowOf, ch.text(0), d / "channels.csv");
        const auto c = static_cast<size_t>(ch.number(1));
        const int k = r.bitsIndex(static_cast<int>(ch.number(4)));
        if (k < 0)
            continue;
        if (row.channelStep.empty()) {
            row.channelStep.assign(nB, {});
            row.channelClipped.assign(nB, {});
        }
        if (row.channelMin.size() <= c) {
            row.channelMin.resize(c + 1, kNoValue);
            row.channelMax.resize(c + 1, kNoValue);
        }
        row.channelMin[c] = ch.number(2);
        row.channelMax[c] = ch.number(3);
        auto& step = row.channelStep[static_cast<size_t>(k)];
        auto& clip = row.channelClipped[static_cast<size_t>(k)];
        if (step.size() <= c) {
            step.resize(c + 1, kNoValue);
            clip.resize(c + 1, kNoValue);
        }
        step[c] = ch.number(5);
        clip[c] = ch.number(6);
    }
}

void readHistograms(const fs::path& d, LayerReport& r, const RowIndex& rowOf) {
    const size_t nB = r.bits.size();
    CsvReader h(d / "histograms.csv", "layer,bits,lo,hi");
    while (h.next()) {
        LayerRow& row = rowNamed(r, rowOf, h.text(0), d / "histograms.csv");
        const int b = static_cast<int>(h.number(1));
        std::vector<double> counts;
        for (size_t i = 4; i < h.columns(); ++i)
            counts.push_back(h.number(i));
        row.histLo = h.number(2);
        row.histHi = h.number(3);
        if (b == 0) {
            row.histFp = std::move(counts);
        } else if (const int k = r.bitsIndex(b); k >= 0) {
            row.histQuant.resize(nB);
            row.histQuant[static_cast<size_t>(k)] = std::move(counts);
        }
    }
}

void readPlans(const fs::path& d, AnalysisResult& result) {
    CsvReader p(d / "plans.csv", kPlansHeader);
    while (p.next()) {
        PlanPoint pt;
        pt.label = p.text(0);
        pt.uniform = p.text(1) == "1";
        pt.budgetBits = p.number(2);
        pt.avgWeightBits = p.number(3);
        pt.sizeKiB = p.number(4);
        pt.sensitivity = p.number(5);
        pt.predicted.kl = p.number(6);
        pt.predicted.agreement = p.number(7);
        pt.predicted.realTop1 = p.number(8);
        pt.measuredTop1 = p.number(9);
        std::stringstream ss(p.text(10));
        for (std::string item; std::getline(ss, item, ';');) {
            const auto eq = item.rfind('=');
            if (eq == std::string::npos)
                throw Error((d / "plans.csv").string() + ": bad layer_bits entry '" + item + "'");
            pt.layerBits[item.substr(0, eq)] = std::stoi(item.substr(eq + 1));
        }
        result.points.push_back(std::move(pt));
    }
}

void readPlan(const YAML::Node& root, AnalysisResult& result) {
    const YAML::Node plan = root["plan"];
    if (plan && plan.IsMap()) {
        auto value = [](const YAML::Node& n) {
            return n && n.IsScalar() ? n.as<double>() : kNoValue;
        };
        result.hasPlan = true;
        PlanPoint& pt = result.plan;
        pt.label = plan["label"] ? plan["label"].as<std::string>() : "plan";
        pt.budgetBits = value(plan["budget_bits"]);
        if (const YAML::Node bits = plan["layer_bits"]; bits && bits.IsMap())
            for (const auto& kv : bits)
                pt.layerBits[kv.first.as<std::string>()] = kv.second.as<int>();
        pt.avgWeightBits = value(plan["avg_weight_bits"]);
        pt.sizeKiB = value(plan["size_kib"]);
        pt.sensitivity = value(plan["sensitivity"]);
        if (const YAML::Node pr = plan["predicted"]; pr && pr.IsMap())
            pt.predicted = {kNoValue, value(pr["kl"]), value(pr["agreement"]),
                            value(pr["real_top1"])};
        pt.measuredTop1 = value(plan["measured_top1"]);
    }
}

}  // namespace

AnalysisResult readAnalysisFolder(const std::string& dir) {
    const fs::path d(dir);
    AnalysisResult result;
    YAML::Node meta, root;
    try {
        root = YAML::LoadFile((d / "analysis.json").string());
        meta = root["meta"];
    } catch (const YAML::Exception& e) {
        throw Error((d / "analysis.json").string() + ": cannot read (" + e.what() + ")");
    }
    if (!meta || !meta.IsMap() || !meta["bits"])
        throw Error((d / "analysis.json").string() + ": not an analysis file (no meta.bits)");
    readMeta(meta, result.report);
    RowIndex rowOf;
    readLayers(d, result.report, rowOf);
    readChannels(d, result.report, rowOf);
    readHistograms(d, result.report, rowOf);
    readPlans(d, result);
    readPlan(root, result);
    return result;
}

}  // namespace dfq::analysis
