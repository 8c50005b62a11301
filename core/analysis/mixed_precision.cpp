#include "mixed_precision.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../error.h"

namespace dfq::analysis {

const char* kindName(QuantizerKind kind) {
    return kind == QuantizerKind::Weight ? "weight" : "activation";
}

int LayerReport::bitsIndex(int b) const {
    const auto it = std::find(bits.begin(), bits.end(), b);
    return it == bits.end() ? -1 : static_cast<int>(it - bits.begin());
}

int64_t LayerReport::weightParams() const {
    int64_t n = 0;
    for (const auto& l : layers)
        if (l.kind == QuantizerKind::Weight)
            n += l.params;
    return n;
}

double LayerReport::realRankCorrelation(size_t k) const {
    std::vector<double> batches, real;
    for (const auto& l : layers)
        if (k < l.isolated.size()) {
            batches.push_back(l.isolated[k].kl);
            real.push_back(l.isolated[k].realKl);
        }
    return spearman(batches, real);
}

namespace {

// Ranks 1..n, ties sharing their mean rank.
std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<size_t> order(v.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return v[x] < v[y]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < order.size();) {
        size_t j = i;
        while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]])
            ++j;
        for (size_t t = i; t <= j; ++t)
            r[order[t]] = (static_cast<double>(i + j) / 2) + 1;
        i = j + 1;
    }
    return r;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> x, y;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (std::isfinite(a[i]) && std::isfinite(b[i])) {
            x.push_back(a[i]);
            y.push_back(b[i]);
        }
    if (x.size() < 3)
        return kNoValue;
    const std::vector<double> rx = ranks(x), ry = ranks(y);
    const double n = static_cast<double>(x.size()), mean = (n + 1) / 2;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < rx.size(); ++i) {
        sxy += (rx[i] - mean) * (ry[i] - mean);
        sxx += (rx[i] - mean) * (rx[i] - mean);
        syy += (ry[i] - mean) * (ry[i] - mean);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : kNoValue;
}

Plan planMixedPrecision(const std::vector<PlanLayer>& layers, double maxWeightBits,
                        int64_t maxCells) {
    Plan plan;
    if (layers.empty()) {
        plan.feasible = maxWeightBits >= 0;
        return plan;
    }
    for (const auto& l : layers)
        if (l.bits.empty() || l.bits.size() != l.sensitivity.size() || l.params <= 0)
            throw Error("mixed precision: layer '" + l.name +
                        "' needs at least one candidate bit-width with a sensitivity and a "
                        "positive weight count");
    // Costs in units of the weight counts' common divisor keep the table exact.
    int64_t unit = 0;
    for (const auto& l : layers)
        unit = std::gcd(unit, l.params);
    const int64_t nLayers = static_cast<int64_t>(layers.size());
    auto capacityIn = [&](int64_t u) {
        return static_cast<int64_t>(std::floor(maxWeightBits / static_cast<double>(u) + 1e-9));
    };
    if (maxWeightBits < 0)
        return plan;
    while ((capacityIn(unit) + 1) * nLayers > maxCells) {
        unit *= 2;
        plan.exact = false;
    }
    const int64_t capacity = capacityIn(unit);
    auto costOf = [&](const PlanLayer& l, size_t k) {
        const double c = static_cast<double>(l.params) * l.bits[k] / static_cast<double>(unit);
        return static_cast<int64_t>(std::ceil(c - 1e-9));
    };
    constexpr double kInf = std::numeric_limits<double>::infinity();
    // best[c]: the least sensitivity of the layers so far with cost at most c.
    std::vector<double> best(static_cast<size_t>(capacity + 1), 0.0), next(best.size());
    std::vector<uint8_t> choice(static_cast<size_t>(nLayers * (capacity + 1)), 0xff);
    for (int64_t i = 0; i < nLayers; ++i) {
        const PlanLayer& l = layers[static_cast<size_t>(i)];
        // Wider bit-widths first, so that ties keep the wider one.
        std::vector<size_t> order(l.bits.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(),
                  [&](size_t a, size_t b) { return l.bits[a] > l.bits[b]; });
        uint8_t* row = choice.data() + i * (capacity + 1);
        std::fill(next.begin(), next.end(), kInf);
        for (size_t k : order) {
            const int64_t cost = costOf(l, k);
            const double s = l.sensitivity[k];
            for (int64_t c = cost; c <= capacity; ++c) {
                const double v = best[static_cast<size_t>(c - cost)] + s;
                if (v < next[static_cast<size_t>(c)]) {
                    next[static_cast<size_t>(c)] = v;
                    row[c] = static_cast<uint8_t>(k);
                }
            }
        }
        best.swap(next);
    }
    if (!std::isfinite(best[static_cast<size_t>(capacity)]))
        return plan;
    plan.feasible = true;
    plan.sensitivity = best[static_cast<size_t>(capacity)];
    plan.bits.assign(layers.size(), 0);
    int64_t c = capacity;
    for (int64_t i = nLayers - 1; i >= 0; --i) {
        const PlanLayer& l = layers[static_cast<size_t>(i)];
        const size_t k = choice[static_cast<size_t>(i * (capacity + 1) + c)];
        plan.bits[static_cast<size_t>(i)] = l.bits[k];
        plan.totalBits += static_cast<double>(l.params) * l.bits[k];
        c -= costOf(l, k);
    }
    return plan;
}

