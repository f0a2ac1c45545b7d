// Datasets as the networks see them: uint8 images N x 3 x 32 x 32 (channel planes, row-major) and
// labels 0..9, read from the CIFAR-10 binary layout or Fashion-MNIST IDX files (data/cifar10.h,
// data/fashion_mnist.h). Every reader error is a DatasetError naming the file and the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ptq {

class DatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr int kImageChannels = 3;
constexpr int kImageSide = 32;
constexpr std::size_t kImageBytes = std::size_t{kImageChannels} * kImageSide * kImageSide;  // 3072
constexpr int kNumClasses = 10;

enum class DatasetPart { kTrain, kTest };

struct Dataset {
  std::string name;  // e.g. "cifar10/train", "fashion-mnist/test"
  int num_classes = kNumClasses;
  std::vector<std::uint8_t> images;  // size() * kImageBytes
  std::vector<std::uint8_t> labels;  // each < num_classes

  std::size_t size() const { return labels.size(); }
  const std::uint8_t* image(std::size_t i) const { return images.data() + i * kImageBytes; }
};

// Reads part of the dataset at dir, recognising the format by its files: CIFAR-10 binary
// (data_batch_1.bin .. in dir or in dir/cifar-10-batches-bin) or Fashion-MNIST IDX
// (train-images-idx3-ubyte[.gz] ..). Throws DatasetError naming what was looked for when neither.
Dataset read_dataset(const std::filesystem::path& dir, DatasetPart part);

// The images and labels of `data` at `indices`, in that order, under `name`.
Dataset subset(const Dataset& data, const std::vector<std::uint32_t>& indices, std::string name);

// How many images of each class 0..num_classes-1.
std::vector<std::size_t> class_counts(const Dataset& data);

// "<file>: <problem>" as a DatasetError, the form every reader error takes.
[[noreturn]] void throw_dataset_error(const std::filesystem::path& file,
                                      const std::string& problem);

// The whole file as bytes; DatasetError naming the file when it is missing or unreadable.
std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& file);

}  // namespace ptq
