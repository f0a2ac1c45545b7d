// CSV reading for the fits (see results_csv.h). Test: tests/fit_results_csv_test.cpp.
#include "fit/results_csv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>

namespace ptq::fit {
namespace {

// Splits one CSV line into fields; false when a quoted field is not closed.
bool split_fields(const std::string& line, std::vector<std::string>& fields) {
  fields.assign(1, "");
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        fields.back() += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields.emplace_back();
    } else if (ch != '\r') {
      fields.back() += ch;
    }
  }
  return !quoted;
}

std::size_t column_index(const std::vector<std::string>& header, const std::string& name,
                         const std::string& path) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  std::string have;
  for (const std::string& h : header) have += (have.empty() ? "" : ", ") + h;
  throw CsvError(path + ": no column '" + name + "' in the header (columns: " + have + ")");
}

double parse_number(const std::string& text, const std::string& where) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(begin, &end);
  while (*end == ' ') ++end;
  if (text.empty() || end == begin || *end != '\0')
    throw CsvError(where + " is not a number: '" + text + "'");
  if (!std::isfinite(v) || errno == ERANGE)
    throw CsvError(where + " is not a finite number: '" + text + "'");
  return v;
}

}  // namespace

std::vector<FitRow> read_fit_rows(const std::string& path, const std::string& x_column) {
  std::ifstream in(path);
  if (!in) throw CsvError(path + ": cannot open the file");
  std::string line;
  std::vector<std::string> header, fields;
  if (!std::getline(in, line) || !split_fields(line, header) ||
      (header.size() == 1 && header[0].empty()))
    throw CsvError(path + ": empty file, a header line is required");
  const std::size_t model = column_index(header, "model", path);
  const std::size_t config = column_index(header, "config", path);
  const std::size_t y = column_index(header, "acc_loss", path);
  const std::size_t x = column_index(header, x_column, path);
  std::vector<FitRow> rows;
  for (long number = 2; std::getline(in, line); ++number) {
    if (line.empty() || line == "\r") continue;
    const std::string at = path + ":" + std::to_string(number);
    if (!split_fields(line, fields)) throw CsvError(at + ": unclosed quote");
    if (fields.size() != header.size())
      throw CsvError(at + ": " + std::to_string(fields.size()) + " fields, the header has " +
                     std::to_string(header.size()));
    rows.push_back({fields[model], fields[config],
                    parse_number(fields[x], at + ": column '" + x_column + "'"),
                    parse_number(fields[y], at + ": column 'acc_loss'")});
  }
  if (rows.empty()) throw CsvError(path + ": no data rows after the header");
  return rows;
}

std::string format_family(const std::string& config) {
  return config.substr(0, config.find('_'));
}

}  // namespace ptq::fit
