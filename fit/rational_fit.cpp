// Constrained rational and piecewise fits (see rational_fit.h for the method).
// Test: tests/fit_rational_test.cpp, tests/fit_reference_test.cpp; bench: bench/fit_bench.cpp.
#include "fit/rational_fit.h"

#include <Eigen/Cholesky>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace ptq::fit {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Sanathanan-Koerner divides by the previous |Q(u_i)|; a root at a data point would blow a row up.
constexpr double kMinSkDenominator = 1e-6;

// Parameter vector theta = (p_0..p_n, q_1..q_n); q_0 = 1 is fixed.
RationalCurve curve_from(const Eigen::VectorXd& theta, int n, double lo, double hi) {
  RationalCurve c;
  c.degree = n;
  c.lo = lo;
  c.hi = hi;
  c.p = theta.head(n + 1);
  c.q.resize(n + 1);
  c.q[0] = 1.0;
  c.q.tail(n) = theta.tail(n);
  return c;
}

Eigen::VectorXd theta_from(const Poly& p, const Poly& q, int n) {
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(2 * n + 1);
  theta.head(std::min<Eigen::Index>(p.size(), n + 1)) =
      p.head(std::min<Eigen::Index>(p.size(), n + 1));
  for (Eigen::Index k = 1; k < q.size() && k <= n; ++k) theta[n + k] = q[k] / q[0];
  theta.head(n + 1) /= q[0];
  return theta;
}

// powers[k] = t^k, k = 0..n.
void fill_powers(double t, int n, double* powers) {
  powers[0] = 1.0;
  for (int k = 1; k <= n; ++k) powers[k] = powers[k - 1] * t;
}

// Q(u) = 1 + q_1 u + ... > 0 and >= ratio * max Q on [-1, 1].
bool denominator_ok(const Eigen::VectorXd& theta, int n, double ratio) {
  Poly q(n + 1);
  q << 1.0, theta.tail(n);
  const double lowest = poly_min_on(q, -1.0, 1.0).value;
  const double highest = -poly_min_on(-q, -1.0, 1.0).value;
  return lowest > 0 && lowest >= ratio * highest;
}

// The least-squares problem one Levenberg-Marquardt run sees: data residuals f(u_i) - y_i and the
// penalty rows of one level (see rational_fit.h): D >= slope_floor and Q >= denominator_ratio at
// each constraint point (a near-root of Q with a near-root of P beside it is a step in disguise,
// which the data of a jump would otherwise pull the fit into). A theta whose Q has a root on
// [-1, 1] gets NaN residuals, which Levenberg-Marquardt rejects: the iterates never leave the
// pole-free region.
struct PenaltyProblem {
  int n;
  double denominator_ratio;  // SolverOptions::min_denominator_ratio
  const Eigen::VectorXd& u;  // data abscissae in u, clamped to [-1, 1]
  const Eigen::VectorXd& y;
  MonotoneCheck check;
  std::vector<double> points;  // constraint points in u (grid mode: the study's grid, ascending)
  double sqrt_mu = 0;
  double slope_floor = 0;  // D >= this (exact) or f(t_k+1) - f(t_k) >= this (grid)

  Eigen::Index rows() const {
    const auto m = static_cast<Eigen::Index>(points.size());
    return u.size() + (check == MonotoneCheck::kExact ? 2 * m : std::max<Eigen::Index>(m - 1, 0));
  }

