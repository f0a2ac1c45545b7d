// `ptqbench train` refuses bad input with exit code 2 and a message naming the problem, before any
// GPU is touched (so these run in CI): an unknown model, a bad optimizer or number, a data folder
// that is missing or holds no dataset, an output folder that cannot be created, a resume without
// a state, a fresh run over an existing one.
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

ptq::test::CommandOutput train(const std::string& args) {
  return ptq::test::run_ptqbench("train", args);
}

TEST(TrainCommand, UnknownModelExitsTwoListingTheModels) {
  expect_usage_error(train("--model ResNet_19 --out " + fresh_out("m")), "ResNet_18");
}

TEST(TrainCommand, BadOptimizerExitsTwoListingTheOptimizers) {
  expect_usage_error(train("--model AlexNet --optimizer rmsprop --out " + fresh_out("o")),
                     "sgd-nesterov");
}

TEST(TrainCommand, BadNumbersAndUnknownArgumentsExitTwo) {
  const std::string out = " --out " + fresh_out("n");
  expect_usage_error(train("--model AlexNet --epochs 0" + out), "--epochs");
  expect_usage_error(train("--model AlexNet --epochs ten" + out), "--epochs");
  expect_usage_error(train("--model AlexNet --batch 1" + out), "--batch");
  expect_usage_error(train("--model AlexNet --eval-batch -1" + out), "--eval-batch");
  expect_usage_error(train("--model AlexNet --val-from 0" + out), "--val-from");
  expect_usage_error(train("--model AlexNet --epochs 5 --val-from 6" + out), "--val-from");
  expect_usage_error(train("--model AlexNet --val-last 0" + out), "--val-last");
  expect_usage_error(train("--model AlexNet --val-from 2 --val-last 3" + out), "not both");
  expect_usage_error(train("--model AlexNet --lr -0.1" + out), "--lr");
  expect_usage_error(train("--model AlexNet --lr 0.01 --lr-min 0.1" + out), "--lr-min");
  expect_usage_error(train("--model AlexNet --math fp16" + out), "--math");
  expect_usage_error(train("--model AlexNet --conv graph" + out),
                     "--conv must be fastest or legacy");
  expect_usage_error(train("--model AlexNet --bn fused" + out),
                     "--bn must be spatial or persistent");
  expect_usage_error(train("--model AlexNet --schedule onecycle" + out), "warmup-cosine");
  expect_usage_error(train("--model AlexNet --warmup 2" + out), "--schedule warmup-cosine");
  expect_usage_error(train("--model AlexNet --schedule warmup-cosine --epochs 3 --warmup 3" + out),
                     "--warmup");
  expect_usage_error(train("--model AlexNet --momentum 1" + out), "momentum");
  expect_usage_error(train("--model AlexNet --momentum x" + out), "--momentum");
  expect_usage_error(train("--model AlexNet --optimizer sgd --momentum 0.9" + out), "not sgd");
  expect_usage_error(train("--model AlexNet --dataset mnist" + out), "--dataset");
  expect_usage_error(train("--model AlexNet --frobnicate" + out), "--frobnicate");
  expect_usage_error(train("--model AlexNet" + out + " --epochs"), "needs a value");
  expect_usage_error(train("--model AlexNet"), "--out");
  expect_usage_error(train("--out " + fresh_out("n2")), "--model");
}

TEST(TrainCommand, UnwritableOutputFolderExitsTwo) {
  const std::string file = temp_path("a_file");
  std::ofstream(file) << "x";
  // A folder below a regular file cannot be created, even by root.
  expect_usage_error(train("--model AlexNet --out " + file + "/run"), "output folder");
}

TEST(TrainCommand, MissingOrEmptyDataFolderExitsTwo) {
  expect_usage_error(
      train("--model AlexNet --data " + temp_path("no_such_dir") + " --out " + fresh_out("d1")),
      "no_such_dir");
  const std::string empty = temp_path("empty_data");
  std::filesystem::create_directories(empty);
  expect_usage_error(train("--model AlexNet --data " + empty + " --out " + fresh_out("d2")),
                     "no dataset");
  // Detected, but not the dataset asked for.
  expect_usage_error(train("--model AlexNet --data " + fake_cifar_dir() +
                           " --dataset fashion-mnist --out " + fresh_out("d3")),
                     "holds cifar10");
  // Detected, then unreadable: the empty batch file.
  expect_usage_error(
      train("--model AlexNet --data " + fake_cifar_dir() + " --out " + fresh_out("d4")),
      "data_batch_1.bin");
}

TEST(TrainCommand, ResumeWithoutAStateAndAFreshRunOverAnOldOneExitTwo) {
  const std::string out = fresh_out("r");
  const std::string data = " --data " + fake_cifar_dir();
  expect_usage_error(train("--model AlexNet --resume --out " + out + data), "no resume state");
  std::filesystem::create_directories(out);
  std::ofstream(out + "/resume.txt") << "version=1\n";
  expect_usage_error(train("--model AlexNet --out " + out + data), "--resume");
  // A state that is not one: refused as corrupt.
  expect_usage_error(train("--model AlexNet --resume --out " + out + data), "resume state");
}

}  // namespace
