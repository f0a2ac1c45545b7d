// `ptqbench fit`: constrained rational (and piecewise) fits of acc_loss against one metric column
// of result CSV files (DESIGN.md section 7; fit/rational_fit.h for the method).
//
//   ptqbench fit --in FILE.csv [--in FILE.csv ...] [--x COLUMN] [--degree N] [--group model|all]
//                [--piecewise X|auto] [--check exact|grid] [--grid-step S] [--grid-tol T]
//                [--json PATH|-] [--plot DIR]
//
// Test: tests/fit_command_test.cpp.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "cli/fit_plot.h"
#include "fit/group_fit.h"
#include "util/json.h"

namespace ptq::cli {
namespace {

constexpr const char* kUsage =
    "usage: ptqbench fit --in FILE.csv [--in FILE.csv ...] [--x COLUMN] [--degree N] "
    "[--group model|all] [--piecewise X|auto] [--check exact|grid] [--grid-step S] "
    "[--grid-tol T] [--json PATH|-] [--plot DIR]";

struct FitArgs {
  std::vector<std::string> inputs;
  std::string x_column = "js_flops";
  fit::Grouping grouping = fit::Grouping::kPerModel;
  fit::FitSpec spec;
  std::string json_path;  // empty: no JSON; "-": stdout
  std::string plot_dir;   // empty: no plots
};

FitArgs parse(const Args& args) {
  FitArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& opt = args[i];
    if (opt == "--in") {
      a.inputs.push_back(option_value(args, i));
    } else if (opt == "--x") {
      a.x_column = option_value(args, i);
    } else if (opt == "--degree") {
      const std::string v = option_value(args, i);
      if (v != "1" && v != "2" && v != "3" && v != "4")
        throw UsageError("--degree must be 1, 2, 3 or 4, got '" + v + "'");
      a.spec.degree = std::stoi(v);
    } else if (opt == "--group") {
      const std::string v = option_value(args, i);
      if (v == "model")
        a.grouping = fit::Grouping::kPerModel;
      else if (v == "all")
        a.grouping = fit::Grouping::kPooled;
      else
        throw UsageError("--group must be model or all, got '" + v + "'");
    } else if (opt == "--piecewise") {
      const std::string v = option_value(args, i);
      if (v == "auto") {
        a.spec.piecewise = fit::Piecewise::kAuto;
      } else {
        a.spec.piecewise = fit::Piecewise::kFixed;
        a.spec.breakpoint = number_arg(opt, v);
      }
    } else if (opt == "--check") {
      const std::string v = option_value(args, i);
      if (v == "exact")
        a.spec.options.constraint.check = fit::MonotoneCheck::kExact;
      else if (v == "grid")
        a.spec.options.constraint.check = fit::MonotoneCheck::kGrid;
      else
        throw UsageError("--check must be exact or grid, got '" + v + "'");
    } else if (opt == "--grid-step") {
      a.spec.options.constraint.grid_step = number_arg(opt, option_value(args, i));
      if (!(a.spec.options.constraint.grid_step > 0)) throw UsageError("--grid-step must be > 0");
    } else if (opt == "--grid-tol") {
      a.spec.options.constraint.grid_tolerance = number_arg(opt, option_value(args, i));
    } else if (opt == "--json") {
      a.json_path = option_value(args, i);
    } else if (opt == "--plot") {
      a.plot_dir = option_value(args, i);
    } else {
      throw UsageError("unknown option '" + opt + "'\n" + kUsage);
    }
  }
  if (a.inputs.empty()) throw UsageError(std::string("no --in FILE.csv given\n") + kUsage);
  return a;
}

std::string array(const Eigen::VectorXd& v) {
  std::string out = "[";
  for (Eigen::Index i = 0; i < v.size(); ++i) out += (i ? ", " : "") + json_number(v[i]);
  return out + "]";
}

std::string to_json(const std::vector<fit::GroupFit>& fits, const FitArgs& a) {
  const char* check =
      a.spec.options.constraint.check == fit::MonotoneCheck::kExact ? "exact" : "grid";
  std::ostringstream o;
  o << "{\"fits\": [";
  for (std::size_t k = 0; k < fits.size(); ++k) {
    const fit::GroupFit& g = fits[k];
    const fit::CurveFit& f = g.fit;
    const fit::XCoefficients c = fit::coefficients_in_x(f.curve);
    o << (k ? ",\n  " : "\n  ") << "{\"group\": " << json_string(g.group)
      << ", \"x\": " << json_string(a.x_column) << ", \"degree\": " << a.spec.degree
      << ", \"n\": " << f.stats.n << ", \"numerator\": " << array(c.numerator)
      << ", \"denominator\": " << array(c.denominator)
      << ", \"breakpoint\": " << (f.breakpoint ? json_number(*f.breakpoint) : "null")
      << ", \"x_range\": [" << json_number(f.curve.lo) << ", " << json_number(f.curve.hi) << "]"
      << ", \"sse\": " << json_number(f.stats.sse) << ", \"r2\": " << json_number(f.stats.r2)
      << ", \"rmse\": " << json_number(f.stats.rmse)
      << ", \"monotone\": " << (f.exact.monotone ? "true" : "false")
      << ", \"pole_free\": " << (f.exact.pole_free ? "true" : "false") << ", \"check\": \"" << check
      << "\", \"admissible\": " << (f.admissible ? "true" : "false")
      << ", \"grid_monotone\": " << (f.grid_monotone ? "true" : "false")
      << ", \"cv_r2\": " << (g.cv_mean ? json_number(*g.cv_mean) : "null")
      << ", \"cv_r2_per_model\": ";
    if (g.cv_models.empty()) {
      o << "null";
    } else {
      o << "{";
      for (std::size_t m = 0; m < g.cv_models.size(); ++m)
        o << (m ? ", " : "") << json_string(g.cv_models[m]) << ": " << json_number(g.cv_r2[m]);
      o << "}";
    }
    o << "}";
  }
  o << "\n]}\n";
  return o.str();
}

void print_table(std::ostream& out, const std::vector<fit::GroupFit>& fits, const FitArgs& a) {
  char line[256];
  out << "rational " << a.spec.degree << "/" << a.spec.degree << " fits of acc_loss vs "
      << a.x_column << "\n";
  std::snprintf(line, sizeof line, "%-16s %5s %10s %11s %8s %11s %9s %9s %8s\n", "group", "n",
                "breakpoint", "SSE", "R2", "RMSE", "monotone", "pole-free", "cv_R2");
  out << line;
  for (const fit::GroupFit& g : fits) {
    const fit::CurveFit& f = g.fit;
    char bp[32] = "-", cv[32] = "-";
    if (f.breakpoint) std::snprintf(bp, sizeof bp, "%.4g", *f.breakpoint);
    if (g.cv_mean) std::snprintf(cv, sizeof cv, "%.4f", *g.cv_mean);
    std::snprintf(line, sizeof line, "%-16s %5zu %10s %11.5g %8.5f %11.5g %9s %9s %8s\n",
                  g.group.c_str(), f.stats.n, bp, f.stats.sse, f.stats.r2, f.stats.rmse,
                  f.exact.monotone ? "yes" : "NO", f.exact.pole_free ? "yes" : "NO", cv);
    out << line;
  }
  out << "\ncoefficients, highest power first, x in the input's units (denominator q_0 = 1):\n";
  for (const fit::GroupFit& g : fits) {
    const fit::XCoefficients c = fit::coefficients_in_x(g.fit.curve);
    out << "  " << g.group << (g.fit.admissible ? "" : " (no admissible fit: constant shown)")
        << "\n    numerator   ";
    for (Eigen::Index i = 0; i < c.numerator.size(); ++i) {
      std::snprintf(line, sizeof line, " %.10g", c.numerator[i]);
      out << line;
    }
    out << "\n    denominator ";
    for (Eigen::Index i = 0; i < c.denominator.size(); ++i) {
      std::snprintf(line, sizeof line, " %.10g", c.denominator[i]);
      out << line;
    }
    out << "\n";
  }
  for (const fit::GroupFit& g : fits) {
    if (g.cv_models.empty()) continue;
    out << "\nleave-one-model-out R2 of " << g.group << ":\n";
    for (std::size_t m = 0; m < g.cv_models.size(); ++m) {
      std::snprintf(line, sizeof line, "  %-16s %9.5f\n", g.cv_models[m].c_str(), g.cv_r2[m]);
      out << line;
    }
  }
}

}  // namespace

