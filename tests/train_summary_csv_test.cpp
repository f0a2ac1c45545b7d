// The chain the training results go through: a run's summary.json as models/training.h writes it
// (summary_json), scripts/train_summary_csv.py's accuracy.csv from those files, and
// scripts/plan_odds.py counting that row as a run of the plan line that trained it. No GPU; skipped
// where python3 is missing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "models/training.h"
#include "tests/cli_test_util.h"
#include "tests/temp_dir.h"

namespace ptq {
namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream s(line);
  for (std::string cell; std::getline(s, cell, ',');) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

// A finished run of the accurate plan's VGG_16 line, as train_network summarises it.
TrainSummary vgg16_summary() {
  TrainSummary s;
  s.options = default_train_options("VGG_16", OptimizerKind::kSgdNesterov);
  s.options.epochs = 140;
  s.options.batch = 256;
  s.options.lr = 0.1f;
  s.options.lr_min = 0;
  s.options.schedule = LrSchedule::kWarmupCosine;
  s.options.warmup_epochs = 2;
  s.options.momentum = 0.9f;
  s.options.weight_decay = 1e-3f;
  s.options.bn_persistent = true;
  s.device = "NVIDIA H200 (sm_90)";
  s.epochs_run = 140;
  s.best_epoch = 140;
  s.best_val_acc = 90.2;
  s.test_acc = 90.34;
  s.test_loss = 0.41;
  s.seconds = 680.94;
  s.images_per_s = 8671.4;
  s.tflops = 17.344;
  s.forward_macs = 333359114;
  return s;
}

TEST(TrainSummaryCsv, TurnsSummariesIntoRowsThatPlanOddsCountsAsRunsOfTheirPlanLine) {
  const test::TempDir tmp;
  const std::string dir = tmp.path().string();
  if (!test::python3_available(dir + "/probe.txt")) GTEST_SKIP() << "python3 is not available";
  std::filesystem::create_directories(dir + "/out/VGG_16");
  std::filesystem::create_directories(dir + "/out/unfinished");
  std::ofstream(dir + "/out/VGG_16/summary.json") << summary_json(vgg16_summary());
  const std::string scripts = std::string(PTQBENCH_SOURCE_DIR) + "/scripts/";
  const test::CommandOutput made = test::run_command(
      "python3 " + scripts + "train_summary_csv.py " + dir + "/out VGG_16 unfinished",
      dir + "/err.txt");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("2 runs, 1 finished, 680.9 s of training"), std::string::npos)
      << made.out;

  std::istringstream table(test::slurp(dir + "/out/accuracy.csv"));
  std::string header, vgg, unfinished, extra;
  std::getline(table, header);
  std::getline(table, vgg);
  std::getline(table, unfinished);
  EXPECT_FALSE(std::getline(table, extra)) << extra;
  EXPECT_EQ(header,
            "model,epochs,best_epoch,best_val_acc,test_acc,seconds,images_per_s,tflops,math,"
            "optimizer,dataset,batch,lr,schedule,warmup_epochs,momentum,weight_decay,bn,run");
  EXPECT_EQ(vgg,
            "VGG_16,140,140,90.20,90.34,680.9,8671,17.34,tf32,sgd-nesterov,cifar10,256,0.1,"
            "warmup-cosine,2,0.9,0.001,persistent,VGG_16");
  // A run without a summary keeps its place, with only its name.
  const std::vector<std::string> cells = split(unfinished);
  ASSERT_EQ(cells.size(), split(header).size()) << unfinished;
  EXPECT_EQ(cells.front(), "unfinished");
  EXPECT_EQ(cells.back(), "unfinished");
  for (std::size_t i = 1; i + 1 < cells.size(); ++i) EXPECT_EQ(cells[i], "") << unfinished;

  // The plan line train_fast.sh writes for that run (PLAN=accurate) counts it, once.
  std::ofstream(dir + "/plan.txt")
      << "--model VGG_16 --epochs 140 --optimizer sgd-nesterov --schedule warmup-cosine "
         "--momentum 0.9 --lr-min 0 --patience 1000  --val-last 35 --bn persistent --batch 256 "
         "--lr 0.1 --warmup 2 --weight-decay 1e-3 --priority 2\n";
  std::ofstream(dir + "/reference.csv") << "model,full_acc\nVGG_16,91.67\n";
  const test::CommandOutput odds = test::run_command(
      "python3 " + scripts + "plan_odds.py " + dir + "/plan.txt " + dir + "/out/accuracy.csv " +
          "--reference " + dir + "/reference.csv",
      dir + "/err.txt");
  ASSERT_EQ(odds.exit_code, 0) << odds.err;
  EXPECT_NE(odds.out.find("VGG_16           1  90.34"), std::string::npos) << odds.out;
}

}  // namespace
}  // namespace ptq
