#include "data/data_dir.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "data/dataset.h"
#include "tests/data_test_util.h"

namespace ptq {
namespace {

// Sets or unsets PTQBENCH_DATA for one test and puts the old value back afterwards.
class ScopedDataEnv {
 public:
  explicit ScopedDataEnv(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("PTQBENCH_DATA")) old_ = old;
    if (value) {
      setenv("PTQBENCH_DATA", value->c_str(), 1);
    } else {
      unsetenv("PTQBENCH_DATA");
    }
  }
  ~ScopedDataEnv() {
    if (old_) {
      setenv("PTQBENCH_DATA", old_->c_str(), 1);
    } else {
      unsetenv("PTQBENCH_DATA");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(DefaultDataCandidates, AreTheEnvironmentThenCifarThenFashionMnist) {
  {
    ScopedDataEnv env(std::nullopt);
    const std::vector<DataCandidate> c = default_data_candidates();
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].origin, "$PTQBENCH_DATA");
    EXPECT_TRUE(c[0].path.empty());
    EXPECT_EQ(c[1].path, "./data/cifar-10-batches-bin");
    EXPECT_EQ(c[2].path, "/usr/share/datasets/fashion-mnist");
  }
  ScopedDataEnv env(std::string("/some/where"));
  EXPECT_EQ(default_data_candidates()[0].path, "/some/where");
}

TEST(ResolveDataDir, UsesPtqbenchDataWhenSetAndSaysSo) {
  test::TempDir tmp;
  ScopedDataEnv env(tmp.path().string());
  const DataLocation loc = resolve_data_dir();
  EXPECT_EQ(loc.path, tmp.path());
  EXPECT_EQ(loc.message, "data: " + tmp.path().string() + " (from $PTQBENCH_DATA)");
}

TEST(ResolveDataDir, RefusesAPtqbenchDataThatDoesNotExistInsteadOfFallingBack) {
  test::TempDir tmp;
  ScopedDataEnv env((tmp.path() / "nothing").string());
  test::expect_dataset_error([] { resolve_data_dir(); }, tmp.path() / "nothing",
                             "is not a directory (unset it to use the defaults)");
}

TEST(ResolveDataDir, TakesTheFirstExistingCandidate) {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "b");
  std::filesystem::create_directories(tmp.path() / "c");
  const std::vector<DataCandidate> candidates = {{"$PTQBENCH_DATA", "", true},
                                                 {"default", tmp.path() / "a", false},
                                                 {"default", tmp.path() / "b", false},
                                                 {"default", tmp.path() / "c", false}};
  const DataLocation loc = resolve_data_dir(candidates);
  EXPECT_EQ(loc.path, tmp.path() / "b");
  EXPECT_EQ(loc.message, "data: " + (tmp.path() / "b").string() + " (from default)");
}

TEST(ResolveDataDir, ListsEveryCandidateWhenNoneExists) {
  test::TempDir tmp;
  const std::vector<DataCandidate> candidates = {{"$PTQBENCH_DATA", "", true},
                                                 {"default", tmp.path() / "x", false},
                                                 {"default", tmp.path() / "y", false}};
  try {
    resolve_data_dir(candidates);
    FAIL() << "no error";
  } catch (const DatasetError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("$PTQBENCH_DATA (not set)"), std::string::npos) << what;
    EXPECT_NE(what.find("default = " + (tmp.path() / "x").string()), std::string::npos) << what;
    EXPECT_NE(what.find("default = " + (tmp.path() / "y").string()), std::string::npos) << what;
    EXPECT_NE(what.find("--data DIR"), std::string::npos) << what;
  }
}

TEST(ResolveDataDir, UsesAGivenDirectoryAndRefusesAMissingOne) {
  test::TempDir tmp;
  ScopedDataEnv env(std::nullopt);
  EXPECT_EQ(resolve_data_dir(tmp.path().string()).message,
            "data: " + tmp.path().string() + " (from --data)");
  test::expect_dataset_error([&] { resolve_data_dir((tmp.path() / "no").string()); },
                             tmp.path() / "no", "--data = ");
}

}  // namespace
}  // namespace ptq
