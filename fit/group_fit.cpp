// Per-group fits and leave-one-model-out cross-validation (see group_fit.h).
// Test: tests/fit_group_test.cpp, tests/fit_reference_test.cpp.
#include "fit/group_fit.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <limits>
#include <numeric>
#include <thread>

namespace ptq::fit {
namespace {

void points_of(const std::vector<FitRow>& rows, const std::vector<std::size_t>& indices,
               Eigen::VectorXd& x, Eigen::VectorXd& y) {
  x.resize(static_cast<Eigen::Index>(indices.size()));
  y.resize(x.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    x[static_cast<Eigen::Index>(i)] = rows[indices[i]].x;
    y[static_cast<Eigen::Index>(i)] = rows[indices[i]].y;
  }
}

CurveFit fit_rows(const std::vector<FitRow>& rows, const std::vector<std::size_t>& indices,
                  const FitSpec& spec, const std::string& what) {
  Eigen::VectorXd x, y;
  points_of(rows, indices, x, y);
  try {
    return fit_curve(x, y, spec);
  } catch (const FitInputError& e) {
    throw FitInputError(what + ": " + e.what());
  }
}

// Runs task(0..count-1) on up to `threads` threads; rethrows the first exception.
void run_parallel(std::size_t count, unsigned threads,
                  const std::function<void(std::size_t)>& task) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, count));
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(count);
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      try {
        task(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

double r2_on(const RationalCurve& curve, const std::vector<FitRow>& rows,
             const std::vector<std::size_t>& indices) {
  double mean = 0;
  for (std::size_t i : indices) mean += rows[i].y;
  mean /= static_cast<double>(indices.size());
  double sse = 0, sst = 0;
  for (std::size_t i : indices) {
    const double e = rows[i].y - curve(rows[i].x), d = rows[i].y - mean;
    sse += e * e;
    sst += d * d;
  }
  return sst > 0 ? 1.0 - sse / sst : std::numeric_limits<double>::quiet_NaN();
}

std::vector<GroupFit> fit_groups(const std::vector<FitRow>& rows, Grouping grouping,
                                 const FitSpec& spec, unsigned threads) {
  // Models in order of first appearance, with their rows.
  std::vector<std::string> models;
  std::vector<std::vector<std::size_t>> model_rows;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto at = std::find(models.begin(), models.end(), rows[i].model);
    if (at == models.end()) {
      models.push_back(rows[i].model);
      model_rows.push_back({i});
    } else {
      model_rows[static_cast<std::size_t>(at - models.begin())].push_back(i);
    }
  }
  std::vector<GroupFit> groups;
  if (grouping == Grouping::kPerModel) {
    for (std::size_t m = 0; m < models.size(); ++m) {
      GroupFit g;
      g.group = models[m];
      g.rows = model_rows[m];
      groups.push_back(g);
    }
  } else {
    GroupFit g;
    g.group = "ALL";
    g.rows.resize(rows.size());
    std::iota(g.rows.begin(), g.rows.end(), 0);
    if (models.size() >= 2) g.cv_models = models;
    g.cv_r2.assign(g.cv_models.size(), 0.0);
    groups.push_back(g);
  }
  // One task per group fit, then one per cross-validation fold (only the pooled group has folds).
  const std::size_t folds = groups[0].cv_models.size();
  run_parallel(groups.size() + folds, threads, [&](std::size_t task) {
    if (task < groups.size()) {
      GroupFit& g = groups[task];
      g.fit = fit_rows(rows, g.rows, spec, "group " + g.group);
      return;
    }
    const std::size_t m = task - groups.size();
    std::vector<std::size_t> train;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (rows[i].model != models[m]) train.push_back(i);
    const CurveFit fold = fit_rows(rows, train, spec, "cross-validation without " + models[m]);
    groups[0].cv_r2[m] = r2_on(fold.curve, rows, model_rows[m]);
  });
  for (GroupFit& g : groups)
    if (!g.cv_r2.empty())
      g.cv_mean = std::accumulate(g.cv_r2.begin(), g.cv_r2.end(), 0.0) /
                  static_cast<double>(g.cv_r2.size());
  return groups;
}

}  // namespace ptq::fit
