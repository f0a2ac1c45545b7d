// CIFAR-10 binary layout (the official cifar-10-binary.tar.gz): data_batch_1.bin ..
// data_batch_5.bin and test_batch.bin, each 10,000 records of 1 label byte (0..9) followed by 3072
// pixel bytes, the 1024 red values, then green, then blue, each plane row-major 32 x 32.
#pragma once

#include <filesystem>
#include <optional>

#include "data/dataset.h"

namespace ptq {

constexpr std::size_t kCifar10RecordBytes = 1 + kImageBytes;  // 3073
constexpr std::size_t kCifar10RecordsPerFile = 10000;
constexpr int kCifar10TrainFiles = 5;

// The folder holding the batch files: dir itself when it has data_batch_1.bin or test_batch.bin,
// else dir/cifar-10-batches-bin when that has them; nullopt when neither.
std::optional<std::filesystem::path> find_cifar10_dir(const std::filesystem::path& dir);

// The 50,000 training images (batches 1..5 in order) or the 10,000 test images. dir may be the
// batch folder or its parent. Checks every file's size (whole 3073-byte records, records_per_file
// of them: tests write small batches) and every label (0..9); throws DatasetError naming the file
// and the problem.
Dataset read_cifar10(const std::filesystem::path& dir, DatasetPart part,
                     std::size_t records_per_file = kCifar10RecordsPerFile);

}  // namespace ptq
