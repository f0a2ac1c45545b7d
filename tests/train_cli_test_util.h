// What the tests of `ptqbench train` and `ptqbench train-group` share: a per-process temporary
// folder, fresh output folders in it, a data folder that is detected but cannot be read, and the
// check of a usage error. Header only; include from one test file per process.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/cli_test_util.h"
#include "tests/temp_dir.h"

namespace ptq::test {

// A path in this test process's own temporary directory (ctest runs the cases of a file in
// parallel, each in a process of its own), removed with its contents when the process exits.
inline std::string temp_path(const std::string& name) {
  static const TempDir dir;
  return (dir.path() / name).string();
}

// A folder the CIFAR-10 detection accepts (an empty data_batch_1.bin): enough for every check
// that comes before reading the data, and unreadable after that.
inline std::string fake_cifar_dir() {
  const std::string dir = temp_path("cifar");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/data_batch_1.bin");
  return dir;
}

// temp_path(name), removed if it exists.
inline std::string fresh_out(const std::string& name) {
  const std::string dir = temp_path(name);
  std::filesystem::remove_all(dir);
  return dir;
}

// Runs `ptqbench SUBCOMMAND args` (PTQBENCH_EXE, from the build) with $PTQBENCH_DATA unset, so
// no default data is found by accident.
inline CommandOutput run_ptqbench(const std::string& subcommand, const std::string& args) {
  return run_command(
      std::string("env -u PTQBENCH_DATA ") + PTQBENCH_EXE + " " + subcommand + " " + args,
      temp_path("stderr.txt"));
}

// Exit code 2 and `message` in stderr.
inline void expect_usage_error(const CommandOutput& o, const std::string& message) {
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_NE(o.err.find(message), std::string::npos) << "wanted '" << message << "' in: " << o.err;
}

}  // namespace ptq::test
