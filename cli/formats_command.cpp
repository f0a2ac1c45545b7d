// `ptqbench formats` and `ptqbench grid FORMAT`.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "quant/format.h"

namespace ptq::cli {

int run_formats(const Args& args) {
  if (!args.empty()) throw UsageError("formats takes no arguments, got '" + args[0] + "'");
  for (const QuantFormat& f : study_formats()) std::cout << format_name(f) << '\n';
  return 0;
}

int run_grid(const Args& args) {
  if (args.size() != 1) throw UsageError("usage: ptqbench grid FORMAT (e.g. FLOAT_8_E4)");
  QuantFormat f;
  try {
    f = parse_format(args[0]);
    if (!grid_is_enumerable(f)) format_grid(f);  // throws FormatError saying why
  } catch (const FormatError& e) {
    throw UsageError(e.what());
  }
  const std::vector<double> grid = format_grid(f);
  // %.9g reads back to the same float32 (every grid value is a float32 exactly).
  std::string line;
  char buf[32];
  for (std::size_t i = 0; i < grid.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<float>(grid[i]));
    if (i) line += ' ';
    line += buf;
  }
  std::cout << line << '\n';
  return 0;
}

}  // namespace ptq::cli
