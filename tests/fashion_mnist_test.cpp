#include "data/fashion_mnist.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "tests/data_test_util.h"

namespace ptq {
namespace {

constexpr std::uint32_t kImages = 4;

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

std::uint8_t grey_of(std::size_t i, int y, int x) {
  return static_cast<std::uint8_t>(1 + i * 37 + y * 5 + x * 3);  // never 0: the border is
}

std::vector<std::uint8_t> images_file(std::uint32_t count = kImages, std::uint32_t rows = 28,
                                      std::uint32_t magic = kIdxImagesMagic) {
  std::vector<std::uint8_t> b;
  put_u32(b, magic);
  put_u32(b, count);
  put_u32(b, rows);
  put_u32(b, 28);
  for (std::size_t i = 0; i < count; ++i) {
    for (std::uint32_t y = 0; y < rows; ++y) {
      for (int x = 0; x < 28; ++x) b.push_back(grey_of(i, static_cast<int>(y), x));
    }
  }
  return b;
}

std::vector<std::uint8_t> labels_file(std::uint32_t count = kImages,
                                      std::uint32_t magic = kIdxLabelsMagic) {
  std::vector<std::uint8_t> b;
  put_u32(b, magic);
  put_u32(b, count);
  for (std::uint32_t i = 0; i < count; ++i) b.push_back(static_cast<std::uint8_t>((i * 7) % 10));
  return b;
}

void write_gz(const std::filesystem::path& file, const std::vector<std::uint8_t>& bytes) {
  gzFile gz = gzopen(file.string().c_str(), "wb");
  ASSERT_NE(gz, nullptr) << file;
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
}

// The four files, plain or gzip-compressed.
void write_fashion_mnist(const std::filesystem::path& dir, bool gz) {
  const std::string ext = gz ? ".gz" : "";
  for (const std::string prefix : {"train", "t10k"}) {
    const std::filesystem::path images = dir / (prefix + "-images-idx3-ubyte" + ext);
    const std::filesystem::path labels = dir / (prefix + "-labels-idx1-ubyte" + ext);
    if (gz) {
      write_gz(images, images_file());
      write_gz(labels, labels_file());
    } else {
      test::write_bytes(images, images_file());
      test::write_bytes(labels, labels_file());
    }
  }
}

void expect_padded_grey_in_three_channels(const Dataset& d) {
  ASSERT_EQ(d.size(), kImages);
  ASSERT_EQ(d.images.size(), kImages * kImageBytes);
  for (std::size_t i = 0; i < kImages; ++i) {
    EXPECT_EQ(d.labels[i], (i * 7) % 10);
    for (int c = 0; c < 3; ++c) {
      for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 32; ++x) {
          const bool border = y < 2 || y >= 30 || x < 2 || x >= 30;
          const std::uint8_t want = border ? 0 : grey_of(i, y - 2, x - 2);
          ASSERT_EQ(d.image(i)[(c * 32 + y) * 32 + x], want)
              << "image " << i << " c " << c << " y " << y << " x " << x;
        }
      }
    }
  }
}

TEST(ReadFashionMnist, PadsTo32AndRepeatsTheGreyPlaneFromPlainFiles) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), false);
  const Dataset d = read_fashion_mnist(tmp.path(), DatasetPart::kTrain);
  EXPECT_EQ(d.name, "fashion-mnist/train");
  expect_padded_grey_in_three_channels(d);
}

TEST(ReadFashionMnist, ReadsGzipFilesLikePlainOnes) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), true);
  const Dataset d = read_fashion_mnist(tmp.path(), DatasetPart::kTest);
  EXPECT_EQ(d.name, "fashion-mnist/test");
  expect_padded_grey_in_three_channels(d);
  EXPECT_EQ(read_dataset(tmp.path(), DatasetPart::kTrain).name, "fashion-mnist/train");
}

TEST(ReadFashionMnist, RefusesBadMagicNumbers) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), false);
  const auto images = tmp.path() / "train-images-idx3-ubyte";
  const auto labels = tmp.path() / "train-labels-idx1-ubyte";
  test::write_bytes(images, images_file(kImages, 28, kIdxLabelsMagic));
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTrain); }, images,
                             "bad magic number 2049, expected 2051");
  test::write_bytes(images, images_file());
  test::write_bytes(labels, labels_file(kImages, 2050));
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTrain); }, labels,
                             "bad magic number 2050, expected 2049");
}

TEST(ReadFashionMnist, RefusesImagesThatAreNot28By28) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), false);
  const auto images = tmp.path() / "t10k-images-idx3-ubyte";
  test::write_bytes(images, images_file(kImages, 27));
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTest); }, images,
                             "images are 27 x 28, expected 28 x 28");
}

TEST(ReadFashionMnist, RefusesDifferentImageAndLabelCounts) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), true);
  const auto labels = tmp.path() / "train-labels-idx1-ubyte.gz";
  write_gz(labels, labels_file(kImages + 1));
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTrain); }, labels,
                             "holds 5 labels but train-images-idx3-ubyte.gz holds 4 images");
}

TEST(ReadFashionMnist, RefusesTruncatedPlainAndGzipFiles) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), false);
  const auto images = tmp.path() / "train-images-idx3-ubyte";
  std::vector<std::uint8_t> cut = images_file();
  cut.resize(cut.size() - 100);
  test::write_bytes(images, cut);
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTrain); }, images,
                             "truncated: expected 3136 bytes of pixel data, found 3036");
  test::write_bytes(images, {0, 0, 8});
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTrain); }, images,
                             "truncated: expected 4 bytes of the magic number, found 3");

  // A gzip stream cut in the middle: zlib stops early and says why.
  test::TempDir gz_dir;
  write_fashion_mnist(gz_dir.path(), true);
  const auto gz_labels = gz_dir.path() / "t10k-labels-idx1-ubyte.gz";
  const auto gz_images = gz_dir.path() / "t10k-images-idx3-ubyte.gz";
  std::vector<std::uint8_t> whole;
  {
    std::ifstream in(gz_images, std::ios::binary);
    whole.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  whole.resize(whole.size() / 2);
  test::write_bytes(gz_images, whole);
  test::expect_dataset_error([&] { read_fashion_mnist(gz_dir.path(), DatasetPart::kTest); },
                             gz_images, "truncated");
}

TEST(ReadFashionMnist, RefusesBytesAfterTheData) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), false);
  const auto labels = tmp.path() / "t10k-labels-idx1-ubyte";
  std::vector<std::uint8_t> longer = labels_file();
  longer.push_back(0);
  test::write_bytes(labels, longer);
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTest); }, labels,
                             "has bytes after the data its header describes");
}

TEST(ReadFashionMnist, RefusesALabelOutOfRange) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), true);
  const auto labels = tmp.path() / "train-labels-idx1-ubyte.gz";
  std::vector<std::uint8_t> bad = labels_file();
  bad.back() = 200;
  write_gz(labels, bad);
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTrain); }, labels,
                             "label 3 is 200, expected 0..9");
}

TEST(ReadFashionMnist, NamesAMissingFile) {
  test::TempDir tmp;
  write_fashion_mnist(tmp.path(), false);
  std::filesystem::remove(tmp.path() / "t10k-labels-idx1-ubyte");
  test::expect_dataset_error([&] { read_fashion_mnist(tmp.path(), DatasetPart::kTest); },
                             tmp.path() / "t10k-labels-idx1-ubyte[.gz]", "missing file");
}

}  // namespace
}  // namespace ptq
