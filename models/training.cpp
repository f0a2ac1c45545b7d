// The training recipe and its bookkeeping: see training.h (the resume state's format is there).
#include "models/training.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "util/json.h"

namespace ptq {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kResumeVersion = 2;
constexpr int kResumeVersionWithoutSchedule = 1;
constexpr char kEpochsDoneTensor[] = "resume.epochs_done";
constexpr char kOptimizerPrefix[] = "optimizer.";

// A name table for an enum: the names a user types and the files store.
template <typename E>
struct Named {
  E value;
  const char* name;
};

constexpr Named<OptimizerKind> kOptimizers[] = {
    {OptimizerKind::kSgd, "sgd"},
    {OptimizerKind::kSgdMomentum, "sgd-momentum"},
    {OptimizerKind::kSgdNesterov, "sgd-nesterov"},
    {OptimizerKind::kAdam, "adam"},
};

constexpr Named<LrSchedule> kSchedules[] = {
    {LrSchedule::kCosine, "cosine"},
    {LrSchedule::kWarmupCosine, "warmup-cosine"},
};

template <typename E, std::size_t N>
const char* name_in(const Named<E> (&table)[N], E value) {
  for (const Named<E>& n : table) {
    if (n.value == value) return n.name;
  }
  return "?";
}

// The value named `name`; throws TrainOptionError("unknown <what> ... (known: ...)") otherwise.
template <typename E, std::size_t N>
E parse_in(const Named<E> (&table)[N], const std::string& name, const char* what) {
  std::string known;
  for (const Named<E>& n : table) {
    if (name == n.name) return n.value;
    known += std::string(known.empty() ? "" : ", ") + n.name;
  }
  throw TrainOptionError("unknown " + std::string(what) + " '" + name + "' (known: " + known + ")");
}

std::string format_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

std::string format_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string path_in(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// The options as the state's key=value pairs, in file order.
std::vector<std::pair<std::string, std::string>> option_fields(const TrainOptions& o) {
  return {{"model", o.model},
          {"dataset", o.dataset},
          {"optimizer", optimizer_name(o.optimizer)},
          {"lr", format_float(o.lr)},
          {"lr_min", format_float(o.lr_min)},
          {"schedule", schedule_name(o.schedule)},
          {"warmup_epochs", format_float(o.warmup_epochs)},
          {"momentum", format_float(o.momentum)},
          {"weight_decay", format_float(o.weight_decay)},
          {"epochs", std::to_string(o.epochs)},
          {"batch", std::to_string(o.batch)},
          {"seed", std::to_string(o.seed)},
          {"patience", std::to_string(o.patience)},
          {"math", math_name(o.tf32)}};
}

std::vector<std::pair<std::string, std::string>> progress_fields(const TrainProgress& p) {
  return {{"epochs_done", std::to_string(p.epochs_done)},
          {"steps", std::to_string(p.steps)},
          {"best_epoch", std::to_string(p.stopping.best_epoch)},
          {"best_val_acc", format_double(p.stopping.best_val_acc)},
          {"stale_epochs", std::to_string(p.stopping.stale_epochs)},
          {"finished", p.finished ? "1" : "0"},
          {"seconds", format_double(p.seconds)},
          {"train_seconds", format_double(p.train_seconds)},
          {"train_images", std::to_string(p.train_images)}};
}

// Reads "key=value" lines in order, refusing anything else.
class StateReader {
 public:
  StateReader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw TrainStateError("resume state " + source_ + ": " + problem);
  }
  // The value of the next line, which must be `key=...`.
  std::string next(const std::string& key) {
    std::string line;
    if (!std::getline(in_, line)) fail("ends before '" + key + "'");
    ++line_no_;
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos || line.compare(0, eq, key) != 0 || eq != key.size()) {
      fail("line " + std::to_string(line_no_) + " is '" + line + "', expected '" + key + "=...'");
    }
    return line.substr(eq + 1);
  }
  // Whole-string numbers only.
  double number(const std::string& key) {
    const std::string v = next(key);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') fail(key + " is '" + v + "', not a number");
    return x;
  }
  long long integer(const std::string& key) {
    const std::string v = next(key);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0) fail(key + " is '" + v + "', not an integer");
    return x;
  }
  std::uint64_t unsigned_integer(const std::string& key) {
    const std::string v = next(key);
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0)
      fail(key + " is '" + v + "', not an unsigned integer");
    return x;
  }
  // The rest of the lines, each `key=...`.
  std::vector<std::string> rest(const std::string& key) {
    std::vector<std::string> values;
    while (in_.peek() != EOF) values.push_back(next(key));
    return values;
  }

 private:
  std::istream& in_;
  std::string source_;
  int line_no_ = 0;
};

}  // namespace

