// PNG plots of the fits with gnuplot (when it is on PATH): the points coloured by format family
// (INT, POT, FLOAT) for a per-model fit, by model for a pooled one; the fitted curve; SSE, R^2
// and RMSE in a corner.
#pragma once

#include <string>
#include <vector>

#include "fit/group_fit.h"

namespace ptq::cli {

// Whether an executable `gnuplot` is on PATH.
bool gnuplot_available();

// Writes DIR/<group>_<x>_deg<n>[_pw].png for each fit (creating DIR) and returns the paths.
// Throws std::runtime_error when DIR cannot be created or gnuplot fails.
std::vector<std::string> plot_fits(const std::vector<fit::GroupFit>& fits,
                                   const std::vector<fit::FitRow>& rows,
                                   const std::string& x_column, int degree, const std::string& dir);

}  // namespace ptq::cli
