#pragma once

#include <array>
#include <string>
#include <vector>

namespace dfq::gen {

// AutoReCon's generator (docs/methods.md, `autorecon`): three cells, each doubling the resolution,
// whose edges are chosen from a search space.
//  - up edges (2 per cell): interpolate x2 (nearest | bilinear) -> CBN -> LeakyReLU -> conv 1x1;
//  - op edges (5 per cell): none | skip | conv 1x1 | conv 3x3 | conv 5x5 | dil-conv 3x3 |
//    dil-conv 5x5 (dilation 2), each CBN -> LeakyReLU -> conv;
//  - cross edges (6 in cells 1 and 2): the previous cell's n0, n1, n2 upsampled x2 (none |
//    nearest | bilinear) into n2 and into n3.
// Cell c: n0 = up0(x), n1 = up1(x), n2 = op0(n0) + op1(n1) [+ cross], n3 = op2(n0) + op3(n1) +
// op4(n2) [+ cross]; the cell outputs n3. The latent is split in three chunks, each projected to
// the input resolution of one cell and added there; the class enters only through the CBNs.
struct AutoReconArch {
    static constexpr int kUpEdges = 6, kOpEdges = 15, kCrossEdges = 12;
    static constexpr int kUpChoices = 2, kOpChoices = 7, kCrossChoices = 3;
    std::array<int, kUpEdges> up{};        // cell c: edges 2c, 2c + 1
    std::array<int, kOpEdges> op{};        // cell c: edges 5c .. 5c + 4
    std::array<int, kCrossEdges> cross{};  // cell c >= 1: edges 6(c - 1) .. 6(c - 1) + 5

    // The derived architectures of the AutoReCon code for its five teachers: c10, c100, r18,
    // r50, mbv2. Throws dfq::Error for another name.
    static AutoReconArch named(const std::string& name);
    static std::vector<std::string> names();
    // The text form, one cell per `;`:
    //   "near/near | dil5 none dil5 dil3 conv5 ; near/near | ... | none none bil / none none near"
    // (up edges | op edges | cross edges into n2 / into n3 from the previous n0, n1, n2).
    std::string toString() const;
    // Parses a named architecture or the text form; throws dfq::Error naming what is wrong.
    static AutoReconArch parse(const std::string& text);
    bool operator==(const AutoReconArch& o) const {
        return up == o.up && op == o.op && cross == o.cross;
    }

    static const std::vector<std::string>& upNames();     // near, bil
    static const std::vector<std::string>& opNames();     // none, skip, conv1, ...
    static const std::vector<std::string>& crossNames();  // none, near, bil
};

}  // namespace dfq::gen
