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

}  // namespace
