// Max pooling kernels against their CPU reference (kernels/max_pool.h): hand-checked windows,
// every geometry of the study networks and odd ones, tie-heavy and edge-value inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/device_buffer.h"
#include "kernels/max_pool.cuh"
#include "kernels/max_pool_ref.h"
#include "models/model_desc.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
// Backward: the kernel adds at most kernel^2 floats in float, the reference in double with one
// rounding; the error is then about kernel^2 float epsilons of the terms' magnitude, bounded here
// per term by 1e-6 x (1 + |dx|) (observed: the H200 runs pass with margin on normal(0, 1) dy).
constexpr float kBackwardRelTolPerTerm = 1e-6f;

std::uint32_t bits(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

TEST(MaxPoolRef, HandCheckedWindowsWithTiesNanAndPadding) {
  // One 3 x 3 plane, kernel 2, stride 1, padding 1: a 4 x 4 output whose corner windows hold one
  // position each. Row-major:  5 5 1 / 2 NaN 7 / 0 7 -Inf.
  const MaxPoolShape s{1, 3, 3, 2, 1, 1};
  const std::vector<float> x = {5, 5, 1, 2, kNaN, 7, 0, 7, -kInf};
  std::vector<float> y;
  std::vector<std::uint8_t> winner;
  max_pool_forward_ref(x, s, y, winner);
  ASSERT_EQ(y.size(), 16u);
  // Output (0, 1) covers x(0,0) and x(0,1), both 5: the first, at window offset 2 (kh 1, kw 0).
  EXPECT_EQ(y[1], 5.0f);
  EXPECT_EQ(winner[1], 2);
  // Output (1, 1) covers 5 5 / 2 NaN: the NaN wins (offset 3).
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_EQ(winner[5], 3);
  // Output (2, 3) covers x(1,2) = 7 and x(2,2) = -Inf (offsets 0 and 2): 7 at offset 0.
  EXPECT_EQ(y[11], 7.0f);
  EXPECT_EQ(winner[11], 0);
  // Output (3, 3) covers only x(2,2) = -Inf: it wins though nothing is smaller.
  EXPECT_EQ(y[15], -kInf);
  EXPECT_EQ(winner[15], 0);

  // Backward: every output's dy = 1 + its index; x(0,0) wins outputs 0, 1 and 4 (dy 1, 2, 5),
  // not 5 (the NaN's).
  std::vector<float> dy(16), dx(9, 100.0f);
  for (int i = 0; i < 16; ++i) dy[i] = 1.0f + i;
  max_pool_backward_ref(winner, dy, s, 0.5f, dx);
  EXPECT_FLOAT_EQ(dx[0], 50.0f + 1 + 2 + 5);
  EXPECT_FLOAT_EQ(dx[1], 50.0f + 3);  // output 2 only: outputs 5 and 6 go to the NaN
}

TEST(MaxPoolRef, RejectsShapesWithoutAValidWindow) {
  EXPECT_THROW(check_max_pool_shape({0, 4, 4, 2, 2, 0}), std::invalid_argument);
  EXPECT_THROW(check_max_pool_shape({1, 4, 4, 0, 1, 0}), std::invalid_argument);
  EXPECT_THROW(check_max_pool_shape({1, 4, 4, 16, 1, 0}), std::invalid_argument);
  EXPECT_THROW(check_max_pool_shape({1, 4, 4, 2, 0, 0}), std::invalid_argument);
  EXPECT_THROW(check_max_pool_shape({1, 4, 4, 2, 1, 2}), std::invalid_argument);  // padding
  EXPECT_THROW(check_max_pool_shape({1, 4, 4, 2, 1, -1}), std::invalid_argument);
  EXPECT_THROW(check_max_pool_shape({1, 2, 9, 5, 1, 1}), std::invalid_argument);  // 4 rows < 5
  EXPECT_NO_THROW(check_max_pool_shape({1, 2, 9, 4, 1, 1}));
}

// "planes P HxW kK sS pP", for a case's trace.
std::string shape_text(const MaxPoolShape& s) {
  return "planes " + std::to_string(s.planes) + " " + std::to_string(s.h) + "x" +
         std::to_string(s.w) + " k" + std::to_string(s.kernel) + " s" + std::to_string(s.stride) +
         " p" + std::to_string(s.padding);
}

// Inputs: half tie-heavy (a few levels, many zeros as after a ReLU), half normal, with edge values
// sprinkled in: NaN, +-Inf, +-0, the largest finite floats and a subnormal.
std::vector<float> pool_inputs(std::size_t n, std::mt19937_64& rng) {
  std::vector<float> x = test::normal_values(n, 1.0f, rng);
  const float levels[] = {0.0f, 0.0f, 0.0f, 0.5f, 1.0f, -1.0f};
  const float edges[] = {kNaN,
                         kInf,
                         -kInf,
                         -0.0f,
                         0.0f,
                         std::numeric_limits<float>::max(),
                         -std::numeric_limits<float>::max(),
                         std::numeric_limits<float>::denorm_min()};
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = rng() % 1000;
    if (r < 500)
      x[i] = levels[rng() % 6];
    else if (r < 510)
      x[i] = edges[rng() % 8];
  }
  return x;
}

