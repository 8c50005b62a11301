// `dfq sweep`: many runs from one spec, on this machine (--jobs) or as a Slurm job array.
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "core/run/sweep.h"
#include "progress_bar.h"

namespace dfq::app {

namespace {

namespace fs = std::filesystem;
using run::PointAction;
using run::PointState;
using run::PointStatus;
using run::Sweep;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t gStops = 0;

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// This program's file, read once: a binary replaced while a sweep runs (a rebuild, an upgrade)
// leaves "/proc/self/exe" pointing at a deleted file, but its path holds the new one.
std::string selfPath() {
    static const std::string path = [] {
        std::error_code ec;
        std::string p = fs::read_symlink("/proc/self/exe", ec).string();
        const std::string deleted = " (deleted)";
        if (p.size() > deleted.size() &&
            p.compare(p.size() - deleted.size(), deleted.size(), deleted) == 0)
            p.resize(p.size() - deleted.size());
        return ec || p.empty() ? std::string("dfq") : p;
    }();
    return path;
}

int usableCores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// 'text' quoted for a POSIX shell.
std::string shellQuote(const std::string& s) {
    if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789-_./=:,+%@") == std::string::npos)
        return s;
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    for (std::string d; std::getline(dirs, d, ':');)
        if (!d.empty() && ::access((fs::path(d) / program).c_str(), X_OK) == 0)
            return true;
    return false;
}

// Runs a program (no shell), returning its exit status and what it printed on stdout and stderr.
int capture(const std::vector<std::string>& argv, std::string& output) {
    int fds[2];
    if (::pipe(fds) != 0)
        throw Error(std::string("cannot run ") + argv[0] + ": " + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0)
        throw Error(std::string("cannot run ") + argv[0] + ": " + std::strerror(errno));
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        ::close(fds[0]);
        ::close(fds[1]);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "%s: %s\n", argv[0].c_str(), std::strerror(errno));
        ::_exit(127);
    }
    ::close(fds[1]);
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        output.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string percent(double v) {
    if (!(v >= 0))
        return "-";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

std::string meanStd(const run::SweepGroup::Stat& s) {
    if (s.n == 0)
        return "-";
    char buf[48];
    if (s.n > 1)
        std::snprintf(buf, sizeof buf, "%.2f ± %.2f", s.mean, s.std);
    else
        std::snprintf(buf, sizeof buf, "%.2f", s.mean);
    return buf;
}

// Right-aligns text in `width` characters (not bytes: "±" is two bytes in UTF-8).
std::string padLeft(const std::string& text, int width) {
    int chars = 0;
    for (unsigned char c : text)
        chars += (c & 0xC0) != 0x80;
    return std::string(static_cast<size_t>(std::max(0, width - chars)), ' ') + text;
}

// The sweep a command works on and its folder.
struct Target {
    Sweep sweep;
    std::string dir;
    std::string spec;  // absolute, for the Slurm script; empty when given a sweep folder
};

Target resolve(const SweepArgs& a) {
    Target t;
    std::error_code ec;
    if (fs::is_directory(a.spec, ec)) {
        if (!run::isSweepFolder(a.spec))
            throw Error(a.spec + ": not a sweep folder (it has no sweep.yaml) and not a spec");
        if (!a.sets.empty())
            throw Error("a sweep folder keeps the keys it was made with; give no --set with it");
        if (!a.out.empty() && fs::absolute(a.out) != fs::absolute(a.spec))
            throw Error("give a sweep folder or --out, not both");
        t.dir = a.spec;
        t.sweep = run::readSweepFolder(t.dir);
        return t;
    }
    if (!fs::exists(a.spec, ec))
        throw Error(a.spec + ": no such sweep spec");
    t.spec = fs::absolute(a.spec).lexically_normal().string();
    t.sweep = run::loadSweepSpec(a.spec, a.sets);
    t.dir = a.out.empty() ? (fs::path("sweeps") / run::safeName(t.sweep.name)).string() : a.out;
    return t;
}

std::string valuesText(const Sweep& s, const run::SweepPoint& p) {
    std::string text;
    for (const auto& k : s.keys) {
        const auto dot = k.rfind('.');
        text += (text.empty() ? "" : " ") + (dot == std::string::npos ? k : k.substr(dot + 1)) +
                "=" + p.value(k);
    }
    return text;
}

// The point's values alone, in the order of the sweep's keys (the status table's legend).
std::string valuesOnly(const Sweep& s, const run::SweepPoint& p) {
    std::string text;
    for (const auto& k : s.keys)
        text += (text.empty() ? "" : " ") + p.value(k);
    return text;
}

void writeResults(const Target& t) {
    try {
        run::writeSweepResults(t.dir, t.sweep);
    } catch (const Error& e) {
        std::fprintf(stderr, "dfq: warning: sweep.csv and summary.csv not updated: %s\n", e.what());
    }
}

// ---- --status ----

// The Slurm state of the sweep's array tasks by point index, from squeue (queued or running)
// and sacct (how they ended), when those programs and a submitted job are there.
std::map<int, std::string> schedulerStates(const std::string& dir) {
    std::map<int, std::string> states;
    std::ifstream jobs(fs::path(dir) / "slurm-jobs.tsv");
    std::string ids;
    for (std::string line; std::getline(jobs, line);)
        if (!line.empty() && line[0] != '#')
            ids += (ids.empty() ? "" : ",") + line.substr(0, line.find('\t'));
    if (ids.empty())
        return states;
    auto parse = [&](const std::string& text, char sep, bool fromSacct) {
        std::stringstream in(text);
        for (std::string line; std::getline(in, line);) {
            const auto bar = line.find(sep);
            if (bar == std::string::npos)
                continue;
            std::string task = line.substr(0, bar);
            if (fromSacct) {  // 123_4 -> 4
                const auto us = task.find('_');
                if (us == std::string::npos || task.find('.') != std::string::npos)
                    continue;
                task = task.substr(us + 1);
            }
            if (task.empty() || task.find_first_not_of("0123456789") != std::string::npos)
                continue;
            std::string state = line.substr(bar + 1);
            state = state.substr(0, state.find_first_of(" |"));
            // A later job's word counts over an earlier one's; squeue's over sacct's.
            states[std::stoi(task)] = state;
        }
    };
    std::string out;
    if (onPath("sacct") &&
        capture({"sacct", "-n", "-P", "-X", "-j", ids, "-o", "JobID,State"}, out) == 0) {
        parse(out, '|', true);
    } else if (onPath("scontrol")) {
        // Without accounting, the controller still knows jobs that ended a few minutes ago
        // (MinJobAge): one line per array task, "... ArrayTaskId=2 ... JobState=COMPLETED ...".
        std::stringstream jobIds(ids);
        for (std::string id; std::getline(jobIds, id, ',');) {
            out.clear();
            if (capture({"scontrol", "-o", "show", "job", id}, out) != 0)
                continue;
            std::stringstream lines(out);
            for (std::string line; std::getline(lines, line);) {
                auto field = [&](const std::string& key) {
                    const auto at = line.find(" " + key + "=");
                    if (at == std::string::npos)
                        return std::string();
                    const auto from = at + key.size() + 2;
                    return line.substr(from, line.find(' ', from) - from);
                };
                const std::string task = field("ArrayTaskId"), state = field("JobState");
                if (!task.empty() && !state.empty() &&
                    task.find_first_not_of("0123456789") == std::string::npos)
                    states[std::stoi(task)] = state;
            }
        }
    }
    out.clear();
    if (onPath("squeue") && capture({"squeue", "-h", "-r", "-j", ids, "-o", "%K|%T"}, out) == 0)
        parse(out, '|', false);
    return states;
}

int printStatus(const Target& t) {
    const bool exists = run::isSweepFolder(t.dir);
    if (exists)
        run::prepareSweepFolder(t.dir, t.sweep);  // the same sweep, or a clear refusal
    const auto status = run::sweepStatus(t.dir, t.sweep);
    const auto slurm = exists ? schedulerStates(t.dir) : std::map<int, std::string>{};
    std::printf("Sweep %s: %zu points in %s%s\n", t.sweep.name.c_str(), t.sweep.points.size(),
                t.dir.c_str(), exists ? "" : " (not started)");
    std::string legend;
    for (const auto& k : t.sweep.keys)
        legend += (legend.empty() ? "" : ", ") + k;
    std::printf("values: %s\n\n", legend.empty() ? "(none vary)" : legend.c_str());
    int width = 6;
    for (const auto& p : t.sweep.points)
        width = std::max(width, static_cast<int>(valuesOnly(t.sweep, p).size()));
    width = std::min(width, 60);
    std::printf("%-5s %-*s %-10s %11s %7s %7s %7s %7s %10s%s\n", "point", width, "values", "status",
                "progress", "FP", "PTQ", "best", "last", "wall", slurm.empty() ? "" : "  slurm");
    std::map<std::string, int> counts;
    for (size_t i = 0; i < status.size(); ++i) {
        const auto& p = t.sweep.points[i];
        const auto& s = status[i];
        counts[run::stateName(s.state)]++;
        char progress[32];
        std::snprintf(progress, sizeof progress, "%lld/%lld",
                      static_cast<long long>(std::min(s.step, s.totalSteps)),
                      static_cast<long long>(s.totalSteps));
        const bool ended = s.summary && s.state != PointState::Running;
        const auto it = slurm.find(p.index);
        std::printf("%-5d %-*s %-10s %11s %7s %7s %7s %7s %10s%s\n", p.index, width,
                    valuesOnly(t.sweep, p).substr(0, 60).c_str(), run::stateName(s.state), progress,
                    ended ? percent(s.summary->fpTop1).c_str() : "-",
                    ended ? percent(s.summary->ptqTop1).c_str() : "-",
                    ended ? percent(s.summary->bestTop1).c_str() : "-",
                    ended ? percent(s.summary->lastTop1).c_str() : "-",
                    s.state == PointState::Pending ? "-" : formatDuration(s.wallSeconds).c_str(),
                    it == slurm.end() ? "" : ("  " + it->second).c_str());
    }
    std::string line;
    for (const auto& [name, n] : counts)
        line += (line.empty() ? "" : ", ") + std::to_string(n) + " " + name;
    std::printf("\n%s\n", line.c_str());
    const auto groups = run::groupOverSeeds(t.sweep, status);
    const auto keys = run::groupKeys(t.sweep);
    if (groups.size() < t.sweep.points.size() || keys.size() < t.sweep.keys.size()) {
        std::string names;
        for (const auto& k : keys)
            names += (names.empty() ? "" : ", ") + k;
        std::printf("\nOver seeds (finished points: mean ± std), values: %s\n",
                    names.empty() ? "(all points)" : names.c_str());
        int gw = 6;
        std::vector<std::string> labels;
        for (const auto& g : groups) {
            std::string v;
            for (const auto& x : g.values)
                v += (v.empty() ? "" : " ") + x;
            labels.push_back(v.empty() ? "(all)" : v);
            gw = std::max(gw, static_cast<int>(labels.back().size()));
        }
        std::printf("%-*s %7s %16s %16s %16s\n", gw, "values", "n", "PTQ", "best", "last");
        for (size_t i = 0; i < groups.size(); ++i) {
            const auto& g = groups[i];
            std::printf("%-*s %3d/%-3d %s %s %s\n", gw, labels[i].c_str(), g.finished, g.points,
                        padLeft(meanStd(g.ptq), 16).c_str(), padLeft(meanStd(g.best), 16).c_str(),
                        padLeft(meanStd(g.last), 16).c_str());
        }
    }
    if (exists)
        writeResults(t);
    return 0;
}

// ---- --markdown ----

// The means over seeds as a Markdown table: one column per key but the seed, then n, FP, PTQ,
// best and last top-1 (mean ± std over the finished seeds) and the mean wall time.
int printMarkdown(const Target& t) {
    if (!run::isSweepFolder(t.dir))
        throw Error(t.dir +
                    " has no sweep.yaml: the sweep has not started, there is nothing to "
                    "tabulate yet");
    run::prepareSweepFolder(t.dir, t.sweep);
    const auto groups = run::groupOverSeeds(t.sweep, run::sweepStatus(t.dir, t.sweep));
    std::string header = "|", rule = "|";
    for (const auto& k : run::groupKeys(t.sweep)) {
        header += " " + k.substr(k.rfind('.') == std::string::npos ? 0 : k.rfind('.') + 1) + " |";
        rule += "---|";
    }
    header += " n | FP | PTQ | best | last | wall time |";
    rule += "--:|--:|--:|--:|--:|--:|";
    std::printf("%s\n%s\n", header.c_str(), rule.c_str());
    for (const auto& g : groups) {
        std::string row = "|";
        for (const auto& v : g.values)
            row += " " + v + " |";
        row += " " + std::to_string(g.finished) + "/" + std::to_string(g.points) + " | " +
               meanStd(g.fp) + " | " + meanStd(g.ptq) + " | " + meanStd(g.best) + " | " +
               meanStd(g.last) + " | " + (g.wall.n ? formatDuration(g.wall.mean) : "-") + " |";
        std::printf("%s\n", row.c_str());
    }
    return 0;
}

// ---- --index: one point, in this process ----

int runPoint(const Target& t, int index) {
    if (index < 0 || index >= static_cast<int>(t.sweep.points.size()))
        throw Error("--index " + std::to_string(index) + ": the sweep has points 0 to " +
                    std::to_string(t.sweep.points.size() - 1));
    const auto& p = t.sweep.points[static_cast<size_t>(index)];
    const PointStatus s = run::pointStatus(t.dir, p);
    const PointAction action = run::pointAction(s);
    std::fprintf(stderr, "Sweep %s, point %d: %s\n", t.sweep.name.c_str(), index,
                 valuesText(t.sweep, p).c_str());
    if (action == PointAction::Skip) {
        std::fprintf(stderr, "Point %d is %s%s; nothing to do\n", index, run::stateName(s.state),
                     s.owner.empty() ? "" : (" (" + s.owner + ")").c_str());
        return 0;
    }
    int rc;
    const std::string again =
        "the same dfq sweep command (it resumes this point from its "
        "checkpoint), or dfq run --resume " +
        s.folder;
    if (action == PointAction::Resume) {
        auto dir = run::RunDirectory::reopen(s.folder);
        std::fprintf(stderr, "Resuming from its checkpoint (%lld of %lld iterations done)\n",
                     static_cast<long long>(s.step), static_cast<long long>(s.totalSteps));
        rc = runInFolder(run::loadExperimentConfig(dir.configPath()), dir, true, again);
    } else {
        if (action == PointAction::Restart)
            std::fprintf(
                stderr, "Its earlier run failed (%s); moved to %s, starting again\n",
                s.summary && !s.summary->error.empty() ? s.summary->error.c_str() : "no summary",
                run::setAsideFailedRun(t.dir, s).c_str());
        const auto config = t.sweep.config(p);
        run::RunDirectory dir("", "", s.folder);
        rc = runInFolder(config, dir, false, again);
    }
    writeResults(t);
    return rc;
}

// ---- local: --jobs K points at once, each in a child process ----

struct Child {
    pid_t pid = -1;
    int index = 0;
    Clock::time_point started;
    int64_t baseStep = 0;  // iterations its folder had (a resumed run), left out of its rate
    int64_t step = 0;
};

pid_t startChild(const Target& t, int index, int threads) {
    const auto& p = t.sweep.points[static_cast<size_t>(index)];
    const std::string log = (fs::path(t.dir) / "logs" / (p.name + ".log")).string();
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error(log + ": cannot open (" + std::strerror(errno) + ")");
    const std::string self = selfPath();
    const std::string idx = std::to_string(index);
    const std::string th = std::to_string(threads);
    const pid_t pid = ::fork();
    if (pid < 0)
        throw Error(std::string("cannot start a run: ") + std::strerror(errno));
    if (pid == 0) {
        // Its own process group: a Ctrl-C on the terminal reaches the sweep, which passes on one
        // SIGTERM, so a run stops once, with its checkpoint.
        ::setpgid(0, 0);
        for (int sig : kStopSignals)
            std::signal(sig, SIG_DFL);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::setenv("DFQ_THREADS", th.c_str(), 1);
        ::setenv("OMP_NUM_THREADS", th.c_str(), 1);
        ::setenv("OMP_WAIT_POLICY", "passive", 1);
        const char* args[] = {self.c_str(), "sweep",     t.dir.c_str(),
                              "--index",    idx.c_str(), nullptr};
        ::execv(self.c_str(), const_cast<char* const*>(args));
        std::fprintf(stderr, "cannot start %s: %s\n", self.c_str(), std::strerror(errno));
        ::_exit(127);
    }
    ::close(fd);
    return pid;
}

int runLocal(const Target& t, int jobs) {
    run::prepareSweepFolder(t.dir, t.sweep);
    const auto status = run::sweepStatus(t.dir, t.sweep);
    std::vector<int> queue;
    int done = 0, elsewhere = 0;
    int64_t remaining = 0;  // iterations still to run, for the overall ETA
    for (size_t i = 0; i < status.size(); ++i) {
        if (status[i].done())
            ++done;
        else if (status[i].state == PointState::Running)
            ++elsewhere;
        else {
            queue.push_back(static_cast<int>(i));
            remaining += std::max<int64_t>(0, status[i].totalSteps - status[i].step);
        }
    }
    const int k = std::max(1, jobs);
    const int threads = std::max(1, usableCores() / k);
    std::fprintf(stderr,
                 "Sweep %s: %zu points, %d done, %d running elsewhere, %zu to run, %d at once "
                 "(%d thread%s each); logs in %s/logs\n",
                 t.sweep.name.c_str(), t.sweep.points.size(), done, elsewhere, queue.size(), k,
                 threads, threads == 1 ? "" : "s", t.dir.c_str());
    gStops = 0;
    for (int sig : kStopSignals)
        std::signal(sig, [](int) { gStops = gStops + 1; });
    const bool tty = ::isatty(2);
    std::vector<Child> running;
    size_t next = 0;
    int failed = 0, finished = 0, drawnLines = 0;
    const auto sweepStart = Clock::now();
    auto lastPlain = Clock::now();
    int stopsSeen = 0;
    std::map<int, int64_t> stepsDone;  // per point index, since this sweep started

    // The whole sweep's ETA: iterations left over the iterations per second it has managed.
    auto overall = [&]() {
        int64_t progress = 0;
        for (const auto& [i, n] : stepsDone)
            progress += n;
        const double elapsed = std::chrono::duration<double>(Clock::now() - sweepStart).count();
        const double rate = elapsed > 1 ? static_cast<double>(progress) / elapsed : 0;
        const int64_t left = remaining - progress;
        char buf[200];
        std::snprintf(
            buf, sizeof buf, "sweep: %d/%zu done, %zu running, %zu queued  %s  ETA %s",
            done + finished, t.sweep.points.size(), running.size(), queue.size() - next,
            formatDuration(std::chrono::duration<double>(Clock::now() - sweepStart).count())
                .c_str(),
            rate > 0
                ? formatDuration(static_cast<double>(std::max<int64_t>(0, left)) / rate).c_str()
                : "-");
        return std::string(buf);
    };
    auto childLine = [&](const Child& c) {
        const auto& p = t.sweep.points[static_cast<size_t>(c.index)];
        const int64_t total = std::max<int64_t>(1, p.totalSteps);
        const double s = std::chrono::duration<double>(Clock::now() - c.started).count();
        const double rate = s > 1 ? static_cast<double>(c.step - c.baseStep) / s : 0;
        char buf[240];
        std::snprintf(
            buf, sizeof buf, "  %3d %-44s %3d%% %lld/%lld it  ETA %s", c.index,
            valuesText(t.sweep, p).substr(0, 44).c_str(),
            static_cast<int>(100 * std::min(c.step, total) / total), static_cast<long long>(c.step),
            static_cast<long long>(total),
            rate > 0 ? formatDuration(static_cast<double>(total - c.step) / rate).c_str() : "-");
        return std::string(buf);
    };
    auto clearDrawn = [&]() {
        if (tty && drawnLines > 0) {
            std::fprintf(stderr, "\x1b[%dF\x1b[J", drawnLines);
            drawnLines = 0;
        }
    };
    auto draw = [&]() {
        if (tty) {
            clearDrawn();
            for (const auto& c : running) {
                std::fprintf(stderr, "%s\n", childLine(c).c_str());
                ++drawnLines;
            }
            std::fprintf(stderr, "%s\n", overall().c_str());
            ++drawnLines;
        } else if (Clock::now() - lastPlain > std::chrono::seconds(60)) {
            for (const auto& c : running)
                std::fprintf(stderr, "%s\n", childLine(c).c_str());
            std::fprintf(stderr, "%s\n", overall().c_str());
            lastPlain = Clock::now();
        }
        std::fflush(stderr);
    };
    auto say = [&](const std::string& line) {
        clearDrawn();
        std::fprintf(stderr, "%s\n", line.c_str());
    };

    while (true) {
        if (gStops > stopsSeen) {
            stopsSeen = gStops;
            say(stopsSeen == 1 ? "Stopping: every running point stops after its iteration and "
                                 "keeps a checkpoint (Ctrl-C again ends them at once)"
                               : "Ending every running point now");
            for (auto& c : running)
                ::kill(c.pid, SIGTERM);
        }
        while (gStops == 0 && running.size() < static_cast<size_t>(k) && next < queue.size()) {
            Child c;
            c.index = queue[next++];
            c.started = Clock::now();
            c.baseStep = c.step = status[static_cast<size_t>(c.index)].step;
            c.pid = startChild(t, c.index, threads);
            say("started  " + std::to_string(c.index) + "  " +
                valuesText(t.sweep, t.sweep.points[static_cast<size_t>(c.index)]));
            running.push_back(c);
        }
        if (running.empty())
            break;
        int wstatus = 0;
        const pid_t ended = ::waitpid(-1, &wstatus, WNOHANG);
        if (ended > 0) {
            const auto it = std::find_if(running.begin(), running.end(),
                                         [&](const Child& c) { return c.pid == ended; });
            if (it != running.end()) {
                const auto& p = t.sweep.points[static_cast<size_t>(it->index)];
                const PointStatus s = run::pointStatus(t.dir, p);
                stepsDone[it->index] = (s.done() ? p.totalSteps : s.step) - it->baseStep;
                const bool ok = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
                if (s.done())
                    ++finished;
                else if (s.state == PointState::Failed || (!ok && gStops == 0))
                    ++failed;
                char line[320];
                std::snprintf(line, sizeof line, "%-8s %d  %s%s%s", run::stateName(s.state),
                              it->index, valuesText(t.sweep, p).c_str(),
                              s.summary && s.summary->lastTop1 >= 0
                                  ? ("  last top-1 " + percent(s.summary->lastTop1) + " %").c_str()
                                  : "",
                              ok || s.done() || s.state == PointState::Cancelled
                                  ? ""
                                  : ("  (see " +
                                     (fs::path(t.dir) / "logs" / (p.name + ".log")).string() + ")")
                                        .c_str());
                say(line);
                running.erase(it);
                writeResults(t);
            }
            continue;
        }
        for (auto& c : running) {
            const auto& p = t.sweep.points[static_cast<size_t>(c.index)];
            c.step = std::max(c.step, run::pointStatus(t.dir, p).step);
            stepsDone[c.index] = c.step - c.baseStep;
        }
        draw();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    clearDrawn();
    for (int sig : kStopSignals)
        std::signal(sig, SIG_DFL);
    writeResults(t);
    std::printf("\n");
    printStatus(t);
    if (gStops > 0) {
        std::printf(
            "\nStopped; continue with the same command (finished points are kept, "
            "stopped ones resume from their checkpoints)\n");
        return 130;
    }
    return failed > 0 ? 1 : 0;
}

// ---- --slurm: a job array of the points not finished ----

int submitSlurm(const Target& t, const SweepArgs& a) {
    run::prepareSweepFolder(t.dir, t.sweep);
    const auto status = run::sweepStatus(t.dir, t.sweep);
    std::string indices;
    int n = 0, skippedRunning = 0;
    for (size_t i = 0; i < status.size(); ++i) {
        if (status[i].done())
            continue;
        if (status[i].state == PointState::Running) {
            ++skippedRunning;
            continue;
        }
        indices += (indices.empty() ? "" : ",") + std::to_string(i);
        ++n;
    }
    if (n == 0) {
        std::printf("Nothing to submit: every point of %s is finished%s\n", t.dir.c_str(),
                    skippedRunning ? " or running" : "");
        return 0;
    }
    const std::string dir = fs::absolute(t.dir).lexically_normal().string();
    std::string command = shellQuote(selfPath()) + " sweep ";
    if (t.spec.empty()) {
        command += shellQuote(dir);
    } else {
        command += shellQuote(t.spec) + " --out " + shellQuote(dir);
        for (const auto& s : a.sets)
            command += " --set " + shellQuote(s);
    }
    command += " --index \"$SLURM_ARRAY_TASK_ID\"";
    std::ostringstream script;
    script << "#!/bin/bash\n"
           << "# Written by dfq sweep --slurm: one array task per point of the sweep "
           << t.sweep.name
           << "\n# not finished when it was submitted; each runs (or resumes) that point's run "
              "folder.\n"
           << "#SBATCH --job-name=" << shellQuote("dfq-" + run::safeName(t.sweep.name)) << "\n"
           << "#SBATCH --array=" << indices << (a.jobs > 0 ? "%" + std::to_string(a.jobs) : "")
           << "\n"
           << "#SBATCH --output=" << shellQuote(dir + "/logs/slurm-%A_%a.log") << "\n"
           << "# A scheduler's SIGTERM (scancel, the time limit) stops a run like Ctrl-C: with a\n"
           << "# checkpoint that the next submission resumes from.\n"
           << "export OMP_WAIT_POLICY=passive\n"
           << "export DFQ_THREADS=${SLURM_CPUS_PER_TASK:-1}\n"
           << "cd " << shellQuote(fs::current_path().string()) << " || exit 1\n"
           << "exec " << command << "\n";
    const std::string scriptPath = dir + "/sweep.sbatch";
    io::writeFileAtomically(scriptPath, script.str());
    fs::permissions(scriptPath, fs::perms::owner_exec | fs::perms::group_exec,
                    fs::perm_options::add);
    if (!onPath("sbatch"))
        throw Error("sbatch is not on PATH (is this a Slurm login node?); the job script is " +
                    scriptPath + ": submit it there with sbatch " + scriptPath);
    std::vector<std::string> argv = {"sbatch", "--parsable"};
    argv.insert(argv.end(), a.sbatchArgs.begin(), a.sbatchArgs.end());
    argv.push_back(scriptPath);
    std::string out;
    const int rc = capture(argv, out);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    if (rc != 0)
        throw Error("sbatch refused the job array (exit " + std::to_string(rc) + "): " + out);
    // --parsable prints "jobid" or "jobid;cluster", after any warnings.
    std::string id = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    id = id.substr(0, id.find(';'));
    {
        std::ofstream jobs(fs::path(dir) / "slurm-jobs.tsv", std::ios::app);
        const std::time_t now = std::time(nullptr);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
        jobs << id << "\t" << indices << "\t" << when << "\n";
        if (!jobs)
            std::fprintf(stderr, "dfq: warning: cannot record the job in %s/slurm-jobs.tsv\n",
                         dir.c_str());
    }
    std::printf(
        "Submitted job array %s: %d point%s of %zu (%s)%s\n", id.c_str(), n, n == 1 ? "" : "s",
        t.sweep.points.size(), indices.c_str(),
        skippedRunning ? (", " + std::to_string(skippedRunning) + " running already").c_str() : "");
    std::printf("Follow it with: dfq sweep %s --status\n", shellQuote(dir).c_str());
    return 0;
}

}  // namespace

int runSweep(const SweepArgs& a) {
    const Target t = resolve(a);
    const int modes =
        (a.status ? 1 : 0) + (a.markdown ? 1 : 0) + (a.index >= 0 ? 1 : 0) + (a.slurm ? 1 : 0);
    if (modes > 1)
        throw Error("give one of --status, --markdown, --index and --slurm");
    if (!a.sbatchArgs.empty() && !a.slurm)
        throw Error("--sbatch-arg goes with --slurm");
    if (a.status)
        return printStatus(t);
    if (a.markdown)
        return printMarkdown(t);
    if (a.index >= 0) {
        run::prepareSweepFolder(t.dir, t.sweep);
        return runPoint(t, a.index);
    }
    if (a.slurm)
        return submitSlurm(t, a);
    return runLocal(t, a.jobs);
}

}  // namespace dfq::app
