// The nine networks of DESIGN.md section 2, one table each. Read them next to the design: every
// row here is one line of it. Row helpers keep the tables short; the builder (model_desc.cpp)
// checks that channels and shapes fit.
#include "models/model_tables.h"

namespace ptq::tables {
namespace {

constexpr bool kBias = true;
constexpr bool kNoBias = false;

Row conv(int in, int out, int k, int s, int p, bool bias, Post post, int groups = 1) {
  Row r{RowKind::kConv};
  r.in = in, r.out = out, r.kernel = k, r.stride = s, r.padding = p, r.bias = bias, r.post = post;
  r.groups = groups;
  return r;
}
Row conv3(int in, int out, bool bias, Post post) {
  return conv(in, out, 3, 1, 1, bias, post);
}
Row relu() {
  return Row{RowKind::kRelu};
}
Row maxpool(int k, int s, int p) {
  Row r{RowKind::kMaxPool};
  r.kernel = k, r.stride = s, r.padding = p;
  return r;
}
Row avgpool() {
  return Row{RowKind::kAvgPool};
}
Row flatten() {
  return Row{RowKind::kFlatten};
}
Row dropout() {
  return Row{RowKind::kDropout};
}
Row fc(int in, int out) {
  Row r{RowKind::kLinear};
  r.in = in, r.out = out, r.bias = true;
  return r;
}
Row inception(InceptionSpec spec) {
  Row r{RowKind::kInception};
  r.inception = spec;
  return r;
}
Row res_stage(Block block, int planes, int blocks, int stride) {
  Row r{RowKind::kResStage};
  r.res = ResStageSpec{block, planes, blocks, stride};
  return r;
}
Row mb_stage(MbStageSpec spec) {
  Row r{RowKind::kMbStage};
  r.mb = spec;
  return r;
}

// AlexNet's feature extractor: five 3x3 convs with bias, each followed by `post` (AlexNet: a
// separate relu row; AlexNet_BN: bn + relu in the conv's unit).
std::vector<Row> alexnet(bool bn) {
  std::vector<Row> rows;
  const int channels[] = {3, 32, 64, 128, 256, 256};
  for (int i = 0; i < 5; ++i) {
    rows.push_back(conv3(channels[i], channels[i + 1], kBias, bn ? Post::kBnRelu : Post::kNone));
    if (!bn) rows.push_back(relu());
    if (i < 2) rows.push_back(maxpool(2, 2, 0));
  }
  rows.push_back(maxpool(3, 2, 0));
  for (Row r : {flatten(), dropout(), fc(2304, 1024), relu(), dropout(), fc(1024, 512), relu(),
                fc(512, 10)}) {
    rows.push_back(r);
  }
  return rows;
}

// VGG: 3x3 convs with bias + bn + relu; 0 in `channels` is a max-pool.
std::vector<Row> vgg(const std::vector<int>& channels) {
  std::vector<Row> rows;
  int in = 3;
  for (int c : channels) {
    if (c == 0) {
      rows.push_back(maxpool(2, 2, 0));
    } else {
      rows.push_back(conv3(in, c, kBias, Post::kBnRelu));
      in = c;
    }
  }
  for (Row r : {flatten(), fc(512, 4096), relu(), dropout(), fc(4096, 4096), relu(), dropout(),
                fc(4096, 10)}) {
    rows.push_back(r);
  }
  return rows;
}

std::vector<Row> inception_bn() {
  return {conv3(3, 64, kBias, Post::kNone),
          relu(),
          conv3(64, 64, kBias, Post::kNone),
          relu(),
          inception({64, 64, 96, 128, 16, 32, 32}),     // 3a
          inception({256, 128, 128, 192, 32, 96, 64}),  // 3b
          maxpool(3, 2, 1),
          inception({480, 192, 96, 208, 16, 48, 64}),     // 4a
          inception({512, 160, 112, 224, 24, 64, 64}),    // 4b
          inception({512, 128, 128, 256, 24, 64, 64}),    // 4c
          inception({512, 112, 144, 288, 32, 64, 64}),    // 4d
          inception({528, 256, 160, 320, 32, 128, 128}),  // 4e
          maxpool(3, 2, 1),
          inception({832, 256, 160, 320, 32, 128, 128}),  // 5a
          inception({832, 384, 192, 384, 48, 128, 128}),  // 5b
          avgpool(),
          conv(1024, 10, 1, 1, 0, kBias, Post::kNone),
          flatten()};
}

std::vector<Row> resnet(Block block, const int (&blocks)[4]) {
  const int final_width = block == Block::kBasic ? 128 : 512;
  return {conv3(3, 16, kBias, Post::kBnRelu),
          res_stage(block, 16, blocks[0], 1),
          res_stage(block, 32, blocks[1], 2),
          res_stage(block, 64, blocks[2], 2),
          res_stage(block, 128, blocks[3], 2),
          avgpool(),
          flatten(),
          fc(final_width, 10)};
}

std::vector<Row> mobilenet_v2() {
  return {conv3(3, 32, kBias, Post::kBnRelu6),
          //        blocks in   out  hidden stride hidden_rest
          mb_stage({1, 32, 16, 32, 1, 0}), mb_stage({2, 16, 24, 96, 2, 144}),
          mb_stage({3, 24, 32, 144, 2, 192}), mb_stage({3, 32, 96, 192, 1, 576}),
          mb_stage({3, 96, 160, 576, 2, 960}), mb_stage({1, 160, 320, 960, 1, 0}),
          conv(320, 1280, 1, 1, 0, kBias, Post::kNone), avgpool(), flatten(), fc(1280, 10)};
}

}  // namespace

const std::vector<ModelTable>& model_tables() {
  static const std::vector<ModelTable> tables = {
      {"AlexNet", alexnet(false)},
      {"AlexNet_BN", alexnet(true)},
      {"VGG_16",
       vgg({64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0})},
      {"VGG_19", vgg({64,  64,  0,   128, 128, 0,   256, 256, 256, 256, 0,
                      512, 512, 512, 512, 0,   512, 512, 512, 512, 0})},
      {"Inception_BN", inception_bn()},
      {"ResNet_18", resnet(Block::kBasic, {2, 2, 2, 2})},
      {"ResNet_50", resnet(Block::kBottleneck, {3, 4, 6, 3})},
      {"ResNet_152", resnet(Block::kBottleneck, {3, 8, 36, 3})},
      {"MobileNetV2", mobilenet_v2()},
  };
  return tables;
}

}  // namespace ptq::tables
