// The training recipe's host side (models/training.h): optimiser names and defaults, option
// validation, the cosine schedule at its start, middle and end, the per-step warmup-cosine
// schedule, early stopping's counter, log rows read back exactly, the resume state's round trip
// (and version 1's), its crash consistency and its refusals, the output folder check and the
// summary. CPU only.
#include "models/training.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "tests/cli_test_util.h"
#include "tests/data_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

using test::slurp;

// cos and the lr arithmetic in double: a few ulps of the values involved (analytic).
constexpr double kScheduleTol = 1e-15;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TrainOptions tiny_options() {
  TrainOptions o = default_train_options("tiny", OptimizerKind::kSgdNesterov);
  o.epochs = 6;
  o.batch = 32;
  o.seed = 7;
  o.patience = 3;
  return o;
}

// A state after `epochs_done` epochs with distinguishable numbers everywhere.
TrainProgress progress_after(int epochs_done) {
  TrainProgress p;
  p.stopping.patience = 3;
  for (int e = 1; e <= epochs_done; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.lr = cosine_lr(0.005, 5e-5, e - 1, 6);
    r.train_loss = 2.0 / e + 1.0 / 3.0;
    r.train_acc = 10.0 * e + 0.1;
    r.val_loss = 2.5 / e;
    r.val_acc = e == 2 ? 60.0 : 10.0 * e + 1.0 / 7.0;
    r.seconds = 1.25 * e;
    r.images_per_s = 12345.678 * e;
    p.stopping.record(e, r.val_acc);
    p.history.push_back(r);
  }
  p.epochs_done = epochs_done;
  p.steps = 313LL * epochs_done;
  p.seconds = 10.5;
  p.train_seconds = 9.25;
  p.train_images = 40000LL * epochs_done;
  return p;
}

ResumeTensors tensors_for(const std::string& model, float fill) {
  ResumeTensors t;
  t.network.model = model;
  std::mt19937_64 rng(test::kSeed);
  t.network.tensors.push_back({"conv0.weight", {2, 3}, test::normal_values(6, 1.0f, rng)});
  t.network.tensors.push_back({"bn1.running_var", {3}, {fill, fill, fill}});
  t.optimizer.emplace_back("momentum", test::normal_values(64, 0.1f, rng));
  return t;
}

// Every value's name parses back to it, and an unknown name is refused with a message that lists
// `listed` among the known names.
template <typename E, typename NameOf, typename Parse>
void expect_names_round_trip(std::initializer_list<E> values, NameOf name_of, Parse parse,
                             const std::string& unknown, const std::string& listed) {
  for (E k : values) EXPECT_EQ(parse(name_of(k)), k) << name_of(k);
  try {
    parse(unknown);
    ADD_FAILURE() << "accepted the unknown name " << unknown;
  } catch (const TrainOptionError& e) {
    EXPECT_NE(std::string(e.what()).find(listed), std::string::npos) << e.what();
  }
}

TEST(OptimizerName, RoundTripsAndUnknownNamesListTheKnownOnes) {
  expect_names_round_trip({OptimizerKind::kSgd, OptimizerKind::kSgdMomentum,
                           OptimizerKind::kSgdNesterov, OptimizerKind::kAdam},
                          optimizer_name, parse_optimizer, "sgd_nesterov", "sgd-nesterov");
}

TEST(DefaultTrainOptions, AreTheStudysSettingsPerOptimizer) {
  const TrainOptions nesterov = default_train_options("VGG_16", OptimizerKind::kSgdNesterov);
  EXPECT_EQ(nesterov.model, "VGG_16");
  EXPECT_FLOAT_EQ(nesterov.lr, 0.005f);
  EXPECT_FLOAT_EQ(nesterov.lr_min, 5e-5f);
  EXPECT_FLOAT_EQ(nesterov.momentum, 0.95f);
  EXPECT_FLOAT_EQ(nesterov.weight_decay, 1e-4f);
  EXPECT_EQ(nesterov.batch, 128);
  EXPECT_EQ(nesterov.patience, 10);
  EXPECT_TRUE(nesterov.tf32);
  const TrainOptions sgd = default_train_options("VGG_16", OptimizerKind::kSgd);
  EXPECT_FLOAT_EQ(sgd.lr, 0.005f);
  EXPECT_EQ(sgd.momentum, 0.0f);
  EXPECT_EQ(sgd.weight_decay, 0.0f);
  EXPECT_FLOAT_EQ(default_train_options("x", OptimizerKind::kSgdMomentum).momentum, 0.9f);
  const TrainOptions adam = default_train_options("x", OptimizerKind::kAdam);
  EXPECT_FLOAT_EQ(adam.lr, 1e-3f);
  EXPECT_FLOAT_EQ(adam.lr_min, 1e-5f);
  for (OptimizerKind k : {OptimizerKind::kSgd, OptimizerKind::kSgdMomentum,
                          OptimizerKind::kSgdNesterov, OptimizerKind::kAdam}) {
    EXPECT_NO_THROW(validate_train_options(default_train_options("x", k)));
  }
}

