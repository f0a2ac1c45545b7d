#include "quant/format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace ptq {
namespace {

TEST(StudyFormats, AreTheFortyThreeOfTheStudyInOrder) {
  const std::vector<QuantFormat> formats = study_formats();
  ASSERT_EQ(formats.size(), 43u);
  EXPECT_EQ(format_name(formats[0]), "INT_2");
  EXPECT_EQ(format_name(formats[14]), "INT_16");
  EXPECT_EQ(format_name(formats[15]), "POT_2");
  EXPECT_EQ(format_name(formats[21]), "POT_8");
  EXPECT_EQ(format_name(formats[22]), "FLOAT_3_E1");
  EXPECT_EQ(format_name(formats[23]), "FLOAT_4_E1");
  EXPECT_EQ(format_name(formats[24]), "FLOAT_4_E2");
  EXPECT_EQ(format_name(formats[42]), "FLOAT_8_E6");
  std::set<std::string> names;
  for (const QuantFormat& f : formats) names.insert(format_name(f));
  EXPECT_EQ(names.size(), 43u);
}

TEST(FormatName, RoundTripsThroughParse) {
  for (const QuantFormat& f : study_formats()) {
    EXPECT_EQ(parse_format(format_name(f)), f) << format_name(f);
  }
  EXPECT_EQ(parse_format("FLOAT_16_E7"), make_float(16, 7));
  EXPECT_EQ(parse_format("INT_64"), make_int(64));
}

TEST(ParseFormat, RejectsBadNamesNamingTheAcceptedForms) {
  for (const char* bad : {"", "INT8", "INT_1", "INT_17", "POT_9", "POT_1", "FLOAT_8", "FLOAT_8_E7",
                          "FLOAT_8_E0", "FLOAT_2_E1", "FLOAT_17_E4", "int_8", "INT_8 ", "FP_8"}) {
    try {
      parse_format(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("accepted forms"), std::string::npos) << e.what();
    }
  }
}

TEST(FormatQmax, FollowsTheDesignFormulas) {
  EXPECT_EQ(format_qmax(make_int(2)), 1.0);
  EXPECT_EQ(format_qmax(make_int(8)), 127.0);
  EXPECT_EQ(format_qmax(make_int(16)), 32767.0);
  EXPECT_EQ(format_qmax(make_int(64)), 9223372036854775807.0);
  EXPECT_EQ(format_qmax(make_pot(4)), 1.0);
  EXPECT_EQ(format_qmax(make_float(8, 4)), (2.0 - 1.0 / 8) * 256.0);  // m = 3, 2^(2^3)
  EXPECT_EQ(format_qmax(make_float(3, 1)), 1.5 * 2.0);                // m = 1, 2^1
  EXPECT_EQ(format_qmax(make_float(16, 7)), (2.0 - 1.0 / 256) * std::ldexp(1.0, 64));
}

TEST(FormatGrid, ListsTheSmallFormatsExactly) {
  EXPECT_EQ(format_grid(make_int(3)), (std::vector<double>{-3, -2, -1, 0, 1, 2, 3}));
  EXPECT_EQ(format_grid(make_pot(2)), (std::vector<double>{-1, 0, 1}));
  EXPECT_EQ(format_grid(make_pot(3)), (std::vector<double>{-1, -0.5, -0.25, 0, 0.25, 0.5, 1}));
  // FLOAT_3_E1: m = 1, emin = 1: subnormal 0.5 * 2^1 = 1; normals 2, 3.
  EXPECT_EQ(format_grid(make_float(3, 1)), (std::vector<double>{-3, -2, -1, 0, 1, 2, 3}));
  // FLOAT_4_E2: m = 1, emin = 0, emax = 2: subnormal 0.5; normals 1, 1.5, 2, 3, 4, 6.
  EXPECT_EQ(format_grid(make_float(4, 2)),
            (std::vector<double>{-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6}));
}

TEST(FormatGrid, IsSymmetricAscendingWithOneZeroAndEndsAtQmax) {
  std::vector<QuantFormat> formats = study_formats();
  formats.push_back(make_float(16, 7));
  for (const QuantFormat& f : formats) {
    const std::vector<double> g = format_grid(f);
    ASSERT_EQ(g.size() % 2, 1u) << format_name(f);
    EXPECT_EQ(g[g.size() / 2], 0.0) << format_name(f);
    EXPECT_EQ(g.back(), format_qmax(f)) << format_name(f);
    for (std::size_t i = 0; i < g.size(); ++i) {
      EXPECT_EQ(g[i], -g[g.size() - 1 - i]) << format_name(f);
      if (i) {
        EXPECT_LT(g[i - 1], g[i]) << format_name(f) << " at " << i;
      }
      EXPECT_EQ(static_cast<double>(static_cast<float>(g[i])), g[i]) << "not a float32";
    }
    // Every code is a finite value: 2^b - 1 distinct values (+0 and -0 coincide), POT aside.
    if (f.kind != FormatKind::kPot) {
      EXPECT_EQ(g.size(), (std::size_t{1} << f.bits) - 1) << format_name(f);
    } else {
      EXPECT_EQ(g.size(), 2 * (static_cast<std::size_t>(f.pot_depth()) + 1) + 1);
    }
  }
  EXPECT_THROW(format_grid(make_int(64)), FormatError);
}

TEST(BiasFormat, FollowsTheWeightFamily) {
  EXPECT_EQ(bias_format(make_int(4)), make_int(64));
  EXPECT_EQ(bias_format(make_pot(3)), make_pot(8));
  EXPECT_EQ(bias_format(make_float(6, 2)), make_float(16, 7));
}

TEST(ScaleFromRange, UsesTheLargerMagnitudeAndClampsTheRangeAroundZero) {
  EXPECT_FLOAT_EQ(scale_from_range(make_int(8), -2.54f, 1.0f), 2.54f / 127);
  EXPECT_FLOAT_EQ(scale_from_range(make_int(8), 0.5f, 1.27f), 1.27f / 127);
  EXPECT_FLOAT_EQ(scale_from_range(make_pot(4), 0.5f, 0.75f), 0.75f);  // min clamped to 0
  EXPECT_EQ(scale_from_range(make_int(8), 0.0f, 0.0f), 0.0f);
}

}  // namespace
}  // namespace ptq
