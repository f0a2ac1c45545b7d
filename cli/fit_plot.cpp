// gnuplot plots of the fits (see fit_plot.h). Exercised by tests/fit_command_test.cpp.
#include "cli/fit_plot.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>

namespace ptq::cli {
namespace {

// Samples of the curve drawn (enough for a smooth line at 900 px).
constexpr int kCurveSamples = 400;

const char* const kFamilyColours[][2] = {
    {"INT", "#1f77b4"}, {"POT", "#d62728"}, {"FLOAT", "#2ca02c"}};
const char* const kModelColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string file_stem(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return out;
}

// gnuplot single-quoted string: a quote is doubled.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create the plot directory " + dir + ": " +
                             std::strerror(errno));
}

std::string script_for(const fit::GroupFit& g, const std::vector<fit::FitRow>& rows,
                       const std::string& x_column, int degree, const std::string& png) {
  // Points grouped into series: by family for one model, by model when pooled.
  const bool pooled = g.group == "ALL";
  std::vector<std::string> names;
  std::map<std::string, std::ostringstream> series;
  double x_max = rows[g.rows[0]].x;
  char buf[96];
  for (std::size_t i : g.rows) {
    const std::string key = pooled ? rows[i].model : fit::format_family(rows[i].config);
    if (!series.count(key)) names.push_back(key);
    std::snprintf(buf, sizeof buf, "%.17g %.17g\n", rows[i].x, rows[i].y);
    series[key] << buf;
    x_max = std::max(x_max, rows[i].x);
  }
  std::ostringstream s;
  s << "set terminal pngcairo noenhanced size 900,600 font 'sans,11'\n"
    << "set output " << quoted(png) << "\n";
  std::string title = g.group + ": acc_loss vs " + x_column + ", rational " +
                      std::to_string(degree) + "/" + std::to_string(degree);
  if (g.fit.breakpoint) {
    std::snprintf(buf, sizeof buf, ", constant above %.4g", *g.fit.breakpoint);
    title += buf;
  }
  if (!g.fit.admissible) title += " (no admissible fit)";
  s << "set title " << quoted(title) << "\nset xlabel " << quoted(x_column)
    << "\nset ylabel 'acc_loss'\nset key outside right top\nset grid\n";
  std::snprintf(buf, sizeof buf, "SSE = %.4g\\nR² = %.4f\\nRMSE = %.4g", g.fit.stats.sse,
                g.fit.stats.r2, g.fit.stats.rmse);
  // Lower right: the curves rise from the lower left to a plateau, so that corner is empty.
  s << "set style textbox opaque noborder\nset label 1 \"" << buf
    << "\" at graph 0.97, graph 0.1 right front boxed\n";
  for (std::size_t k = 0; k < names.size(); ++k)
    s << "$s" << k << " << EOD\n" << series[names[k]].str() << "EOD\n";
  s << "$curve << EOD\n";
  const double lo = g.fit.curve.lo;
  for (int k = 0; k <= kCurveSamples; ++k) {
    const double x = lo + (x_max - lo) * k / kCurveSamples;
    std::snprintf(buf, sizeof buf, "%.17g %.17g\n", x, g.fit.curve(x));
    s << buf;
  }
  s << "EOD\nplot ";
  for (std::size_t k = 0; k < names.size(); ++k) {
    std::string colour = kModelColours[k % (sizeof kModelColours / sizeof *kModelColours)];
    if (!pooled)
      for (const auto& fc : kFamilyColours)
        if (names[k] == fc[0]) colour = fc[1];
    s << "$s" << k << " with points pt 7 ps 0.8 lc rgb '" << colour << "' title "
      << quoted(names[k]) << ", ";
  }
  s << "$curve with lines lw 2 lc rgb 'black' title 'fit'\n";
  return s.str();
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  return false;
}

std::vector<std::string> plot_fits(const std::vector<fit::GroupFit>& fits,
                                   const std::vector<fit::FitRow>& rows,
                                   const std::string& x_column, int degree,
                                   const std::string& dir) {
  make_dir(dir);
  std::vector<std::string> written;
  for (const fit::GroupFit& g : fits) {
    std::string png = dir + "/" + file_stem(g.group + "_" + x_column) + "_deg" +
                      std::to_string(degree) + (g.fit.breakpoint ? "_pw" : "") + ".png";
    FILE* gp = ::popen("gnuplot", "w");
    if (!gp) throw std::runtime_error("cannot start gnuplot");
    const std::string script = script_for(g, rows, x_column, degree, png);
    std::fwrite(script.data(), 1, script.size(), gp);
    if (::pclose(gp) != 0) throw std::runtime_error("gnuplot failed on " + png);
    written.push_back(png);
  }
  return written;
}

}  // namespace ptq::cli