const char* optimizer_name(OptimizerKind kind) {
  return name_in(kOptimizers, kind);
}

OptimizerKind parse_optimizer(const std::string& name) {
  return parse_in(kOptimizers, name, "optimizer");
}

const char* schedule_name(LrSchedule schedule) {
  return name_in(kSchedules, schedule);
}

LrSchedule parse_schedule(const std::string& name) {
  return parse_in(kSchedules, name, "schedule");
}

const char* math_name(bool tf32) {
  return tf32 ? "tf32" : "fp32";
}

const char* conv_engines_name(bool graph_conv) {
  return graph_conv ? "fastest" : "legacy";
}

const char* batch_norm_mode_name(bool bn_persistent) {
  return bn_persistent ? "persistent" : "spatial";
}

TrainOptions default_train_options(const std::string& model, OptimizerKind optimizer) {
  TrainOptions o;
  o.model = model;
  o.optimizer = optimizer;
  o.lr = 0.005f;
  o.lr_min = 5e-5f;
  o.weight_decay = 0.0f;
  switch (optimizer) {
    case OptimizerKind::kSgd:
      o.momentum = 0.0f;
      break;
    case OptimizerKind::kSgdMomentum:
      o.momentum = 0.9f;
      break;
    case OptimizerKind::kSgdNesterov:
      o.momentum = 0.95f;
      o.weight_decay = 1e-4f;
      break;
    case OptimizerKind::kAdam:
      o.lr = 1e-3f;
      o.lr_min = 1e-5f;
      o.momentum = 0.0f;
      break;
  }
  return o;
}

void validate_train_options(const TrainOptions& o) {
  const auto bad = [](const std::string& what) { throw TrainOptionError(what); };
  if (!(o.lr > 0.0f) || !std::isfinite(o.lr)) bad("--lr must be a positive number");
  if (!(o.lr_min >= 0.0f) || !(o.lr_min <= o.lr))
    bad("--lr-min must lie in [0, lr] (lr " + std::to_string(o.lr) + ")");
  if (!(o.momentum >= 0.0f && o.momentum < 1.0f)) bad("momentum must lie in [0, 1)");
  if (o.optimizer == OptimizerKind::kSgdNesterov && !(o.momentum > 0.0f))
    bad("sgd-nesterov needs a momentum above 0");
  if ((o.optimizer == OptimizerKind::kSgd || o.optimizer == OptimizerKind::kAdam) &&
      o.momentum != 0.0f)
    bad(std::string("--momentum applies to sgd-momentum and sgd-nesterov, not ") +
        optimizer_name(o.optimizer));
  if (!(o.weight_decay >= 0.0f) || !std::isfinite(o.weight_decay))
    bad("--weight-decay must be a number >= 0");
  if (o.epochs < 1) bad("--epochs must be at least 1");
  if (o.batch < 2) bad("--batch must be at least 2 (batch norm needs two samples)");
  if (o.eval_batch < 0) bad("--eval-batch must be 0 (the training batch) or more");
  if (o.val_from < 1 || o.val_from > o.epochs)
    bad("--val-from must lie in [1, epochs] (epochs " + std::to_string(o.epochs) + ")");
  if (o.patience < 1) bad("--patience must be at least 1");
  if (o.stop_after < 0) bad("--stop-after must be 0 (no limit) or more");
  if (o.dataset != "cifar10" && o.dataset != "fashion-mnist")
    bad("unknown dataset '" + o.dataset + "' (known: cifar10, fashion-mnist)");
  if (!(o.warmup_epochs >= 0.0f) || !(o.warmup_epochs < static_cast<float>(o.epochs)))
    bad("--warmup must lie in [0, epochs) (epochs " + std::to_string(o.epochs) + ")");
  if (o.warmup_epochs > 0.0f && o.schedule != LrSchedule::kWarmupCosine)
    bad("--warmup needs --schedule warmup-cosine");
}

int val_from_for_last(int epochs, int last) {
  return std::max(1, epochs - last + 1);
}

int evaluation_batch(const TrainOptions& options) {
  return options.eval_batch > 0 ? options.eval_batch : options.batch;
}

