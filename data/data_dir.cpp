#include "data/data_dir.h"

#include <cstdlib>

#include "data/dataset.h"

namespace ptq {
namespace {

bool directory_exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

std::string describe(const DataCandidate& c) {
  return c.origin + (c.path.empty() ? " (not set)" : " = " + c.path.string());
}

}  // namespace

std::vector<DataCandidate> default_data_candidates() {
  const char* env = std::getenv("PTQBENCH_DATA");
  return {
      {"$PTQBENCH_DATA", env ? std::filesystem::path(env) : std::filesystem::path(), true},
      {"default", "./data/cifar-10-batches-bin", false},
      {"default", "/usr/share/datasets/fashion-mnist", false},
  };
}

DataLocation resolve_data_dir(const std::vector<DataCandidate>& candidates) {
  for (const DataCandidate& c : candidates) {
    if (c.path.empty()) continue;
    if (directory_exists(c.path)) {
      return {c.path, "data: " + c.path.string() + " (from " + c.origin + ")"};
    }
    if (c.must_exist) {
      const bool from_env = !c.origin.empty() && c.origin[0] == '$';
      throw DatasetError(describe(c) + " is not a directory" +
                         (from_env ? " (unset it to use the defaults)" : ""));
    }
  }
  std::string message = "no data directory found; looked at:";
  for (const DataCandidate& c : candidates) message += "\n  " + describe(c);
  message += "\ngive one with --data DIR or set PTQBENCH_DATA";
  throw DatasetError(message);
}

DataLocation resolve_data_dir(const std::string& given) {
  if (given.empty()) return resolve_data_dir(default_data_candidates());
  return resolve_data_dir(std::vector<DataCandidate>{{"--data", given, true}});
}

}  // namespace ptq