  void operator()(const Eigen::VectorXd& theta, Eigen::VectorXd& r, Eigen::MatrixXd& jac) const {
    const Eigen::Index k = theta.size(), data = u.size();
    r.setZero(rows());
    jac.setZero(rows(), k);
    if (!denominator_ok(theta, n, 0.0)) {
      r.setConstant(std::numeric_limits<double>::quiet_NaN());
      return;
    }
    const Eigen::Ref<const Eigen::VectorXd> p = theta.head(n + 1);
    Poly q(n + 1);
    q << 1.0, theta.tail(n);
    double pw[5], dpw[5];
    // f(t) and its gradient in theta into (value, row).
    auto rational_row = [&](double t, double& value, auto row) {
      fill_powers(t, n, pw);
      double pv = 0, qv = 0;
      for (int i = 0; i <= n; ++i) pv += p[i] * pw[i], qv += q[i] * pw[i];
      value = pv / qv;
      for (int i = 0; i <= n; ++i) row(i) = pw[i] / qv;
      for (int i = 1; i <= n; ++i) row(n + i) = -value * pw[i] / qv;
    };
    for (Eigen::Index i = 0; i < data; ++i) {
      double f;
      rational_row(u[i], f, jac.row(i));
      r[i] = f - y[i];
    }
    Eigen::Index row = data;
    if (check == MonotoneCheck::kExact) {
      for (double t : points) {
        fill_powers(t, n, pw);
        dpw[0] = 0;
        for (int i = 1; i <= n; ++i) dpw[i] = i * pw[i - 1];
        double pv = 0, dp = 0, qv = 0, dq = 0;
        for (int i = 0; i <= n; ++i) {
          pv += p[i] * pw[i], dp += p[i] * dpw[i];
          qv += q[i] * pw[i], dq += q[i] * dpw[i];
        }
        const double d = dp * qv - pv * dq;
        if (d < slope_floor) {
          r[row] = sqrt_mu * (d - slope_floor);
          for (int i = 0; i <= n; ++i) jac(row, i) = sqrt_mu * (dpw[i] * qv - pw[i] * dq);
          for (int i = 1; i <= n; ++i) jac(row, n + i) = sqrt_mu * (dp * pw[i] - pv * dpw[i]);
        }
        ++row;
        if (qv < denominator_ratio) {
          r[row] = sqrt_mu * (qv - denominator_ratio);
          for (int i = 1; i <= n; ++i) jac(row, n + i) = sqrt_mu * pw[i];
        }
        ++row;
      }
      return;
    }
    // Grid mode: consecutive differences of f on the study's grid.
    Eigen::RowVectorXd previous_grad(k), grad(k);
    double previous = 0;
    for (std::size_t j = 0; j < points.size(); ++j) {
      double f;
      rational_row(points[j], f, grad);
      if (j > 0) {
        if (f - previous < slope_floor) {
          r[row] = sqrt_mu * (f - previous - slope_floor);
          jac.row(row) = sqrt_mu * (grad - previous_grad);
        }
        ++row;
      }
      previous = f;
      previous_grad = grad;
    }
  }
};

double data_sse(const RationalCurve& c, const Eigen::VectorXd& u, const Eigen::VectorXd& y) {
  double sse = 0;
  for (Eigen::Index i = 0; i < u.size(); ++i) {
    const double e = c.rational(u[i]) - y[i];
    sse += e * e;
  }
  return std::isfinite(sse) ? sse : std::numeric_limits<double>::infinity();
}

// Least squares of y ~ P(u) / Q(u) over P for a fixed Q (variable projection); returns SSE.
double numerator_for(const Poly& q, int n, const Eigen::VectorXd& u, const Eigen::VectorXd& y,
                     Poly& p) {
  Eigen::MatrixXd a(u.size(), n + 1);
  double pw[5];
  for (Eigen::Index i = 0; i < u.size(); ++i) {
    fill_powers(u[i], n, pw);
    const double qv = poly_eval(q, u[i]);
    for (int k = 0; k <= n; ++k) a(i, k) = pw[k] / qv;
  }
  const Eigen::MatrixXd ata = a.transpose() * a;
  p = ata.ldlt().solve(a.transpose() * y);
  const double sse = (a * p - y).squaredNorm();
  return std::isfinite(sse) ? sse : std::numeric_limits<double>::infinity();
}