double cosine_lr(double lr, double lr_min, int epoch, int epochs) {
  return lr_min + (lr - lr_min) * (1.0 + std::cos(kPi * epoch / epochs)) / 2.0;
}

double scheduled_lr(const TrainOptions& o, std::int64_t step, std::int64_t steps_per_epoch) {
  if (o.schedule == LrSchedule::kCosine)
    return cosine_lr(o.lr, o.lr_min, static_cast<int>(step / steps_per_epoch), o.epochs);
  const std::int64_t total = static_cast<std::int64_t>(o.epochs) * steps_per_epoch;
  std::int64_t warmup = 0;
  if (o.warmup_epochs > 0.0f) {
    warmup = std::max<std::int64_t>(
        1, std::llround(static_cast<double>(o.warmup_epochs) * steps_per_epoch));
    warmup = std::min(warmup, total - 1);  // leaves at least one step of the cosine
  }
  if (step < warmup) return static_cast<double>(o.lr) * (step + 1) / warmup;
  const double t = static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
  return o.lr_min + (static_cast<double>(o.lr) - o.lr_min) * (1.0 + std::cos(kPi * t)) / 2.0;
}

bool EarlyStopping::record(int epoch, double val_acc) {
  if (best_epoch == 0 || val_acc > best_val_acc) {
    best_epoch = epoch;
    best_val_acc = val_acc;
    stale_epochs = 0;
    return true;
  }
  ++stale_epochs;
  return false;
}

// A validation field: empty for an epoch that was not validated (NaN).
std::string format_validation(double v) {
  return std::isnan(v) ? "" : format_double(v);
}

std::string log_row(const EpochRecord& r) {
  return std::to_string(r.epoch) + "," + format_double(r.lr) + "," + format_double(r.train_loss) +
         "," + format_double(r.train_acc) + "," + format_validation(r.val_loss) + "," +
         format_validation(r.val_acc) + "," + format_double(r.seconds) + "," +
         format_double(r.images_per_s);
}

EpochRecord parse_log_row(const std::string& row, const std::string& source) {
  EpochRecord r;
  double* fields[] = {&r.lr,      &r.train_loss, &r.train_acc,   &r.val_loss,
                      &r.val_acc, &r.seconds,    &r.images_per_s};
  const char* p = row.c_str();
  char* end = nullptr;
  const long epoch = std::strtol(p, &end, 10);
  bool ok = end != p && epoch >= 1;
  for (double* field : fields) {
    if (!ok || *end != ',') {
      ok = false;
      break;
    }
    p = end + 1;
    const bool validation = field == &r.val_loss || field == &r.val_acc;
    if (validation && (*p == ',' || *p == '\0')) {  // an epoch that was not validated
      *field = std::numeric_limits<double>::quiet_NaN();
      end = const_cast<char*>(p);
      continue;
    }
    *field = std::strtod(p, &end);
    ok = end != p;
  }
  if (!ok || *end != '\0') {
    throw TrainStateError("resume state " + source + ": '" + row + "' is not a log row");
  }
  r.epoch = static_cast<int>(epoch);
  return r;
}

std::string log_text(const std::vector<EpochRecord>& history) {
  std::string text = std::string(kTrainLogHeader) + "\n";
  for (const EpochRecord& r : history) text += log_row(r) + "\n";
  return text;
}

bool has_resume_state(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(path_in(dir, kResumeFile), ec);
}

void save_resume_state(const std::string& dir, const TrainOptions& options,
                       const TrainProgress& progress, const ResumeTensors& tensors) {
  const std::string tensors_file = "resume." + std::to_string(progress.epochs_done % 2) + ".ckpt";
  Checkpoint ck = tensors.network;
  for (const auto& [name, values] : tensors.optimizer) {
    ck.tensors.push_back({kOptimizerPrefix + name, {static_cast<int>(values.size())}, values});
  }
  ck.tensors.push_back({kEpochsDoneTensor, {1}, {static_cast<float>(progress.epochs_done)}});
  save_checkpoint(path_in(dir, tensors_file), ck);

  std::string text = "version=" + std::to_string(kResumeVersion) + "\n";
  for (const auto& [key, value] : option_fields(options)) text += key + "=" + value + "\n";
  for (const auto& [key, value] : progress_fields(progress)) text += key + "=" + value + "\n";
  text += "tensors=" + tensors_file + "\n";
  for (const EpochRecord& r : progress.history) text += "row=" + log_row(r) + "\n";
  const std::string path = path_in(dir, kResumeFile);
  const std::string problem = write_file_atomically(path, text.data(), text.size());
  if (!problem.empty()) throw TrainStateError("resume state " + path + ": " + problem);
}