int run_fit(const Args& args) {
  const FitArgs a = parse(args);
  std::vector<fit::FitRow> rows;
  std::vector<fit::GroupFit> fits;
  try {
    for (const std::string& path : a.inputs) {
      const std::vector<fit::FitRow> more = fit::read_fit_rows(path, a.x_column);
      rows.insert(rows.end(), more.begin(), more.end());
    }
    fits = fit::fit_groups(rows, a.grouping, a.spec);
  } catch (const fit::CsvError& e) {
    throw UsageError(e.what());
  } catch (const fit::FitInputError& e) {
    throw UsageError(e.what());
  }
  for (const fit::GroupFit& g : fits)
    if (!g.fit.admissible)
      std::cerr << "ptqbench fit: " << g.group
                << ": no start gave an admissible (monotone, pole-free) curve\n";
  if (a.json_path.empty() || a.json_path != "-") print_table(std::cout, fits, a);
  if (!a.json_path.empty()) {
    const std::string json = to_json(fits, a);
    if (a.json_path == "-") {
      std::cout << json;
    } else {
      std::ofstream out(a.json_path);
      if (!(out << json)) throw std::runtime_error("cannot write " + a.json_path);
    }
  }
  if (!a.plot_dir.empty()) {
    if (!gnuplot_available()) {
      std::cerr << "ptqbench fit: gnuplot is not on PATH, plots skipped\n";
    } else {
      for (const std::string& png : plot_fits(fits, rows, a.x_column, a.spec.degree, a.plot_dir))
        std::cerr << "wrote " << png << '\n';
    }
  }
  return 0;
}

}  // namespace ptq::cli