// Denominators for the scan, each a product of factors with value 1 at u = 0 and no zero on
// [-1, 1]: real poles just outside (1.02), near (1.2), further (2) and far (5) on either side, and
// complex pairs above the ends and the middle of the interval, close to and away from the axis.
std::vector<Poly> scanned_denominators(int n) {
  std::vector<Poly> factors;
  for (double r : {1.02, 1.2, 2.0, 5.0})
    for (double side : {-1.0, 1.0}) {
      Poly f(2);
      f << 1.0, -1.0 / (side * r);
      factors.push_back(f);
    }
  for (double re : {-1.0, 0.0, 1.0})
    for (double im : {0.05, 0.3}) {
      const double abs2 = re * re + im * im;
      Poly f(3);
      f << 1.0, -2.0 * re / abs2, 1.0 / abs2;  // (1 - u/z)(1 - u/conj z)
      factors.push_back(f);
    }
  // Every multiset of factors of total degree 1..n.
  std::vector<Poly> out;
  std::vector<std::pair<Poly, std::size_t>> frontier = {{Poly::Ones(1), 0}};
  while (!frontier.empty()) {
    auto [poly, first] = frontier.back();
    frontier.pop_back();
    for (std::size_t i = first; i < factors.size(); ++i) {
      if (poly.size() - 1 + factors[i].size() - 1 > n) continue;
      Poly next = poly_multiply(poly, factors[i]);
      out.push_back(next);
      frontier.push_back({next, i});
    }
  }
  return out;
}

// One interval's data: u_i = (x_i - c) / h clamped to [-1, 1] (points above a breakpoint sit at
// u = 1, where the curve takes its constant value).
struct Problem {
  double lo, hi;
  Eigen::VectorXd u, y;
  double y_scale;  // max y - min y (the unit of the slope margin)
  const FitOptions& options;
};

// The best admissible fit of one degree found so far: theta and its SSE (infinite: none).
struct Best {
  Eigen::VectorXd theta;
  double sse = std::numeric_limits<double>::infinity();
};

// A pole-free start from theta: while Q has a root on [-1, 1], its non-constant part is halved
// (towards Q = 1), and P is then refitted for the new Q. Empty when that fails.
std::optional<Eigen::VectorXd> pole_free_start(Eigen::VectorXd theta, int n, const Problem& pb) {
  const double ratio = pb.options.solver.min_denominator_ratio;
  if (!theta.allFinite()) return std::nullopt;
  if (denominator_ok(theta, n, ratio)) return theta;
  for (int halving = 0; halving < 60; ++halving) {
    theta.tail(n) *= 0.5;
    if (!denominator_ok(theta, n, ratio)) continue;
    Poly q(n + 1), p;
    q << 1.0, theta.tail(n);
    if (!std::isfinite(numerator_for(q, n, pb.u, pb.y, p))) return std::nullopt;
    theta.head(n + 1) = p;
    return theta;
  }
  return std::nullopt;
}

