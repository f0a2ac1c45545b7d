#include "data/cifar10.h"

#include <gtest/gtest.h>

#include "tests/data_test_util.h"

namespace ptq {
namespace {

constexpr std::size_t kRecords = 3;  // records per file in these tests

// Label and pixel of record r of file f: distinct per file, record, channel and position.
std::uint8_t label_of(int f, std::size_t r) {
  return static_cast<std::uint8_t>((f * 3 + r) % 10);
}
std::uint8_t pixel_of(int f, std::size_t r, std::size_t k) {
  return static_cast<std::uint8_t>(f * 61 + r * 17 + k * 7 + k / 1024);
}

std::vector<std::uint8_t> batch_bytes(int f, std::size_t records) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t r = 0; r < records; ++r) {
    bytes.push_back(label_of(f, r));
    for (std::size_t k = 0; k < kImageBytes; ++k) bytes.push_back(pixel_of(f, r, k));
  }
  return bytes;
}

// Files 1..5 are data_batch_1..5.bin, file 0 is test_batch.bin.
void write_cifar(const std::filesystem::path& dir, std::size_t records = kRecords) {
  for (int f = 1; f <= 5; ++f) {
    test::write_bytes(dir / ("data_batch_" + std::to_string(f) + ".bin"), batch_bytes(f, records));
  }
  test::write_bytes(dir / "test_batch.bin", batch_bytes(0, records));
}

TEST(ReadCifar10, ReadsTheFiveTrainingBatchesInOrderWithPlanesRedGreenBlue) {
  test::TempDir tmp;
  write_cifar(tmp.path());
  const Dataset d = read_cifar10(tmp.path(), DatasetPart::kTrain, kRecords);
  EXPECT_EQ(d.name, "cifar10/train");
  EXPECT_EQ(d.num_classes, 10);
  ASSERT_EQ(d.size(), 5 * kRecords);
  ASSERT_EQ(d.images.size(), 5 * kRecords * kImageBytes);
  for (int f = 1; f <= 5; ++f) {
    for (std::size_t r = 0; r < kRecords; ++r) {
      const std::size_t i = (f - 1) * kRecords + r;
      EXPECT_EQ(d.labels[i], label_of(f, r));
      for (std::size_t k = 0; k < kImageBytes; ++k) {
        ASSERT_EQ(d.image(i)[k], pixel_of(f, r, k)) << "image " << i << " byte " << k;
      }
    }
  }
}

TEST(ReadCifar10, ReadsTheTestBatch) {
  test::TempDir tmp;
  write_cifar(tmp.path());
  const Dataset d = read_cifar10(tmp.path(), DatasetPart::kTest, kRecords);
  EXPECT_EQ(d.name, "cifar10/test");
  ASSERT_EQ(d.size(), kRecords);
  EXPECT_EQ(d.labels[2], label_of(0, 2));
  EXPECT_EQ(d.image(1)[2048], pixel_of(0, 1, 2048));
}

TEST(ReadCifar10, AcceptsTheParentOfTheBatchFolder) {
  test::TempDir tmp;
  write_cifar(tmp.path() / "cifar-10-batches-bin");
  EXPECT_EQ(find_cifar10_dir(tmp.path()), tmp.path() / "cifar-10-batches-bin");
  EXPECT_EQ(read_cifar10(tmp.path(), DatasetPart::kTrain, kRecords).size(), 5 * kRecords);
  // read_dataset recognises the layout too (and applies the real record count).
  test::expect_dataset_error([&] { read_dataset(tmp.path(), DatasetPart::kTest); },
                             tmp.path() / "cifar-10-batches-bin" / "test_batch.bin",
                             "holds 3 records, expected 10000");
}

TEST(ReadCifar10, RefusesAFileThatIsNotWholeRecords) {
  test::TempDir tmp;
  write_cifar(tmp.path());
  std::vector<std::uint8_t> cut = batch_bytes(3, kRecords);
  cut.pop_back();
  test::write_bytes(tmp.path() / "data_batch_3.bin", cut);
  test::expect_dataset_error([&] { read_cifar10(tmp.path(), DatasetPart::kTrain, kRecords); },
                             tmp.path() / "data_batch_3.bin",
                             "not a whole number of 3073-byte records");
}

TEST(ReadCifar10, RefusesAFileWithTheWrongNumberOfRecords) {
  test::TempDir tmp;
  write_cifar(tmp.path());
  test::expect_dataset_error([&] { read_cifar10(tmp.path(), DatasetPart::kTest); },
                             tmp.path() / "test_batch.bin", "holds 3 records, expected 10000");
  test::write_bytes(tmp.path() / "data_batch_5.bin", {});
  test::expect_dataset_error([&] { read_cifar10(tmp.path(), DatasetPart::kTrain, kRecords); },
                             tmp.path() / "data_batch_5.bin", "holds 0 records, expected 3");
}

TEST(ReadCifar10, RefusesALabelOutOfRange) {
  test::TempDir tmp;
  write_cifar(tmp.path());
  std::vector<std::uint8_t> bad = batch_bytes(2, kRecords);
  bad[2 * kCifar10RecordBytes] = 10;
  test::write_bytes(tmp.path() / "data_batch_2.bin", bad);
  test::expect_dataset_error([&] { read_cifar10(tmp.path(), DatasetPart::kTrain, kRecords); },
                             tmp.path() / "data_batch_2.bin",
                             "record 2 has label 10, expected 0..9");
}

TEST(ReadCifar10, NamesAMissingBatchFile) {
  test::TempDir tmp;
  write_cifar(tmp.path());
  std::filesystem::remove(tmp.path() / "data_batch_4.bin");
  test::expect_dataset_error([&] { read_cifar10(tmp.path(), DatasetPart::kTrain, kRecords); },
                             tmp.path() / "data_batch_4.bin", "missing file");
  test::TempDir empty;
  test::expect_dataset_error([&] { read_cifar10(empty.path(), DatasetPart::kTest); },
                             empty.path() / "test_batch.bin", "missing file");
}

TEST(ReadDataset, SaysWhatItLookedForInAFolderWithoutADataset) {
  test::TempDir tmp;
  test::expect_dataset_error([&] { read_dataset(tmp.path(), DatasetPart::kTrain); }, tmp.path(),
                             "no dataset found");
}

TEST(ClassCounts, CountsEachLabel) {
  Dataset d;
  d.labels = {0, 3, 3, 9};
  d.images.resize(4 * kImageBytes);
  const std::vector<std::size_t> counts = class_counts(d);
  EXPECT_EQ(counts, (std::vector<std::size_t>{1, 0, 0, 2, 0, 0, 0, 0, 0, 1}));
}

}  // namespace
}  // namespace ptq
