#include "safe_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "error.h"
#include "sha256.h"

namespace dfq::io {

namespace fs = std::filesystem;

namespace {

std::atomic<int64_t> gWriteBudget{-1};
std::atomic<uint64_t> gTempCounter{0};

[[noreturn]] void fail(const std::string& path, const std::string& action, int err) {
    throw Error(path + ": cannot " + action + " (" + std::strerror(err) + ")");
}

// write(2) until everything is written; errno on failure (0 on success).
int writeAll(int fd, const char* data, size_t size) {
    while (size > 0) {
        size_t chunk = size;
        const int64_t budget = gWriteBudget.load();
        if (budget >= 0) {
            if (budget == 0)
                return ENOSPC;
            chunk = std::min<size_t>(chunk, static_cast<size_t>(budget));
            gWriteBudget -= static_cast<int64_t>(chunk);
        }
        const ssize_t n = ::write(fd, data, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return 0;
}

}  // namespace

AppendFile::~AppendFile() {
    close();
}

AppendFile::AppendFile(AppendFile&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
    other.fd_ = -1;
}

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = other.fd_;
        path_ = std::move(other.path_);
        other.fd_ = -1;
    }
    return *this;
}

void AppendFile::open(const std::string& path, bool truncate) {
    close();
    const int fd = ::open(
        path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
    if (fd < 0)
        fail(path, "write", errno);
    fd_ = fd;
    path_ = path;
}

void AppendFile::append(std::string_view text) {
    if (fd_ < 0)
        throw Error(path_ + ": not open for writing");
    struct stat st {};
    const bool sized = ::fstat(fd_, &st) == 0;
    if (const int err = writeAll(fd_, text.data(), text.size())) {
        // Cut a partial write back, so that the file never ends in half a row.
        if (sized)
            (void)!::ftruncate(fd_, st.st_size);
        fail(path_, "write", err);
    }
}

void AppendFile::close() {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

void writeFileAtomically(const std::string& path, std::string_view bytes) {
    const std::string tmp =
        path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(gTempCounter++);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(path, "write", errno);
    int err = writeAll(fd, bytes.data(), bytes.size());
    if (!err && ::fsync(fd) != 0 && errno != EINVAL)
        err = errno;
    if (::close(fd) != 0 && !err)
        err = errno;
    if (!err && ::rename(tmp.c_str(), path.c_str()) != 0)
        err = errno;
    if (err) {
        ::unlink(tmp.c_str());
        fail(path, "write", err);
    }
}

std::string readFile(const std::string& path, int64_t maxBytes, const char* what) {
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw Error(path + ": is a folder, not a " + what);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(path, std::string("read the ") + what, errno);
    std::string out;
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            fail(path, std::string("read the ") + what, err);
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
        if (static_cast<int64_t>(out.size()) > maxBytes) {
            ::close(fd);
            throw Error(path + ": the " + what + " is larger than " +
                        std::to_string(maxBytes / 1024) + " KiB; is it the right file?");
        }
    }
    ::close(fd);
    return out;
}

std::string checksumPath(const std::string& path) {
    return path + ".sha256";
}

void writeFileWithChecksum(const std::string& path, std::string_view bytes) {
    Sha256 h;
    h.update(bytes.data(), bytes.size());
    const std::string line = h.hexDigest() + "  " + fs::path(path).filename().string() + "\n";
    std::error_code ec;
    fs::remove(checksumPath(path), ec);
    writeFileAtomically(path, bytes);
    writeFileAtomically(checksumPath(path), line);
}

bool verifyChecksum(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(checksumPath(path), ec))
        return false;
    const std::string line = readFile(checksumPath(path), 4096, "checksum file");
    const std::string expected = line.substr(0, line.find_first_of(" \t\n"));
    if (expected.size() != 64)
        throw Error(checksumPath(path) + ": not a SHA-256 checksum file");
    if (sha256File(path) != expected)
        throw Error(path + ": the file is damaged: its SHA-256 differs from the one recorded in " +
                    checksumPath(path) + " when it was written");
    return true;
}

FolderLock::FolderLock(const std::string& folder)
    : path_((fs::path(folder) / "run.lock").string()) {
    for (int attempt = 0; attempt < 10; ++attempt) {
        const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            fail(path_, "create the lock file", errno);
        char host[256] = "?";
        ::gethostname(host, sizeof host - 1);
        const bool locked = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        const int err = locked ? 0 : errno;
        std::string owner;
        char buf[256];
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0)
            owner.assign(buf, static_cast<size_t>(n));
        while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' '))
            owner.pop_back();
        // A file system without flock (some network mounts): the pid in the file decides, for
        // owners on this host.
        bool busy = err == EWOULDBLOCK;
        if (!locked && !busy) {
            if (err != ENOLCK && err != EOPNOTSUPP && err != ENOSYS && err != EINVAL) {
                ::close(fd);
                fail(path_, "lock", err);
            }
            long pid = 0;
            char ownerHost[256] = "";
            busy = std::sscanf(owner.c_str(), "process %ld on %255[^,]", &pid, ownerHost) == 2 &&
                   (std::string(ownerHost) != host || (::kill(static_cast<pid_t>(pid), 0) == 0 &&
                                                       pid != static_cast<long>(::getpid())));
        }
        if (busy) {
            ::close(fd);
            throw Error(folder + ": another run is using this folder (" +
                        (owner.empty() ? std::string("run.lock") : owner) +
                        "); wait for it to end or stop it first");
        }
        // The previous owner may have removed the file between our open and our lock: then we
        // hold a lock on a file nobody else sees, and must start again.
        struct stat held {
        }, named{};
        if (::fstat(fd, &held) != 0 || ::stat(path_.c_str(), &named) != 0 ||
            held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
            ::close(fd);
            continue;
        }
        const std::time_t now = std::time(nullptr);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
        const std::string mine =
            "process " + std::to_string(::getpid()) + " on " + host + ", since " + when + "\n";
        const int werr = ::ftruncate(fd, 0) != 0 ? errno : writeAll(fd, mine.data(), mine.size());
        if (werr) {
            ::unlink(path_.c_str());
            ::close(fd);
            fail(path_, "write the lock file", werr);
        }
        fd_ = fd;
        return;
    }
    throw Error(path_ + ": cannot take the lock (it keeps changing)");
}