// Random inputs for a shape and the reference forward's outputs.
struct ForwardCase {
  std::vector<float> x, y;
  std::vector<std::uint8_t> winner;
};

ForwardCase forward_case(const MaxPoolShape& s, std::mt19937_64& rng) {
  ForwardCase f;
  f.x = pool_inputs(s.in_count(), rng);
  max_pool_forward_ref(f.x, s, f.y, f.winner);
  return f;
}

struct Case {
  int planes, h, w, kernel, stride, padding;
};

TEST(MaxPool, MatchesReferenceForwardAndBackwardAndRepeatsBitForBit) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed);
  const Case cases[] = {
      {6, 32, 32, 3, 1, 1},     // Inception_BN's branch pools
      {5, 16, 16, 3, 2, 1},     // its stage pools
      {3, 15, 15, 3, 2, 1},     // odd size
      {4, 32, 32, 2, 2, 0},     // VGG, AlexNet
      {3, 7, 7, 2, 2, 0},       // floor drops the last row and column
      {2, 13, 11, 3, 2, 0},     // non-square, no padding
      {2, 11, 9, 5, 3, 2},      // a large window with stride 3
      {2, 5, 6, 1, 1, 0},       // 1 x 1: the identity
      {96, 128, 128, 3, 1, 1},  // more outputs than one grid-stride pass covers
      // The tiled kernels (3x3 stride 1 and 2, 2x2 stride 2): tiles of whole planes, the last one
      // partial, planes padded apart in shared memory or copied as one range, bands of rows.
      {7, 7, 5, 3, 1, 1},  // odd planes: most start off a 16-byte boundary
      {5, 7, 5, 3, 2, 1},
      {9, 33, 31, 3, 1, 1},  // eight planes a tile, then one
      {3, 33, 31, 3, 2, 1},
      {4, 33, 31, 3, 1, 0},
      {7, 33, 31, 3, 2, 0},
      {300, 1, 1, 3, 1, 1},  // 1 x 1 planes: each window holds its one position
      {300, 1, 1, 3, 2, 1},
      {3, 2, 2, 3, 1, 1},
      {4, 1, 7, 3, 2, 1},
      {53, 8, 8, 3, 1, 1},  // Inception_BN's 8 x 8 branch pools: 32 padded planes, then 21
      {70, 8, 8, 3, 2, 1},
      {37, 16, 16, 3, 1, 1},  // its 16 x 16 ones
      {40, 16, 16, 3, 1, 0},
      {33, 16, 16, 2, 2, 0},
      {5, 9, 9, 2, 2, 1},
      {3, 9, 11, 3, 1, 2},  // padding 2: whole window rows outside the plane
      {3, 9, 11, 3, 2, 2},
      {12, 40, 40, 3, 1, 1},   // columns split into segments
      {2, 700, 9, 3, 1, 1},    // one plane a tile, its columns in 28 segments
      {2, 9, 700, 3, 2, 1},    // more columns than a block has threads
      {2, 128, 128, 3, 2, 1},  // forward in bands of rows
      {1, 256, 256, 3, 2, 1},  // both passes in bands
      {2, 130, 97, 3, 1, 0},
      {2, 100, 90, 3, 2, 2},
      {2, 200, 300, 2, 2, 0},
      {2, 4, 3000, 3, 1, 1},  // forward in one-row bands, backward too wide for a tile
      {2, 4, 5000, 3, 1, 1},  // too wide for any tile: the generic kernels
  };
  for (const Case& c : cases) {
    const MaxPoolShape s{c.planes, c.h, c.w, c.kernel, c.stride, c.padding};
    SCOPED_TRACE(shape_text(s));
    const auto [x, want_y, want_winner] = forward_case(s, rng);

    DeviceBuffer<float> d_x, d_y(s.out_count());
    DeviceBuffer<std::uint8_t> d_winner(s.out_count());
    d_x.upload(x);
    max_pool_forward(d_x.data(), s, d_y.data(), d_winner.data(), nullptr);
    const std::vector<float> y = d_y.to_host();
    const std::vector<std::uint8_t> winner = d_winner.to_host();
    std::size_t y_bad = 0, winner_bad = 0;
    for (std::size_t o = 0; o < y.size(); ++o) {
      y_bad += bits(y[o]) != bits(want_y[o]);
      winner_bad += winner[o] != want_winner[o];
    }
    EXPECT_EQ(y_bad, 0u);
    EXPECT_EQ(winner_bad, 0u);
    // Without a winner buffer (inference) the output is the same, and so is it with 64-bit
    // index arithmetic (used for counts above 2^31 - 1, forced here).
    DeviceBuffer<float> d_y2(s.out_count());
    max_pool_forward(d_x.data(), s, d_y2.data(), nullptr, nullptr);
    EXPECT_EQ(std::memcmp(d_y2.to_host().data(), y.data(), y.size() * sizeof(float)), 0);
    DeviceBuffer<std::uint8_t> d_winner64(s.out_count());
    max_pool_forward(d_x.data(), s, d_y2.data(), d_winner64.data(), nullptr, MaxPoolIndex::k64);
    EXPECT_EQ(std::memcmp(d_y2.to_host().data(), y.data(), y.size() * sizeof(float)), 0);
    EXPECT_EQ(d_winner64.to_host(), winner);

    const std::vector<float> dy = test::normal_values(s.out_count(), 1.0f, rng);
    DeviceBuffer<float> d_dy, d_dx(s.in_count());
    d_dy.upload(dy);
    for (const float beta : {0.0f, 1.0f, 0.5f}) {
      SCOPED_TRACE(::testing::Message() << "beta " << beta);
      // beta 0 must not read dx: start it as NaN there.
      std::vector<float> dx0 = beta == 0.0f ? std::vector<float>(s.in_count(), kNaN)
                                            : test::normal_values(s.in_count(), 1.0f, rng);
      std::vector<float> want_dx = dx0;
      max_pool_backward_ref(want_winner, dy, s, beta, want_dx);
      // Twice with the automatic (32-bit) indices, once with 64-bit ones: all bit for bit alike.
      std::vector<std::vector<float>> runs;
      for (const MaxPoolIndex index :
           {MaxPoolIndex::kAuto, MaxPoolIndex::kAuto, MaxPoolIndex::k64}) {
        d_dx.upload(dx0);
        max_pool_backward(d_winner.data(), d_dy.data(), s, beta, d_dx.data(), nullptr, index);
        runs.push_back(d_dx.to_host());
      }
      EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)), 0);
      EXPECT_EQ(std::memcmp(runs[0].data(), runs[2].data(), runs[0].size() * sizeof(float)), 0);
      std::size_t bad = 0;
      for (std::size_t i = 0; i < want_dx.size(); ++i) {
        const float tol =
            kBackwardRelTolPerTerm * (1.0f + std::abs(want_dx[i])) * c.kernel * c.kernel;
        if (!(std::abs(runs[0][i] - want_dx[i]) <= tol)) {
          if (++bad <= 3) ADD_FAILURE() << "dx[" << i << "] " << runs[0][i] << " vs " << want_dx[i];
        }
      }
      EXPECT_EQ(bad, 0u);
    }
  }
}

