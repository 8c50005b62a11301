#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfq {

// A minimal streaming JSON writer for machine-readable output (`--json`, summary files).
class JsonWriter {
  public:
    JsonWriter& beginObject();
    JsonWriter& endObject();
    JsonWriter& beginArray();
    JsonWriter& endArray();
    JsonWriter& key(const std::string& k);
    JsonWriter& value(const std::string& v);
    JsonWriter& value(const char* v) { return value(std::string(v)); }
    JsonWriter& value(double v);
    JsonWriter& value(int64_t v);
    JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
    JsonWriter& value(bool v);
    JsonWriter& null();
    // Inserts an already serialized JSON value.
    JsonWriter& raw(const std::string& json);
    JsonWriter& value(const std::vector<int64_t>& v);
    JsonWriter& value(const std::vector<double>& v);
    JsonWriter& value(const std::vector<float>& v);
    JsonWriter& value(const std::vector<std::string>& v);

    const std::string& str() const { return out_; }
    static std::string escape(const std::string& s);

  private:
    void separate();
    std::string out_;
    std::vector<bool> first_;
    bool afterKey_ = false;
};

}  // namespace dfq