FolderLock::~FolderLock() {
    if (fd_ >= 0) {
        ::unlink(path_.c_str());
        ::close(fd_);
    }
}

std::string lockOwner(const std::string& folder) {
    const std::string path = (fs::path(folder) / "run.lock").string();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return {};
    char buf[256];
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string owner = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' '))
        owner.pop_back();
    bool busy;
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
        ::flock(fd, LOCK_UN);
        busy = false;
    } else if (errno == EWOULDBLOCK) {
        busy = true;
    } else {
        // No flock here (some network mounts): the pid decides for owners on this host.
        char host[256] = "?";
        ::gethostname(host, sizeof host - 1);
        long pid = 0;
        char ownerHost[256] = "";
        busy = std::sscanf(owner.c_str(), "process %ld on %255[^,]", &pid, ownerHost) == 2 &&
               (std::string(ownerHost) != host || ::kill(static_cast<pid_t>(pid), 0) == 0);
    }
    ::close(fd);
    return busy ? (owner.empty() ? std::string("run.lock") : owner) : std::string();
}

FileLock::FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
        fail(path, "create the lock file", errno);
    int rc;
    while ((rc = ::flock(fd_, LOCK_EX)) != 0 && errno == EINTR) {
    }
    if (rc != 0 && errno != ENOLCK && errno != EOPNOTSUPP && errno != ENOSYS) {
        const int err = errno;
        ::close(fd_);
        fail(path, "lock", err);
    }
}

FileLock::~FileLock() {
    if (fd_ >= 0)
        ::close(fd_);
}

void injectDiskFullAfter(int64_t bytes) {
    gWriteBudget = bytes;
}

}  // namespace dfq::io
