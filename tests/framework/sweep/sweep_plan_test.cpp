// Sweep expansion (framework/sweep/sweep_plan.h): task order and values, stable hashes and ids,
// command-line axes, and located errors for bad axes.
#include "framework/sweep/sweep_plan.h"

#include <gtest/gtest.h>

#include <set>

#include "framework/core/error.h"
#include "framework/interfaces/launcher.h"
#include "tests/common/plugins.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

const std::string kBase =
    "model: {adapter: toy_mlp, hidden: 64, blocks: 2, tokens: 8}\n"
    "data: {eval_samples: 3, layer_samples: 2}\n"
    "metrics: [rel_mse]\n"
    "variants:\n"
    "  - {label: w, method: {name: rtn, weight_format: {name: int, bits: 4, group_size: 16}, "
    "act_format: {name: int, bits: 4, group_size: 16}}}\n";

class SweepPlanTest : public ::testing::Test {
 protected:
  SweepPlan plan(const std::string& sweep_block, std::vector<std::string> grid = {}, std::vector<std::string> sets = {}) {
    SweepRequest rq;
    rq.path = dir_.write("exp.yaml", kBase + sweep_block);
    rq.grid = std::move(grid);
    rq.sets = std::move(sets);
    return plan_sweep(rq, test::builtin());
  }
  test::TempDir dir_;
};

const std::string kSweep =
    "sweep:\n"
    "  grid:\n"
    "    variants.0.method.weight_format.bits: [4, 8]\n"
    "    seed: [0, 1, 2]\n"
    "  zip:\n"
    "    variants.0.method.weight_format.group_size: [16, 32]\n"
    "    variants.0.method.act_format.group_size: [16, 32]\n";

TEST_F(SweepPlanTest, grid_is_a_product_and_zip_pairs) {
  const SweepPlan p = plan(kSweep);
  ASSERT_EQ(p.tasks.size(), 2u * 3u * 2u);
  ASSERT_EQ(p.axes.size(), 4u);
  EXPECT_EQ(p.axes[0].name, "bits");
  EXPECT_EQ(p.axes[1].name, "seed");
  EXPECT_EQ(p.axes[2].name, "weight_format.group_size");  // "group_size" alone would be ambiguous
  EXPECT_EQ(p.axes[3].name, "act_format.group_size");
  // First grid axis slowest, zip rows fastest and paired.
  EXPECT_EQ(p.tasks[0].values, (std::vector<std::string>{"4", "0", "16", "16"}));
  EXPECT_EQ(p.tasks[1].values, (std::vector<std::string>{"4", "0", "32", "32"}));
  EXPECT_EQ(p.tasks[2].values, (std::vector<std::string>{"4", "1", "16", "16"}));
  EXPECT_EQ(p.tasks[11].values, (std::vector<std::string>{"8", "2", "32", "32"}));
  std::set<std::string> hashes;
  for (const SweepTask& t : p.tasks) {
    hashes.insert(t.hash);
    EXPECT_EQ(t.hash.size(), 10u);
    EXPECT_EQ(t.dir, std::to_string(t.index) + "-" + t.hash);
  }
  EXPECT_EQ(hashes.size(), p.tasks.size());
  // The values are in each task's resolved config.
  EXPECT_NE(p.tasks[11].resolved_yaml.find("seed: 2"), std::string::npos);
  EXPECT_NE(p.tasks[11].resolved_yaml.find("bits: 8"), std::string::npos);
  EXPECT_EQ(p.tasks[11].resolved_yaml.find("sweep"), std::string::npos);
  EXPECT_EQ(p.experiment, "exp");
  EXPECT_EQ(p.result_file, "exp.h5");
  EXPECT_EQ(p.launcher.name, "local");
}

