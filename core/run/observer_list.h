#pragma once

#include <exception>
#include <string>
#include <vector>

#include "events.h"

namespace dfq::run {

// Fans every event out to a list of observers, in order.
class ObserverList : public Observer {
  public:
    explicit ObserverList(std::vector<Observer*> observers) : list_(std::move(observers)) {}
    void onResume(int64_t step, const RunSummary& s) override {
        each(&Observer::onResume, step, s);
    }
    void onStart(const std::string& yaml, int64_t total) override {
        each(&Observer::onStart, yaml, total);
    }
    void onIteration(const IterationStats& s) override { each(&Observer::onIteration, s); }
    void onBaseline(const std::string& name, double top1) override {
        each(&Observer::onBaseline, name, top1);
    }
    void onEval(const EvalStats& s) override { each(&Observer::onEval, s); }
    void onBnMatch(const BnMatch& m) override { each(&Observer::onBnMatch, m); }
    void onRounding(const RoundingStats& r) override { each(&Observer::onRounding, r); }
    void onSamples(const SampleBatch& s) override { each(&Observer::onSamples, s); }
    void onArchitecture(const ArchitectureStats& a) override { each(&Observer::onArchitecture, a); }
    void onBoundary(const BoundarySweep& b) override { each(&Observer::onBoundary, b); }
    void onFeatures(const FeatureMap& f) override { each(&Observer::onFeatures, f); }
    void onLayers(const LayerStats& l) override { each(&Observer::onLayers, l); }
    void onLog(const std::string& line) override { each(&Observer::onLog, line); }
    void onFinish(const RunSummary& s) override { finish(s); }

    // onFinish to every observer, even when one of them fails (a full disk under summary.json):
    // their errors, joined ("" when none).
    std::string finish(const RunSummary& s) {
        std::string failures;
        for (auto* o : list_) {
            try {
                o->onFinish(s);
            } catch (const std::exception& e) {
                failures += std::string(failures.empty() ? "" : "; ") + e.what();
            }
        }
        return failures;
    }
    // onStart to every observer, ignoring their errors (a run that failed before it started).
    void tryStart(const std::string& yaml) {
        for (auto* o : list_) {
            try {
                o->onStart(yaml, 0);
            } catch (const std::exception&) {
            }
        }
    }

  private:
    template <typename... Params, typename... Args>
    void each(void (Observer::*event)(Params...), Args&&... args) {
        for (auto* o : list_)
            (o->*event)(args...);
    }
    std::vector<Observer*> list_;
};

}  // namespace dfq::run
