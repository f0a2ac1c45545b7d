// Checkpoints: a bit-exact round trip, and every kind of damage or mismatch refused with a message
// naming the problem: corrupt bytes, truncation, a foreign file, another version, another model,
// a wrong shape, a missing tensor. Saving is atomic: a failed save leaves the old file intact.
#include "models/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "tests/test_inputs.h"

namespace ptq {
namespace {

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/ptq_ckpt_" + std::to_string(::getpid()) + "_" + name;
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// A checkpoint with every tensor ResNet_18 expects, filled from the test generator.
Checkpoint resnet18_checkpoint() {
  const NetworkDesc desc = build_network_desc("ResNet_18");
  std::mt19937_64 rng(test::kSeed);
  Checkpoint ck;
  ck.model = desc.model;
  for (const ParamSpec& s : param_layout(desc).specs) {
    ck.tensors.push_back({s.name, s.shape, test::normal_values(s.count(), 0.1f, rng)});
  }
  return ck;
}

// Expects load (and check against ResNet_18) to throw CheckpointError whose message holds `needle`.
void expect_refused(const std::string& path, const std::string& needle) {
  try {
    const Checkpoint ck = load_checkpoint(path);
    check_checkpoint(ck, build_network_desc("ResNet_18"), path);
    ADD_FAILURE() << "accepted; expected an error with '" << needle << "'";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RoundTripIsBitExact) {
  const std::string path = temp_path("roundtrip");
  const Checkpoint ck = resnet18_checkpoint();
  save_checkpoint(path, ck);
  const Checkpoint back = load_checkpoint(path);
  EXPECT_NO_THROW(check_checkpoint(back, build_network_desc("ResNet_18"), path));
  EXPECT_EQ(back.model, ck.model);
  ASSERT_EQ(back.tensors.size(), ck.tensors.size());
  for (std::size_t i = 0; i < ck.tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].name, ck.tensors[i].name);
    EXPECT_EQ(back.tensors[i].shape, ck.tensors[i].shape);
    ASSERT_EQ(back.tensors[i].data.size(), ck.tensors[i].data.size());
    EXPECT_EQ(std::memcmp(back.tensors[i].data.data(), ck.tensors[i].data.data(),
                          ck.tensors[i].data.size() * sizeof(float)),
              0)
        << ck.tensors[i].name;
  }
  std::remove(path.c_str());
}

TEST(Checkpoint, RefusesAFlippedByteAnywhere) {
  const std::string path = temp_path("flip");
  save_checkpoint(path, resnet18_checkpoint());
  const std::vector<unsigned char> good = read_bytes(path);
  for (std::size_t at : {std::size_t{20}, good.size() / 2, good.size() - 9, good.size() - 1}) {
    std::vector<unsigned char> bad = good;
    bad[at] ^= 0x10;
    write_bytes(path, bad);
    SCOPED_TRACE(at);
    expect_refused(path, "checksum mismatch");
  }
  std::remove(path.c_str());
}

TEST(Checkpoint, RefusesTruncationAtAnyLength) {
  const std::string path = temp_path("trunc");
  save_checkpoint(path, resnet18_checkpoint());
  const std::vector<unsigned char> good = read_bytes(path);
  for (std::size_t keep : {std::size_t{0}, std::size_t{5}, std::size_t{12}, std::size_t{30},
                           good.size() / 3, good.size() - 1}) {
    write_bytes(path, std::vector<unsigned char>(good.begin(),
                                                 good.begin() + static_cast<std::ptrdiff_t>(keep)));
    SCOPED_TRACE(keep);
    expect_refused(path, "checkpoint " + path);
  }
  std::remove(path.c_str());
}

TEST(Checkpoint, RefusesAForeignFileAndAnotherVersion) {
  const std::string path = temp_path("foreign");
  write_bytes(path, std::vector<unsigned char>(100, 'x'));
  expect_refused(path, "not a ptqbench checkpoint");
  save_checkpoint(path, resnet18_checkpoint());
  std::vector<unsigned char> bytes = read_bytes(path);
  bytes[8] = 2;  // version field
  write_bytes(path, bytes);
  expect_refused(path, "version 2");
  expect_refused(temp_path("does_not_exist"), "cannot open");
  std::remove(path.c_str());
}

TEST(Checkpoint, RefusesAnotherModelAWrongShapeAndAMissingTensor) {
  const std::string path = temp_path("mismatch");
  Checkpoint other = resnet18_checkpoint();
  other.model = "ResNet_50";
  save_checkpoint(path, other);
  expect_refused(path, "holds model 'ResNet_50', expected 'ResNet_18'");

  Checkpoint shape = resnet18_checkpoint();
  shape.tensors[0].shape = {16, 3, 9};  // same count, other shape
  save_checkpoint(path, shape);
  expect_refused(path, "tensor 'conv0.weight' has shape [16,3,9]");

  Checkpoint missing = resnet18_checkpoint();
  const std::string dropped = missing.tensors.back().name;
  missing.tensors.pop_back();
  save_checkpoint(path, missing);
  expect_refused(path, "tensor '" + dropped + "' is missing");

  Checkpoint extra = resnet18_checkpoint();
  extra.tensors.push_back({"stray.weight", {2}, {1.0f, 2.0f}});
  save_checkpoint(path, extra);
  expect_refused(path, "stray.weight");
  std::remove(path.c_str());
}

TEST(Checkpoint, FailedSaveLeavesTheOldFileAndNoTemporary) {
  const std::string path = temp_path("atomic");
  save_checkpoint(path, resnet18_checkpoint());
  const std::vector<unsigned char> before = read_bytes(path);
  Checkpoint bad = resnet18_checkpoint();
  bad.tensors[1].data.pop_back();  // data no longer matches the shape
  EXPECT_THROW(save_checkpoint(path, bad), CheckpointError);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_THROW(save_checkpoint("/nonexistent_dir/x.ckpt", resnet18_checkpoint()), CheckpointError);
  std::ifstream tmp(path + ".tmp." + std::to_string(::getpid()));
  EXPECT_FALSE(tmp.good());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ptq
