// scripts/plan_odds.py on small hand-made tables: which rows count as runs of a plan line (exact
// settings, or --close epochs ranges), and the Student-t chance against a hand computation. With
// two runs the prediction has one degree of freedom, a Cauchy distribution: P = 1/2 + atan(t)/pi.
// No GPU; skipped where python3 is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/cli_test_util.h"
#include "tests/temp_dir.h"

namespace ptq {
namespace {

const char* const kColumns =
    "model,epochs,test_acc,math,optimizer,dataset,batch,lr,schedule,warmup_epochs,momentum,"
    "weight_decay,bn,run\n";

class PlanOdds : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::python3_available(dir() + "/probe.txt")) GTEST_SKIP() << "python3 is not available";
    std::ofstream(dir() + "/reference.csv") << "model,full_acc\nVGG_16,91.0\nResNet_18,88.0\n";
    std::ofstream(dir() + "/plan.txt")
        << "# a plan\n"
           "--model VGG_16 --epochs 140 --batch 256 --lr 0.1 --weight-decay 1e-3 "
           "--optimizer sgd-nesterov --bn persistent\n"
           "--model ResNet_18 --epochs 32 --batch 128 --lr 0.1 --weight-decay 5e-4 "
           "--optimizer sgd-nesterov --bn persistent\n";
  }

  std::string dir() const { return tmp_.path().string(); }

  // Writes `rows` (after the header) as a table and runs the script on the plan and it.
  test::CommandOutput run(const std::string& rows, const std::string& options) {
    std::ofstream(dir() + "/accuracy.csv") << kColumns << rows;
    return test::run_command(
        "python3 " + std::string(PTQBENCH_SOURCE_DIR) + "/scripts/plan_odds.py " + dir() +
            "/plan.txt " + dir() + "/accuracy.csv --reference " + dir() + "/reference.csv " +
            options,
        dir() + "/err.txt");
  }

  test::TempDir tmp_;
};

// The printed line of one network: its run count and its chance (the last column).
std::pair<int, std::string> network_line(const std::string& out, const std::string& network) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name, p;
    int runs = -1;
    words >> name >> runs;
    if (name != network) continue;
    for (std::string w; words >> w;) p = w;
    return {runs, p};
  }
  return {-1, ""};
}

// Two exact runs of VGG_16 at 90.0 and 91.0 (mean 90.5, sd 1/sqrt(2)) against the target 89.0
// (91.0 - 2): t = 1.5 / (sd * sqrt(1 + 1/2)) = sqrt(3), P = 1/2 + (pi/3)/pi = 5/6 = 0.83.
const char* const kVggRuns =
    "VGG_16,140,90.0,tf32,sgd-nesterov,cifar10,256,0.1,warmup-cosine,2,0.9,0.001,persistent,a\n"
    "VGG_16,140,91.0,tf32,sgd-nesterov,cifar10,256,0.1,warmup-cosine,2,0.9,0.001,persistent,b\n";

TEST_F(PlanOdds, CountsOnlyRunsOfThePlansSettingsAndGivesTheStudentTChance) {
  const std::string others =
      // a different batch, epochs, weight decay, batch-norm mode, dataset; an unfinished run
      "VGG_16,140,95.0,tf32,sgd-nesterov,cifar10,128,0.1,warmup-cosine,2,0.9,0.001,persistent,c\n"
      "VGG_16,120,95.0,tf32,sgd-nesterov,cifar10,256,0.1,warmup-cosine,2,0.9,0.001,persistent,d\n"
      "VGG_16,140,95.0,tf32,sgd-nesterov,cifar10,256,0.1,warmup-cosine,2,0.9,0.002,persistent,e\n"
      "VGG_16,140,95.0,tf32,sgd-nesterov,cifar10,256,0.1,warmup-cosine,2,0.9,0.001,spatial,f\n"
      "VGG_16,140,95.0,tf32,sgd-nesterov,fashion-mnist,256,0.1,warmup-cosine,2,0.9,0.001,"
      "persistent,g\n"
      "VGG_16,,,,,,,,,,,,,h\n";
  const test::CommandOutput r = run(std::string(kVggRuns) + others, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(network_line(r.out, "VGG_16"), std::make_pair(2, std::string("0.83"))) << r.out;
  EXPECT_EQ(network_line(r.out, "ResNet_18").first, 0) << r.out;
  // ResNet_18 has no runs: the joint chance leaves it out and says so.
  EXPECT_NE(r.out.find("0.833 (without ResNet_18"), std::string::npos) << r.out;
}

TEST_F(PlanOdds, CloseRunsPoolEpochsWithinTheRangeAtAnyBatchAndLearningRate) {
  const std::string close =
      // in range at another batch and lr (counts); out of range, other weight decay (do not)
      "VGG_16,120,90.5,tf32,sgd-nesterov,cifar10,128,0.05,warmup-cosine,2,0.9,0.001,spatial,c\n"
      "VGG_16,119,95.0,tf32,sgd-nesterov,cifar10,128,0.05,warmup-cosine,2,0.9,0.001,spatial,d\n"
      "VGG_16,130,95.0,tf32,sgd-nesterov,cifar10,128,0.05,warmup-cosine,2,0.9,0.002,spatial,e\n";
  const test::CommandOutput exact = run(std::string(kVggRuns) + close, "");
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_EQ(network_line(exact.out, "VGG_16").first, 2) << exact.out;
  const test::CommandOutput pooled = run(std::string(kVggRuns) + close, "--close VGG_16=120-140");
  ASSERT_EQ(pooled.exit_code, 0) << pooled.err;
  // 90.0, 91.0, 90.5: mean 90.5, sd 0.5; t = 1.5 / (0.5 sqrt(4/3)) = 2.598 with 2 degrees of
  // freedom: P = 1/2 + t / (2 sqrt(2 + t^2)) = 0.9392.
  EXPECT_EQ(network_line(pooled.out, "VGG_16"), std::make_pair(3, std::string("0.94")))
      << pooled.out;
}

TEST_F(PlanOdds, RefusesABadCloseRange) {
  for (const char* bad : {"VGG_16=140", "VGG_16=140-120", "=1-2", "AlexNet=1-2"}) {
    const test::CommandOutput r = run(kVggRuns, std::string("--close ") + bad);
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find("--close"), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace ptq
