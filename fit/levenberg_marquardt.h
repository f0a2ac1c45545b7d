// A small Levenberg-Marquardt least-squares solver on Eigen for problems of a few parameters and
// a few hundred residuals: minimise |r(theta)|^2 with Marquardt's diagonal scaling,
//   (J^T J + lambda diag(J^T J)) delta = -J^T r,
// lambda divided by 3 after an accepted step and doubled (Nielsen) after a rejected one. A trial
// point whose residuals are not finite is rejected like one that does not lower the cost.
#pragma once

#include <Eigen/Core>
#include <functional>

namespace ptq::fit {

struct LmOptions {
  int max_iterations = 100;  // accepted-or-rejected trial steps
  double function_tolerance =
      1e-12;  // stop when an accepted step lowers the cost by less (relative)
  double parameter_tolerance = 1e-12;  // stop when |delta| <= this * (|theta| + this)
  double initial_lambda = 1e-3;
};

// Fills residuals (m) and jacobian (m x k) at theta (k).
using ResidualFn = std::function<void(const Eigen::VectorXd& theta, Eigen::VectorXd& residuals,
                                      Eigen::MatrixXd& jacobian)>;

struct LmSummary {
  double cost = 0;  // |r|^2 at the returned theta
  int iterations = 0;
};

// Improves theta in place from its starting value; theta's residuals must be finite at the start.
LmSummary levenberg_marquardt(const ResidualFn& residual_fn, Eigen::VectorXd& theta,
                              const LmOptions& options);

}  // namespace ptq::fit
