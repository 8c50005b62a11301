#pragma once

#include <stdexcept>
#include <string>

namespace dfq {

// The one exception type the workbench throws for bad input. Its message is meant for the user:
// it names the file, layer or field concerned and what was expected.
class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dfq
