#include "quant/format.h"

#include <cmath>
#include <regex>

namespace ptq {
namespace {

const char kAcceptedForms[] =
    "accepted forms: INT_b (b = 2..16, or 64 for the bias format), POT_b (b = 2..8), "
    "FLOAT_b_Ee (b = 3..16, e = 1..min(b-2, 7)); e.g. INT_8, POT_4, FLOAT_8_E4";

[[noreturn]] void reject(const std::string& what) {
  throw FormatError(what + "; " + kAcceptedForms);
}

}  // namespace

QuantFormat make_int(int bits) {
  if (!((bits >= 2 && bits <= 16) || bits == 64)) {
    reject("INT bit width " + std::to_string(bits) + " is out of range");
  }
  return QuantFormat{FormatKind::kInt, bits, 0};
}

QuantFormat make_pot(int bits) {
  if (bits < 2 || bits > 8) reject("POT bit width " + std::to_string(bits) + " is out of range");
  return QuantFormat{FormatKind::kPot, bits, 0};
}

QuantFormat make_float(int bits, int exp_bits) {
  if (bits < 3 || bits > 16) {
    reject("FLOAT bit width " + std::to_string(bits) + " is out of range");
  }
  // e <= 7 keeps qmax = (2 - 2^-m) * 2^64 and the smallest subnormal inside float32.
  if (exp_bits < 1 || exp_bits > bits - 2 || exp_bits > 7) {
    reject("FLOAT_" + std::to_string(bits) + " cannot have " + std::to_string(exp_bits) +
           " exponent bits");
  }
  return QuantFormat{FormatKind::kFloat, bits, exp_bits};
}

QuantFormat parse_format(const std::string& name) {
  static const std::regex kInt(R"(INT_([0-9]{1,3}))");
  static const std::regex kPot(R"(POT_([0-9]{1,3}))");
  static const std::regex kFloat(R"(FLOAT_([0-9]{1,3})_E([0-9]{1,3}))");
  std::smatch m;
  if (std::regex_match(name, m, kInt)) return make_int(std::stoi(m[1]));
  if (std::regex_match(name, m, kPot)) return make_pot(std::stoi(m[1]));
  if (std::regex_match(name, m, kFloat)) return make_float(std::stoi(m[1]), std::stoi(m[2]));
  reject("unknown format name '" + name + "'");
}

std::string format_name(const QuantFormat& f) {
  switch (f.kind) {
    case FormatKind::kInt:
      return "INT_" + std::to_string(f.bits);
    case FormatKind::kPot:
      return "POT_" + std::to_string(f.bits);
    case FormatKind::kFloat:
      return "FLOAT_" + std::to_string(f.bits) + "_E" + std::to_string(f.exp_bits);
  }
  return "?";
}

double format_qmax(const QuantFormat& f) {
  switch (f.kind) {
    case FormatKind::kInt:
      return f.bits == 64 ? 9223372036854775807.0 : std::ldexp(1.0, f.bits - 1) - 1.0;
    case FormatKind::kPot:
      return 1.0;
    case FormatKind::kFloat:
      return (2.0 - std::ldexp(1.0, -f.mantissa_bits())) * std::ldexp(1.0, 1 << (f.exp_bits - 1));
  }
  return 0.0;
}

float scale_from_range(const QuantFormat& f, float min_value, float max_value) {
  const double lo = std::min(0.0, static_cast<double>(min_value));
  const double hi = std::max(0.0, static_cast<double>(max_value));
  const double absmax = std::max(-lo, hi);
  return static_cast<float>(absmax / format_qmax(f));
}

bool grid_is_enumerable(const QuantFormat& f) {
  return !(f.kind == FormatKind::kInt && f.bits == 64);
}

std::vector<double> format_grid(const QuantFormat& f) {
  if (!grid_is_enumerable(f)) {
    throw FormatError("the grid of " + format_name(f) + " has 2^64 values and is not enumerated");
  }
  std::vector<double> magnitudes;  // ascending, starting with 0
  switch (f.kind) {
    case FormatKind::kInt: {
      const int qmax = (1 << (f.bits - 1)) - 1;
      for (int k = 0; k <= qmax; ++k) magnitudes.push_back(k);
      break;
    }
    case FormatKind::kPot:
      magnitudes.push_back(0.0);
      for (int i = -f.pot_depth(); i <= 0; ++i) magnitudes.push_back(std::ldexp(1.0, i));
      break;
    case FormatKind::kFloat: {
      const int m = f.mantissa_bits();
      const int emin = f.min_normal_exp();
      const int emax = 1 << (f.exp_bits - 1);
      magnitudes.push_back(0.0);
      for (int k = 1; k < (1 << m); ++k) magnitudes.push_back(std::ldexp(k, emin - m));
      for (int x = emin; x <= emax; ++x) {
        for (int k = 0; k < (1 << m); ++k) {
          magnitudes.push_back(std::ldexp((1 << m) + k, x - m));
        }
      }
      break;
    }
  }
  std::vector<double> grid;
  grid.reserve(2 * magnitudes.size() - 1);
  for (auto it = magnitudes.rbegin(); it + 1 != magnitudes.rend(); ++it) grid.push_back(-*it);
  grid.insert(grid.end(), magnitudes.begin(), magnitudes.end());
  return grid;
}

std::vector<QuantFormat> study_formats() {
  std::vector<QuantFormat> formats;
  for (int b = 2; b <= 16; ++b) formats.push_back(make_int(b));
  for (int b = 2; b <= 8; ++b) formats.push_back(make_pot(b));
  for (int b = 3; b <= 8; ++b) {
    for (int e = 1; e <= b - 2; ++e) formats.push_back(make_float(b, e));
  }
  return formats;
}

QuantFormat bias_format(const QuantFormat& f) {
  switch (f.kind) {
    case FormatKind::kInt:
      return make_int(64);
    case FormatKind::kPot:
      return make_pot(8);
    case FormatKind::kFloat:
      return make_float(16, 7);
  }
  return f;
}

}  // namespace ptq