std::vector<Eigen::VectorXd> starts_for(const Problem& pb, int n) {
  const Eigen::Index m = pb.u.size();
  std::vector<Eigen::VectorXd> starts;
  // The constant mean(y): always admissible.
  Eigen::VectorXd constant = Eigen::VectorXd::Zero(2 * n + 1);
  constant[0] = pb.y.mean();
  starts.push_back(constant);
  // Polynomial least squares (Q = 1).
  Eigen::MatrixXd vander(m, n + 1);
  double pw[5];
  for (Eigen::Index i = 0; i < m; ++i) {
    fill_powers(pb.u[i], n, pw);
    for (int k = 0; k <= n; ++k) vander(i, k) = pw[k];
  }
  Eigen::VectorXd poly = Eigen::VectorXd::Zero(2 * n + 1);
  poly.head(n + 1) = vander.colPivHouseholderQr().solve(pb.y);
  starts.push_back(poly);
  // Loeb: least squares of P(u_i) - y_i (Q(u_i) - 1) = y_i; then Sanathanan-Koerner: the same
  // rows divided by the previous Q(u_i), which makes them approximate the true residuals.
  Eigen::MatrixXd lin(m, 2 * n + 1);
  lin.leftCols(n + 1) = vander;
  for (int k = 1; k <= n; ++k) lin.col(n + k) = -pb.y.cwiseProduct(vander.col(k));
  Eigen::VectorXd weights = Eigen::VectorXd::Ones(m);
  for (int it = 0; it <= pb.options.solver.sk_iterations; ++it) {
    const Eigen::VectorXd theta =
        (weights.asDiagonal() * lin).colPivHouseholderQr().solve(weights.cwiseProduct(pb.y));
    if (!theta.allFinite()) break;
    if (it == 0 || it == pb.options.solver.sk_iterations) starts.push_back(theta);
    const RationalCurve c = curve_from(theta, n, pb.lo, pb.hi);
    for (Eigen::Index i = 0; i < m; ++i)
      weights[i] = 1.0 / std::max(std::abs(poly_eval(c.q, pb.u[i])), kMinSkDenominator);
  }
  // Scanned denominators, best few by SSE.
  std::vector<std::pair<double, Eigen::VectorXd>> scanned;
  for (const Poly& q : scanned_denominators(n)) {
    Poly p;
    const double sse = numerator_for(q, n, pb.u, pb.y, p);
    if (std::isfinite(sse)) scanned.push_back({sse, theta_from(p, q, n)});
  }
  const auto keep = std::min<std::size_t>(scanned.size(), pb.options.solver.scan_starts);
  std::partial_sort(scanned.begin(), scanned.begin() + keep, scanned.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < keep; ++i) starts.push_back(scanned[i].second);
  return starts;
}

bool admissible(const RationalCurve& c, const ConstraintOptions& opt) {
  if (opt.check == MonotoneCheck::kGrid) return check_grid(c, opt.grid_step, opt.grid_tolerance);
  return check_exact(c).monotone;
}

// Best admissible degree-n curve on [lo, hi] from all starts, plus the lower degree's best
// (padded with zero leading coefficients: the same curve, so degree n never does worse).
Best solve_degree(const Problem& pb, int n, const Best& lower) {
  const SolverOptions& so = pb.options.solver;
  const ConstraintOptions& co = pb.options.constraint;
  Best best;
  auto consider = [&](const Eigen::VectorXd& theta) {
    const RationalCurve c = curve_from(theta, n, pb.lo, pb.hi);
    if (!admissible(c, co)) return false;
    const double sse = data_sse(c, pb.u, pb.y);
    if (sse < best.sse) best = {theta, sse};
    return true;
  };
  PenaltyProblem problem{n, so.min_denominator_ratio, pb.u, pb.y, co.check, {}, 0, 0};
  std::vector<double> base_points;
  double margin = 0;
  if (co.check == MonotoneCheck::kExact) {
    margin = so.slope_margin * pb.y_scale;
    for (int j = 0; j < so.constraint_points; ++j)
      base_points.push_back(-std::cos(kPi * j / (so.constraint_points - 1)));
  } else {
    const double c = 0.5 * (pb.lo + pb.hi), h = 0.5 * (pb.hi - pb.lo);
    const auto steps = static_cast<long>(std::floor((pb.hi - pb.lo) / co.grid_step));
    for (long k = 0; k <= steps; ++k)
      base_points.push_back(std::min((pb.lo + static_cast<double>(k) * co.grid_step - c) / h, 1.0));
    margin = so.slope_margin * pb.y_scale - co.grid_tolerance;
  }
  const ResidualFn fn = [&problem](const Eigen::VectorXd& t, Eigen::VectorXd& r,
                                   Eigen::MatrixXd& j) { problem(t, r, j); };
  std::vector<Eigen::VectorXd> starts = starts_for(pb, n);
  if (std::isfinite(lower.sse)) {
    const int m = static_cast<int>(lower.theta.size() - 1) / 2;
    Eigen::VectorXd padded = Eigen::VectorXd::Zero(2 * n + 1);
    padded.head(m + 1) = lower.theta.head(m + 1);
    padded.segment(n + 1, m) = lower.theta.tail(m);
    starts.push_back(padded);
  }
  for (const Eigen::VectorXd& raw : starts) {
    const std::optional<Eigen::VectorXd> start = pole_free_start(raw, n, pb);
    if (!start) continue;
    Eigen::VectorXd theta = *start;
    consider(theta);
    problem.points = base_points;
    problem.slope_floor = margin;
    bool done = false;
    for (double mu = so.penalty_start; !done && mu <= so.penalty_max * (1 + 1e-9);
         mu *= so.penalty_growth) {
      problem.sqrt_mu = std::sqrt(mu);
      levenberg_marquardt(fn, theta, so.lm);
      done = consider(theta);
    }
    // Still not admissible at the largest mu: add the points where the exact check finds D < 0
    // and raise the margin, so that the dip between constraint points closes.
    for (int round = 0; !done && co.check == MonotoneCheck::kExact && round < so.exchange_rounds;
         ++round) {
      const ConstraintStatus s = check_exact(curve_from(theta, n, pb.lo, pb.hi));
      problem.points.push_back(s.min_slope_numerator_at);
      if (s.min_denominator < so.min_denominator_ratio)
        problem.points.push_back(s.min_denominator_at);
      problem.slope_floor *= so.margin_growth;
      levenberg_marquardt(fn, theta, so.lm);
      done = consider(theta);
    }
  }
  return best;
}