TEST(ValidateTrainOptions, RefusesEachBadValue) {
  const auto refused = [](void (*change)(TrainOptions&)) {
    TrainOptions o = tiny_options();
    change(o);
    try {
      validate_train_options(o);
    } catch (const TrainOptionError&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(refused([](TrainOptions& o) { o.lr = 0; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.lr = -1; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.lr = std::numeric_limits<float>::quiet_NaN(); }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.lr = std::numeric_limits<float>::infinity(); }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.lr_min = -1e-6f; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.lr_min = 2 * o.lr; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.momentum = 1.0f; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.momentum = 0.0f; }));  // nesterov needs momentum
  EXPECT_TRUE(refused([](TrainOptions& o) {                          // plain SGD would ignore it
    o.optimizer = OptimizerKind::kSgd;
    o.momentum = 0.9f;
  }));
  EXPECT_TRUE(refused([](TrainOptions& o) {
    o.optimizer = OptimizerKind::kAdam;
    o.momentum = 0.9f;
  }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.weight_decay = -1e-4f; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.epochs = 0; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.batch = 1; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.eval_batch = -1; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.val_from = 0; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.val_from = o.epochs + 1; }));  // never validated
  EXPECT_TRUE(refused([](TrainOptions& o) { o.patience = 0; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.stop_after = -1; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.dataset = "mnist"; }));
  EXPECT_TRUE(refused([](TrainOptions& o) { o.warmup_epochs = 1; }));  // cosine has no warmup
  EXPECT_TRUE(refused([](TrainOptions& o) {
    o.schedule = LrSchedule::kWarmupCosine;
    o.warmup_epochs = -0.5f;
  }));
  EXPECT_TRUE(refused([](TrainOptions& o) {
    o.schedule = LrSchedule::kWarmupCosine;
    o.warmup_epochs = static_cast<float>(o.epochs);  // nothing left for the cosine
  }));
  EXPECT_TRUE(refused([](TrainOptions& o) {
    o.schedule = LrSchedule::kWarmupCosine;
    o.warmup_epochs = std::numeric_limits<float>::quiet_NaN();
  }));
  EXPECT_FALSE(refused([](TrainOptions& o) {
    o.schedule = LrSchedule::kWarmupCosine;
    o.warmup_epochs = 0.5f;
  }));
  EXPECT_FALSE(refused([](TrainOptions& o) { o.lr_min = o.lr; }));  // a constant schedule
  EXPECT_FALSE(refused([](TrainOptions& o) { o.dataset = "fashion-mnist"; }));
}

TEST(ValFromForLast, ValidatesTheLastEpochsOrAllOfThem) {
  EXPECT_EQ(val_from_for_last(80, 20), 61);  // epochs 61..80
  EXPECT_EQ(val_from_for_last(80, 1), 80);
  EXPECT_EQ(val_from_for_last(10, 10), 1);
  EXPECT_EQ(val_from_for_last(10, 25), 1);  // more than there are: every epoch
  TrainOptions o = default_train_options("AlexNet", OptimizerKind::kSgdNesterov);
  o.epochs = 10;
  o.val_from = val_from_for_last(o.epochs, 3);
  EXPECT_NO_THROW(validate_train_options(o));
}

