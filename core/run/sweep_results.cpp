// A sweep's results: its points grouped over seeds (mean and spread of each figure), and the
// files sweep.csv and summary.csv (docs/sweeps.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "../safe_io.h"
#include "sweep.h"

namespace dfq::run {

namespace fs = std::filesystem;

namespace {

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos)
        return s;
    std::string q = "\"";
    for (char c : s)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

std::string figure(double v) {
    if (std::isnan(v) || v < 0)
        return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

}  // namespace

std::vector<std::string> groupKeys(const Sweep& sweep) {
    std::vector<std::string> keys;
    for (const auto& k : sweep.keys)
        if (k != "seed")
            keys.push_back(k);
    return keys;
}

std::vector<SweepGroup> groupOverSeeds(const Sweep& sweep, const std::vector<PointStatus>& status) {
    const auto keys = groupKeys(sweep);
    std::vector<SweepGroup> groups;
    std::map<std::vector<std::string>, size_t> index;
    std::vector<std::vector<size_t>> members;
    for (size_t i = 0; i < sweep.points.size(); ++i) {
        std::vector<std::string> values;
        for (const auto& k : keys)
            values.push_back(sweep.points[i].value(k));
        auto [it, added] = index.emplace(values, groups.size());
        if (added) {
            groups.push_back({});
            groups.back().values = values;
            members.emplace_back();
        }
        members[it->second].push_back(i);
    }
    auto stat = [](const std::vector<double>& v) {
        SweepGroup::Stat s;
        s.n = static_cast<int>(v.size());
        if (v.empty())
            return s;
        double sum = 0;
        for (double x : v)
            sum += x;
        s.mean = sum / static_cast<double>(v.size());
        if (v.size() > 1) {
            double sq = 0;
            for (double x : v)
                sq += (x - s.mean) * (x - s.mean);
            s.std = std::sqrt(sq / static_cast<double>(v.size() - 1));
        }
        return s;
    };
    for (size_t g = 0; g < groups.size(); ++g) {
        std::vector<double> fp, ptq, best, last, wall;
        for (size_t i : members[g]) {
            groups[g].points++;
            const auto& st = status[i];
            if (st.state != PointState::Finished || !st.summary)
                continue;
            groups[g].finished++;
            const auto& s = *st.summary;
            if (s.fpTop1 >= 0)
                fp.push_back(s.fpTop1);
            if (s.ptqTop1 >= 0)
                ptq.push_back(s.ptqTop1);
            if (s.bestTop1 >= 0)
                best.push_back(s.bestTop1);
            if (s.lastTop1 >= 0)
                last.push_back(s.lastTop1);
            wall.push_back(s.wallSeconds);
        }
        groups[g].fp = stat(fp);
        groups[g].ptq = stat(ptq);
        groups[g].best = stat(best);
        groups[g].last = stat(last);
        groups[g].wall = stat(wall);
    }
    return groups;
}

std::string sweepCsv(const Sweep& sweep, const std::vector<PointStatus>& status) {
    std::ostringstream out;
    out << "index,name";
    for (const auto& k : sweep.keys)
        out << "," << csvField(k);
    out << ",status,fp_top1,ptq_top1,best_top1,last_top1,iterations,wall_seconds\n";
    for (size_t i = 0; i < sweep.points.size(); ++i) {
        const auto& p = sweep.points[i];
        const auto& s = status[i];
        out << p.index << "," << csvField(p.name);
        for (const auto& k : sweep.keys)
            out << "," << csvField(p.value(k));
        out << "," << stateName(s.state);
        if (s.summary && s.state != PointState::Running)
            out << "," << figure(s.summary->fpTop1) << "," << figure(s.summary->ptqTop1) << ","
                << figure(s.summary->bestTop1) << "," << figure(s.summary->lastTop1) << ","
                << s.summary->iterations << "," << figure(s.summary->wallSeconds);
        else
            out << ",,,,," << s.step << ","
                << (s.state == PointState::Pending ? std::string() : figure(s.wallSeconds));
        out << "\n";
    }
    return out.str();
}

std::string summaryCsv(const Sweep& sweep, const std::vector<SweepGroup>& groups) {
    std::ostringstream out;
    bool first = true;
    for (const auto& k : groupKeys(sweep)) {
        out << (first ? "" : ",") << csvField(k);
        first = false;
    }
    out << (first ? "" : ",")
        << "points,n,fp_top1_mean,ptq_top1_mean,ptq_top1_std,best_top1_mean,best_top1_std,"
           "last_top1_mean,last_top1_std,wall_seconds_mean\n";
    for (const auto& g : groups) {
        for (const auto& v : g.values)
            out << csvField(v) << ",";
        out << g.points << "," << g.finished << "," << figure(g.fp.mean) << ","
            << figure(g.ptq.mean) << "," << figure(g.ptq.std) << "," << figure(g.best.mean) << ","
            << figure(g.best.std) << "," << figure(g.last.mean) << "," << figure(g.last.std) << ","
            << figure(g.wall.mean) << "\n";
    }
    return out.str();
}

void writeSweepResults(const std::string& dir, const Sweep& sweep) {
    io::FileLock lock((fs::path(dir) / "sweep.lock").string());
    const auto status = sweepStatus(dir, sweep);
    io::writeFileAtomically((fs::path(dir) / "sweep.csv").string(), sweepCsv(sweep, status));
    io::writeFileAtomically((fs::path(dir) / "summary.csv").string(),
                            summaryCsv(sweep, groupOverSeeds(sweep, status)));
}

}  // namespace dfq::run
