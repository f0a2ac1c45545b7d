// Checkpoints: a network's named float32 tensors (weights, biases, batch-norm gamma, beta and
// running statistics) in one file. Host-only.
//
// File format, version 1. All integers little-endian; no padding anywhere.
//   offset 0   char[8]   magic "PTQBCKPT"
//              u32       version (1)
//              u32       L, then L bytes: the model name (e.g. "ResNet_18"), no terminator
//              u32       T: the number of tensors
//   T times:   u32       L, then L bytes: the tensor name (e.g. "conv0.weight")
//              u32       rank R (1..8), then R x u32: the dimensions (each >= 1)
//              f32 x prod(dims): the values, row-major (PyTorch's layout: conv out,in,kh,kw)
//   end        u64       FNV-1a 64 of every byte before it (magic included)
//
// Writing is atomic: the bytes go to "<path>.tmp.<pid>" in the same directory, which is flushed
// (fsync) and renamed over <path>; a crash leaves the old file or the new one, never a mix.
// Loading reads the whole file, checks the magic, the version, the checksum, every length against
// the bytes that remain, and that nothing follows the checksum; any failure throws
// CheckpointError naming the file and the problem. check_checkpoint() then compares the model
// name and the tensor names and shapes with what a network expects.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/model_desc.h"

namespace ptq {

constexpr char kCheckpointMagic[8] = {'P', 'T', 'Q', 'B', 'C', 'K', 'P', 'T'};
constexpr std::uint32_t kCheckpointVersion = 1;

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NamedTensor {
  std::string name;
  std::vector<int> shape;
  std::vector<float> data;  // prod(shape) values
};

struct Checkpoint {
  std::string model;
  std::vector<NamedTensor> tensors;
  const NamedTensor* find(const std::string& name) const;  // nullptr when absent
};

// FNV-1a 64-bit hash of n bytes (offset basis 14695981039346656037, prime 1099511628211).
std::uint64_t fnv1a64(const void* data, std::size_t n);

// Writes atomically (see above). Throws CheckpointError when a tensor's data size does not match
// its shape or the file cannot be written; an existing file at path is then left untouched.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Writes size bytes to path atomically, as checkpoints are written (above). Returns an empty
// string, or what failed; an existing file at path is then left untouched.
std::string write_file_atomically(const std::string& path, const void* data, std::size_t size);

// Reads and verifies the file's structure and checksum. Throws CheckpointError on any problem.
Checkpoint load_checkpoint(const std::string& path);

// Throws CheckpointError unless the checkpoint is for desc.model and holds exactly the tensors
// of param_layout(desc) with the same shapes (the message names the first difference).
void check_checkpoint(const Checkpoint& checkpoint, const NetworkDesc& desc,
                      const std::string& path);

}  // namespace ptq