TEST(CosineLr, StartsAtLrPassesTheMeanHalfwayAndEndsAtLrMin) {
  const double lr = 0.005, lr_min = 5e-5;
  EXPECT_NEAR(cosine_lr(lr, lr_min, 0, 30), lr, kScheduleTol);
  EXPECT_NEAR(cosine_lr(lr, lr_min, 15, 30), (lr + lr_min) / 2, kScheduleTol);
  EXPECT_NEAR(cosine_lr(lr, lr_min, 30, 30), lr_min, kScheduleTol);
  // A quarter of the way: lr_min + (lr - lr_min) (1 + cos(pi/4)) / 2.
  EXPECT_NEAR(cosine_lr(lr, lr_min, 10, 40), lr_min + (lr - lr_min) * (1 + std::sqrt(0.5)) / 2,
              kScheduleTol);
  double previous = lr + 1;
  for (int e = 0; e < 30; ++e) {
    const double v = cosine_lr(lr, lr_min, e, 30);
    EXPECT_LT(v, previous) << "epoch " << e;
    EXPECT_GT(v, lr_min) << "epoch " << e;  // the last epoch run (29) stays above the floor
    previous = v;
  }
  EXPECT_EQ(cosine_lr(lr, lr_min, 0, 1), lr);  // a single epoch runs at lr
}

TEST(ScheduleName, RoundTripsAndUnknownNamesListTheKnownOnes) {
  expect_names_round_trip({LrSchedule::kCosine, LrSchedule::kWarmupCosine}, schedule_name,
                          parse_schedule, "onecycle", "warmup-cosine");
}

TEST(ScheduledLr, CosineHoldsTheStudysEpochValueForEveryStepOfTheEpoch) {
  TrainOptions o = tiny_options();  // 6 epochs, the study's lr and floor
  constexpr std::int64_t kSteps = 7;
  for (std::int64_t step = 0; step < o.epochs * kSteps; ++step) {
    EXPECT_EQ(scheduled_lr(o, step, kSteps),
              cosine_lr(o.lr, o.lr_min, static_cast<int>(step / kSteps), o.epochs))
        << "step " << step;
  }
}

TEST(ScheduledLr, WarmupRisesLinearlyToLrThenTheCosineFallsToLrMin) {
  TrainOptions o = tiny_options();
  o.schedule = LrSchedule::kWarmupCosine;
  o.lr = 0.4f;
  o.lr_min = 0.0f;
  o.epochs = 10;
  o.warmup_epochs = 2;
  constexpr std::int64_t kSteps = 50;  // 100 warmup steps, 400 of cosine
  const double lr = o.lr;
  EXPECT_NEAR(scheduled_lr(o, 0, kSteps), lr / 100, kScheduleTol);
  EXPECT_NEAR(scheduled_lr(o, 49, kSteps), lr / 2, kScheduleTol);
  EXPECT_NEAR(scheduled_lr(o, 99, kSteps), lr, kScheduleTol);       // the warmup's last step
  EXPECT_NEAR(scheduled_lr(o, 100, kSteps), lr, kScheduleTol);      // the cosine's first
  EXPECT_NEAR(scheduled_lr(o, 300, kSteps), lr / 2, kScheduleTol);  // halfway through the cosine
  EXPECT_NEAR(scheduled_lr(o, 500, kSteps), 0.0, kScheduleTol);     // one past the last step
  double previous = 0;
  for (std::int64_t step = 0; step < 100; ++step) {
    const double v = scheduled_lr(o, step, kSteps);
    EXPECT_GT(v, previous) << "step " << step;
    previous = v;
  }
  for (std::int64_t step = 101; step < 500; ++step) {
    const double v = scheduled_lr(o, step, kSteps);
    EXPECT_LT(v, previous) << "step " << step;
    EXPECT_GT(v, 0.0) << "step " << step;  // the last step run stays above the floor
    previous = v;
  }
  // Fractional warmups round to whole steps, at least one.
  o.warmup_epochs = 0.001f;
  EXPECT_NEAR(scheduled_lr(o, 0, kSteps), lr, kScheduleTol);
  o.warmup_epochs = 0.5f;  // 25 steps
  EXPECT_NEAR(scheduled_lr(o, 24, kSteps), lr, kScheduleTol);
  EXPECT_NEAR(scheduled_lr(o, 12, kSteps), lr * 13 / 25, kScheduleTol);
  // No warmup: a per-step cosine from lr at step 0.
  o.warmup_epochs = 0;
  EXPECT_NEAR(scheduled_lr(o, 0, kSteps), lr, kScheduleTol);
  EXPECT_NEAR(scheduled_lr(o, 250, kSteps), lr / 2, kScheduleTol);
  // One epoch of one step: no room for a warmup; the step runs at lr.
  o.epochs = 1;
  o.warmup_epochs = 0.5f;
  EXPECT_NEAR(scheduled_lr(o, 0, 1), lr, kScheduleTol);
}

