// JSON values written by hand (the project's JSON is small and flat: no library needed). Header
// only, no CUDA, so every library and the CLI can use it without a link dependency.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace ptq {

// A JSON number that reads back to the same double (%.17g), or null for NaN and infinities (JSON
// has no such numbers).
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A quoted JSON string: quotes and backslashes escaped, control characters as \u00XX.
inline std::string json_string(const std::string& v) {
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace ptq
