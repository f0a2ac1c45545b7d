// Levenberg-Marquardt (see levenberg_marquardt.h). Exercised by tests/fit_rational_test.cpp.
#include "fit/levenberg_marquardt.h"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>

namespace ptq::fit {
namespace {

// lambda beyond this means no step in any direction lowers the cost: the start is a minimum.
constexpr double kMaxLambda = 1e16;
// Floor of the Marquardt scaling for a parameter the residuals do not depend on (avoids a
// singular system without biasing the others).
constexpr double kMinScale = 1e-12;

}  // namespace

LmSummary levenberg_marquardt(const ResidualFn& residual_fn, Eigen::VectorXd& theta,
                              const LmOptions& options) {
  Eigen::VectorXd r, r_trial;
  Eigen::MatrixXd jac, jac_trial;
  residual_fn(theta, r, jac);
  LmSummary summary{r.squaredNorm(), 0};
  if (!std::isfinite(summary.cost)) return summary;
  double lambda = options.initial_lambda;
  Eigen::MatrixXd jtj = jac.transpose() * jac;
  Eigen::VectorXd jtr = jac.transpose() * r;
  while (summary.iterations < options.max_iterations && lambda < kMaxLambda) {
    ++summary.iterations;
    const double largest = std::max(jtj.diagonal().maxCoeff(), 1.0);
    Eigen::MatrixXd system = jtj;
    system.diagonal() += lambda * jtj.diagonal().cwiseMax(kMinScale * largest);
    const Eigen::VectorXd delta = system.ldlt().solve(-jtr);
    if (!delta.allFinite()) {
      lambda *= 2;
      continue;
    }
    if (delta.norm() <= options.parameter_tolerance * (theta.norm() + options.parameter_tolerance))
      break;
    const Eigen::VectorXd trial = theta + delta;
    residual_fn(trial, r_trial, jac_trial);
    const double cost = r_trial.squaredNorm();
    if (!std::isfinite(cost) || cost >= summary.cost) {
      lambda *= 2;
      continue;
    }
    const double decrease = (summary.cost - cost) / std::max(summary.cost, 1e-300);
    theta = trial;
    r.swap(r_trial);
    jac.swap(jac_trial);
    summary.cost = cost;
    jtj.noalias() = jac.transpose() * jac;
    jtr.noalias() = jac.transpose() * r;
    lambda = std::max(lambda / 3, 1e-12);
    if (decrease < options.function_tolerance) break;
  }
  return summary;
}

}  // namespace ptq::fit