double weightBitsForAverage(double averageBits, int64_t weightParams) {
    return averageBits * static_cast<double>(weightParams);
}

double weightBitsForSize(double kib, int64_t otherParams) {
    return kib * 1024.0 * 8.0 - 32.0 * static_cast<double>(otherParams);
}

double sizeKiB(double totalWeightBits, int64_t otherParams) {
    return (totalWeightBits + 32.0 * static_cast<double>(otherParams)) / 8.0 / 1024.0;
}

Sensitivity parseSensitivity(const std::string& name) {
    if (name == "disagreement")
        return Sensitivity::Disagreement;
    if (name == "kl")
        return Sensitivity::Kl;
    throw Error("mixed precision: unknown sensitivity '" + name + "'; use disagreement or kl");
}

const char* sensitivityName(Sensitivity s) {
    return s == Sensitivity::Kl ? "kl" : "disagreement";
}

double sensitivityOf(const Figures& f, Sensitivity s) {
    const double v = s == Sensitivity::Kl ? f.kl : 100.0 - f.agreement;
    return std::isfinite(v) ? std::max(v, 0.0) : 0.0;
}

std::vector<PlanLayer> planLayers(const LayerReport& report, const std::vector<int>& candidates,
                                  Sensitivity sensitivity) {
    const std::vector<int>& wanted = candidates.empty() ? report.bits : candidates;
    for (int b : wanted)
        if (report.bitsIndex(b) < 0)
            throw Error("mixed precision: " + std::to_string(b) +
                        " bits were not measured; the analysis has " + [&] {
                            std::string s;
                            for (int x : report.bits)
                                s += (s.empty() ? "" : ",") + std::to_string(x);
                            return s;
                        }());
    std::vector<PlanLayer> out;
    for (const auto& row : report.layers) {
        if (row.kind != QuantizerKind::Weight)
            continue;
        PlanLayer l;
        l.name = row.name;
        l.params = row.params;
        for (int b : wanted) {
            l.bits.push_back(b);
            l.sensitivity.push_back(
                sensitivityOf(row.isolated[static_cast<size_t>(report.bitsIndex(b))], sensitivity));
        }
        out.push_back(std::move(l));
    }
    return out;
}

PlanPoint planPoint(const LayerReport& report, const std::vector<PlanLayer>& layers,
                    const Plan& plan, const std::string& label) {
    PlanPoint p;
    p.label = label;
    for (size_t i = 0; i < layers.size() && i < plan.bits.size(); ++i)
        p.layerBits[layers[i].name] = plan.bits[i];
    const int64_t n = report.weightParams();
    p.avgWeightBits = n > 0 ? plan.totalBits / static_cast<double>(n) : 0;
    p.sizeKiB = sizeKiB(plan.totalBits, report.otherParams);
    p.sensitivity = plan.sensitivity;
    return p;
}

PlanPoint uniformPoint(const LayerReport& report, int bits, Sensitivity sensitivity) {
    PlanPoint p;
    p.label = "uniform W" + std::to_string(bits);
    p.uniform = true;
    const int k = report.bitsIndex(bits);
    double total = 0;
    for (const auto& row : report.layers) {
        if (row.kind != QuantizerKind::Weight)
            continue;
        p.layerBits[row.name] = bits;
        total += static_cast<double>(row.params) * bits;
        if (k >= 0)
            p.sensitivity += sensitivityOf(row.isolated[static_cast<size_t>(k)], sensitivity);
    }
    const int64_t n = report.weightParams();
    p.budgetBits = bits;
    p.avgWeightBits = n > 0 ? total / static_cast<double>(n) : 0;
    p.sizeKiB = sizeKiB(total, report.otherParams);
    return p;
}

void applyMeasured(AnalysisResult& result, const std::vector<PlanPoint>& measured) {
    for (const auto& p : measured) {
        for (auto& w : result.points)
            if (w.label == p.label)
                w.measuredTop1 = p.measuredTop1;
        if (result.hasPlan && result.plan.label == p.label)
            result.plan.measuredTop1 = p.measuredTop1;
    }
}

}  // namespace dfq::analysis
