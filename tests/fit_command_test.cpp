// `ptqbench fit` as a user runs it: JSON on stdout, the table, plots, and exit code 2 for bad
// input. The reference-data cases skip without ../shared/reference.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/cli_test_util.h"
#include "tests/temp_dir.h"

namespace {

using Output = ptq::test::CommandOutput;
using ptq::test::slurp;

// A path in this test process's own temporary directory (ctest runs the cases of this file in
// parallel, each in a process of its own), removed with its contents when the process exits.
std::string temp_path(const std::string& name) {
  static const ptq::test::TempDir dir;
  return (dir.path() / name).string();
}

// Runs `env ptqbench fit args`.
Output fit(const std::string& args, const std::string& env = "") {
  return ptq::test::run_command(env + " " + PTQBENCH_EXE + " fit " + args, temp_path("stderr.txt"));
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

std::string reference_csv() {
  const char* shared = std::getenv("PTQBENCH_SHARED");
  const std::string path =
      shared ? std::string(shared) + "/reference/seed_sgd_m95_results.csv" : "";
  return !path.empty() && std::ifstream(path) ? path : "";
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A small synthetic input: two models on one increasing curve.
std::string synthetic_csv() {
  std::string text = "model,config,js_flops,acc_loss\n";
  for (int i = 0; i < 20; ++i)
    for (const char* model : {"M1", "M2"}) {
      const double x = 0.25 * i + (model[1] == '2' ? 0.1 : 0.0);
      text += std::string(model) + (i % 3 ? ",INT_4," : ",POT_4,") + std::to_string(x) + "," +
              std::to_string(x * x / (x * x + 1)) + "\n";
    }
  return write_temp("synthetic.csv", text);
}

TEST(FitCommand, JsonOnStdoutIsOneObjectWithEveryFieldPerFit) {
  const Output o = fit("--in " + synthetic_csv() + " --degree 3 --json -");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  // Exactly one object: starts with {"fits": [, ends with ]}, one top-level object.
  ASSERT_EQ(o.out.rfind("{\"fits\": [", 0), 0u) << o.out;
  EXPECT_EQ(o.out.substr(o.out.find_last_not_of('\n') - 1, 2), "]}");
  EXPECT_EQ(count(o.out, "{\"group\": "), 2);
  EXPECT_NE(o.out.find("{\"group\": \"M1\", \"x\": \"js_flops\", \"degree\": 3, \"n\": 20, "),
            std::string::npos)
      << o.out;
  for (const char* key : {"\"numerator\": [", "\"denominator\": [", "\"breakpoint\": null",
                          "\"sse\": ", "\"r2\": ", "\"rmse\": ", "\"monotone\": true",
                          "\"pole_free\": true", "\"cv_r2\": null"})
    EXPECT_EQ(count(o.out, key), 2) << key;
  // Four coefficients (degree 3) in each list, the denominator's constant term 1.
  const std::size_t num = o.out.find("\"numerator\": [");
  const std::string list = o.out.substr(num, o.out.find(']', num) - num);
  EXPECT_EQ(count(list, ","), 3) << list;
  EXPECT_NE(o.out.find(", 1], \"breakpoint\""), std::string::npos);
}

TEST(FitCommand, PooledJsonCarriesTheCrossValidation) {
  const Output o = fit("--in " + synthetic_csv() + " --group all --json -");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(count(o.out, "{\"group\": \"ALL\""), 1);
  EXPECT_EQ(count(o.out, "\"cv_r2\": null"), 0);
  EXPECT_NE(o.out.find("\"cv_r2_per_model\": {\"M1\": "), std::string::npos) << o.out;
}

TEST(FitCommand, PrintsATableAndWritesJsonToAFile) {
  const std::string json = temp_path("out.json");
  const Output o = fit("--in " + synthetic_csv() + " --piecewise 3 --json " + json);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("group"), std::string::npos);
  EXPECT_NE(o.out.find("M2"), std::string::npos);
  const std::string written = slurp(json);
  EXPECT_EQ(written.rfind("{\"fits\": [", 0), 0u);
  EXPECT_EQ(count(written, "\"breakpoint\": 3,"), 2);
  std::remove(json.c_str());
}

TEST(FitCommand, ReferenceDataInTheInterfaceOtherToolsRelyOn) {
  const std::string csv = reference_csv();
  if (csv.empty()) GTEST_SKIP() << "no reference data (PTQBENCH_SHARED)";
  const Output o = fit("--in " + csv + " --x js_flops --degree 2 --group model --json -");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(count(o.out, "{\"group\": "), 9);
  EXPECT_EQ(
      o.out.find("{\"fits\": [\n  {\"group\": \"AlexNet\", \"x\": \"js_flops\", \"degree\": 2, "
                 "\"n\": 43, "),
      0u);
  EXPECT_EQ(count(o.out, "\"monotone\": true"), 9);
}

TEST(FitCommand, PlotsWithGnuplotOrSaysTheyWereSkipped) {
  const std::string dir = temp_path("plots");
  const Output skipped = fit("--in " + synthetic_csv() + " --plot " + dir, "PATH=/nonexistent");
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.err.find("plots skipped"), std::string::npos) << skipped.err;
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "gnuplot is not installed";
  const Output o = fit("--in " + synthetic_csv() + " --group all --plot " + dir);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::string png = dir + "/ALL_js_flops_deg2.png";
  const std::string head = slurp(png).substr(0, 8);
  EXPECT_EQ(head, "\x89PNG\r\n\x1a\n") << png;
  std::remove(png.c_str());
  ::rmdir(dir.c_str());
}

TEST(FitCommand, BadInputExitsWithCodeTwoAndSaysWhy) {
  const std::string good = synthetic_csv();
  const std::string nan_row =
      write_temp("nan.csv", "model,config,js_flops,acc_loss\nA,INT_2,1,0.5\nA,INT_3,nan,0.4\n");
  const std::string text_row =
      write_temp("text.csv", "model,config,js_flops,acc_loss\nA,INT_2,1,zero\n");
  std::string few = "model,config,js_flops,acc_loss\n", flat = few;
  for (int i = 0; i < 5; ++i)
    few += "A,INT_2," + std::to_string(i) + ",0." + std::to_string(i) + "\n";
  for (int i = 0; i < 9; ++i) flat += "A,INT_2,2.5,0." + std::to_string(i) + "\n";
  const std::string few_path = write_temp("few.csv", few);
  const std::string flat_path = write_temp("flat.csv", flat);
  const std::pair<std::string, std::string> cases[] = {
      {"--in /nonexistent.csv", "cannot open"},
      {"--in " + good + " --x js_param", "no column 'js_param'"},
      {"--in " + nan_row, ":3: column 'js_flops'"},
      {"--in " + text_row, ":2: column 'acc_loss'"},
      {"--in " + few_path, "fewer than the 6 parameters"},
      {"--in " + flat_path, "all x values are equal"},
      {"--in " + good + " --piecewise 0.1", "breakpoint"},
      {"--in " + good + " --degree 7", "--degree"},
      {"--in " + good + " --group some", "--group"},
      {"--in " + good + " --frobnicate", "unknown option"},
      {"", "no --in"},
  };
  for (const auto& [args, says] : cases) {
    const Output o = fit(args + " --json -");
    EXPECT_EQ(o.exit_code, 2) << args << ": " << o.err;
    EXPECT_NE(o.err.find(says), std::string::npos) << args << ": " << o.err;
    EXPECT_EQ(o.out, "") << args;  // nothing half-written on stdout
  }
}

}  // namespace
