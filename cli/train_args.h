// What `ptqbench train` and `ptqbench train-group` share: the options of one run, and the checks
// and reads of the data folder, each failure a UsageError (exit code 2).
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>

#include "cli/command.h"
#include "data/dataset.h"
#include "data/split.h"
#include "models/model_desc.h"
#include "models/training.h"

namespace ptq::cli {

struct TrainArgs {
  TrainOptions options;
  std::string data_dir;  // empty: the default locations (data/data_dir.h)
  std::string dataset;   // empty: detect from the folder's files
  std::string out_dir;
  bool resume = false;
};

// `ptqbench train`'s arguments (its usage line lists them): the optimiser's defaults under the
// explicit values. Checks the syntax of each value, not the whole (validate_train_options does).
TrainArgs parse_train_args(const Args& args);

// "cifar10" or "fashion-mnist" by the folder's files; UsageError when neither.
std::string detect_dataset(const std::filesystem::path& dir);

// The data folder for --data (empty: the default locations) and its dataset, checked against
// `wanted` (empty: any); prints where the data is to `out`.
struct DataChoice {
  std::filesystem::path path;
  std::string dataset;
};
DataChoice choose_data(const std::string& data_dir, const std::string& wanted, std::ostream& out);

// The run in `out_dir` may start (no state there) or, with `resume`, continue (a state written for
// `options`); UsageError saying why not.
void check_run_state(const std::string& out_dir, const TrainOptions& options, bool resume);

// The 80/20 train/validation split and the test set of the folder's dataset; prints their sizes.
struct LoadedData {
  TrainValidation split;
  Dataset test;
};
LoadedData load_train_data(const DataChoice& data, std::ostream& out);

// One line: the model's size and the run's options.
void print_plan(std::ostream& out, const TrainOptions& o, const NetworkDesc& desc);

}  // namespace ptq::cli
