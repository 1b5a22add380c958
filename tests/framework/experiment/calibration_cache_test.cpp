// The calibration cache (framework/experiment/calibration_cache.h): an entry reads back bit for
// bit, belongs to one identity, is computed once however many runs ask at the same time, and a
// run that reads it writes the same result numbers as a run that computed its own statistics.
#include "framework/experiment/calibration_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/experiment/runner.h"
#include "framework/io/hdf5_file.h"
#include "tests/common/plugins.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

// Two sites, two buckets; the second site has reservoir rows of different counts per bucket.
Calibration synthetic() {
  at::manual_seed(3);
  Calibration c;
  c.site_keys = {"a.fc1", "b.fc2"};
  c.bucket_first_step = {0, 2};
  c.timesteps = {1.0, 0.75, 0.5, 0.0};
  c.samples = {8, 9};
  c.prompts = {"t-shirt", "trouser"};
  c.noise_seed = 1234567;
  for (const std::string& k : c.site_keys) {
    const int64_t K = k == "a.fc1" ? 5 : 7;
    for (int b = 0; b < 2; ++b) {
      InputStats s;
      s.count = at::full({}, 10.0 + b, at::kDouble);
      s.sum = at::randn({K}, at::kDouble);
      s.sumsq = at::rand({K}, at::kDouble);
      s.absmax = at::rand({K}, at::kDouble);
      if (k == "b.fc2") {
        s.rows = at::randn({3 + b, K});
        s.keys = at::rand({3 + b}, at::kDouble);
      }
      c.stats[k].push_back(s);
    }
    c.weight_sq_mean[k] = at::rand({K}, at::kDouble);
    c.weight_absmax[k] = at::rand({K}, at::kDouble);
  }
  return c;
}

void expect_same(const Calibration& a, const Calibration& b) {
  EXPECT_EQ(a.site_keys, b.site_keys);
  EXPECT_EQ(a.bucket_first_step, b.bucket_first_step);
  EXPECT_EQ(a.timesteps, b.timesteps);
  EXPECT_EQ(a.samples, b.samples);
  EXPECT_EQ(a.prompts, b.prompts);
  EXPECT_EQ(a.noise_seed, b.noise_seed);
  for (const std::string& k : a.site_keys) {
    ASSERT_EQ(a.stats.at(k).size(), b.stats.at(k).size());
    for (size_t i = 0; i < a.stats.at(k).size(); ++i) {
      const InputStats &x = a.stats.at(k)[i], &y = b.stats.at(k)[i];
      EXPECT_TRUE(at::equal(x.count, y.count));
      EXPECT_TRUE(at::equal(x.sum, y.sum));
      EXPECT_TRUE(at::equal(x.sumsq, y.sumsq));
      EXPECT_TRUE(at::equal(x.absmax, y.absmax));
      ASSERT_EQ(x.rows.defined(), y.rows.defined());
      if (x.rows.defined()) {
        EXPECT_EQ(y.rows.scalar_type(), at::kFloat);
        EXPECT_TRUE(at::equal(x.rows, y.rows));
        EXPECT_TRUE(at::equal(x.keys, y.keys));
      }
    }
    EXPECT_TRUE(at::equal(a.weight_sq_mean.at(k), b.weight_sq_mean.at(k)));
    EXPECT_TRUE(at::equal(a.weight_absmax.at(k), b.weight_absmax.at(k)));
    // pooled() picks reservoir rows by priority: the keys must have survived too.
    EXPECT_TRUE(at::equal(a.pooled(k).sum, b.pooled(k).sum));
  }
}

TEST(CalibrationCache, reads_back_bit_for_bit_and_checks_identity) {
  test::TempDir d;
  const Calibration c = synthetic();
  write_calibration_file(d.file("c.h5"), c, "identity A");
  expect_same(c, read_calibration_file(d.file("c.h5"), "identity A", "cpu"));
  EXPECT_THROW(read_calibration_file(d.file("c.h5"), "identity B", "cpu"), RuntimeError);
}

