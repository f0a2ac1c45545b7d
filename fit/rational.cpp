// The rational model and its constraint checks (see rational.h). Test: tests/fit_rational_test.cpp.
#include "fit/rational.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ptq::fit {
namespace {

// D = P'Q - PQ' is computed from products whose terms cancel; a minimum of D this small relative
// to the size of those products is roundoff, not a decreasing stretch (analytic: a few ulps per
// term of the products, summed over at most 2n terms).
constexpr double kSlopeRoundoff = 64 * std::numeric_limits<double>::epsilon();
// Q(x = 0) smaller than this times Q's largest x-coefficient counts as zero when normalising.
constexpr double kZeroConstantTerm = 1e-12;

}  // namespace

double RationalCurve::operator()(double x) const {
  return rational(std::clamp(u_of(x), -1.0, 1.0));
}

Poly RationalCurve::slope_numerator() const {
  return poly_subtract(poly_multiply(poly_derivative(p), q), poly_multiply(p, poly_derivative(q)));
}

XCoefficients coefficients_in_x(const RationalCurve& curve) {
  // u = alpha + beta x.
  const double beta = 1.0 / curve.half_width(), alpha = -curve.center() * beta;
  Poly num = poly_compose_affine(curve.p, alpha, beta);
  Poly den = poly_compose_affine(curve.q, alpha, beta);
  const double largest = den.cwiseAbs().maxCoeff();
  double s = den[0];
  if (std::abs(s) <= kZeroConstantTerm * largest) {
    Eigen::Index at = 0;
    den.cwiseAbs().maxCoeff(&at);
    s = den[at];
  }
  num /= s;
  den /= s;
  return {num.reverse(), den.reverse()};
}

ConstraintStatus check_exact(const RationalCurve& curve) {
  ConstraintStatus status;
  const IntervalMin q_min = poly_min_on(curve.q, -1.0, 1.0);
  status.min_denominator = q_min.value;
  status.min_denominator_at = q_min.t;
  const Poly d = curve.slope_numerator();
  const IntervalMin d_min = poly_min_on(d, -1.0, 1.0);
  status.min_slope_numerator = d_min.value;
  status.min_slope_numerator_at = d_min.t;
  status.pole_free = q_min.value > 0;
  // Size of the two products whose difference is D: |P'||Q| + |P||Q'| with coefficient 1-norms
  // (a bound on their values on [-1, 1]).
  const double size = poly_derivative(curve.p).lpNorm<1>() * curve.q.lpNorm<1>() +
                      curve.p.lpNorm<1>() * poly_derivative(curve.q).lpNorm<1>();
  status.monotone = status.pole_free && d_min.value >= -kSlopeRoundoff * size;
  return status;
}

bool check_grid(const RationalCurve& curve, double step, double tolerance) {
  double previous = curve(curve.lo);
  if (!std::isfinite(previous)) return false;
  const auto steps = static_cast<long>(std::floor((curve.hi - curve.lo) / step));
  for (long k = 1; k <= steps; ++k) {
    const double value = curve(curve.lo + static_cast<double>(k) * step);
    if (!std::isfinite(value) || value < previous - tolerance) return false;
    previous = value;
  }
  return true;
}

}  // namespace ptq::fit
