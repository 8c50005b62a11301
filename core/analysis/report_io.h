#pragma once

#include <string>

#include "layer_report.h"

namespace dfq::analysis {

// The analysis folder (docs/analysis.md): analysis.csv (one row per quantizer and bit-width),
// channels.csv, histograms.csv, plans.csv and analysis.json. Each file is written to a temporary
// name and renamed. Throws dfq::Error when the folder cannot be written.
void writeAnalysisFolder(const std::string& dir, const AnalysisResult& result);
// Reads what writeAnalysisFolder wrote. Throws dfq::Error naming the file and line for a folder
// that is not an analysis folder or a malformed file.
AnalysisResult readAnalysisFolder(const std::string& dir);
// `dfq analyze --json`: {"layers": [{"name", "kind", "bits", "sqnr_db", "kl", "agreement",
// "real_top1", "cumulative": {...}}...], "plan": {"layer_bits", "avg_weight_bits", "size_kib",
// ...} or null, "points": [...], "meta": {...}}; numbers that do not exist are null.
std::string analysisJson(const AnalysisResult& result);

}  // namespace dfq::analysis
