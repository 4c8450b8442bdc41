// JsonWriter: builds one JSON document on a single line, `{"key": value, ...}`, for
// bonusctl's --json output. Commas and escaping are its business; the caller keeps
// begin/end balanced. Times are ISO-8601 UTC strings, kTimeNever is null. A plain
// value; one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"

namespace bonus::ctl {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // The next value is this member's. REQUIRES: inside an object.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::uint64_t v);
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::uint32_t v) { return value(std::uint64_t{v}); }
  JsonWriter& value(double v);
  JsonWriter& value(bool v);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& null();
  // An ISO-8601 UTC string, or null for kTimeNever.
  JsonWriter& time(TimeUs t);

  // key(name).value(v), for brevity.
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    return key(name).value(v);
  }

  const std::string& text() const { return out_; }

  // `text` as a JSON string literal, quotes included.
  static std::string quote(std::string_view text);

 private:
  void separate();

  std::string out_;
  // Per open container: whether it has a member yet.
  std::vector<bool> nonempty_;
  bool after_key_ = false;
};

}  // namespace bonus::ctl
