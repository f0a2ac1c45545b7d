// Fits per group of result rows, as `ptqbench fit` runs them: one fit per model (groups in the
// order the models first appear), or one pooled fit of all rows (group "ALL") with
// leave-one-model-out cross-validation: for each model, the curve fitted on the other models'
// rows predicts its rows, scored by R^2 = 1 - SSE / SST on that model alone (outside the fitted
// x range the curve holds its end value, see fit/rational.h). cv_r2 is the mean over models.
// The fits and folds are independent and run on up to `threads` threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fit/rational_fit.h"
#include "fit/results_csv.h"

namespace ptq::fit {

enum class Grouping { kPerModel, kPooled };

struct GroupFit {
  std::string group;              // the model, or "ALL"
  std::vector<std::size_t> rows;  // indices of the group's rows in the input
  CurveFit fit;
  std::vector<std::string> cv_models;  // pooled fits of two or more models: the held-out models
  std::vector<double> cv_r2;           // and their R^2
  std::optional<double> cv_mean;       // mean of cv_r2; empty when there is no cross-validation
};

// Throws FitInputError (naming the group or held-out model) for a group that cannot be fitted.
// threads = 0: one per hardware thread.
std::vector<GroupFit> fit_groups(const std::vector<FitRow>& rows, Grouping grouping,
                                 const FitSpec& spec, unsigned threads = 0);

// R^2 of curve on the given rows (NaN when their y are all equal).
double r2_on(const RationalCurve& curve, const std::vector<FitRow>& rows,
             const std::vector<std::size_t>& indices);

}  // namespace ptq::fit
