// The model of the study's fits (DESIGN.md section 7): a rational function of degree n,
//
//   f(x) = P(u) / Q(u),   u = (x - c) / h,   c = (lo + hi) / 2,   h = (hi - lo) / 2,
//   P(u) = p_0 + p_1 u + ... + p_n u^n,   Q(u) = 1 + q_1 u + ... + q_n u^n,
//
// on the fitted interval [lo, hi] (u in [-1, 1]), held constant outside it: f(x) = f(lo) below lo
// and f(hi) above hi. For a piecewise fit hi is the breakpoint, so above it the curve is the
// constant "its value at the breakpoint"; for a plain fit [lo, hi] = [min x, max x] and the hold
// only matters when predicting a point outside the data (cross-validation).
// Q(0) = 1 fixes the scale: a curve without a pole on [lo, hi] has Q(c) != 0, so no admissible
// curve is lost. Working in u keeps the monomials of degree 4 well conditioned.
//
// The constraint (an admissible curve): no pole on [lo, hi], i.e. Q > 0 there (Q(0) = 1 > 0), and
// non-decreasing there, i.e. D = P'Q - PQ' >= 0 on [-1, 1], since f'(u) = D(u) / Q(u)^2.
// D has degree 2n - 2 (the u^(2n-1) terms cancel). check_exact decides both exactly from the
// minima of the polynomials Q and D on [-1, 1] (critical points isolated and bisected,
// fit/polynomial.h); check_grid is the study's check: f(x_k+1) - f(x_k) >= -tolerance on x =
// lo:step:hi.
#pragma once

#include <Eigen/Core>

#include "fit/polynomial.h"

namespace ptq::fit {

struct RationalCurve {
  int degree = 0;
  double lo = 0, hi = 0;  // the fitted interval, in x
  Poly p, q;              // in u, lowest power first, q[0] == 1

  double center() const { return 0.5 * (lo + hi); }
  double half_width() const { return 0.5 * (hi - lo); }
  double u_of(double x) const { return (x - center()) / half_width(); }
  // P(u) / Q(u) without the hold: the rational itself.
  double rational(double u) const { return poly_eval(p, u) / poly_eval(q, u); }
  // The curve at x, held at its end values outside [lo, hi].
  double operator()(double x) const;
  // D(u) = P'(u) Q(u) - P(u) Q'(u), the numerator of the slope in u.
  Poly slope_numerator() const;
};

// Coefficients of the rational in x (the input's units), highest power first, scaled together so
// that the denominator's constant term is 1 (q_0 = 1), or, when Q vanishes at x = 0 to roundoff,
// so that its largest coefficient is 1.
struct XCoefficients {
  Eigen::VectorXd numerator, denominator;
};
XCoefficients coefficients_in_x(const RationalCurve& curve);

struct ConstraintStatus {
  bool pole_free = false;  // Q > 0 on the whole interval
  bool monotone = false;   // pole-free and D >= -roundoff on the whole interval
  double min_denominator = 0, min_denominator_at = 0;          // min Q on [-1, 1] and where (u)
  double min_slope_numerator = 0, min_slope_numerator_at = 0;  // min D on [-1, 1] and where (u)
};

// Exact status on [lo, hi].
ConstraintStatus check_exact(const RationalCurve& curve);

// The study's check: every value on x = lo, lo + step, ... <= hi is finite and none is lower than
// its predecessor by more than tolerance.
bool check_grid(const RationalCurve& curve, double step, double tolerance);

}  // namespace ptq::fit
