#include "autorecon_arch.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "../error.h"

namespace dfq::gen {

namespace {

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

std::vector<std::string> splitOn(const std::string& s, char sep) {
    std::vector<std::string> out(1);
    for (char ch : s)
        if (ch == sep)
            out.emplace_back();
        else
            out.back() += ch;
    return out;
}

int indexOf(const std::vector<std::string>& names, const std::string& name, const char* what) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
        std::string allowed;
        for (const auto& n : names)
            allowed += (allowed.empty() ? "" : ", ") + n;
        throw Error(std::string("AutoReCon architecture: '") + name + "' is not a " + what +
                    " (allowed: " + allowed + ")");
    }
    return static_cast<int>(it - names.begin());
}

// The AutoReCon code's derived cells (docs/methods.md, `autorecon`).
const std::map<std::string, std::string>& namedArchitectures() {
    static const std::map<std::string, std::string> archs = {
        {"c10",
         "near/near | dil5 none dil5 dil3 conv5 ; "
         "near/near | dil5 dil5 conv3 dil3 dil5 | none none bil / none none near ; "
         "bil/near | dil5 dil5 conv1 conv5 dil3 | near near near / bil bil bil"},
        {"c100",
         "bil/near | dil5 dil5 dil5 none conv5 ; "
         "near/near | dil5 conv5 conv1 dil3 dil5 | none bil near / none none near ; "
         "near/near | dil5 dil3 conv5 conv5 dil5 | none bil near / near bil bil"},
        {"r18",
         "bil/bil | dil5 dil5 dil5 dil5 dil5 ; "
         "bil/bil | dil5 dil5 dil5 dil5 dil3 | near bil near / bil bil near ; "
         "bil/bil | dil5 dil5 conv5 dil3 dil3 | bil bil near / near bil near"},
        {"r50",
         "bil/bil | dil5 dil5 dil5 dil5 dil5 ; "
         "bil/bil | dil5 dil5 conv3 conv1 conv1 | bil bil bil / near near bil ; "
         "bil/bil | dil3 dil5 dil5 conv5 dil3 | near near near / near bil bil"},
        {"mbv2",
         "bil/bil | dil5 dil5 conv5 dil5 dil5 ; "
         "bil/bil | conv5 dil5 conv1 conv1 conv1 | bil bil near / bil bil bil ; "
         "near/bil | conv3 dil5 conv5 dil5 dil3 | bil near bil / bil bil near"},
    };
    return archs;
}

}  // namespace

const std::vector<std::string>& AutoReconArch::upNames() {
    static const std::vector<std::string> n = {"near", "bil"};
    return n;
}
const std::vector<std::string>& AutoReconArch::opNames() {
    static const std::vector<std::string> n = {"none",  "skip", "conv1", "conv3",
                                               "conv5", "dil3", "dil5"};
    return n;
}
const std::vector<std::string>& AutoReconArch::crossNames() {
    static const std::vector<std::string> n = {"none", "near", "bil"};
    return n;
}

std::vector<std::string> AutoReconArch::names() {
    std::vector<std::string> out;
    for (const auto& [name, text] : namedArchitectures())
        out.push_back(name);
    return out;
}

AutoReconArch AutoReconArch::named(const std::string& name) {
    const auto it = namedArchitectures().find(name);
    if (it == namedArchitectures().end())
        throw Error("AutoReCon architecture: no derived architecture is named '" + name + "'");
    return parse(it->second);
}

AutoReconArch AutoReconArch::parse(const std::string& text) {
    if (namedArchitectures().count(text))
        return named(text);
    const auto cells = splitOn(text, ';');
    if (cells.size() != 3)
        throw Error(
            "AutoReCon architecture: expected 3 cells separated by ';', or one of the "
            "names c10, c100, r18, r50, mbv2; got '" +
            text + "'");
    AutoReconArch a;
    for (int c = 0; c < 3; ++c) {
        const auto parts = splitOn(cells[static_cast<size_t>(c)], '|');
        const size_t expected = c == 0 ? 2 : 3;
        const std::string where = "AutoReCon architecture, cell " + std::to_string(c) + ": ";
        if (parts.size() != expected)
            throw Error(where + "expected up edges | op edges" +
                        (c == 0 ? "" : " | cross edges into n2 / into n3"));
        const auto ups = splitOn(parts[0], '/');
        if (ups.size() != 2)
            throw Error(where + "expected two up edges written a/b");
        for (int e = 0; e < 2; ++e) {
            const auto w = words(ups[static_cast<size_t>(e)]);
            if (w.size() != 1)
                throw Error(where + "expected two up edges written a/b");
            a.up[static_cast<size_t>(2 * c + e)] = indexOf(upNames(), w[0], "up edge");
        }
        const auto ops = words(parts[1]);
        if (ops.size() != 5)
            throw Error(where + "expected 5 op edges, got " + std::to_string(ops.size()));
        for (int e = 0; e < 5; ++e)
            a.op[static_cast<size_t>(5 * c + e)] =
                indexOf(opNames(), ops[static_cast<size_t>(e)], "op");
        if (c == 0)
            continue;
        const auto into = splitOn(parts[2], '/');
        if (into.size() != 2)
            throw Error(where + "expected the cross edges as 'a b c / d e f'");
        for (int t = 0; t < 2; ++t) {
            const auto w = words(into[static_cast<size_t>(t)]);
            if (w.size() != 3)
                throw Error(where + "expected three cross edges into each of n2 and n3");
            for (int e = 0; e < 3; ++e)
                a.cross[static_cast<size_t>(6 * (c - 1) + 3 * t + e)] =
                    indexOf(crossNames(), w[static_cast<size_t>(e)], "cross edge");
        }
    }
    return a;
}

std::string AutoReconArch::toString() const {
    std::string s;
    for (int c = 0; c < 3; ++c) {
        if (c > 0)
            s += " ; ";
        s += upNames()[static_cast<size_t>(up[static_cast<size_t>(2 * c)])] + "/" +
             upNames()[static_cast<size_t>(up[static_cast<size_t>(2 * c + 1)])] + " |";
        for (int e = 0; e < 5; ++e)
            s += " " + opNames()[static_cast<size_t>(op[static_cast<size_t>(5 * c + e)])];
        if (c == 0)
            continue;
        s += " |";
        for (int e = 0; e < 6; ++e)
            s += (e == 3 ? " / " : " ") +
                 crossNames()[static_cast<size_t>(cross[static_cast<size_t>(6 * (c - 1) + e)])];
    }
    return s;
}

}  // namespace dfq::gen
