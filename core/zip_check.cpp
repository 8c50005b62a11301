#include "zip_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

#include "error.h"

namespace dfq {

namespace {

// Little-endian fields at `off`; the caller has checked the bounds.
uint64_t le(std::string_view b, size_t off, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
        v = (v << 8) | static_cast<uint8_t>(b[off + static_cast<size_t>(i)]);
    return v;
}

bool fits(std::string_view b, uint64_t off, uint64_t size) {
    return off <= b.size() && size <= b.size() - off;
}

uint32_t crcOf(const char* data, uint64_t size) {
    uLong crc = crc32(0L, Z_NULL, 0);
    while (size > 0) {
        const uInt chunk = static_cast<uInt>(std::min<uint64_t>(size, 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
        data += chunk;
        size -= chunk;
    }
    return static_cast<uint32_t>(crc);
}

// CRC-32 of a raw deflate stream's output; false when the stream is broken or its output is not
// `expectedSize` bytes.
bool inflatedCrc(const char* data, uint64_t size, uint64_t expectedSize, uint32_t& crc) {
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return false;
    std::vector<unsigned char> out(1 << 16);
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t produced = 0;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(std::min<uint64_t>(size, 1u << 30));
    uint64_t remaining = size - z.avail_in;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.avail_in == 0 && remaining > 0) {
            z.avail_in = static_cast<uInt>(std::min<uint64_t>(remaining, 1u << 30));
            remaining -= z.avail_in;
        }
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        const uint64_t n = out.size() - z.avail_out;
        produced += n;
        if (produced > expectedSize)
            break;
        c = crc32(c, out.data(), static_cast<uInt>(n));
        if (rc == Z_OK && n == 0 && z.avail_in == 0 && remaining == 0)
            break;  // truncated input
    }
    inflateEnd(&z);
    crc = static_cast<uint32_t>(c);
    return rc == Z_STREAM_END && produced == expectedSize;
}

}  // namespace

void verifyZip(std::string_view b, const std::string& name) {
    auto damaged = [&](const std::string& what) {
        return Error(name + ": the file is damaged (" + what + ")");
    };
    // The end-of-central-directory record: 22 bytes plus a comment of up to 64 KiB.
    constexpr uint32_t kEocd = 0x06054b50, kEocd64 = 0x06064b50, kLocator64 = 0x07064b50,
                       kCentral = 0x02014b50, kLocal = 0x04034b50;
    if (b.size() < 22)
        throw damaged("too short for a zip archive");
    size_t eocd = std::string_view::npos;
    const size_t lowest = b.size() >= 22 + 65535 ? b.size() - 22 - 65535 : 0;
    for (size_t p = b.size() - 22 + 1; p-- > lowest;)
        if (le(b, p, 4) == kEocd && p + 22 + le(b, p + 20, 2) == b.size()) {
            eocd = p;
            break;
        }
    if (eocd == std::string_view::npos)
        throw damaged("no zip directory at its end; was it cut short?");
    uint64_t entries = le(b, eocd + 10, 2), cdSize = le(b, eocd + 12, 4),
             cdOffset = le(b, eocd + 16, 4);
    if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
        if (eocd < 20 || le(b, eocd - 20, 4) != kLocator64)
            throw damaged("a zip64 archive without its zip64 directory locator");
        const uint64_t rec = le(b, eocd - 20 + 8, 8);
        if (!fits(b, rec, 56) || le(b, rec, 4) != kEocd64)
            throw damaged("the zip64 directory record is missing");
        entries = le(b, rec + 32, 8);
        cdSize = le(b, rec + 40, 8);
        cdOffset = le(b, rec + 48, 8);
    }
    if (!fits(b, cdOffset, cdSize))
        throw damaged("the zip directory lies outside the file");
    uint64_t p = cdOffset;
    for (uint64_t i = 0; i < entries; ++i) {
        if (!fits(b, p, 46) || le(b, p, 4) != kCentral || p + 46 > cdOffset + cdSize)
            throw damaged("zip directory entry " + std::to_string(i) + " is broken");
        const uint64_t method = le(b, p + 10, 2), crc = le(b, p + 16, 4),
                       nameLen = le(b, p + 28, 2), extraLen = le(b, p + 30, 2),
                       commentLen = le(b, p + 32, 2);
        uint64_t compSize = le(b, p + 20, 4), size = le(b, p + 24, 4), local = le(b, p + 42, 4);
        if (!fits(b, p + 46, nameLen + extraLen + commentLen))
            throw damaged("zip directory entry " + std::to_string(i) + " is broken");
        const std::string member(b.substr(p + 46, nameLen));
        // Sizes and offsets that do not fit 32 bits are in the zip64 extra field, in this order.
        for (uint64_t e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
            const uint64_t id = le(b, e, 2), len = le(b, e + 2, 2);
            if (e + 4 + len > p + 46 + nameLen + extraLen)
                break;
            if (id == 0x0001) {
                uint64_t f = e + 4;
                auto field = [&](uint64_t& v) {
                    if (v == 0xFFFFFFFF && f + 8 <= e + 4 + len) {
                        v = le(b, f, 8);
                        f += 8;
                    }
                };
                field(size);
                field(compSize);
                field(local);
            }
            e += 4 + len;
        }
        if (!fits(b, local, 30) || le(b, local, 4) != kLocal)
            throw damaged("member '" + member + "' has no local header");
        const uint64_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
        if (!fits(b, data, compSize))
            throw damaged("member '" + member + "' runs past the end of the file");
        uint32_t actual = 0;
        if (method == 0) {
            if (compSize != size)
                throw damaged("member '" + member + "' has two sizes");
            actual = crcOf(b.data() + data, compSize);
        } else if (method == 8) {
            if (!inflatedCrc(b.data() + data, compSize, size, actual))
                throw damaged("member '" + member + "' does not decompress");
        } else {
            throw damaged("member '" + member + "' uses zip compression method " +
                          std::to_string(method) + ", which is not supported");
        }
        if (actual != crc)
            throw damaged("member '" + member + "' fails its CRC-32 check");
        p += 46 + nameLen + extraLen + commentLen;
    }
}

bool looksLikeZip(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K';
}

void verifyZipFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size == 0) {
        ::close(fd);
        throw Error(path + ": the file is empty or cannot be read");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED)
        throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
    try {
        verifyZip(std::string_view(static_cast<const char*>(map), size), path);
    } catch (...) {
        ::munmap(map, size);
        throw;
    }
    ::munmap(map, size);
}

}  // namespace dfq
