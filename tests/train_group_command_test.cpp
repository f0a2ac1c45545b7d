// `ptqbench train-group` refuses a bad plan, bad options, data it cannot read and states it would
// overwrite with exit code 2 and a message naming the plan's file and line, before the GPU is
// touched and before any run's folder is created (so these run in CI).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/train_cli_test_util.h"

namespace {

using ptq::test::expect_usage_error;
using ptq::test::fake_cifar_dir;
using ptq::test::fresh_out;
using ptq::test::temp_path;

ptq::test::CommandOutput train_group(const std::string& args) {
  return ptq::test::run_ptqbench("train-group", args);
}

std::string plan_file(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

constexpr char kGoodLines[] =
    "# two runs\n"
    "--model AlexNet --epochs 2\n"
    "\n"
    "--model ResNet_18 --name r18 --epochs 1 --lr 0.1\n";

TEST(TrainGroupCommand, MissingOptionsAndBadValuesExitTwo) {
  const std::string plan = plan_file("good.txt", kGoodLines);
  expect_usage_error(train_group("--out " + fresh_out("a")), "--plan");
  expect_usage_error(train_group("--plan " + plan), "--out");
  expect_usage_error(train_group("--plan " + plan + " --out " + fresh_out("a") + " --jobs 0"),
                     "--jobs");
  expect_usage_error(
      train_group("--plan " + plan + " --out " + fresh_out("a") + " --time-limit -5"),
      "--time-limit");
  expect_usage_error(train_group("--plan " + plan + " --out " + fresh_out("a") + " --epochs 3"),
                     "'--epochs'");
  expect_usage_error(train_group("--plan " + temp_path("none.txt") + " --out " + fresh_out("a")),
                     "none.txt");
  expect_usage_error(train_group("--plan " + plan_file("empty.txt", "# nothing\n\n") +
                                 " --out " + fresh_out("a")),
                     "holds no runs");
}

TEST(TrainGroupCommand, ABadLineIsNamedAndNothingIsCreated) {
  const std::string out = fresh_out("bad");
  const auto refused = [&](const std::string& third_line, const std::string& message) {
    const std::string plan = plan_file("bad.txt", std::string(kGoodLines) + third_line + "\n");
    expect_usage_error(train_group("--plan " + plan + " --out " + out), "bad.txt line 5: ");
    expect_usage_error(train_group("--plan " + plan + " --out " + out), message);
    EXPECT_FALSE(std::filesystem::exists(out)) << third_line;
  };
  refused("--model ResNet_19", "ResNet_18");
  refused("--model VGG_16 --epochs 0", "--epochs");
  refused("--model VGG_16 --frobnicate", "--frobnicate");
  refused("--epochs 3", "--model");
  refused("--model VGG_16 --out x", "--out belongs on train-group's command line");
  refused("--model VGG_16 --resume", "--resume belongs");
  refused("--model VGG_16 --data /tmp", "--data belongs");
  refused("--model VGG_16 --name ../up", "plain folder name");
  refused("--model VGG_16 --name", "needs a value");
  refused("--model VGG_16 --name group.csv", "is the group's file");
  refused("--model VGG_16 --priority -1", "--priority");
  refused("--model VGG_16 --priority high", "--priority");
  refused("--model AlexNet --epochs 5", "the name AlexNet is taken by line 2");
  refused("--model VGG_16 --name r18", "the name r18 is taken by line 4");
}

TEST(TrainGroupCommand, UnreadableDataExitsTwoBeforeAnyFolderIsCreated) {
  const std::string plan = plan_file("data.txt", kGoodLines);
  const std::string out = fresh_out("data");
  expect_usage_error(
      train_group("--plan " + plan + " --out " + out + " --data " + temp_path("no_such_dir")),
      "no_such_dir");
  expect_usage_error(
      train_group("--plan " + plan + " --out " + out + " --data " + fake_cifar_dir()),
      "data_batch_1.bin");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(TrainGroupCommand, AnExistingStateIsRefusedWithoutResumeAndCheckedWithIt) {
  const std::string plan = plan_file("state.txt", kGoodLines);
  const std::string out = fresh_out("state");
  std::filesystem::create_directories(out + "/r18");
  std::ofstream(out + "/r18/resume.txt") << "version=1\n";
  const std::string args = "--plan " + plan + " --out " + out + " --data " + fake_cifar_dir();
  const ptq::test::CommandOutput fresh = train_group(args);
  expect_usage_error(fresh, "state.txt line 4: ");
  expect_usage_error(fresh, "train-group --resume");
  // With --resume the state is read, and this one is not a state.
  expect_usage_error(train_group(args + " --resume"), "resume state");
  EXPECT_FALSE(std::filesystem::exists(out + "/AlexNet"));
}

}  // namespace