TEST(CalibrationCache, concurrent_runs_compute_an_entry_once) {
  test::TempDir d;
  std::atomic<int> computed{0};
  std::vector<CachedCalibration> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] {
      got[i] = cached_calibration(d.file("cache"), "same identity", "cpu", [&] {
        ++computed;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // others arrive meanwhile
        return synthetic();
      });
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(computed.load(), 1);
  int hits = 0;
  for (const CachedCalibration& g : got) {
    hits += g.hit;
    EXPECT_EQ(g.path, got[0].path);
    expect_same(synthetic(), g.cal);
  }
  EXPECT_EQ(hits, 3);
  // Nothing partial is left next to the entry.
  for (const std::string& f : list_directory(d.file("cache")))
    EXPECT_TRUE(f.size() > 3 && (f.substr(f.size() - 3) == ".h5" || f.substr(f.size() - 5) == ".lock")) << f;
  // Another identity is another entry.
  const CachedCalibration other = cached_calibration(d.file("cache"), "other identity", "cpu", [&] {
    ++computed;
    return synthetic();
  });
  EXPECT_FALSE(other.hit);
  EXPECT_NE(other.path, got[0].path);
}

// Exactly equal, NaN where the other is NaN (unfilled reservoir rows are NaN).
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && at::equal(a.isnan(), b.isnan()) &&
         at::equal(a.masked_fill(a.isnan(), 0), b.masked_fill(b.isnan(), 0));
}

// Every dataset of two result files, compared exactly.
void expect_same_datasets(const std::string& a, const std::string& b) {
  const H5Reader ra(a), rb(b);
  const auto la = ra.list(), lb = rb.list();
  ASSERT_EQ(la.size(), lb.size());
  int datasets = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    ASSERT_EQ(la[i].path, lb[i].path);
    if (la[i].is_group) continue;
    ++datasets;
    if (la[i].dtype == "string") EXPECT_EQ(ra.read_strings(la[i].path), rb.read_strings(lb[i].path)) << la[i].path;
    else EXPECT_TRUE(same_bits(ra.read(la[i].path), rb.read(lb[i].path))) << la[i].path;
  }
  EXPECT_GT(datasets, 20);
}

TEST(CalibrationCache, a_run_from_the_cache_writes_the_same_numbers) {
  test::TempDir d;
  const std::string yaml = std::string("include: ") + PQLAB_SOURCE_DIR + "/configs/models/flux_fmnist.yaml\n" +
                           "model: {steps: 3}\n"
                           "data: {eval_samples: 2, layer_samples: 2, batch_size: 2}\n"
                           "calibration: {samples: 2, batch_size: 2, keep_rows: 16}\n"
                           "metrics: [rel_mse]\n"
                           "images: {grids: false}\n"
                           "variants:\n"
                           "  - label: pq\n"
                           "    method: {name: permuquant, weight_format: {name: int, bits: 4, group_size: 16},\n"
                           "             act_format: {name: int, bits: 4, group_size: 16}, ordering: joint_second_moment,\n"
                           "             only: [\"double.*.mlp.*\", \"single.*.linear2\"]}\n";
  const std::string path = d.write("e.yaml", yaml);
  auto run = [&](const std::string& out, const std::string& cache) {
    ExperimentSpec spec = load_experiment(path, {}, test::builtin());
    RunOptions o;
    o.out_dir = d.file(out);
    o.calibration_cache_dir = cache;
    return run_experiment(spec, o).result_path;
  };
  const std::string plain = run("plain", "");
  const std::string first = run("first", d.file("cache"));
  const std::string second = run("second", d.file("cache"));
  ASSERT_EQ(list_directory(d.file("cache")).size(), 2u);  // one entry and its lock
  expect_same_datasets(plain, first);
  expect_same_datasets(plain, second);
  const H5Reader r(second);
  bool hit = false;
  for (const auto& [k, v] : r.attrs("/")) hit = hit || (k == "calibration_cache_hit" && v == "1");
  EXPECT_TRUE(hit);
}

}  // namespace
}  // namespace pqlab
