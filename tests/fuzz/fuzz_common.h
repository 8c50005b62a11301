// Shared by the libFuzzer targets: a private scratch folder and whole-file writes.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace dfq::fuzz {

// A folder of this process's own (in memory where /dev/shm exists), removed at exit. The name
// lives on the heap for the whole process, so the exit handler can still read it.
inline const std::string& scratch() {
    static const std::string* dir = [] {
        const std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                               ? std::filesystem::path("/dev/shm")
                                               : std::filesystem::temp_directory_path();
        auto* path = new std::string((base / "dfq-fuzz-XXXXXX").string());
        if (!::mkdtemp(path->data()))
            std::abort();
        return path;
    }();
    static const bool cleanup = [] {
        return std::atexit([] {
                   std::error_code ec;
                   std::filesystem::remove_all(*dir, ec);
               }) == 0;
    }();
    (void)cleanup;
    return *dir;
}

inline std::string writeScratch(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = scratch() + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return path;
}

}  // namespace dfq::fuzz
