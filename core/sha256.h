#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dfq {

// SHA-256 (FIPS 180-4), for recording which model file a run used.
class Sha256 {
  public:
    Sha256();
    void update(const void* data, size_t size);
    std::string hexDigest();  // finishes; call once

  private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buffer_[64];
    size_t buffered_ = 0;
    uint64_t bytes_ = 0;
};

std::string sha256Hex(const std::string& data);
// Throws dfq::Error when the file cannot be read.
std::string sha256File(const std::string& path);

}  // namespace dfq
