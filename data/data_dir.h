// Where the data lives when the user gives no --data: $PTQBENCH_DATA, then
// ./data/cifar-10-batches-bin, then /usr/share/datasets/fashion-mnist (Debian's
// dataset-fashion-mnist package). The result says which one is used.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ptq {

struct DataCandidate {
  std::string origin;          // how it was chosen, e.g. "$PTQBENCH_DATA", "default"
  std::filesystem::path path;  // empty: not set (only an environment variable can be unset)
  bool must_exist = false;     // set explicitly by the user: missing is an error, no fallback
};

struct DataLocation {
  std::filesystem::path path;
  std::string message;  // "data: PATH (from ORIGIN)"
};

// The three candidates in order; the first is $PTQBENCH_DATA as set now (empty path when unset).
std::vector<DataCandidate> default_data_candidates();

// The first candidate that is a directory. A must_exist candidate that is set but not a
// directory, or no directory at all, throws DatasetError listing every candidate.
DataLocation resolve_data_dir(const std::vector<DataCandidate>& candidates);

// given (from --data) when not empty, which must be a directory; else the default candidates.
DataLocation resolve_data_dir(const std::string& given = "");

}  // namespace ptq
