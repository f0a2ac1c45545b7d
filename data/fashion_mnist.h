// Fashion-MNIST in IDX files: {train,t10k}-images-idx3-ubyte (magic 2051, N x 28 x 28 uint8) and
// {train,t10k}-labels-idx1-ubyte (magic 2049, N labels 0..9), each gzip-compressed (.gz, read
// through zlib) or plain; header integers are big-endian. Images become network input by
// padding 28 x 28 to 32 x 32 with 2 zero pixels on each side and repeating the grey plane to 3
// channels.
#pragma once

#include <filesystem>
#include <optional>

#include "data/dataset.h"

namespace ptq {

constexpr std::uint32_t kIdxImagesMagic = 2051;  // 0x00000803: unsigned bytes, 3 dimensions
constexpr std::uint32_t kIdxLabelsMagic = 2049;  // 0x00000801: unsigned bytes, 1 dimension
constexpr int kFashionMnistSide = 28;

// dir/<stem>.gz when it exists, else dir/<stem> when that exists; nullopt when neither.
std::optional<std::filesystem::path> find_idx_file(const std::filesystem::path& dir,
                                                   const std::string& stem);

// The training (train-*) or test (t10k-*) part. Checks magic numbers, 28 x 28 dimensions, equal
// image and label counts, labels 0..9, and that each file holds exactly what its header says;
// throws DatasetError naming the file and the problem.
Dataset read_fashion_mnist(const std::filesystem::path& dir, DatasetPart part);

}  // namespace ptq