TEST(EarlyStopping, CountsEpochsWithoutAStrictlyBetterAccuracy) {
  EarlyStopping s;
  s.patience = 3;
  EXPECT_TRUE(s.record(1, 10.0));  // the first epoch is always the best so far
  EXPECT_TRUE(s.record(2, 20.0));
  EXPECT_FALSE(s.record(3, 20.0));  // equal is not better
  EXPECT_FALSE(s.record(4, 15.0));
  EXPECT_EQ(s.stale_epochs, 2);
  EXPECT_FALSE(s.should_stop());
  EXPECT_TRUE(s.record(5, 20.5));  // improvement resets the counter
  EXPECT_EQ(s.stale_epochs, 0);
  EXPECT_EQ(s.best_epoch, 5);
  EXPECT_FALSE(s.record(6, 1.0));
  EXPECT_FALSE(s.record(7, 1.0));
  EXPECT_FALSE(s.should_stop());
  EXPECT_FALSE(s.record(8, 1.0));
  EXPECT_TRUE(s.should_stop());
  EXPECT_EQ(s.best_epoch, 5);
  EXPECT_EQ(s.best_val_acc, 20.5);

  EarlyStopping zero;  // a first epoch at 0% is still recorded as the best
  EXPECT_TRUE(zero.record(1, 0.0));
  EXPECT_EQ(zero.best_epoch, 1);
}

TEST(LogRow, ReadsBackExactlyAndRefusesOtherText) {
  const TrainProgress p = progress_after(3);
  for (const EpochRecord& r : p.history) {
    const EpochRecord back = parse_log_row(log_row(r), "test");
    EXPECT_EQ(back.epoch, r.epoch);
    EXPECT_EQ(back.lr, r.lr);
    EXPECT_EQ(back.train_loss, r.train_loss);
    EXPECT_EQ(back.train_acc, r.train_acc);
    EXPECT_EQ(back.val_loss, r.val_loss);
    EXPECT_EQ(back.val_acc, r.val_acc);
    EXPECT_EQ(back.seconds, r.seconds);
    EXPECT_EQ(back.images_per_s, r.images_per_s);
  }
  // An epoch before --val-from: empty validation fields, read back as NaN.
  EpochRecord unvalidated = p.history[0];
  unvalidated.val_loss = unvalidated.val_acc = std::numeric_limits<double>::quiet_NaN();
  const std::string row = log_row(unvalidated);
  EXPECT_EQ(row.substr(0, row.find(",,")), log_row(p.history[0]).substr(0, row.find(",,")));
  EXPECT_NE(row.find(",,,"), std::string::npos) << row;
  const EpochRecord back = parse_log_row(row, "test");
  EXPECT_TRUE(std::isnan(back.val_loss));
  EXPECT_TRUE(std::isnan(back.val_acc));
  EXPECT_EQ(back.train_acc, unvalidated.train_acc);
  EXPECT_EQ(back.seconds, unvalidated.seconds);
  EXPECT_EQ(log_row(back), row);

  const std::string good = log_row(p.history[0]);
  for (const std::string& bad :
       {std::string(""), std::string("epoch,lr"), good + ",1", good.substr(0, good.rfind(',')),
        "0" + good.substr(1), good + "x"}) {
    EXPECT_THROW(parse_log_row(bad, "test"), TrainStateError) << bad;
  }
  const std::string text = log_text(p.history);
  EXPECT_EQ(text.substr(0, text.find('\n')), kTrainLogHeader);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
}

