#include "data/fashion_mnist.h"

#include <zlib.h>

#include <array>
#include <memory>
#include <string>

namespace ptq {
namespace {

constexpr std::size_t kIdxPixels = std::size_t{kFashionMnistSide} * kFashionMnistSide;  // 784
constexpr std::size_t kReadChunk = std::size_t{1} << 20;

// An IDX file opened through zlib: gzread inflates a gzip file and passes a plain one through.
class IdxReader {
 public:
  explicit IdxReader(std::filesystem::path file) : file_(std::move(file)) {
    gz_ = gzopen(file_.string().c_str(), "rb");
    if (gz_ == nullptr) throw_dataset_error(file_, "cannot open");
  }
  ~IdxReader() { gzclose(gz_); }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  const std::filesystem::path& file() const { return file_; }

  // Appends exactly n bytes of `what` to out, in chunks, so a header that claims more than the
  // file holds fails as truncated instead of allocating the claim up front.
  void read(std::size_t n, std::vector<std::uint8_t>& out, const std::string& what) {
    std::size_t got = 0;
    while (got < n) {
      const std::size_t want = std::min(kReadChunk, n - got);
      const std::size_t base = out.size();
      out.resize(base + want);
      const int r = gzread(gz_, out.data() + base, static_cast<unsigned>(want));
      if (r < 0) throw_dataset_error(file_, "cannot read " + what + ": " + zlib_error());
      out.resize(base + static_cast<std::size_t>(r));
      got += static_cast<std::size_t>(r);
      if (static_cast<std::size_t>(r) < want) {
        throw_dataset_error(file_, "truncated: expected " + std::to_string(n) + " bytes of " +
                                       what + ", found " + std::to_string(got) + detail_if_error());
      }
    }
  }

  std::uint32_t read_u32(const std::string& what) {
    std::vector<std::uint8_t> b;
    read(4, b, what);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
  }

  void expect_end() {
    unsigned char extra = 0;
    const int r = gzread(gz_, &extra, 1);
    if (r < 0) throw_dataset_error(file_, "cannot read: " + zlib_error());
    if (r > 0) throw_dataset_error(file_, "has bytes after the data its header describes");
  }

 private:
  std::string zlib_error() {
    int code = 0;
    const char* message = gzerror(gz_, &code);
    return message ? message : "unknown zlib error";
  }
  std::string detail_if_error() {
    int code = 0;
    const char* message = gzerror(gz_, &code);
    return (code != Z_OK && message && *message) ? " (" + std::string(message) + ")" : "";
  }

  std::filesystem::path file_;
  gzFile gz_ = nullptr;
};

std::filesystem::path require_idx_file(const std::filesystem::path& dir, const std::string& stem) {
  const std::optional<std::filesystem::path> file = find_idx_file(dir, stem);
  if (!file) throw_dataset_error(dir / (stem + "[.gz]"), "missing file");
  return *file;
}

void expect_magic(IdxReader& in, std::uint32_t want) {
  const std::uint32_t magic = in.read_u32("the magic number");
  if (magic != want) {
    throw_dataset_error(in.file(), "bad magic number " + std::to_string(magic) + ", expected " +
                                       std::to_string(want));
  }
}

}  // namespace

std::optional<std::filesystem::path> find_idx_file(const std::filesystem::path& dir,
                                                   const std::string& stem) {
  std::error_code ec;
  for (const std::string& name : {stem + ".gz", stem}) {
    if (std::filesystem::is_regular_file(dir / name, ec)) return dir / name;
  }
  return std::nullopt;
}

Dataset read_fashion_mnist(const std::filesystem::path& dir, DatasetPart part) {
  const std::string prefix = part == DatasetPart::kTrain ? "train" : "t10k";

  IdxReader images(require_idx_file(dir, prefix + "-images-idx3-ubyte"));
  expect_magic(images, kIdxImagesMagic);
  const std::uint32_t n_images = images.read_u32("the image count");
  const std::uint32_t rows = images.read_u32("the row count");
  const std::uint32_t cols = images.read_u32("the column count");
  if (rows != kFashionMnistSide || cols != kFashionMnistSide) {
    throw_dataset_error(images.file(), "images are " + std::to_string(rows) + " x " +
                                           std::to_string(cols) + ", expected 28 x 28");
  }

  IdxReader labels_in(require_idx_file(dir, prefix + "-labels-idx1-ubyte"));
  expect_magic(labels_in, kIdxLabelsMagic);
  const std::uint32_t n_labels = labels_in.read_u32("the label count");
  if (n_labels != n_images) {
    throw_dataset_error(labels_in.file(), "holds " + std::to_string(n_labels) + " labels but " +
                                              images.file().filename().string() + " holds " +
                                              std::to_string(n_images) + " images");
  }

  std::vector<std::uint8_t> grey;
  images.read(std::size_t{n_images} * kIdxPixels, grey, "pixel data");
  images.expect_end();
  Dataset data;
  data.name = part == DatasetPart::kTrain ? "fashion-mnist/train" : "fashion-mnist/test";
  labels_in.read(n_labels, data.labels, "labels");
  labels_in.expect_end();
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    if (data.labels[i] >= kNumClasses) {
      throw_dataset_error(labels_in.file(), "label " + std::to_string(i) + " is " +
                                                std::to_string(data.labels[i]) + ", expected 0.." +
                                                std::to_string(kNumClasses - 1));
    }
  }

  // 28 x 28 grey -> 32 x 32 with a 2-pixel zero border, the same plane in all three channels.
  constexpr int kBorder = (kImageSide - kFashionMnistSide) / 2;
  constexpr std::size_t kPlane = std::size_t{kImageSide} * kImageSide;
  data.images.assign(std::size_t{n_images} * kImageBytes, 0);
  for (std::size_t i = 0; i < n_images; ++i) {
    std::uint8_t* out = data.images.data() + i * kImageBytes;
    const std::uint8_t* in = grey.data() + i * kIdxPixels;
    for (int y = 0; y < kFashionMnistSide; ++y) {
      for (int x = 0; x < kFashionMnistSide; ++x) {
        const std::uint8_t v = in[y * kFashionMnistSide + x];
        for (int c = 0; c < kImageChannels; ++c) {
          out[c * kPlane + std::size_t(y + kBorder) * kImageSide + (x + kBorder)] = v;
        }
      }
    }
  }
  return data;
}

}  // namespace ptq
