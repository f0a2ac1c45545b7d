// The builder: every study table expands into a valid graph, hand-made graphs with shapes that do
// not fit are refused with a message naming the layer, and the parameter layout agrees with the
// accounting.
#include "models/model_desc.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ptq {
namespace {

TEST(BuildNetworkDesc, BuildsTheNineModelsEachEndingInTenLogits) {
  ASSERT_EQ(model_names().size(), 9u);
  for (const std::string& m : model_names()) {
    const NetworkDesc d = build_network_desc(m);
    EXPECT_EQ(d.model, m);
    EXPECT_EQ(d.layers.back().out, (TensorShape{kNumClasses, 1, 1})) << m;
    EXPECT_NO_THROW(validate_network_desc(d)) << m;
  }
}

TEST(BuildNetworkDesc, UnknownModelThrowsNamingTheKnownOnes) {
  try {
    build_network_desc("ResNet_19");
    FAIL() << "no exception";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("ResNet_19"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("MobileNetV2"), std::string::npos);
  }
}

TEST(BuildNetworkDesc, ExpandsBlocksIntoExplicitJoins) {
  const NetworkDesc inc = build_network_desc("Inception_BN");
  const Layer& cat = inc.layers[inc.find("inc0_cat")];
  EXPECT_EQ(cat.kind, LayerKind::kConcat);
  ASSERT_EQ(cat.inputs.size(), 4u);
  EXPECT_EQ(cat.out, (TensorShape{256, 32, 32}));
  const NetworkDesc res = build_network_desc("ResNet_18");
  const Layer& add = res.layers[res.find("ml1_blk0_add")];
  ASSERT_EQ(add.inputs.size(), 2u);
  EXPECT_EQ(res.layers[add.inputs[1]].name, "ml1_blk0_ds_bn0");
  const Layer& identity_add = res.layers[res.find("ml1_blk1_add")];
  EXPECT_EQ(res.layers[identity_add.inputs[1]].name, "ml1_blk0_relu1");
  const NetworkDesc mb = build_network_desc("MobileNetV2");
  const Layer& dw = mb.layers[mb.find("ml1_blk0_ma_conv1")];
  EXPECT_EQ(dw.groups, 96);
  EXPECT_EQ(dw.stride, 2);
  EXPECT_EQ(mb.find("ml1_blk0_add"), -1);  // a stage's first block has no residual
  EXPECT_GE(mb.find("ml1_blk1_add"), 0);
}

// A small graph with every layer kind: conv, bn, relu, pools, add, concat, flatten, linear.
NetworkDesc tiny_graph() {
  NetworkDesc d;
  d.model = "tiny";
  d.input = {3, 8, 8};
  const auto layer = [&](const std::string& name, LayerKind kind, std::vector<int> inputs,
                         TensorShape out, int channels = 0, int k = 0, int s = 1, int p = 0) {
    Layer l;
    l.name = name, l.kind = kind, l.inputs = std::move(inputs), l.out = out;
    l.channels = channels, l.kernel = k, l.stride = s, l.padding = p;
    l.in = l.inputs[0] == kNetworkInput ? d.input : d.layers[l.inputs[0]].out;
    d.layers.push_back(l);
  };
  layer("conv0", LayerKind::kConv, {kNetworkInput}, {4, 8, 8}, 4, 3, 1, 1);
  layer("pool1", LayerKind::kMaxPool, {0}, {4, 4, 4}, 0, 2, 2, 0);
  layer("conv2", LayerKind::kConv, {1}, {4, 4, 4}, 4, 1);
  layer("add3", LayerKind::kAdd, {1, 2}, {4, 4, 4});
  layer("cat4", LayerKind::kConcat, {1, 3}, {8, 4, 4});
  layer("aap5", LayerKind::kAvgPool, {4}, {8, 1, 1});
  layer("flatten6", LayerKind::kFlatten, {5}, {8, 1, 1});
  layer("fc7", LayerKind::kLinear, {6}, {10, 1, 1}, 10);
  return d;
}

TEST(ValidateNetworkDesc, AcceptsAConsistentHandMadeGraph) {
  EXPECT_NO_THROW(validate_network_desc(tiny_graph()));
}

TEST(ValidateNetworkDesc, RefusesShapesThatDoNotFitNamingTheLayer) {
  const auto expect_refused = [](NetworkDesc d, const std::string& layer) {
    try {
      validate_network_desc(d);
      ADD_FAILURE() << "accepted a bad " << layer;
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(layer), std::string::npos) << e.what();
    }
  };
  NetworkDesc groups = tiny_graph();
  groups.layers[2].groups = 3;  // 4 channels in 3 groups
  expect_refused(groups, "conv2");
  NetworkDesc add = tiny_graph();
  add.layers[3].inputs = {0, 2};  // 4x8x8 + 4x4x4
  expect_refused(add, "add3");
  NetworkDesc cat = tiny_graph();
  cat.layers[4].inputs = {0, 3};  // 8x8 with 4x4
  expect_refused(cat, "cat4");
  NetworkDesc forward_ref = tiny_graph();
  forward_ref.layers[3].inputs = {1, 5};  // reads a later layer
  expect_refused(forward_ref, "add3");
  NetworkDesc unflattened = tiny_graph();
  unflattened.layers[7].inputs = {4};
  unflattened.layers[7].in = unflattened.layers[4].out;
  expect_refused(unflattened, "fc7");
  NetworkDesc wrong_record = tiny_graph();
  wrong_record.layers[1].out = {4, 3, 3};
  expect_refused(wrong_record, "pool1");
}

TEST(ParamLayout, TrainableTensorsAddUpToTheAccountingParameters) {
  for (const std::string& m : model_names()) {
    const NetworkDesc d = build_network_desc(m);
    const ParamLayout layout = param_layout(d);
    std::int64_t trainable = 0;
    std::set<std::string> names;
    for (const ParamSpec& s : layout.specs) {
      if (s.trainable) trainable += static_cast<std::int64_t>(s.count());
      EXPECT_EQ(s.offset % kParamAlignment, 0u) << s.name;
      EXPECT_LE(s.offset + s.count(), s.trainable ? layout.trainable_floats : layout.stats_floats);
      EXPECT_TRUE(names.insert(s.name).second) << "duplicate " << s.name;
    }
    EXPECT_EQ(trainable, network_cost(d).params) << m;
  }
}

}  // namespace
}  // namespace ptq