TEST(ResumeState, RoundTripsOptionsProgressAndTensors) {
  const test::TempDir tmp;
  const std::string dir = tmp.path().string();
  TrainOptions o = tiny_options();
  o.optimizer = OptimizerKind::kAdam;
  o.momentum = 0.0f;  // Adam has none
  o.lr = 1e-3f;
  o.lr_min = 1.234567e-5f;
  o.schedule = LrSchedule::kWarmupCosine;
  o.warmup_epochs = 1.25f;
  o.weight_decay = 3e-4f;
  o.seed = 18446744073709551615ull;  // the largest seed survives the text
  o.tf32 = false;
  o.dataset = "fashion-mnist";
  o.stop_after = 2;
  const TrainProgress p = progress_after(3);
  const ResumeTensors t = tensors_for("tiny", 1.5f);
  save_resume_state(dir, o, p, t);
  ASSERT_TRUE(has_resume_state(dir));

  const ResumeState s = load_resume_state(dir);
  EXPECT_EQ(s.options.model, o.model);
  EXPECT_EQ(s.options.dataset, o.dataset);
  EXPECT_EQ(s.options.optimizer, o.optimizer);
  EXPECT_EQ(s.options.lr, o.lr);
  EXPECT_EQ(s.options.lr_min, o.lr_min);
  EXPECT_EQ(s.options.schedule, o.schedule);
  EXPECT_EQ(s.options.warmup_epochs, o.warmup_epochs);
  EXPECT_EQ(s.options.momentum, o.momentum);
  EXPECT_EQ(s.options.weight_decay, o.weight_decay);
  EXPECT_EQ(s.options.epochs, o.epochs);
  EXPECT_EQ(s.options.batch, o.batch);
  EXPECT_EQ(s.options.seed, o.seed);
  EXPECT_EQ(s.options.patience, o.patience);
  EXPECT_EQ(s.options.tf32, o.tf32);
  EXPECT_EQ(s.options.stop_after, 0);  // per invocation, not stored
  EXPECT_EQ(s.progress.epochs_done, 3);
  EXPECT_EQ(s.progress.steps, p.steps);
  EXPECT_EQ(s.progress.stopping.best_epoch, p.stopping.best_epoch);
  EXPECT_EQ(s.progress.stopping.best_val_acc, p.stopping.best_val_acc);
  EXPECT_EQ(s.progress.stopping.stale_epochs, p.stopping.stale_epochs);
  EXPECT_EQ(s.progress.stopping.patience, o.patience);
  EXPECT_EQ(s.progress.finished, p.finished);
  EXPECT_EQ(s.progress.seconds, p.seconds);
  EXPECT_EQ(s.progress.train_seconds, p.train_seconds);
  EXPECT_EQ(s.progress.train_images, p.train_images);
  ASSERT_EQ(s.progress.history.size(), 3u);
  EXPECT_EQ(log_text(s.progress.history), log_text(p.history));
  EXPECT_EQ(s.tensors_file, "resume.1.ckpt");  // epochs_done % 2

  const ResumeTensors back = load_resume_tensors(dir, s);
  ASSERT_EQ(back.network.tensors.size(), t.network.tensors.size());
  for (std::size_t i = 0; i < t.network.tensors.size(); ++i) {
    EXPECT_EQ(back.network.tensors[i].name, t.network.tensors[i].name);
    EXPECT_EQ(back.network.tensors[i].shape, t.network.tensors[i].shape);
    EXPECT_EQ(back.network.tensors[i].data, t.network.tensors[i].data);
  }
  ASSERT_EQ(back.optimizer.size(), 1u);
  EXPECT_EQ(back.optimizer[0].first, "momentum");
  EXPECT_EQ(back.optimizer[0].second, t.optimizer[0].second);
}

// The tensors of epoch k + 1 go to the file the state of epoch k does not name: a crash between
// the two writes leaves the state of epoch k whole.
TEST(ResumeState, ACrashBeforeTheTextIsWrittenLeavesThePreviousStateWhole) {
  const test::TempDir tmp;
  const std::string dir = tmp.path().string();
  const TrainOptions o = tiny_options();
  save_resume_state(dir, o, progress_after(1), tensors_for("tiny", 1.0f));
  save_resume_state(dir, o, progress_after(2), tensors_for("tiny", 2.0f));
  EXPECT_EQ(load_resume_state(dir).tensors_file, "resume.0.ckpt");
  // Epoch 3's tensors written, then the crash: resume.txt still describes epoch 2.
  Checkpoint epoch3 = tensors_for("tiny", 3.0f).network;
  epoch3.tensors.push_back({"resume.epochs_done", {1}, {3.0f}});
  save_checkpoint(dir + "/resume.1.ckpt", epoch3);
  const ResumeState s = load_resume_state(dir);
  EXPECT_EQ(s.progress.epochs_done, 2);
  EXPECT_EQ(load_resume_tensors(dir, s).network.tensors[1].data[0], 2.0f);

  // resume.txt pointing at tensors of another epoch is refused.
  std::string text = slurp(dir + "/resume.txt");
  text.replace(text.find("tensors=resume.0.ckpt"), 21, "tensors=resume.1.ckpt");
  write_text(dir + "/resume.txt", text);
  EXPECT_THROW(load_resume_tensors(dir, load_resume_state(dir)), TrainStateError);
}

