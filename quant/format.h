// Number formats of the study (DESIGN.md section 4): what a format is, its name, its qmax and
// its grid of representable values. Host-only; the kernels take a QuantFormat by value.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ptq {

enum class FormatKind : std::uint8_t { kInt, kPot, kFloat };

// A symmetric per-tensor number format.
//   INT_b    b = 2..16 (and b = 64: the INT bias format, plain rounding with qmax 2^63 - 1)
//   POT_b    b = 2..8: {0} U {+-2^i : i = -(2^(b-1) - 2) .. 0}
//   FLOAT_b_Ee  b = 3..16, e = 1..min(b - 2, 7), m = b - 1 - e mantissa bits, no Inf/NaN codes
struct QuantFormat {
  FormatKind kind = FormatKind::kInt;
  int bits = 8;
  int exp_bits = 0;  // FLOAT only

  int mantissa_bits() const { return bits - 1 - exp_bits; }
  // FLOAT: exponent of the smallest normal value, 2 - 2^(e-1).
  int min_normal_exp() const { return 2 - (1 << (exp_bits - 1)); }
  // POT: the smallest non-zero magnitude is 2^-pot_depth(), pot_depth = 2^(b-1) - 2.
  int pot_depth() const { return (1 << (bits - 1)) - 2; }

  bool operator==(const QuantFormat& o) const {
    return kind == o.kind && bits == o.bits && exp_bits == o.exp_bits;
  }
  bool operator!=(const QuantFormat& o) const { return !(*this == o); }
};

// Thrown for a format name or parameters outside the accepted forms; what() names them.
class FormatError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Builds and validates a format; throws FormatError when out of range.
QuantFormat make_int(int bits);
QuantFormat make_pot(int bits);
QuantFormat make_float(int bits, int exp_bits);

// "INT_8", "POT_4", "FLOAT_8_E4" <-> QuantFormat. parse_format throws FormatError naming the
// accepted forms.
QuantFormat parse_format(const std::string& name);
std::string format_name(const QuantFormat& f);

// The largest representable magnitude (the clamp bound of x / scale):
// INT 2^(b-1) - 1, POT 1, FLOAT (2 - 2^-m) * 2^(2^(e-1)).
double format_qmax(const QuantFormat& f);

// Per-tensor scale from a calibrated range (min <= 0 <= max enforced here):
// max(|min|, |max|) / qmax, computed in double and rounded once to float. Zero range -> 0.
float scale_from_range(const QuantFormat& f, float min_value, float max_value);

// True when the grid can be enumerated (every format but the INT_64 bias format).
bool grid_is_enumerable(const QuantFormat& f);

// Every representable value, ascending, with a single 0. Throws FormatError for INT_64.
std::vector<double> format_grid(const QuantFormat& f);

// The 43 formats of the study, in study order: INT_2..INT_16, POT_2..POT_8, FLOAT_b_Ee for
// b = 3..8 and e = 1..b-2.
std::vector<QuantFormat> study_formats();

// The format a bias is quantized to (at scale s_in * s_w) for weights of format f:
// INT -> INT_64 (qmax 2^63 - 1), POT -> POT_8, FLOAT -> FLOAT_16_E7.
QuantFormat bias_format(const QuantFormat& f);

}  // namespace ptq
