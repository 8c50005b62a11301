#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dfq::app {

// A one-line progress bar with rate and ETA on stderr. Redraws in place on a terminal; elsewhere
// (logs, CI) prints a plain line every 10 %.
class ProgressBar {
  public:
    ProgressBar(std::string label, std::string unit);
    // `etaSeconds`: the time left as the caller knows it (a run's EtaModel; negative: not known
    // yet), or, when not given, extrapolated from this bar's rate.
    void update(int64_t done, int64_t total, const std::string& extra = "",
                std::optional<double> etaSeconds = std::nullopt);
    void finish();
    // Work already done before this bar started (a resumed run): left out of the rate.
    void setAlreadyDone(int64_t done) { alreadyDone_ = done; }

  private:
    std::string label_;
    std::string unit_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point lastDraw_;
    bool tty_;
    int lastDecile_ = -1;
    bool drawn_ = false;
    int64_t alreadyDone_ = 0;
};

std::string formatDuration(double seconds);

}  // namespace dfq::app