ResumeState load_resume_state(const std::string& dir) {
  const std::string path = path_in(dir, kResumeFile);
  std::ifstream in(path);
  if (!in) {
    throw TrainStateError("no resume state in " + dir + " (" + kResumeFile +
                          " missing or unreadable: " + std::strerror(errno) + ")");
  }
  StateReader r(in, path);
  const long long version = r.integer("version");
  if (version != kResumeVersion && version != kResumeVersionWithoutSchedule) {
    r.fail("version " + std::to_string(version) + ", this build reads versions " +
           std::to_string(kResumeVersionWithoutSchedule) + " and " +
           std::to_string(kResumeVersion));
  }
  ResumeState s;
  TrainOptions& o = s.options;
  o.model = r.next("model");
  o.dataset = r.next("dataset");
  try {
    o.optimizer = parse_optimizer(r.next("optimizer"));
  } catch (const TrainOptionError& e) {
    r.fail(e.what());
  }
  o.lr = static_cast<float>(r.number("lr"));
  o.lr_min = static_cast<float>(r.number("lr_min"));
  if (version >= kResumeVersion) {
    try {
      o.schedule = parse_schedule(r.next("schedule"));
    } catch (const TrainOptionError& e) {
      r.fail(e.what());
    }
    o.warmup_epochs = static_cast<float>(r.number("warmup_epochs"));
  }
  o.momentum = static_cast<float>(r.number("momentum"));
  o.weight_decay = static_cast<float>(r.number("weight_decay"));
  o.epochs = static_cast<int>(r.integer("epochs"));
  o.batch = static_cast<int>(r.integer("batch"));
  o.seed = r.unsigned_integer("seed");
  o.patience = static_cast<int>(r.integer("patience"));
  const std::string math = r.next("math");
  if (math != "tf32" && math != "fp32") r.fail("math is '" + math + "'");
  o.tf32 = math == "tf32";
  try {
    validate_train_options(o);
  } catch (const TrainOptionError& e) {
    r.fail(e.what());
  }

  TrainProgress& p = s.progress;
  p.epochs_done = static_cast<int>(r.integer("epochs_done"));
  p.steps = r.integer("steps");
  p.stopping.patience = o.patience;
  p.stopping.best_epoch = static_cast<int>(r.integer("best_epoch"));
  p.stopping.best_val_acc = r.number("best_val_acc");
  p.stopping.stale_epochs = static_cast<int>(r.integer("stale_epochs"));
  p.finished = r.integer("finished") != 0;
  p.seconds = r.number("seconds");
  p.train_seconds = r.number("train_seconds");
  p.train_images = r.integer("train_images");
  s.tensors_file = r.next("tensors");
  if (s.tensors_file != "resume.0.ckpt" && s.tensors_file != "resume.1.ckpt")
    r.fail("tensors is '" + s.tensors_file + "'");
  for (const std::string& row : r.rest("row")) p.history.push_back(parse_log_row(row, path));
  if (p.epochs_done < 0 || p.epochs_done > o.epochs ||
      static_cast<int>(p.history.size()) != p.epochs_done) {
    r.fail(std::to_string(p.epochs_done) + " epochs done with " + std::to_string(p.history.size()) +
           " log rows and " + std::to_string(o.epochs) + " epochs planned");
  }
  return s;
}

ResumeTensors load_resume_tensors(const std::string& dir, const ResumeState& state) {
  const std::string path = path_in(dir, state.tensors_file);
  Checkpoint ck = load_checkpoint(path);
  if (ck.model != state.options.model) {
    throw TrainStateError("resume state " + path + ": holds model '" + ck.model +
                          "', resume.txt '" + state.options.model + "'");
  }
  ResumeTensors t;
  t.network.model = ck.model;
  bool epoch_seen = false;
  for (NamedTensor& nt : ck.tensors) {
    if (nt.name == kEpochsDoneTensor) {
      if (nt.data.size() != 1 || nt.data[0] != static_cast<float>(state.progress.epochs_done)) {
        throw TrainStateError("resume state " + path + ": its tensors are not those of epoch " +
                              std::to_string(state.progress.epochs_done));
      }
      epoch_seen = true;
    } else if (nt.name.rfind(kOptimizerPrefix, 0) == 0) {
      t.optimizer.emplace_back(nt.name.substr(std::strlen(kOptimizerPrefix)), std::move(nt.data));
    } else {
      t.network.tensors.push_back(std::move(nt));
    }
  }
  if (!epoch_seen) throw TrainStateError("resume state " + path + ": no " + kEpochsDoneTensor);
  return t;
}