// Shapes that take the tiled kernels with kAuto indices (the generic ones with k64).
const Case kTiledCases[] = {
    {6, 32, 32, 3, 1, 1}, {53, 8, 8, 3, 1, 1},    {37, 16, 16, 3, 1, 1}, {5, 16, 16, 3, 2, 1},
    {7, 7, 5, 3, 2, 0},   {9, 33, 31, 3, 1, 2},   {4, 32, 32, 2, 2, 0},  {5, 9, 9, 2, 2, 1},
    {2, 700, 9, 3, 1, 1}, {1, 256, 256, 3, 2, 1}, {2, 130, 97, 3, 1, 0},
};

TEST(MaxPool, TiledBackwardAddsInTheGenericOrderOnEdgeValuedGradients) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 1);
  // dy spanning 10^-40 .. 10^30 with NaN, +-Inf and +-0: any change in which terms are added, or
  // in their order, shows in the bits (NaN + anything, Inf - Inf, 1e30 + 1 - 1e30, -0 + 0).
  const float edges[] = {kNaN, kInf, -kInf, -0.0f, 0.0f, 1e30f, -1e30f, 1e-40f, 1.0f, -1.0f};
  for (const Case& c : kTiledCases) {
    const MaxPoolShape s{c.planes, c.h, c.w, c.kernel, c.stride, c.padding};
    SCOPED_TRACE(shape_text(s));
    DeviceBuffer<float> d_x, d_y(s.out_count()), d_dy, d_dx(s.in_count());
    DeviceBuffer<std::uint8_t> d_winner(s.out_count());
    d_x.upload(pool_inputs(s.in_count(), rng));
    max_pool_forward(d_x.data(), s, d_y.data(), d_winner.data(), nullptr);
    std::vector<float> dy = test::normal_values(s.out_count(), 1.0f, rng);
    for (float& v : dy) {
      if (rng() % 4 == 0) v *= 1e6f;
      if (rng() % 10 == 0) v = edges[rng() % 10];
    }
    d_dy.upload(dy);
    for (const float beta : {0.0f, 1.0f, 0.5f}) {
      SCOPED_TRACE(::testing::Message() << "beta " << beta);
      std::vector<float> dx0 = beta == 0.0f ? std::vector<float>(s.in_count(), kNaN)
                                            : test::normal_values(s.in_count(), 1.0f, rng);
      std::vector<std::vector<float>> runs;
      for (const MaxPoolIndex index : {MaxPoolIndex::kAuto, MaxPoolIndex::k64}) {
        d_dx.upload(dx0);
        max_pool_backward(d_winner.data(), d_dy.data(), s, beta, d_dx.data(), nullptr, index);
        runs.push_back(d_dx.to_host());
      }
      EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)), 0);
    }
  }
}

