#pragma once

#include <string>
#include <string_view>

namespace dfq {

// Checks a zip archive (TorchScript files and LibTorch archives are zip files) member by
// member: the central directory must be complete and every member's data must match the CRC-32
// its header records. LibTorch's own reader checks neither, so a damaged file would otherwise
// load with wrong weights. Throws dfq::Error naming `name` and the damaged member.
void verifyZip(std::string_view bytes, const std::string& name);
// The same for a file (mapped, not copied).
void verifyZipFile(const std::string& path);
// Whether the file starts like a zip archive ("PK"), as every TorchScript file does.
bool looksLikeZip(const std::string& path);

}  // namespace dfq
