#include "data/cifar10.h"

#include <cstring>
#include <string>

namespace ptq {
namespace {

bool has_batches(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "data_batch_1.bin", ec) ||
         std::filesystem::is_regular_file(dir / "test_batch.bin", ec);
}

// Appends the records of one batch file to data, checking its size and labels.
void append_batch_file(const std::filesystem::path& file, std::size_t records_per_file,
                       Dataset& data) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(file);
  if (bytes.size() % kCifar10RecordBytes != 0) {
    throw_dataset_error(file, std::to_string(bytes.size()) + " bytes is not a whole number of " +
                                  std::to_string(kCifar10RecordBytes) +
                                  "-byte records (truncated or not a CIFAR-10 batch)");
  }
  const std::size_t records = bytes.size() / kCifar10RecordBytes;
  if (records != records_per_file) {
    throw_dataset_error(file, "holds " + std::to_string(records) + " records, expected " +
                                  std::to_string(records_per_file));
  }
  const std::size_t base = data.size();
  data.labels.resize(base + records);
  data.images.resize((base + records) * kImageBytes);
  for (std::size_t r = 0; r < records; ++r) {
    const std::uint8_t* record = bytes.data() + r * kCifar10RecordBytes;
    if (record[0] >= kNumClasses) {
      throw_dataset_error(file, "record " + std::to_string(r) + " has label " +
                                    std::to_string(record[0]) + ", expected 0.." +
                                    std::to_string(kNumClasses - 1));
    }
    data.labels[base + r] = record[0];
    std::memcpy(data.images.data() + (base + r) * kImageBytes, record + 1, kImageBytes);
  }
}

}  // namespace

std::optional<std::filesystem::path> find_cifar10_dir(const std::filesystem::path& dir) {
  if (has_batches(dir)) return dir;
  if (has_batches(dir / "cifar-10-batches-bin")) return dir / "cifar-10-batches-bin";
  return std::nullopt;
}

Dataset read_cifar10(const std::filesystem::path& dir, DatasetPart part,
                     std::size_t records_per_file) {
  const std::optional<std::filesystem::path> folder = find_cifar10_dir(dir);
  // A folder with neither file still gets a message naming the file that is missing.
  const std::filesystem::path batches = folder ? *folder : dir;
  Dataset data;
  if (part == DatasetPart::kTrain) {
    data.name = "cifar10/train";
    for (int i = 1; i <= kCifar10TrainFiles; ++i) {
      append_batch_file(batches / ("data_batch_" + std::to_string(i) + ".bin"), records_per_file,
                        data);
    }
  } else {
    data.name = "cifar10/test";
    append_batch_file(batches / "test_batch.bin", records_per_file, data);
  }
  return data;
}

}  // namespace ptq
