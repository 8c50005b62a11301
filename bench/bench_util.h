#pragma once

#include <ATen/record_function.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace dfq::bench {

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// A field of /proc/self/status in MB (VmHWM: peak resident memory so far, VmRSS: now).
inline double statusMb(const char* field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(status, line))
        if (line.rfind(key, 0) == 0)
            return std::stod(line.substr(key.size())) / 1024.0;
    return 0;
}

// Peak resident memory of this process so far, in MB.
inline double peakMb() {
    return statusMb("VmHWM");
}

// Resident memory of this process now, in MB.
inline double rssMb() {
    return statusMb("VmRSS");
}

// What the kernel did for this process: minor page faults and system (kernel) seconds, all
// threads together. Differences of two readings show what a piece of work cost in the kernel.
struct KernelUsage {
    long minorFaults = 0;
    double systemSeconds = 0;
    double userSeconds = 0;

    static KernelUsage now() {
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        KernelUsage k;
        k.minorFaults = u.ru_minflt;
        k.systemSeconds = static_cast<double>(u.ru_stime.tv_sec) + 1e-6 * u.ru_stime.tv_usec;
        k.userSeconds = static_cast<double>(u.ru_utime.tv_sec) + 1e-6 * u.ru_utime.tv_usec;
        return k;
    }
    KernelUsage operator-(const KernelUsage& o) const {
        return {minorFaults - o.minorFaults, systemSeconds - o.systemSeconds,
                userSeconds - o.userSeconds};
    }
};

// --profile: time per outermost operator (forward ops by name, backward by autograd node), on
// this thread, summed while `recording` is set.
class OperatorProfile {
  public:
    OperatorProfile()
        : handle_(at::addThreadLocalCallback(
              at::RecordFunctionCallback(
                  [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
                      if (depth()++ == 0)
                          start() = std::chrono::steady_clock::now();
                      return nullptr;
                  },
                  [](const at::RecordFunction& fn, at::ObserverContext*) {
                      if (--depth() == 0 && recording()) {
                          auto& [seconds, calls] = times()[fn.name()];
                          seconds += std::chrono::duration<double>(
                                         std::chrono::steady_clock::now() - start())
                                         .count();
                          ++calls;
                      }
                  })
                  .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}))) {}
    ~OperatorProfile() { at::removeCallback(handle_); }
    OperatorProfile(const OperatorProfile&) = delete;
    OperatorProfile& operator=(const OperatorProfile&) = delete;

    static bool& recording() {
        static bool on = false;
        return on;
    }

    // Prints the 25 costliest operators per `units` (iterations, batches) and forgets them.
    static void print(int units, const char* unit = "it") {
        std::vector<std::pair<double, std::string>> rows;
        double total = 0;
        for (const auto& [name, t] : times()) {
            rows.push_back({t.first, name});
            total += t.first;
        }
        std::sort(rows.rbegin(), rows.rend());
        std::printf("  %-40s %8s/%-2s %6s/%-2s %8s\n", "operator (outermost)", "ms", unit, "calls",
                    unit, "share");
        for (size_t i = 0; i < rows.size() && i < 25; ++i)
            std::printf("  %-40s %11.2f %9.1f %7.1f%%\n", rows[i].second.c_str(),
                        1e3 * rows[i].first / units,
                        static_cast<double>(times()[rows[i].second].second) / units,
                        100 * rows[i].first / total);
        times().clear();
    }

  private:
    static int& depth() {
        thread_local int d = 0;
        return d;
    }
    static std::chrono::steady_clock::time_point& start() {
        thread_local std::chrono::steady_clock::time_point t;
        return t;
    }
    static std::map<std::string, std::pair<double, int64_t>>& times() {
        static std::map<std::string, std::pair<double, int64_t>> t;
        return t;
    }
    at::CallbackHandle handle_;
};

}  // namespace dfq::bench
