// Polynomial helpers of the fits: roots in an interval and the exact minimum there.
#include <gtest/gtest.h>

#include <cmath>

#include "fit/polynomial.h"

namespace ptq::fit {
namespace {

// Roots are bisected to the last bit of the bracket; a double's relative spacing near 1.
constexpr double kRootTol = 1e-15;

Poly from_roots(std::initializer_list<double> roots) {
  Poly p = Poly::Ones(1);
  for (double r : roots) p = poly_multiply(p, (Poly(2) << -r, 1.0).finished());
  return p;
}

TEST(PolyRootsIn, FindsEverySimpleRootInsideTheIntervalOnly) {
  const Poly p = from_roots({-2.0, -0.5, 0.1, 0.75, 3.0});
  const std::vector<double> roots = poly_roots_in(p, -1.0, 1.0);
  ASSERT_EQ(roots.size(), 3u);
  EXPECT_NEAR(roots[0], -0.5, kRootTol);
  EXPECT_NEAR(roots[1], 0.1, kRootTol);
  EXPECT_NEAR(roots[2], 0.75, kRootTol);
}

TEST(PolyRootsIn, LocatesADoubleRootToHalfPrecisionAndDropsRoundoffTerms) {
  // (t - 0.3)^2 (t + 0.6): the double root does not cross zero, so whether roundoff reports it
  // (once or from both sides) is not specified, but anything reported is at 0.3 to ~sqrt(eps).
  const Poly p = from_roots({0.3, 0.3, -0.6});
  const std::vector<double> roots = poly_roots_in(p, -1.0, 1.0);
  ASSERT_GE(roots.size(), 1u);
  EXPECT_NEAR(roots[0], -0.6, kRootTol);
  for (std::size_t i = 1; i < roots.size(); ++i) EXPECT_NEAR(roots[i], 0.3, 1e-7);
  // A leading coefficient at roundoff level (the cancelled top term of P'Q - PQ') is ignored.
  Poly with_noise(4);
  with_noise << p, 1e-300;
  EXPECT_EQ(poly_roots_in(with_noise, -1.0, 1.0), roots);
}

TEST(PolyMinOn, FindsAnInteriorMinimumAndTheEnds) {
  // (t - 0.3)^2 - 0.01 has its minimum -0.01 at 0.3.
  const Poly bowl = (Poly(3) << 0.09 - 0.01, -0.6, 1.0).finished();
  const IntervalMin m = poly_min_on(bowl, -1.0, 1.0);
  EXPECT_NEAR(m.t, 0.3, 1e-12);
  EXPECT_NEAR(m.value, -0.01, 1e-15);
  // Decreasing on the interval: the minimum is at the right end.
  const IntervalMin end = poly_min_on((Poly(2) << 1.0, -2.0).finished(), -1.0, 1.0);
  EXPECT_EQ(end.t, 1.0);
  EXPECT_EQ(end.value, -1.0);
}

TEST(PolyMinOn, SeesADipBetweenAnyGridPoints) {
  // t^3 - 1e-6 t: a dip of depth ~4e-10 around t = 5.8e-4, invisible on a grid of step 0.01.
  const Poly p = (Poly(4) << 0.0, -1e-6, 0.0, 1.0).finished();
  const IntervalMin m = poly_min_on(p, 0.0, 1.0);
  EXPECT_LT(m.value, 0.0);
  EXPECT_NEAR(m.t, std::sqrt(1e-6 / 3), 1e-12);
}

TEST(PolyComposeAffine, MatchesEvaluationAtTheMappedPoint) {
  const Poly p = (Poly(4) << 0.5, -1.0, 2.0, 0.25).finished();
  const Poly q = poly_compose_affine(p, -3.0, 0.5);  // q(x) = p(-3 + 0.5 x)
  for (double x : {-2.0, 0.0, 1.0, 7.5})
    EXPECT_NEAR(poly_eval(q, x), poly_eval(p, -3.0 + 0.5 * x),
                1e-12 * (1 + std::abs(poly_eval(q, x))));
}

}  // namespace
}  // namespace ptq::fit
