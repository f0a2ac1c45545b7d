// Polynomial helpers for the rational fits (see polynomial.h). Test: tests/fit_polynomial_test.cpp.
#include "fit/polynomial.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ptq::fit {
namespace {

// Leading coefficients smaller than this times the largest are roundoff (e.g. the cancelled top
// term of P'Q - PQ'); keeping them would put huge spurious roots into the companion matrix.
constexpr double kLeadingTrim = 1e-13;

}  // namespace

double poly_eval(const Poly& p, double t) {
  double v = 0;
  for (Eigen::Index k = p.size() - 1; k >= 0; --k) v = v * t + p[k];
  return v;
}

Poly poly_derivative(const Poly& p) {
  if (p.size() <= 1) return Poly::Zero(1);
  Poly d(p.size() - 1);
  for (Eigen::Index k = 1; k < p.size(); ++k) d[k - 1] = static_cast<double>(k) * p[k];
  return d;
}

Poly poly_multiply(const Poly& a, const Poly& b) {
  if (a.size() == 0 || b.size() == 0) return Poly::Zero(1);
  Poly c = Poly::Zero(a.size() + b.size() - 1);
  for (Eigen::Index i = 0; i < a.size(); ++i)
    for (Eigen::Index j = 0; j < b.size(); ++j) c[i + j] += a[i] * b[j];
  return c;
}

Poly poly_subtract(const Poly& a, const Poly& b) {
  Poly c = Poly::Zero(std::max(a.size(), b.size()));
  c.head(a.size()) += a;
  c.head(b.size()) -= b;
  return c;
}

Poly poly_compose_affine(const Poly& p, double alpha, double beta) {
  // Horner on polynomials: r <- r * (alpha + beta x) + p[k]. Before the step for p[k], r has
  // degree at most size - 2, so the shift never drops a coefficient.
  const Eigen::Index n = std::max<Eigen::Index>(p.size(), 1);
  Poly r = Poly::Zero(n);
  for (Eigen::Index k = p.size() - 1; k >= 0; --k) {
    Poly next = alpha * r;
    next.tail(n - 1) += beta * r.head(n - 1);
    next[0] += p[k];
    r = next;
  }
  return r;
}

namespace {

// Degree after dropping roundoff-sized leading coefficients (-1 for the zero polynomial).
int effective_degree(const double* c, int size) {
  double largest = 0;
  for (int k = 0; k < size; ++k) largest = std::max(largest, std::abs(c[k]));
  int deg = size - 1;
  while (deg >= 0 && std::abs(c[deg]) <= kLeadingTrim * largest) --deg;
  return largest == 0 ? -1 : deg;
}

double eval(const double* c, int deg, double t) {
  double v = 0;
  for (int k = deg; k >= 0; --k) v = v * t + c[k];
  return v;
}

// The root of c in [a, b] where c(a) and c(b) have opposite signs and c is monotone: bisection
// to the last representable midpoint (at most ~64 halvings for a double interval).
double bracketed_root(const double* c, int deg, double a, double b) {
  double fa = eval(c, deg, a);
  for (;;) {
    const double m = 0.5 * (a + b);
    if (m <= a || m >= b) return std::abs(fa) <= std::abs(eval(c, deg, b)) ? a : b;
    const double fm = eval(c, deg, m);
    if (fm == 0) return m;
    if ((fm < 0) == (fa < 0)) {
      a = m;
      fa = fm;
    } else {
      b = m;
    }
  }
}

// Real roots of odd multiplicity of c (degree deg, at most kMaxDegree) in (lo, hi), ascending,
// written to out; returns their count. Between consecutive roots of c' the polynomial is
// monotone, so each sign change there brackets exactly one root.
int roots_in(const double* c, int deg, double lo, double hi, double* out) {
  if (deg < 1) return 0;
  if (deg == 1) {
    const double t = -c[0] / c[1];
    if (!(t > lo && t < hi)) return 0;
    out[0] = t;
    return 1;
  }
  double d[kMaxDegree], cuts[kMaxDegree + 1];
  for (int k = 1; k <= deg; ++k) d[k - 1] = k * c[k];
  cuts[0] = lo;
  const int critical = roots_in(d, deg - 1, lo, hi, cuts + 1);
  cuts[critical + 1] = hi;
  int count = 0;
  for (int i = 0; i <= critical; ++i) {
    const double a = cuts[i], b = cuts[i + 1];
    const double fa = eval(c, deg, a), fb = eval(c, deg, b);
    if (fa == 0 && i > 0) {
      out[count++] = a;  // a root at a critical point (a double root when c does not cross)
    } else if ((fa < 0) != (fb < 0) && fb != 0) {
      out[count++] = bracketed_root(c, deg, a, b);
    }
  }
  return count;
}

}  // namespace

std::vector<double> poly_roots_in(const Poly& p, double lo, double hi) {
  const int deg = effective_degree(p.data(), static_cast<int>(p.size()));
  if (deg > kMaxDegree) throw std::invalid_argument("poly_roots_in: degree above kMaxDegree");
  double out[kMaxDegree];
  const int count = roots_in(p.data(), deg, lo, hi, out);
  return std::vector<double>(out, out + count);
}

IntervalMin poly_min_on(const Poly& p, double lo, double hi) {
  IntervalMin best{lo, poly_eval(p, lo)};
  auto consider = [&](double t) {
    const double v = poly_eval(p, t);
    if (v < best.value) best = {t, v};
  };
  consider(hi);
  const int deg = effective_degree(p.data(), static_cast<int>(p.size()));
  if (deg > kMaxDegree) throw std::invalid_argument("poly_min_on: degree above kMaxDegree");
  if (deg < 2) return best;
  double d[kMaxDegree], critical[kMaxDegree];
  for (int k = 1; k <= deg; ++k) d[k - 1] = k * p[k];
  const int count = roots_in(d, deg - 1, lo, hi, critical);
  for (int i = 0; i < count; ++i) consider(critical[i]);
  return best;
}

}  // namespace ptq::fit
