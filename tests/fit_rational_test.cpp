// Constrained rational and piecewise fits on synthetic data with known answers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "fit/rational_fit.h"
#include "tests/test_inputs.h"

namespace ptq::fit {
namespace {

// Noise-free data are fitted to roundoff; 1e-6 on coefficients of size ~1 is what the
// conditioning of a 2/2 rational on 40 points allows (observed: ~1e-9).
constexpr double kExactCoefTol = 1e-6;
// Noise sigma of the noisy cases (acc_loss units).
constexpr double kSigma = 0.01;

// f(x) = P(x) / Q(x) with x-coefficients lowest power first.
double rational_x(const Poly& p, const Poly& q, double x) {
  return poly_eval(p, x) / poly_eval(q, x);
}

// (0.9 x^2 + 0.1 x + 0.01) / (x^2 + 0.5 x + 1): increasing and pole-free on [0, 10]
// (P'Q - PQ' = 0.35 x^2 + 1.78 x + 0.095 > 0, Q has complex roots).
const Poly kP = (Poly(3) << 0.01, 0.1, 0.9).finished();
const Poly kQ = (Poly(3) << 1.0, 0.5, 1.0).finished();

void sample(double lo, double hi, int n, const std::function<double(double)>& f, Eigen::VectorXd& x,
            Eigen::VectorXd& y, double sigma = 0) {
  std::mt19937_64 rng(test::kSeed);
  std::normal_distribution<double> noise(0.0, sigma);
  x.resize(n);
  y.resize(n);
  for (int i = 0; i < n; ++i) {
    x[i] = lo + (hi - lo) * i / (n - 1);
    y[i] = f(x[i]) + (sigma > 0 ? noise(rng) : 0.0);
  }
}

FitSpec degree(int n) {
  FitSpec s;
  s.degree = n;
  return s;
}

TEST(FitCurve, RecoversKnownCoefficientsFromExactData) {
  Eigen::VectorXd x, y;
  sample(
      0, 10, 40, [](double v) { return rational_x(kP, kQ, v); }, x, y);
  const CurveFit fit = fit_curve(x, y, degree(2));
  ASSERT_TRUE(fit.admissible);
  EXPECT_TRUE(fit.exact.monotone);
  EXPECT_TRUE(fit.exact.pole_free);
  EXPECT_LT(fit.stats.sse, 1e-20);
  const XCoefficients c = coefficients_in_x(fit.curve);
  ASSERT_EQ(c.numerator.size(), 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(c.numerator[2 - k], kP[k], kExactCoefTol) << "p_" << k;
    EXPECT_NEAR(c.denominator[2 - k], kQ[k], kExactCoefTol) << "q_" << k;
  }
}

TEST(FitCurve, FitsNoisyDataAtLeastAsWellAsTheTrueCurve) {
  Eigen::VectorXd x, y;
  const auto truth = [](double v) { return rational_x(kP, kQ, v); };
  sample(0, 10, 60, truth, x, y, kSigma);
  const CurveFit fit = fit_curve(x, y, degree(2));
  ASSERT_TRUE(fit.admissible);
  EXPECT_TRUE(fit.exact.monotone);
  double true_sse = 0;
  for (Eigen::Index i = 0; i < x.size(); ++i) true_sse += std::pow(y[i] - truth(x[i]), 2);
  // The true curve is admissible, so the constrained least-squares optimum is no worse.
  EXPECT_LE(fit.stats.sse, true_sse * (1 + 1e-9));
  EXPECT_GT(fit.stats.r2, 0.99);
  EXPECT_NEAR(fit.stats.rmse, std::sqrt(fit.stats.sse / (60 - 6)), 1e-15);
  // The curve stays within a few sigma of the truth (observed max deviation ~0.5 sigma).
  for (double v = 0; v <= 10; v += 0.25) EXPECT_NEAR(fit.curve(v), truth(v), 3 * kSigma) << v;
}

TEST(FitCurve, HigherDegreeNeverFitsWorse) {
  Eigen::VectorXd x, y;
  sample(
      0, 10, 50, [](double v) { return std::tanh(v - 3) + 1; }, x, y, kSigma);
  double previous = std::numeric_limits<double>::infinity();
  for (int n = 1; n <= 4; ++n) {
    const CurveFit fit = fit_curve(x, y, degree(n));
    ASSERT_TRUE(fit.exact.monotone) << n;
    EXPECT_LE(fit.stats.sse, previous * (1 + 1e-12)) << n;
    previous = fit.stats.sse;
  }
}

TEST(FitCurve, KeepsTheCurveMonotoneWhenTheDataRiseAndFall) {
  // 1.1 x / (1 + x) - 0.02 x = (1.08 x - 0.02 x^2) / (1 + x) peaks at x = 6.42 and falls 3% by
  // x = 10 (the study's curves overshoot like this): a 2/2 rational fits it exactly, so the
  // constraint is what keeps the fit from doing so.
  Eigen::VectorXd x, y;
  sample(
      0, 10, 40, [](double v) { return 1.1 * v / (1 + v) - 0.02 * v; }, x, y);
  const CurveFit fit = fit_curve(x, y, degree(2));
  ASSERT_TRUE(fit.admissible);
  EXPECT_TRUE(fit.exact.monotone);
  EXPECT_TRUE(fit.grid_monotone);
  EXPECT_GT(fit.stats.sse, 1e-5);  // the unconstrained optimum has SSE 0
  EXPECT_GT(fit.stats.r2, 0.99);
  // Active: the slope touches zero somewhere on the interval.
  const Poly d = fit.curve.slope_numerator();
  const double d_max = -poly_min_on(-d, -1, 1).value;
  EXPECT_LE(fit.exact.min_slope_numerator, 1e-3 * d_max);
}

TEST(FitCurve, RefusesAPoleBetweenDataPoints) {
  // -1 / (x - 5) fits the data exactly with a pole at 5, between the two clusters.
  Eigen::VectorXd x(40), y(40);
  for (int i = 0; i < 20; ++i) {
    x[i] = 4.5 * i / 19;
    x[20 + i] = 5.5 + 4.5 * i / 19;
  }
  for (int i = 0; i < 40; ++i) y[i] = -1 / (x[i] - 5);
  for (int n = 1; n <= 4; ++n) {
    const CurveFit fit = fit_curve(x, y, degree(n));
    ASSERT_TRUE(fit.admissible) << n;
    EXPECT_TRUE(fit.exact.pole_free) << n;
    EXPECT_TRUE(fit.exact.monotone) << n;
    for (double v = 0; v <= 10; v += 0.01)
      ASSERT_TRUE(std::isfinite(fit.curve(v))) << n << " " << v;
  }
}

TEST(FitCurve, FitsAJumpWithoutANearPole) {
  // A step tempts P and Q to share a near-root (a step in disguise); the fit stays within the
  // data range everywhere.
  Eigen::VectorXd x, y;
  sample(
      0, 10, 41, [](double v) { return v < 5 ? 0.0 : 1.0; }, x, y);
  const CurveFit fit = fit_curve(x, y, degree(3));
  ASSERT_TRUE(fit.admissible);
  EXPECT_TRUE(fit.exact.monotone);
  EXPECT_GT(fit.stats.r2, 0.9);
  for (double v = 0; v <= 10; v += 0.01) {
    EXPECT_GE(fit.curve(v), -0.5) << v;
    EXPECT_LE(fit.curve(v), 1.5) << v;
  }
}

TEST(FitCurve, PiecewiseFitsAKnownBreakpointExactlyAndFindsIt) {
  // The rational up to x = 4, its value at 4 above.
  const auto truth = [](double v) { return rational_x(kP, kQ, std::min(v, 4.0)); };
  Eigen::VectorXd x, y;
  sample(0, 10, 61, truth, x, y);
  FitSpec fixed = degree(2);
  fixed.piecewise = Piecewise::kFixed;
  fixed.breakpoint = 4.0;
  const CurveFit at4 = fit_curve(x, y, fixed);
  ASSERT_TRUE(at4.breakpoint.has_value());
  EXPECT_EQ(*at4.breakpoint, 4.0);
  EXPECT_LT(at4.stats.sse, 1e-20);
  EXPECT_TRUE(at4.exact.monotone);
  // Without the piecewise form the plateau costs: the plain fit is worse.
  EXPECT_GT(fit_curve(x, y, degree(2)).stats.sse, 1e3 * at4.stats.sse + 1e-8);
  FitSpec search = degree(2);
  search.piecewise = Piecewise::kAuto;
  const CurveFit found = fit_curve(x, y, search);
  ASSERT_TRUE(found.breakpoint.has_value());
  EXPECT_NEAR(*found.breakpoint, 4.0, 1e-3);
  EXPECT_LT(found.stats.sse, 1e-8);
}

TEST(FitCurve, GridCheckPassesADipBetweenGridPointsThatTheExactCheckFinds) {
  // f(x) = (x - 1)^3 - 0.001 (x - 1) on [0, 2] decreases on |x - 1| < 0.018 only: the study's
  // grid 0, 0.5, 1, 1.5, 2 sees an increasing curve.
  RationalCurve c;
  c.degree = 3;
  c.lo = 0;
  c.hi = 2;  // u = x - 1
  c.p = (Poly(4) << 0.0, -0.001, 0.0, 1.0).finished();
  c.q = (Poly(4) << 1.0, 0.0, 0.0, 0.0).finished();
  EXPECT_TRUE(check_grid(c, 0.5, 0.0));
  EXPECT_FALSE(check_exact(c).monotone);
  EXPECT_TRUE(check_exact(c).pole_free);
  c.p[1] = 0.001;  // now increasing everywhere
  EXPECT_TRUE(check_exact(c).monotone);
}

TEST(FitCurve, CoefficientsInXReproduceTheCurveWithUnitConstantTerm) {
  Eigen::VectorXd x, y;
  sample(
      0.5, 30, 43, [](double v) { return 0.9 * v * v / (v * v + 4); }, x, y, kSigma);
  const CurveFit fit = fit_curve(x, y, degree(3));
  const XCoefficients c = coefficients_in_x(fit.curve);
  EXPECT_EQ(c.denominator[c.denominator.size() - 1], 1.0);
  const Poly p = c.numerator.reverse(), q = c.denominator.reverse();
  for (double v = 0.5; v <= 30; v += 0.5) EXPECT_NEAR(rational_x(p, q, v), fit.curve(v), 1e-9) << v;
}

TEST(FitCurve, RejectsUnusableData) {
  Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(5, 0, 1), y = x;
  EXPECT_THROW(fit_curve(x, y, degree(2)), FitInputError);  // 5 points < 6 parameters
  x = Eigen::VectorXd::Constant(10, 2.0);
  y = Eigen::VectorXd::LinSpaced(10, 0, 1);
  EXPECT_THROW(fit_curve(x, y, degree(2)), FitInputError);  // all x equal
  x = Eigen::VectorXd::LinSpaced(10, 0, 1);
  y[3] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(fit_curve(x, y, degree(2)), FitInputError);
  y[3] = 0;
  EXPECT_THROW(fit_curve(x, y, degree(5)), FitInputError);
  FitSpec pw = degree(2);
  pw.piecewise = Piecewise::kFixed;
  pw.breakpoint = 0.2;  // only 2 points at or below it
  EXPECT_THROW(fit_curve(x, y, pw), FitInputError);
  EXPECT_THROW(fit_curve(x, y.head(9), degree(2)), FitInputError);
}

}  // namespace
}  // namespace ptq::fit