TEST(ResumeState, AbsentCorruptOrForeignStatesAreRefused) {
  const test::TempDir tmp;
  const std::string dir = tmp.path().string();
  EXPECT_FALSE(has_resume_state(dir));
  EXPECT_THROW(load_resume_state(dir), TrainStateError);

  const TrainOptions o = tiny_options();
  save_resume_state(dir, o, progress_after(2), tensors_for("tiny", 1.0f));
  const std::string good = slurp(dir + "/resume.txt");
  const auto refused_text = [&](const std::string& text) {
    write_text(dir + "/resume.txt", text);
    try {
      load_resume_state(dir);
    } catch (const TrainStateError&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(refused_text(good.substr(0, good.size() / 2)));  // truncated
  EXPECT_TRUE(refused_text("version=3" + good.substr(good.find('\n'))));
  std::string text_v1 = good;  // a version-2 state labelled 1 has two lines too many
  text_v1.replace(0, 9, "version=1");
  EXPECT_TRUE(refused_text(text_v1));
  std::string text = good;
  text.replace(text.find("epochs_done=2"), 13, "epochs_done=3");  // rows and count disagree
  EXPECT_TRUE(refused_text(text));
  text = good;
  text.replace(text.find("batch=32"), 8, "batch=3x");
  EXPECT_TRUE(refused_text(text));
  text = good;
  text.replace(text.find("optimizer=sgd-nesterov"), 22, "optimizer=lbfgs");
  EXPECT_TRUE(refused_text(text));
  text = good;
  text.replace(text.find("schedule=cosine"), 15, "schedule=step");
  EXPECT_TRUE(refused_text(text));
  EXPECT_TRUE(refused_text(good + "extra=1\n"));
  EXPECT_FALSE(refused_text(good));

  // Tensors written for another model.
  save_resume_state(dir, o, progress_after(2), tensors_for("other", 1.0f));
  EXPECT_THROW(load_resume_tensors(dir, load_resume_state(dir)), TrainStateError);
}

// States written before the schedule was an option (version 1) ran the study's cosine.
TEST(ResumeState, AVersionOneStateReadsAsTheCosineWithoutWarmup) {
  const test::TempDir tmp;
  const std::string dir = tmp.path().string();
  const TrainOptions o = tiny_options();
  save_resume_state(dir, o, progress_after(2), tensors_for("tiny", 1.0f));
  std::string text = slurp(dir + "/resume.txt");
  text.replace(0, 9, "version=1");
  for (const char* line : {"schedule=cosine\n", "warmup_epochs=0\n"}) {
    const std::size_t at = text.find(line);
    ASSERT_NE(at, std::string::npos) << line;
    text.erase(at, std::string(line).size());
  }
  write_text(dir + "/resume.txt", text);
  const ResumeState s = load_resume_state(dir);
  EXPECT_EQ(s.options.schedule, LrSchedule::kCosine);
  EXPECT_EQ(s.options.warmup_epochs, 0.0f);
  EXPECT_EQ(s.progress.epochs_done, 2);
  EXPECT_NO_THROW(check_resume_options(s, o, dir));
}

TEST(CheckResumeOptions, NamesTheFirstDifferenceAndIgnoresStopAfter) {
  const test::TempDir tmp;
  const std::string dir = tmp.path().string();
  const TrainOptions o = tiny_options();
  save_resume_state(dir, o, progress_after(1), tensors_for("tiny", 1.0f));
  const ResumeState s = load_resume_state(dir);
  TrainOptions same = o;
  same.stop_after = 5;
  same.eval_batch = 500;      // a speed choice, like stop_after: not part of the run's identity
  same.val_from = 2;          // so is which epochs are validated (what was measured stays)
  same.bn_persistent = true;  // and the batch-norm mode, a speed choice like the conv engines
  same.graph_conv = !o.graph_conv;
  EXPECT_NO_THROW(check_resume_options(s, same, dir));

  const auto difference = [&](void (*change)(TrainOptions&)) -> std::string {
    TrainOptions w = o;
    change(w);
    try {
      check_resume_options(s, w, dir);
    } catch (const TrainStateError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(difference([](TrainOptions& w) { w.model = "AlexNet"; }).find("model=tiny"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) {
              w.optimizer = OptimizerKind::kAdam;
            }).find("optimizer=adam"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.lr = 0.01f; }).find("lr="), std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.epochs = 7; }).find("epochs=7"), std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.seed = 8; }).find("seed=8"), std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.tf32 = false; }).find("math=fp32"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.dataset = "fashion-mnist"; }).find("dataset"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.batch = 64; }).find("batch=64"), std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.patience = 4; }).find("patience=4"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) {
              w.schedule = LrSchedule::kWarmupCosine;
            }).find("schedule=warmup-cosine"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.warmup_epochs = 2; }).find("warmup_epochs=2"),
            std::string::npos);
  EXPECT_NE(difference([](TrainOptions& w) { w.momentum = 0.9f; }).find("momentum=0.9"),
            std::string::npos);
}