void validate(const Eigen::VectorXd& x, const Eigen::VectorXd& y, const FitSpec& spec) {
  if (x.size() != y.size())
    throw FitInputError("x and y have different lengths (" + std::to_string(x.size()) + " and " +
                        std::to_string(y.size()) + ")");
  if (spec.degree < 1 || spec.degree > 4)
    throw FitInputError("degree must be 1..4, got " + std::to_string(spec.degree));
  if (!x.allFinite() || !y.allFinite()) throw FitInputError("a value is NaN or infinite");
  const int params = rational_parameters(spec.degree);
  if (x.size() < params)
    throw FitInputError(std::to_string(x.size()) + " points are fewer than the " +
                        std::to_string(params) + " parameters of a degree-" +
                        std::to_string(spec.degree) + " rational");
  if (x.minCoeff() == x.maxCoeff())
    throw FitInputError("all x values are equal (" + std::to_string(x[0]) + "): nothing to fit");
}

// Fit on [min x, hi]; the points above hi are fitted by the constant f(hi). Degrees 1..n are
// solved in turn, each started also from the one below.
CurveFit fit_up_to(const Eigen::VectorXd& x, const Eigen::VectorXd& y, const FitSpec& spec,
                   double hi) {
  const double lo = x.minCoeff();
  Problem pb{lo,
             hi,
             Eigen::VectorXd(x.size()),
             y,
             std::max(y.maxCoeff() - y.minCoeff(), std::numeric_limits<double>::min()),
             spec.options};
  const double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo);
  for (Eigen::Index i = 0; i < x.size(); ++i) pb.u[i] = std::min((x[i] - c) / h, 1.0);
  Best best;
  for (int n = 1; n <= spec.degree; ++n) best = solve_degree(pb, n, best);
  CurveFit fit;
  fit.admissible = std::isfinite(best.sse);
  const int n = spec.degree;
  fit.curve = curve_from(fit.admissible ? best.theta : Eigen::VectorXd::Zero(2 * n + 1), n, lo, hi);
  fit.exact = check_exact(fit.curve);
  fit.grid_monotone = check_grid(fit.curve, spec.options.constraint.grid_step,
                                 spec.options.constraint.grid_tolerance);
  fit.stats = goodness_of_fit(fit.curve, x, y);
  return fit;
}

long points_up_to(const Eigen::VectorXd& x, double b) {
  return (x.array() <= b).count();
}