void check_resume_options(const ResumeState& state, const TrainOptions& wanted,
                          const std::string& dir) {
  const auto saved = option_fields(state.options), asked = option_fields(wanted);
  for (std::size_t i = 0; i < saved.size(); ++i) {
    if (saved[i].second != asked[i].second) {
      throw TrainStateError("the resume state in " + dir + " is for " + saved[i].first + "=" +
                            saved[i].second + ", this run asks for " + asked[i].first + "=" +
                            asked[i].second +
                            " (resume with the same options, or use another --out)");
    }
  }
}

void prepare_out_dir(const std::string& dir) {
  if (dir.empty()) throw TrainOptionError("--out needs a folder");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw TrainOptionError("cannot create output folder " + dir + ": " + ec.message());
  if (!std::filesystem::is_directory(dir, ec))
    throw TrainOptionError("output folder " + dir + " is not a folder");
  const std::string probe = path_in(dir, ".write_test." + std::to_string(::getpid()));
  {
    std::ofstream out(probe);
    if (!(out << "ok\n") || !(out.flush())) {
      const std::string why = std::strerror(errno);
      std::remove(probe.c_str());
      throw TrainOptionError("output folder " + dir + " is not writable: " + why);
    }
  }
  std::remove(probe.c_str());
}

double training_tflops(std::int64_t forward_macs, std::int64_t images, double seconds) {
  if (!(seconds > 0)) return 0;
  return 3.0 * 2.0 * static_cast<double>(forward_macs) * static_cast<double>(images) / seconds /
         1e12;
}

std::string summary_json(const TrainSummary& s) {
  const TrainOptions& o = s.options;
  std::ostringstream j;
  j << "{\n"
    << "  \"model\": " << json_string(o.model) << ",\n"
    << "  \"dataset\": " << json_string(o.dataset) << ",\n"
    << "  \"optimizer\": " << json_string(optimizer_name(o.optimizer)) << ",\n"
    << "  \"lr\": " << format_float(o.lr) << ",\n"
    << "  \"lr_min\": " << format_float(o.lr_min) << ",\n"
    << "  \"schedule\": " << json_string(schedule_name(o.schedule)) << ",\n"
    << "  \"warmup_epochs\": " << format_float(o.warmup_epochs) << ",\n"
    << "  \"momentum\": " << format_float(o.momentum) << ",\n"
    << "  \"weight_decay\": " << format_float(o.weight_decay) << ",\n"
    << "  \"batch\": " << o.batch << ",\n"
    << "  \"eval_batch\": " << evaluation_batch(o) << ",\n"
    << "  \"val_from\": " << o.val_from << ",\n"
    << "  \"seed\": " << o.seed << ",\n"
    << "  \"patience\": " << o.patience << ",\n"
    << "  \"math\": " << json_string(math_name(o.tf32)) << ",\n"
    << "  \"conv\": " << json_string(conv_engines_name(o.graph_conv)) << ",\n"
    << "  \"bn\": " << json_string(batch_norm_mode_name(o.bn_persistent)) << ",\n"
    << "  \"device\": " << json_string(s.device) << ",\n"
    << "  \"epochs\": " << o.epochs << ",\n"
    << "  \"epochs_run\": " << s.epochs_run << ",\n"
    << "  \"stopped_early\": " << (s.stopped_early ? "true" : "false") << ",\n"
    << "  \"best_epoch\": " << s.best_epoch << ",\n"
    << "  \"best_val_acc\": " << json_number(s.best_val_acc) << ",\n"
    << "  \"test_acc\": " << json_number(s.test_acc) << ",\n"
    << "  \"test_loss\": " << json_number(s.test_loss) << ",\n"
    << "  \"seconds\": " << json_number(s.seconds) << ",\n"
    << "  \"images_per_s\": " << json_number(s.images_per_s) << ",\n"
    << "  \"tflops\": " << json_number(s.tflops) << ",\n"
    << "  \"forward_macs\": " << s.forward_macs << "\n"
    << "}\n";
  return j.str();
}

}  // namespace ptq