TEST_F(SweepPlanTest, hashes_and_default_id_are_stable_and_follow_the_config) {
  const SweepPlan a = plan(kSweep), b = plan(kSweep);
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (size_t i = 0; i < a.tasks.size(); ++i) EXPECT_EQ(a.tasks[i].hash, b.tasks[i].hash);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.root, "runs/exp/" + a.id);
  const SweepPlan c = plan(kSweep, {}, {"data.eval_samples=4"});
  EXPECT_NE(c.id, a.id);
  EXPECT_NE(c.tasks[0].hash, a.tasks[0].hash);
  // The launcher is not part of any task nor of the id: a sweep can move to another launcher.
  const SweepPlan d = plan(kSweep, {}, {"sweep.launcher=slurm"});
  EXPECT_EQ(d.id, a.id);
  EXPECT_EQ(d.tasks[5].hash, a.tasks[5].hash);
  EXPECT_EQ(d.launcher.name, "slurm");
}

TEST_F(SweepPlanTest, command_line_axes_replace_or_add) {
  const SweepPlan p = plan(kSweep, {"seed=7", "variants.0.method.act_format.bits=8,6"});
  ASSERT_EQ(p.axes.size(), 5u);
  EXPECT_EQ(p.axes[1].values, (std::vector<std::string>{"7"}));
  EXPECT_EQ(p.axes[4].values, (std::vector<std::string>{"8", "6"}));
  EXPECT_EQ(p.tasks.size(), 2u * 1u * 2u * 2u);
}

TEST_F(SweepPlanTest, no_axes_is_one_task_and_id_can_be_set) {
  const SweepPlan p = plan("sweep: {id: mine, dir: out}\n");
  ASSERT_EQ(p.tasks.size(), 1u);
  EXPECT_EQ(p.root, "out/exp/mine");
}

TEST_F(SweepPlanTest, launcher_keys_without_a_launcher_apply_to_the_default_local_one) {
  // `pqlab sweep exp.yaml --grid ... --workers 3` on an experiment without a sweep: block.
  SweepPlan p = plan("", {"seed=0,1"}, {"sweep.launcher.workers=3"});
  EXPECT_EQ(p.launcher.name, "local");
  LaunchRequest rq;
  rq.plan = &p;
  rq.tasks = {0, 1};
  rq.pqlab = "pqlab";
  EXPECT_EQ(p.launcher->preview(rq).rfind("would run 2 task(s) with 3 local worker(s)", 0), 0u) << p.launcher->preview(rq);
  // A key the default launcher does not have is an error that names it.
  try {
    plan("", {"seed=0,1"}, {"sweep.launcher.partition=gpu"});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("partition"), std::string::npos) << e.what();
  }
}

TEST_F(SweepPlanTest, bad_axes_are_located_errors) {
  EXPECT_THROW(plan("sweep:\n  zip:\n    seed: [0, 1]\n    data.eval_samples: [3, 4, 5]\n"), UsageError);
  EXPECT_THROW(plan("sweep:\n  grid:\n    seed: []\n"), ConfigError);
  EXPECT_THROW(plan("sweep:\n  grid: [seed]\n"), ConfigError);
  EXPECT_THROW(plan("sweep: {gird: {seed: [1]}}\n"), ConfigError);
  try {
    plan("sweep:\n  grid:\n    variants.0.method.weight_format.bitz: [4, 8]\n");
    FAIL() << "an axis on an unknown key must fail";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bitz"), std::string::npos) << what;
    EXPECT_NE(what.find("did you mean 'bits'"), std::string::npos) << what;
    EXPECT_NE(what.find("in sweep task 0"), std::string::npos) << what;
  }
  try {
    plan("sweep:\n  grid:\n    variants.0.method.weight_format.bits: [4, 99]\n");
    FAIL() << "a value out of range must fail";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("in sweep task 1"), std::string::npos) << e.what();
  }
}

TEST(SweepAxisArgument, splits_values_at_top_level_commas) {
  const auto [key, values] = parse_axis_argument("calibration.buckets=[0, 6],[0],  {a: 1, b: 2} ,x");
  EXPECT_EQ(key, "calibration.buckets");
  EXPECT_EQ(values, (std::vector<std::string>{"[0, 6]", "[0]", "{a: 1, b: 2}", "x"}));
  EXPECT_THROW(parse_axis_argument("novalues"), UsageError);
  EXPECT_THROW(parse_axis_argument("k=a,,b"), UsageError);
}

}  // namespace
}  // namespace pqlab