// `first`, then v: a host image of a buffer whose data starts one element past the allocation.
template <typename T>
std::vector<T> after(T first, const std::vector<T>& v) {
  std::vector<T> h(v.size() + 1, first);
  std::copy(v.begin(), v.end(), h.begin() + 1);
  return h;
}

TEST(MaxPool, MatchesReferenceOnBuffersOffFrom16ByteBoundaries) {
  PTQ_REQUIRE_GPU();
  std::mt19937_64 rng(test::kSeed + 2);
  // Every buffer one element past its allocation's start: the tiled kernels copy planes as one
  // range instead of padded plane by plane. The element before must stay untouched.
  for (const Case& c : kTiledCases) {
    const MaxPoolShape s{c.planes, c.h, c.w, c.kernel, c.stride, c.padding};
    SCOPED_TRACE(shape_text(s));
    const auto [x, want_y, want_winner] = forward_case(s, rng);
    DeviceBuffer<float> d_x, d_y, d_dy, d_dx;
    DeviceBuffer<std::uint8_t> d_winner;
    d_x.upload(after(0.0f, x));
    // Outputs start as NaN and 255 (no offset), so that every one must be written.
    d_y.upload(after(-7.0f, std::vector<float>(s.out_count(), kNaN)));
    d_winner.upload(after<std::uint8_t>(77, std::vector<std::uint8_t>(s.out_count(), 255)));
    max_pool_forward(d_x.data() + 1, s, d_y.data() + 1, d_winner.data() + 1, nullptr);
    const std::vector<float> y = d_y.to_host();
    const std::vector<std::uint8_t> winner = d_winner.to_host();
    EXPECT_EQ(y[0], -7.0f);
    EXPECT_EQ(winner[0], 77);
    std::size_t y_bad = 0, winner_bad = 0;
    for (std::size_t o = 0; o < want_y.size(); ++o) {
      y_bad += bits(y[o + 1]) != bits(want_y[o]);
      winner_bad += winner[o + 1] != want_winner[o];
    }
    EXPECT_EQ(y_bad, 0u);
    EXPECT_EQ(winner_bad, 0u);

    const std::vector<float> dy = test::normal_values(s.out_count(), 1.0f, rng);
    d_dy.upload(after(0.0f, dy));
    for (const float beta : {0.0f, 0.5f}) {
      SCOPED_TRACE(::testing::Message() << "beta " << beta);
      std::vector<float> dx0 = beta == 0.0f ? std::vector<float>(s.in_count(), kNaN)
                                            : test::normal_values(s.in_count(), 1.0f, rng);
      std::vector<float> want_dx = dx0;
      max_pool_backward_ref(want_winner, dy, s, beta, want_dx);
      d_dx.upload(after(-7.0f, dx0));
      max_pool_backward(d_winner.data() + 1, d_dy.data() + 1, s, beta, d_dx.data() + 1, nullptr);
      const std::vector<float> dx = d_dx.to_host();
      EXPECT_EQ(dx[0], -7.0f);
      std::size_t bad = 0;
      for (std::size_t i = 0; i < want_dx.size(); ++i) {
        const float tol =
            kBackwardRelTolPerTerm * (1.0f + std::abs(want_dx[i])) * c.kernel * c.kernel;
        bad += !(std::abs(dx[i + 1] - want_dx[i]) <= tol);
      }
      EXPECT_EQ(bad, 0u);
    }
  }
}

