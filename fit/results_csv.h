// Reading the study's result rows for the fits: a CSV file with a header line naming its columns,
// of which the fits need model, config, acc_loss and one metric column (the x of the fit), as in
// ../shared/reference/seed_sgd_m95_results.csv. Other columns are ignored; fields may be quoted
// ("a,b", with "" for a quote). Every value read must be a finite number.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ptq::fit {

// Unusable input: a missing file or column, a malformed line, a value that is not a finite
// number. The message names the file and, for a value, its line and column.
class CsvError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FitRow {
  std::string model;   // the network (the per-model group)
  std::string config;  // the number format, e.g. INT_8, POT_4, FLOAT_8_E4
  double x = 0;        // the metric column
  double y = 0;        // acc_loss
};

// The rows of path in file order. Throws CsvError.
std::vector<FitRow> read_fit_rows(const std::string& path, const std::string& x_column);

// The format family of a config: the text before the first '_' (INT, POT, FLOAT).
std::string format_family(const std::string& config);

}  // namespace ptq::fit
