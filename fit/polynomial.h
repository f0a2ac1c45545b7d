// Real polynomials as coefficient vectors, lowest power first:
//   p(t) = c[0] + c[1] t + ... + c[d] t^d.
// What the rational fits need: evaluation, products, derivatives, an affine change of variable,
// and the exact minimum on a closed interval (from the real critical points, isolated between the
// roots of the next derivative and bisected).
#pragma once

#include <Eigen/Core>
#include <vector>

namespace ptq::fit {

using Poly = Eigen::VectorXd;

// p(t) by Horner's rule; 0 for the empty polynomial.
double poly_eval(const Poly& p, double t);

// p'(t); the zero polynomial (one coefficient 0) for a constant.
Poly poly_derivative(const Poly& p);

// a(t) * b(t).
Poly poly_multiply(const Poly& a, const Poly& b);

// a(t) - b(t), sized to the longer of the two.
Poly poly_subtract(const Poly& a, const Poly& b);

// Coefficients in x of p(alpha + beta x), lowest power first.
Poly poly_compose_affine(const Poly& p, double alpha, double beta);

// Highest degree the root finder takes (D = P'Q - PQ' of a degree-4 rational has degree 6).
constexpr int kMaxDegree = 8;

// The real roots where p changes sign in the open interval (lo, hi), ascending, to the last bit:
// each lies between consecutive roots of p' (found the same way, recursively), where p is
// monotone, and is bracketed by bisection. A root of even multiplicity is reported or not as
// roundoff decides (it never matters to a minimum). Leading coefficients at roundoff level of the
// largest are dropped first. Throws std::invalid_argument above kMaxDegree.
std::vector<double> poly_roots_in(const Poly& p, double lo, double hi);

struct IntervalMin {
  double t;      // where p is smallest on [lo, hi]
  double value;  // p(t)
};

// min of p on [lo, hi], taken over the two ends and every critical point inside (a critical point
// of even multiplicity is an inflection, never the minimum). Throws above kMaxDegree.
IntervalMin poly_min_on(const Poly& p, double lo, double hi);

}  // namespace ptq::fit
