// Constrained least-squares fits of the rational model (fit/rational.h) to points (x_i, y_i):
//
//   minimise SSE = sum_i (y_i - f(x_i))^2
//   subject to f non-decreasing and pole-free on [lo, hi].
//
// Plain fit: [lo, hi] = [min x, max x]. Piecewise fit: [lo, hi] = [min x, breakpoint], and the
// points above the breakpoint are fitted by the constant f(breakpoint); the breakpoint is given or
// searched (the best SSE over the data x values, refined by golden section).
//
// The solver is deterministic. Starts: the constant mean(y); the least-squares polynomial of
// degree n (Q = 1); Loeb's linearisation (least squares of P(u_i) - y_i Q(u_i)) followed by
// Sanathanan-Koerner reweighting; and the best few denominators of a scan over poles placed just
// outside, near and far from the interval and complex pairs above it, each with its least-squares
// numerator (variable projection); and the best fit of degree n - 1 (degrees 1..n are solved in
// turn, so a higher degree never fits worse). From each start Levenberg-Marquardt minimises SSE
// plus a one-sided quadratic penalty
//   mu * sum_j [min(0, D(t_j) - slope margin)^2 + min(0, Q(t_j) - denominator margin)^2]
// over constraint points t_j (Chebyshev points of the interval), rejecting every step that would
// put a root of Q on the interval, with mu raised geometrically until the exact check passes;
// then points where the exact check finds a violation are added to the t_j and the slope margin
// raised (exchange). The best fit that passes the check is kept; the constant is admissible, so
// in practice one always is.
// With MonotoneCheck::kGrid the study's coarse check decides admissibility instead (and the
// penalty is put on the grid's consecutive differences), for comparison with the study.
#pragma once

#include <Eigen/Core>
#include <optional>
#include <stdexcept>
#include <string>

#include "fit/levenberg_marquardt.h"
#include "fit/rational.h"

namespace ptq::fit {

// Bad data for a fit (too few points, all-equal x, a non-finite value, a bad breakpoint).
class FitInputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class MonotoneCheck {
  kExact,  // polynomial minima of Q and D on the interval (the default)
  kGrid,   // the study's: differences on x = lo:grid_step:hi, tolerance grid_tolerance
};

struct SolverOptions {
  LmOptions lm;                         // per penalty level
  int constraint_points = 48;           // Chebyshev points of the interval carrying the penalty
  double penalty_start = 1.0;           // mu of the first level (SSE is in units of y^2)
  double penalty_growth = 100.0;        // mu multiplier between levels
  double penalty_max = 1e10;            // last level
  double min_denominator_ratio = 1e-6;  // the penalty asks Q >= this (Q(centre) = 1); starts
                                        // keep min Q >= this * max Q; Q > 0 is enforced
  double slope_margin = 1e-7;           // the penalty asks D >= this * (max y - min y)
  int exchange_rounds = 6;              // extra solves adding the exact check's violation points
  double margin_growth = 4.0;           // slope margin multiplier per exchange round
  int scan_starts = 4;                  // best scanned denominators started from
  int sk_iterations = 6;                // Sanathanan-Koerner reweightings after Loeb's start
  int breakpoint_candidates = 24;       // data x values tried by the breakpoint search
  int breakpoint_refinements = 8;       // golden-section steps around the best candidate
};

struct ConstraintOptions {
  MonotoneCheck check = MonotoneCheck::kExact;
  double grid_step = 0.5;       // study: 0.5 (or 0.1)
  double grid_tolerance = 0.0;  // study: 0
};

struct FitOptions {
  SolverOptions solver;
  ConstraintOptions constraint;
};

enum class Piecewise { kNone, kFixed, kAuto };

// What to fit: the degree n (1..4) and the piecewise form.
struct FitSpec {
  int degree = 2;
  Piecewise piecewise = Piecewise::kNone;
  double breakpoint = 0;  // for Piecewise::kFixed, in x units
  FitOptions options;
};

struct GoodnessOfFit {
  std::size_t n = 0;  // points
  double sse = 0;     // sum (y - f(x))^2
  double sst = 0;     // sum (y - mean y)^2
  double r2 = 0;      // 1 - SSE / SST (NaN when SST = 0)
  double rmse = 0;    // sqrt(SSE / (n - (2 degree + 2))) as MATLAB reports it (NaN when n <= 2d+2)
};

struct CurveFit {
  RationalCurve curve;
  std::optional<double> breakpoint;  // set for piecewise fits (== curve.hi)
  bool admissible = false;     // passed the chosen check; false: no start gave an admissible curve
  ConstraintStatus exact;      // the exact status, whatever the chosen check
  bool grid_monotone = false;  // the study's grid check with the options' step and tolerance
  GoodnessOfFit stats;
};

// Number of coefficients of a degree-n rational, as counted by the RMSE: 2n + 2.
inline int rational_parameters(int degree) {
  return 2 * degree + 2;
}

// SSE, SST, R^2 and RMSE of curve on the points.
GoodnessOfFit goodness_of_fit(const RationalCurve& curve, const Eigen::VectorXd& x,
                              const Eigen::VectorXd& y);

// The best admissible fit of spec to the points. Throws FitInputError for unusable data: sizes
// differ, a non-finite value, fewer points than 2n + 2 (below the breakpoint for a piecewise
// fit), all x equal, a degree outside 1..4, a breakpoint outside (min x, max x].
CurveFit fit_curve(const Eigen::VectorXd& x, const Eigen::VectorXd& y, const FitSpec& spec);

}  // namespace ptq::fit
