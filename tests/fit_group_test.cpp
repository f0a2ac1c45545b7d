// Per-model and pooled fits with leave-one-model-out cross-validation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "fit/group_fit.h"
#include "tests/test_inputs.h"

namespace ptq::fit {
namespace {

// Three models sampling the same increasing curve with noise, interleaved in the input.
std::vector<FitRow> three_models(double sigma) {
  std::mt19937_64 rng(test::kSeed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<FitRow> rows;
  for (int i = 0; i < 30; ++i)
    for (const char* model : {"B", "A", "C"}) {
      const double x = 0.1 + 0.3 * i + (model[0] - 'A') * 0.05;
      rows.push_back({model, i % 2 ? "INT_4" : "FLOAT_8_E4", x, x * x / (x * x + 4) + noise(rng)});
    }
  return rows;
}

TEST(FitGroups, FitsEachModelInOrderOfFirstAppearance) {
  const std::vector<FitRow> rows = three_models(0.01);
  const std::vector<GroupFit> groups = fit_groups(rows, Grouping::kPerModel, FitSpec{});
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].group, "B");
  EXPECT_EQ(groups[1].group, "A");
  EXPECT_EQ(groups[2].group, "C");
  for (const GroupFit& g : groups) {
    EXPECT_EQ(g.rows.size(), 30u);
    EXPECT_EQ(g.fit.stats.n, 30u);
    EXPECT_TRUE(g.fit.exact.monotone);
    EXPECT_FALSE(g.cv_mean.has_value());
    EXPECT_GT(g.fit.stats.r2, 0.99);
  }
}

TEST(FitGroups, PooledFitCrossValidatesEveryModel) {
  const std::vector<FitRow> rows = three_models(0.01);
  const std::vector<GroupFit> one_thread = fit_groups(rows, Grouping::kPooled, FitSpec{}, 1);
  ASSERT_EQ(one_thread.size(), 1u);
  const GroupFit& g = one_thread[0];
  EXPECT_EQ(g.group, "ALL");
  EXPECT_EQ(g.fit.stats.n, 90u);
  ASSERT_EQ(g.cv_models, (std::vector<std::string>{"B", "A", "C"}));
  // The models share one curve: each is predicted almost as well as it is fitted.
  double sum = 0;
  for (double r2 : g.cv_r2) {
    EXPECT_GT(r2, 0.98);
    sum += r2;
  }
  ASSERT_TRUE(g.cv_mean.has_value());
  EXPECT_DOUBLE_EQ(*g.cv_mean, sum / 3);
  // The threads only change the order of independent work.
  const std::vector<GroupFit> threaded = fit_groups(rows, Grouping::kPooled, FitSpec{}, 3);
  EXPECT_EQ(threaded[0].fit.stats.sse, g.fit.stats.sse);
  EXPECT_EQ(threaded[0].cv_r2, g.cv_r2);
}

TEST(FitGroups, NamesTheGroupThatCannotBeFitted) {
  std::vector<FitRow> rows = three_models(0.01);
  rows.push_back({"D", "INT_2", 1.0, 0.5});
  try {
    fit_groups(rows, Grouping::kPerModel, FitSpec{});
    FAIL() << "no error for a group of one point";
  } catch (const FitInputError& e) {
    EXPECT_NE(std::string(e.what()).find("group D"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ptq::fit
