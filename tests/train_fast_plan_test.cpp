// scripts/train_fast.sh's plan (PLAN_ONLY=1 writes OUT/plan.txt and stops): every run validates
// the last quarter of its epochs and takes the plan's batch-norm mode, unless the caller's options
// (after OUT, which come before the plan's on each line) set their own; a caller's --epochs keeps
// every line valid. No GPU: the script only writes the plan.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli_test_util.h"
#include "tests/temp_dir.h"

namespace ptq {
namespace {

// The run lines of the plan written for PLAN=accurate, the caller's options and environment.
std::vector<std::string> plan_lines(const std::string& caller_options,
                                    const std::string& environment = "") {
  const test::TempDir tmp;
  const std::string out = tmp.path().string();
  const test::CommandOutput r = test::run_command(
      "env -u BN -u VALIDATE " + environment + " PLAN_ONLY=1 JOBS=all PLAN=accurate bash " +
          std::string(PTQBENCH_SOURCE_DIR) + "/scripts/train_fast.sh " + out + " " + caller_options,
      out + "/err.txt");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream plan(test::slurp(out + "/plan.txt"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(plan, line);)
    if (line.rfind("--model ", 0) == 0) lines.push_back(" " + line + " ");
  EXPECT_EQ(lines.size(), 9u);
  return lines;
}

// The value of the last occurrence of `option` in a line ("" when absent): ptqbench's rule.
std::string last_value(const std::string& line, const std::string& option) {
  const std::size_t at = line.rfind(" " + option + " ");
  if (at == std::string::npos) return "";
  const std::size_t from = at + option.size() + 2;
  return line.substr(from, line.find(' ', from) - from);
}

TEST(TrainFastPlan, ValidatesTheLastQuarterAndSetsEachNetworksBatchNormMode) {
  for (const std::string& line : plan_lines("")) {
    SCOPED_TRACE(line);
    const int epochs = std::stoi(last_value(line, "--epochs"));
    EXPECT_EQ(last_value(line, "--val-last"), std::to_string((epochs + 3) / 4));
    const std::string model = last_value(line, "--model");
    const std::string bn = model == "AlexNet" ? "spatial" : "persistent";  // no batch norm
    EXPECT_EQ(last_value(line, "--bn"), bn);
  }
}

TEST(TrainFastPlan, TheCallersOptionsWinOverThePlans) {
  for (const std::string& line : plan_lines("--bn spatial --val-from 3")) {
    SCOPED_TRACE(line);
    EXPECT_EQ(last_value(line, "--bn"), "spatial");
    EXPECT_EQ(last_value(line, "--val-from"), "3");
    EXPECT_EQ(last_value(line, "--val-last"), "");  // ptqbench refuses both
  }
  // A caller's --epochs (after the plan's) stays valid with the plan's relative --val-last.
  for (const std::string& line : plan_lines("--epochs 2")) {
    SCOPED_TRACE(line);
    EXPECT_EQ(last_value(line, "--epochs"), "2");
    EXPECT_NE(last_value(line, "--val-last"), "");
  }
}

// The accurate plan gives the group's longest runs higher stream priorities; PRIO_<model> replaces
// a network's, 0 included, and gives one to a network the plan leaves at the default.
TEST(TrainFastPlan, TheCallersPriorityWinsOverThePlans) {
  std::string inception, vgg19, alexnet;
  for (const std::string& line : plan_lines("", "PRIO_VGG_19=0 PRIO_AlexNet=4")) {
    const std::string model = last_value(line, "--model");
    if (model == "Inception_BN") inception = last_value(line, "--priority");
    if (model == "VGG_19") vgg19 = last_value(line, "--priority");
    if (model == "AlexNet") alexnet = last_value(line, "--priority");
    if (model == "ResNet_18") {
      EXPECT_EQ(last_value(line, "--priority"), "") << line;
    }
  }
  EXPECT_EQ(inception, "3");
  EXPECT_EQ(vgg19, "0");
  EXPECT_EQ(alexnet, "4");
}

TEST(TrainFastPlan, PlanOnlyWithoutJobsWritesThePlanAndTrainsNothing) {
  const test::TempDir tmp;
  const std::string out = tmp.path().string();
  const test::CommandOutput r = test::run_command(
      "env -u JOBS PLAN_ONLY=1 PTQBENCH=/nonexistent bash " + std::string(PTQBENCH_SOURCE_DIR) +
          "/scripts/train_fast.sh " + out + "/plan",
      out + "/err.txt");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::slurp(out + "/plan/plan.txt").find("--model MobileNetV2 "), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out + "/plan/AlexNet")) << "a run was started";
}

}  // namespace
}  // namespace ptq
