// Reading result rows for the fits: the good file and every kind of bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "fit/results_csv.h"

namespace ptq::fit {
namespace {

// A CSV file in the test's temporary directory, removed at the end of the test.
class TempCsv {
 public:
  explicit TempCsv(const std::string& text)
      : path_(testing::TempDir() + "fit_csv_" +
              testing::UnitTest::GetInstance()->current_test_info()->name() + ".csv") {
    std::ofstream(path_) << text;
  }
  ~TempCsv() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The message of the CsvError that read_fit_rows throws ("" if none).
std::string error_of(const std::string& path, const std::string& x = "js_flops") {
  try {
    read_fit_rows(path, x);
  } catch (const CsvError& e) {
    return e.what();
  }
  return "";
}

const char* const kHeader = "model,config,e_bits,js_flops,acc_loss\n";

TEST(ReadFitRows, ReadsRowsInFileOrderIncludingQuotesAndNegativeLoss) {
  const TempCsv csv(std::string(kHeader) +
                    "AlexNet,INT_2,,35.3,0.885\n"
                    "\"Alex,Net\",FLOAT_8_E4,4,1e-6,-0.0008\r\n"
                    "\n"
                    "VGG_16,POT_4,,2.5,0.5\n");
  const std::vector<FitRow> rows = read_fit_rows(csv.path(), "js_flops");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].model, "AlexNet");
  EXPECT_EQ(rows[1].model, "Alex,Net");
  EXPECT_EQ(rows[1].config, "FLOAT_8_E4");
  EXPECT_EQ(rows[1].x, 1e-6);
  EXPECT_EQ(rows[1].y, -0.0008);
  EXPECT_EQ(rows[2].x, 2.5);
  EXPECT_EQ(format_family(rows[1].config), "FLOAT");
  EXPECT_EQ(format_family("INT_8"), "INT");
}

TEST(ReadFitRows, NamesTheFileAndTheMissingColumn) {
  const TempCsv csv(std::string(kHeader) + "AlexNet,INT_2,,35.3,0.885\n");
  EXPECT_NE(error_of(csv.path(), "js_param").find("no column 'js_param'"), std::string::npos);
  const TempCsv no_loss("model,config,js_flops\nAlexNet,INT_2,1\n");
  EXPECT_NE(error_of(no_loss.path()).find("'acc_loss'"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent/results.csv").find("/nonexistent/results.csv: cannot open"),
            std::string::npos);
}

TEST(ReadFitRows, NamesTheLineOfABadValue) {
  for (const char* bad : {"abc", "nan", "NaN", "inf", "", "1.5x"}) {
    const TempCsv csv(std::string(kHeader) + "AlexNet,INT_2,,35.3,0.885\nAlexNet,INT_3,," + bad +
                      ",0.5\n");
    const std::string message = error_of(csv.path());
    EXPECT_NE(message.find(csv.path() + ":3: column 'js_flops'"), std::string::npos)
        << bad << ": " << message;
  }
  const TempCsv short_row(std::string(kHeader) + "AlexNet,INT_2,35.3,0.885\n");
  EXPECT_NE(error_of(short_row.path()).find(":2: 4 fields"), std::string::npos);
}

TEST(ReadFitRows, RejectsAnEmptyFileOrOneWithoutRows) {
  const TempCsv empty("");
  EXPECT_NE(error_of(empty.path()).find("header line is required"), std::string::npos);
  const TempCsv header_only(kHeader);
  EXPECT_NE(error_of(header_only.path()).find("no data rows"), std::string::npos);
}

}  // namespace
}  // namespace ptq::fit
