#include "progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace dfq::app {

std::string formatDuration(double s) {
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%.1fs", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60,
                      static_cast<int>(s) % 60);
    else
        std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                      (static_cast<int>(s) % 3600) / 60);
    return buf;
}

ProgressBar::ProgressBar(std::string label, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()),
      lastDraw_(start_),
      tty_(::isatty(STDERR_FILENO) != 0) {}

void ProgressBar::update(int64_t done, int64_t total, const std::string& extra,
                         std::optional<double> etaSeconds) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
    const int decile = static_cast<int>(frac * 10);
    if (tty_) {
        if (done < total && now - lastDraw_ < std::chrono::milliseconds(100))
            return;
    } else if (decile == lastDecile_ && done < total) {
        return;
    }
    lastDraw_ = now;
    lastDecile_ = decile;
    const double rate = elapsed > 0 ? static_cast<double>(done - alreadyDone_) / elapsed : 0.0;
    std::string eta = "?";
    if (etaSeconds)  // the caller's, which may still count work after the last step
        eta = *etaSeconds >= 0 ? formatDuration(*etaSeconds) : "?";
    else if (done >= total)
        eta = formatDuration(0);
    else if (rate > 0)
        eta = formatDuration(static_cast<double>(total - done) / rate);
    constexpr int kWidth = 28;
    std::string bar(kWidth, ' ');
    for (int i = 0; i < static_cast<int>(frac * kWidth); ++i)
        bar[i] = '=';
    std::fprintf(stderr, "%s%s [%s] %3d%% %lld/%lld %s  %.*f %s/s  %s  ETA %s%s%s",
                 tty_ ? "\r" : "", label_.c_str(), bar.c_str(), static_cast<int>(frac * 100),
                 static_cast<long long>(done), static_cast<long long>(total), unit_.c_str(),
                 rate >= 10 ? 0 : 2, rate, unit_.c_str(), formatDuration(elapsed).c_str(),
                 eta.c_str(), extra.empty() ? "" : ("  " + extra).c_str(), tty_ ? "\033[K" : "\n");
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (tty_ && drawn_)
        std::fprintf(stderr, "\n");
    drawn_ = false;
}

}  // namespace dfq::app
