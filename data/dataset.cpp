#include "data/dataset.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "data/cifar10.h"
#include "data/fashion_mnist.h"

namespace ptq {

void throw_dataset_error(const std::filesystem::path& file, const std::string& problem) {
  throw DatasetError(file.string() + ": " + problem);
}

std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw_dataset_error(file, "missing file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw_dataset_error(file, "cannot open: " + std::string(std::strerror(errno)));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) throw_dataset_error(file, "read error");
  return bytes;
}

Dataset read_dataset(const std::filesystem::path& dir, DatasetPart part) {
  if (find_cifar10_dir(dir)) return read_cifar10(dir, part);
  if (find_idx_file(dir, "train-images-idx3-ubyte") ||
      find_idx_file(dir, "t10k-images-idx3-ubyte")) {
    return read_fashion_mnist(dir, part);
  }
  throw_dataset_error(dir,
                      "no dataset found: expected CIFAR-10 binary batches (data_batch_1.bin, "
                      "test_batch.bin, here or in cifar-10-batches-bin/) or Fashion-MNIST IDX "
                      "files (train-images-idx3-ubyte[.gz], ...)");
}

Dataset subset(const Dataset& data, const std::vector<std::uint32_t>& indices, std::string name) {
  Dataset out;
  out.name = std::move(name);
  out.num_classes = data.num_classes;
  out.images.resize(indices.size() * kImageBytes);
  out.labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= data.size()) {
      throw std::out_of_range("subset index " + std::to_string(indices[i]) + " >= dataset size " +
                              std::to_string(data.size()));
    }
    std::memcpy(out.images.data() + i * kImageBytes, data.image(indices[i]), kImageBytes);
    out.labels[i] = data.labels[indices[i]];
  }
  return out;
}

std::vector<std::size_t> class_counts(const Dataset& data) {
  std::vector<std::size_t> counts(static_cast<std::size_t>(data.num_classes), 0);
  for (std::uint8_t label : data.labels) ++counts.at(label);
  return counts;
}

}  // namespace ptq
