#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// Writes that either happen whole or fail with an error naming the file and the cause (a full
// disk, an I/O error), never a crash, a torn file or a temporary file left behind.
namespace dfq::io {

// A file that rows are appended to. Every append is one checked write of whole rows; when it
// fails the file is cut back to where it was, so it never ends in half a row.
class AppendFile {
  public:
    AppendFile() = default;
    ~AppendFile();
    AppendFile(AppendFile&& other) noexcept;
    AppendFile& operator=(AppendFile&& other) noexcept;
    AppendFile(const AppendFile&) = delete;
    AppendFile& operator=(const AppendFile&) = delete;

    // Opens (creating) `path` for appending, emptied first when `truncate`. Throws dfq::Error.
    void open(const std::string& path, bool truncate);
    bool isOpen() const { return fd_ >= 0; }
    const std::string& path() const { return path_; }
    // Appends `text` (whole rows, each ending in '\n'). Throws dfq::Error naming the file.
    void append(std::string_view text);
    void close();

  private:
    int fd_ = -1;
    std::string path_;
};

// Writes `bytes` to `path` through a temporary file in the same folder, synced and renamed, so
// that a reader sees the old file or the new one, never half of one. On failure the temporary
// file is removed and dfq::Error names `path` and the cause.
void writeFileAtomically(const std::string& path, std::string_view bytes);

// The whole file; throws dfq::Error when it cannot be read or is larger than `maxBytes`
// (`what` names the kind of file in that message).
std::string readFile(const std::string& path, int64_t maxBytes, const char* what = "file");

// The integrity record beside a checkpoint or an exported model: `<path>.sha256`, one line in
// sha256sum's format ("<hex>  <file name>"), so `sha256sum -c` checks it too.
std::string checksumPath(const std::string& path);
// Writes `bytes` to `path` atomically together with its checksum file: the old checksum is
// removed first, then the file is renamed into place, then the new checksum is written, so a
// crash at any point leaves a file whose checksum (when there is one) matches it.
void writeFileWithChecksum(const std::string& path, std::string_view bytes);
// Checks `path` against its checksum file when there is one; throws dfq::Error naming the file
// on a mismatch. Returns whether there was a checksum to check.
bool verifyChecksum(const std::string& path);

// An exclusive lock on a folder, held while the object exists: `<folder>/run.lock`, holding the
// owner's pid, host and start time, with an flock on it. A lock whose owner has died (its flock
// is gone) is taken over; a live one is refused with dfq::Error naming the owner.
class FolderLock {
  public:
    explicit FolderLock(const std::string& folder);
    ~FolderLock();
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;
    const std::string& path() const { return path_; }

  private:
    int fd_ = -1;
    std::string path_;
};

// Who holds `<folder>/run.lock` ("process 12 on node1, since ..."), when a live FolderLock does;
// empty when nobody does. Takes no lock and changes nothing.
std::string lockOwner(const std::string& folder);

// A blocking exclusive lock on the file `path` (created when missing), held while the object
// exists: for short critical sections between processes, such as rewriting a shared table.
class FileLock {
  public:
    explicit FileLock(const std::string& path);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

  private:
    int fd_ = -1;
};

// For tests: after `bytes` more bytes written through this file, every write fails with ENOSPC
// ("No space left on device"); a negative value lifts the limit. Process-wide.
void injectDiskFullAfter(int64_t bytes);

}  // namespace dfq::io
