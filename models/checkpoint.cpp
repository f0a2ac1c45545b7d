// Checkpoint file format: see checkpoint.h.
#include "models/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace ptq {
namespace {

static_assert(sizeof(float) == 4, "checkpoints hold IEEE float32");
constexpr int kMaxRank = 8;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw CheckpointError("checkpoint " + path + ": " + problem);
}

std::string shape_str(const std::vector<int>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Little-endian serialisation into a byte vector (the host is little-endian: x86-64, aarch64).
void put_u32(std::vector<unsigned char>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
void put_u64(std::vector<unsigned char>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
void put_string(std::vector<unsigned char>& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

// Reads from a byte range, refusing to run past its end.
class Reader {
 public:
  Reader(const std::vector<unsigned char>& bytes, std::size_t end, const std::string& path)
      : bytes_(bytes), end_(end), path_(path) {}

  void need(std::size_t n, const char* what) const {
    if (n > end_ - pos_) {
      fail(path_, std::string("truncated or corrupt: ") + what + " needs " + std::to_string(n) +
                      " bytes at offset " + std::to_string(pos_) + ", " +
                      std::to_string(end_ - pos_) + " remain");
    }
  }
  std::uint32_t u32(const char* what) {
    need(4, what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }
  std::string string(const char* what) {
    const std::uint32_t n = u32(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  void floats(float* dst, std::size_t n, const char* what) {
    need(n * sizeof(float), what);
    std::memcpy(dst, bytes_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
  }
  void skip(std::size_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }
  std::size_t pos() const { return pos_; }

 private:
  const std::vector<unsigned char>& bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
  const std::string& path_;
};

std::size_t element_count(const std::vector<int>& shape) {
  std::size_t n = 1;
  for (int d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

}  // namespace

const NamedTensor* Checkpoint::find(const std::string& name) const {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::uint64_t fnv1a64(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = 14695981039346656037ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  std::vector<unsigned char> bytes(std::begin(kCheckpointMagic), std::end(kCheckpointMagic));
  put_u32(bytes, kCheckpointVersion);
  put_string(bytes, ck.model);
  put_u32(bytes, static_cast<std::uint32_t>(ck.tensors.size()));
  for (const NamedTensor& t : ck.tensors) {
    if (t.shape.empty() || t.shape.size() > kMaxRank) {
      fail(path, "tensor '" + t.name + "' has rank " + std::to_string(t.shape.size()));
    }
    for (int d : t.shape) {
      if (d < 1) fail(path, "tensor '" + t.name + "' has shape " + shape_str(t.shape));
    }
    if (element_count(t.shape) != t.data.size()) {
      fail(path, "tensor '" + t.name + "' has " + std::to_string(t.data.size()) +
                     " values for shape " + shape_str(t.shape));
    }
    put_string(bytes, t.name);
    put_u32(bytes, static_cast<std::uint32_t>(t.shape.size()));
    for (int d : t.shape) put_u32(bytes, static_cast<std::uint32_t>(d));
    const auto* raw = reinterpret_cast<const unsigned char*>(t.data.data());
    bytes.insert(bytes.end(), raw, raw + t.data.size() * sizeof(float));
  }
  put_u64(bytes, fnv1a64(bytes.data(), bytes.size()));

  const std::string problem = write_file_atomically(path, bytes.data(), bytes.size());
  if (!problem.empty()) fail(path, problem);
}

std::string write_file_atomically(const std::string& path, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, bytes + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return "writing " + tmp + " failed: " + why;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "flushing " + tmp + " failed: " + why;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "renaming " + tmp + " over it failed: " + why;
  }
  return "";
}

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                         std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  constexpr std::size_t kHeader = sizeof kCheckpointMagic + 4;
  if (bytes.size() < sizeof kCheckpointMagic ||
      std::memcmp(bytes.data(), kCheckpointMagic, sizeof kCheckpointMagic) != 0) {
    fail(path, "not a ptqbench checkpoint (magic \"PTQBCKPT\" missing)");
  }
  if (bytes.size() < kHeader + 8)
    fail(path, "truncated: " + std::to_string(bytes.size()) + " bytes");
  Reader header(bytes, kHeader, path);
  header.skip(sizeof kCheckpointMagic, "magic");
  const std::uint32_t version = header.u32("version");
  if (version != kCheckpointVersion) {
    fail(path, "version " + std::to_string(version) + ", this build reads version " +
                   std::to_string(kCheckpointVersion));
  }
  const std::size_t body_end = bytes.size() - 8;
  std::uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= static_cast<std::uint64_t>(bytes[body_end + i]) << (8 * i);
  if (stored != fnv1a64(bytes.data(), body_end)) {
    fail(path, "checksum mismatch: the file is corrupt or truncated");
  }

  Reader r(bytes, body_end, path);
  r.skip(kHeader, "magic and version");
  Checkpoint ck;
  ck.model = r.string("model name");
  const std::uint32_t count = r.u32("tensor count");
  for (std::uint32_t t = 0; t < count; ++t) {
    NamedTensor nt;
    nt.name = r.string("tensor name");
    const std::uint32_t rank = r.u32("tensor rank");
    if (rank < 1 || rank > kMaxRank) {
      fail(path, "tensor '" + nt.name + "' has rank " + std::to_string(rank));
    }
    std::size_t n = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      const std::uint32_t dim = r.u32("tensor dimension");
      if (dim < 1 || dim > (1u << 30)) {
        fail(path, "tensor '" + nt.name + "' has dimension " + std::to_string(dim));
      }
      nt.shape.push_back(static_cast<int>(dim));
      if (n > body_end / dim) fail(path, "tensor '" + nt.name + "' is larger than the file");
      n *= dim;
    }
    r.need(n * sizeof(float), "tensor data");
    nt.data.resize(n);
    r.floats(nt.data.data(), n, "tensor data");
    if (ck.find(nt.name)) fail(path, "tensor '" + nt.name + "' appears twice");
    ck.tensors.push_back(std::move(nt));
  }
  if (r.pos() != body_end) {
    fail(path, std::to_string(body_end - r.pos()) + " unexpected bytes before the checksum");
  }
  return ck;
}

void check_checkpoint(const Checkpoint& ck, const NetworkDesc& desc, const std::string& path) {
  if (ck.model != desc.model) {
    fail(path, "holds model '" + ck.model + "', expected '" + desc.model + "'");
  }
  const ParamLayout layout = param_layout(desc);
  for (const ParamSpec& s : layout.specs) {
    const NamedTensor* t = ck.find(s.name);
    if (!t) fail(path, "tensor '" + s.name + "' is missing");
    if (t->shape != s.shape) {
      fail(path, "tensor '" + s.name + "' has shape " + shape_str(t->shape) + ", " + desc.model +
                     " expects " + shape_str(s.shape));
    }
  }
  if (ck.tensors.size() != layout.specs.size()) {
    for (const NamedTensor& t : ck.tensors) {
      if (layout.find(t.name) < 0)
        fail(path, "holds tensor '" + t.name + "', unknown to " + desc.model);
    }
  }
}

}  // namespace ptq
