// The `ptqbench` command as a user runs it: output and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

namespace {

struct Result {
  int exit_code;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(PTQBENCH_EXE) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string out;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(FormatsCommand, PrintsTheFortyThreeNamesInStudyOrder) {
  const Result r = run("formats");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out);
  std::vector<std::string> names;
  for (std::string line; std::getline(lines, line);) names.push_back(line);
  ASSERT_EQ(names.size(), 43u);
  EXPECT_EQ(names.front(), "INT_2");
  EXPECT_EQ(names[15], "POT_2");
  EXPECT_EQ(names.back(), "FLOAT_8_E6");
}

TEST(GridCommand, PrintsValuesThatReadBackToTheSameFloats) {
  const Result r = run("grid FLOAT_4_E2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "-6 -4 -3 -2 -1.5 -1 -0.5 0 0.5 1 1.5 2 3 4 6\n");
  const Result pot = run("grid POT_8");
  ASSERT_EQ(pot.exit_code, 0);
  std::istringstream values(pot.out);
  float v, smallest_positive = 0;
  int count = 0;
  while (values >> v) {
    if (v > 0 && smallest_positive == 0) smallest_positive = v;
    ++count;
  }
  EXPECT_EQ(count, 2 * 127 + 1);
  EXPECT_EQ(smallest_positive, std::ldexp(1.0f, -126));
}

TEST(GridCommand, RejectsABadNameWithExitCodeTwo) {
  for (const char* bad : {"grid INT_17", "grid FLOAT_8_E7", "grid nonsense", "grid", "grid INT_64",
                          "formats extra", "no-such-command"}) {
    const Result r = run(bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out;
    EXPECT_FALSE(r.out.empty()) << bad;
  }
  EXPECT_NE(run("grid INT_17").out.find("accepted forms"), std::string::npos);
}

TEST(ModelsCommand, CsvListsEveryLayerOfTheModelInForwardOrder) {
  const Result r = run("models --model ResNet_18 --csv");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out);
  std::string header, first, line, last;
  std::getline(lines, header);
  std::getline(lines, first);
  int rows = 1;
  while (std::getline(lines, line)) last = line, ++rows;
  EXPECT_EQ(header, "model,layer,kind,params,macs");
  EXPECT_EQ(first, "ResNet_18,conv0,conv,448,458752");  // 16x3x3x3 + 16; 16x32x32 x (27 + 1)
  EXPECT_EQ(last, "ResNet_18,fc7,linear,1290,1290");
  EXPECT_EQ(rows, 68);
}

TEST(ModelsCommand, TableShowsTotalsAndUnknownModelExitsTwo) {
  const Result table = run("models --model VGG_16");
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("TOTAL"), std::string::npos);
  EXPECT_NE(table.out.find("MACs%"), std::string::npos);
  for (const char* bad : {"models --model VGG_17", "models --model", "models --bogus"}) {
    const Result r = run(bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out;
    EXPECT_FALSE(r.out.empty()) << bad;
  }
  EXPECT_NE(run("models --model VGG_17").out.find("known: AlexNet"), std::string::npos);
}

}  // namespace