TEST(PrepareOutDir, CreatesNestedFoldersAndRefusesUnusableOnes) {
  const test::TempDir tmp;
  const std::string dir = (tmp.path() / "a" / "b").string();
  EXPECT_NO_THROW(prepare_out_dir(dir));
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_TRUE(std::filesystem::is_empty(dir));  // the probe is gone
  const std::string file = dir + "/a_file";
  write_text(file, "x");
  EXPECT_THROW(prepare_out_dir(file), TrainOptionError);
  EXPECT_THROW(prepare_out_dir(file + "/sub"), TrainOptionError);
  EXPECT_THROW(prepare_out_dir(""), TrainOptionError);
}

TEST(TrainingTflops, CountsThreeForwardsOfTwoFlopsPerMac) {
  // 1e9 MACs x 1000 images x 6 FLOPs in 2 s = 3 TFLOP/s.
  EXPECT_DOUBLE_EQ(training_tflops(1000000000, 1000, 2.0), 3.0);
  EXPECT_EQ(training_tflops(1000, 1000, 0.0), 0.0);
}

TEST(SummaryJson, HoldsEveryFieldAndWritesNullForMissingNumbers) {
  TrainSummary s;
  s.options = tiny_options();
  s.device = "GPU \"quoted\"";
  s.epochs_run = 4;
  s.stopped_early = true;
  s.best_epoch = 1;
  s.best_val_acc = 91.25;
  s.test_acc = std::numeric_limits<double>::quiet_NaN();
  s.test_loss = 0.5;
  s.tflops = 1.5;
  const std::string j = summary_json(s);
  for (const char* key :
       {"model",        "dataset",       "optimizer",   "lr",           "lr_min",
        "schedule",     "warmup_epochs", "momentum",    "weight_decay", "batch",
        "eval_batch",   "val_from",      "bn",          "seed",         "patience",
        "math",         "device",        "epochs",      "epochs_run",   "stopped_early",
        "best_epoch",   "best_val_acc",  "test_acc",    "test_loss",    "seconds",
        "images_per_s", "tflops",        "forward_macs"}) {
    EXPECT_NE(j.find("\"" + std::string(key) + "\": "), std::string::npos) << key;
  }
  EXPECT_NE(j.find("\"test_acc\": null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"best_val_acc\": 91.25"), std::string::npos) << j;
  EXPECT_NE(j.find("\"stopped_early\": true"), std::string::npos) << j;
  EXPECT_NE(j.find("\"device\": \"GPU \\\"quoted\\\"\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"optimizer\": \"sgd-nesterov\""), std::string::npos) << j;
  // eval_batch 0 means the training batch, and the file says which batch that was.
  ASSERT_EQ(s.options.eval_batch, 0);
  EXPECT_NE(j.find("\"eval_batch\": " + std::to_string(s.options.batch) + ","), std::string::npos)
      << j;
  s.options.eval_batch = 500;
  EXPECT_NE(summary_json(s).find("\"eval_batch\": 500,"), std::string::npos);
}

}  // namespace
}  // namespace ptq