TEST(MaxPool, LaunchersRejectBadShapesBeforeLaunching) {
  PTQ_REQUIRE_GPU();
  DeviceBuffer<float> d(16);
  EXPECT_THROW(max_pool_forward(d.data(), {1, 4, 4, 2, 1, 2}, d.data(), nullptr, nullptr),
               std::invalid_argument);
  EXPECT_THROW(max_pool_backward(nullptr, d.data(), {1, 4, 4, 0, 1, 0}, 0.0f, d.data(), nullptr),
               std::invalid_argument);
  // 2^32 inputs cannot take 32-bit indices: refused before anything is read.
  const MaxPoolShape huge{1 << 16, 1 << 8, 1 << 8, 2, 2, 0};
  EXPECT_THROW(max_pool_forward(nullptr, huge, nullptr, nullptr, nullptr, MaxPoolIndex::k32),
               std::invalid_argument);
  EXPECT_THROW(max_pool_backward(nullptr, nullptr, huge, 0.0f, nullptr, nullptr, MaxPoolIndex::k32),
               std::invalid_argument);
}

// The launchers' choice, no device needed: every max pool of the nine networks runs the tiled
// kernels, forward and backward, at the training batches (128 and 256) and at one image; 64-bit
// indices and other windows take the generic ones.
TEST(MaxPoolKernels, TheStudysPoolsRunTiledAtTheirTrainingBatches) {
  int pools = 0;
  for (const std::string& model : model_names()) {
    for (const Layer& l : build_network_desc(model).layers) {
      if (l.kind != LayerKind::kMaxPool) continue;
      ++pools;
      for (const int batch : {1, 128, 256}) {
        const MaxPoolShape s{batch * l.in.c, l.in.h, l.in.w, l.kernel, l.stride, l.padding};
        SCOPED_TRACE(::testing::Message() << model << " " << l.name << " at batch " << batch);
        EXPECT_EQ(max_pool_forward_kernels(s), MaxPoolKernels::kTiled);
        EXPECT_EQ(max_pool_backward_kernels(s), MaxPoolKernels::kTiled);
        EXPECT_EQ(max_pool_forward_kernels(s, MaxPoolIndex::k64), MaxPoolKernels::kGeneric64);
      }
    }
  }
  EXPECT_GE(pools, 20);  // AlexNet(_BN) 3 each, VGG 5 each, Inception_BN 11
  const MaxPoolShape five{4, 16, 16, 5, 1, 2};
  EXPECT_EQ(max_pool_forward_kernels(five), MaxPoolKernels::kGeneric);
  EXPECT_EQ(max_pool_backward_kernels(five), MaxPoolKernels::kGeneric);
}

}  // namespace
}  // namespace ptq