CurveFit fit_piecewise_fixed(const Eigen::VectorXd& x, const Eigen::VectorXd& y,
                             const FitSpec& spec, double b) {
  const int params = rational_parameters(spec.degree);
  if (!(b > x.minCoeff()) || points_up_to(x, b) < params)
    throw FitInputError("breakpoint " + std::to_string(b) + " leaves " +
                        std::to_string(points_up_to(x, b)) +
                        " points at or below it, fewer than the " + std::to_string(params) +
                        " parameters (min x is " + std::to_string(x.minCoeff()) + ")");
  CurveFit fit = fit_up_to(x, y, spec, std::min(b, x.maxCoeff()));
  fit.breakpoint = b;
  return fit;
}

// Best breakpoint over data x values (subsampled), refined by golden section between the best
// candidate's neighbours; every evaluation is a full constrained fit.
CurveFit fit_piecewise_auto(const Eigen::VectorXd& x, const Eigen::VectorXd& y,
                            const FitSpec& spec) {
  std::vector<double> xs(x.data(), x.data() + x.size());
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  std::vector<double> candidates;
  for (double b : xs)
    if (points_up_to(x, b) >= rational_parameters(spec.degree)) candidates.push_back(b);
  if (candidates.empty()) return fit_piecewise_fixed(x, y, spec, xs.back());
  const auto limit =
      static_cast<std::size_t>(std::max(spec.options.solver.breakpoint_candidates, 2));
  if (candidates.size() > limit) {
    std::vector<double> picked;
    for (std::size_t i = 0; i < limit; ++i)
      picked.push_back(candidates[i * (candidates.size() - 1) / (limit - 1)]);
    candidates = picked;
  }
  CurveFit best;
  best.stats.sse = std::numeric_limits<double>::infinity();
  auto evaluate = [&](double b) {
    CurveFit f = fit_piecewise_fixed(x, y, spec, b);
    if (f.stats.sse < best.stats.sse) best = f;
    return f.stats.sse;
  };
  std::size_t at = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i)
    if (evaluate(candidates[i]) <= best.stats.sse) at = i;
  double a = candidates[at > 0 ? at - 1 : at],
         c = candidates[std::min(at + 1, candidates.size() - 1)];
  const double ratio = 0.5 * (std::sqrt(5.0) - 1.0);
  double b1 = c - ratio * (c - a), b2 = a + ratio * (c - a);
  double f1 = evaluate(b1), f2 = evaluate(b2);
  for (int it = 2; it < spec.options.solver.breakpoint_refinements; ++it) {
    if (f1 <= f2) {
      c = b2, b2 = b1, f2 = f1;
      b1 = c - ratio * (c - a);
      f1 = evaluate(b1);
    } else {
      a = b1, b1 = b2, f1 = f2;
      b2 = a + ratio * (c - a);
      f2 = evaluate(b2);
    }
  }
  return best;
}

}  // namespace

GoodnessOfFit goodness_of_fit(const RationalCurve& curve, const Eigen::VectorXd& x,
                              const Eigen::VectorXd& y) {
  GoodnessOfFit g;
  g.n = static_cast<std::size_t>(x.size());
  const double mean = y.mean();
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double e = y[i] - curve(x[i]);
    g.sse += e * e;
    g.sst += (y[i] - mean) * (y[i] - mean);
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  g.r2 = g.sst > 0 ? 1.0 - g.sse / g.sst : nan;
  const long dof = x.size() - rational_parameters(curve.degree);
  g.rmse = dof > 0 ? std::sqrt(g.sse / static_cast<double>(dof)) : nan;
  return g;
}

CurveFit fit_curve(const Eigen::VectorXd& x, const Eigen::VectorXd& y, const FitSpec& spec) {
  validate(x, y, spec);
  switch (spec.piecewise) {
    case Piecewise::kFixed:
      return fit_piecewise_fixed(x, y, spec, spec.breakpoint);
    case Piecewise::kAuto:
      return fit_piecewise_auto(x, y, spec);
    case Piecewise::kNone:
      break;
  }
  return fit_up_to(x, y, spec, x.maxCoeff());
}

}  // namespace ptq::fit
