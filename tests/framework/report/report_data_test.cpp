// Reading result files and sweep folders for `pqlab report` (framework/report/report_data.h): a
// result file written by hand with known numbers, the summary definitions (means over quantized
// layers, last step), a sweep manifest with a missing task, and the errors.
#include "framework/report/report_data.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sstream>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/experiment/result_paths.h"
#include "framework/io/hdf5_file.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

namespace rp = result_paths;
using namespace report;

// Variant "pq" (3 layers, the last not quantized) with control "pq.control"; 2 samples, 2 steps.
void write_result(const std::string& path) {
  create_directories(path_parent(path));
  H5Writer h5(path);
  h5.write_strings(rp::kVariantLabels, {"pq", "pq.control"});
  h5.set_attr("/", "experiment", "exp");
  for (const std::string l : {"pq", "pq.control"}) {
    const double s = l == "pq" ? 1.0 : 2.0;
    h5.set_attr(rp::variant(l), "method", l == "pq" ? "permuquant" : "permuquant[control]");
    h5.set_attr(rp::variant(l), "weight_format", "int4 g32");
    h5.set_attr(rp::variant(l), "act_format", "int4 g32");
    h5.set_attr(rp::variant(l), "seconds_apply", 1.5);
    h5.write(rp::variant_quantized(l), at::tensor({1, 1, 0}, at::kByte));
    h5.write(rp::variant_weight_rel_mse(l), s * at::tensor({0.1, 0.3, 5.0}, at::kDouble));
    h5.write(rp::variant_isolated(l), s * at::tensor({0.2, 0.4, 7.0}, at::kDouble));
    h5.write(rp::variant_propagated(l), s * at::tensor({0.5, 0.7, 9.0}, at::kDouble));
    h5.write(rp::variant_tf_velocity_rel_mse(l), s * at::tensor({1.0, 2.0, 3.0, 6.0}, at::kDouble).reshape({2, 2}));
    h5.write(rp::variant_fr_latent_rel_mse(l), s * at::tensor({9.0, 0.25, 9.0, 0.75}, at::kDouble).reshape({2, 2}));
    h5.set_attr(rp::variant_output(l), "rel_mse_mean", 0.125 * s);
    h5.set_attr(rp::variant_images(l), "psnr", 30.0 / s);
  }
  h5.set_attr(rp::variant("pq"), "control", "pq.control");
  h5.set_attr(rp::variant("pq.control"), "control_of", "pq");
  h5.set_attr(rp::variant_paired("pq"), "level", 0.9);
  const std::string vel = rp::variant_paired_number("pq", "velocity");
  h5.write(vel + "/diffs", at::tensor({-1.5, -4.5}, at::kDouble));
  h5.set_attr(vel, "mean", -3.0);
  h5.set_attr(vel, "lo", -4.5);
  h5.set_attr(vel, "hi", -1.5);
  h5.write(vel + "/step_mean", at::tensor({-2.0, -4.0}, at::kDouble));
  h5.write(vel + "/step_lo", at::tensor({-3.0, -6.0}, at::kDouble));
  h5.write(vel + "/step_hi", at::tensor({-1.0, -2.0}, at::kDouble));
  h5.set_attr(rp::variant_paired_number("pq", "latent"), "mean", -0.5);
  h5.set_attr(rp::variant_paired_number("pq", "latent"), "lo", std::nan(""));
  h5.set_attr(rp::variant_paired_number("pq", "latent"), "hi", std::nan(""));
  h5.write_strings(rp::variant_permutations("pq") + "/kind", {"norm_out", "v_out", "norm_out"});
  h5.write(rp::variant_permutations("pq") + "/accepted", at::tensor({1, 0, 1}, at::kByte));
  h5.commit();
}

TEST(report_data, reads_the_summary_numbers_as_the_run_defines_them) {
  test::TempDir dir;
  write_result(dir.file("r.h5"));
  const ResultRecord r = read_result(dir.file("r.h5"), "r.h5");
  EXPECT_EQ(r.path, "r.h5");
  EXPECT_EQ(r.experiment, "exp");
  ASSERT_EQ(r.variants.size(), 2u);
  const VariantRecord& v = r.variants[0];
  EXPECT_EQ(v.label, "pq");
  EXPECT_EQ(v.method, "permuquant");
  EXPECT_EQ(v.weight_format, "int4 g32");
  EXPECT_EQ(v.control, "pq.control");
  EXPECT_FALSE(v.is_control());
  EXPECT_TRUE(r.variants[1].is_control());
  EXPECT_EQ(r.find("pq.control"), &r.variants[1]);
  // Means over the quantized layers (the third is not), velocity over samples and steps, the
  // final latent over samples at the last step; output and image metrics from attributes.
  const std::map<std::string, double> want = {{"weight", 0.2},        {"isolated", (0.2 + 0.4) / 2},
                                               {"propagated", 0.6},    {"velocity", 3.0},
                                               {"velocity_last", 4.0}, {"final_latent", 0.5},
                                               {"rel_mse", 0.125},     {"psnr", 30.0}};
  ASSERT_EQ(v.values.size(), want.size());
  for (const auto& [k, x] : want) EXPECT_DOUBLE_EQ(v.values.at(k), x) << k;
  EXPECT_EQ(r.variants[1].values.at("velocity"), 6.0);
  EXPECT_EQ(v.velocity_steps, (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(v.level, 0.9);
  ASSERT_EQ(v.deltas.size(), 2u);
  EXPECT_EQ(v.deltas.at("velocity").mean, -3.0);
  EXPECT_EQ(v.deltas.at("velocity").lo, -4.5);
  EXPECT_EQ(v.deltas.at("velocity").hi, -1.5);
  EXPECT_TRUE(std::isnan(v.deltas.at("latent").lo));
  EXPECT_EQ(v.step_lo, (std::vector<double>{-3.0, -6.0}));
  ASSERT_EQ(v.sites.size(), 2u);
  EXPECT_EQ(v.sites[0].kind, "norm_out");
  EXPECT_EQ(v.sites[0].accepted, 2);
  EXPECT_EQ(v.sites[0].considered, 2);
  EXPECT_EQ(v.sites[1].kind, "v_out");
  EXPECT_EQ(v.sites[1].accepted, 0);
  EXPECT_EQ(v.sites[1].considered, 1);
}

TEST(report_data, a_sweep_lists_missing_tasks_and_reads_the_rest) {
  test::TempDir dir;
  write_result(dir.file("sw/0-aaa/exp.h5"));
  dir.write("sw/1-bbb/exp.h5.partial-host-1", "");
  dir.write("sw/manifest.json", R"({"format_version": 1, "experiment": "exp", "sweep_id": "s", "source": "x.yaml",
    "axes": [{"key": "variants.0.method.weight_format.group_size", "name": "group_size", "kind": "grid", "values": ["16", "32"]}],
    "tasks": [{"index": 0, "hash": "aaa", "dir": "0-aaa", "result": "exp.h5", "values": {"variants.0.method.weight_format.group_size": "16"}},
              {"index": 1, "hash": "bbb", "dir": "1-bbb", "result": "exp.h5", "values": {"variants.0.method.weight_format.group_size": "32"}}]})");
  std::ostringstream notes;
  const ReportData d = load_report_data({dir.file("sw")}, notes);
  ASSERT_EQ(d.axes.size(), 1u);
  EXPECT_EQ(d.axes[0].name, "group_size");
  ASSERT_EQ(d.results.size(), 1u);
  EXPECT_EQ(d.results[0].path, "0-aaa/exp.h5");
  EXPECT_EQ(d.results[0].axis_values.at("group_size"), "16");
  ASSERT_EQ(d.missing.size(), 1u);
  EXPECT_EQ(notes.str(), "pqlab report: note: missing task 1 (group_size=32): no result " + dir.file("sw") + "/1-bbb/exp.h5\n");
  // A result file given by itself is read as well; several arguments add up.
  const ReportData both = load_report_data({dir.file("sw"), dir.file("sw/0-aaa/exp.h5")}, notes);
  ASSERT_EQ(both.results.size(), 2u);
  EXPECT_EQ(both.results[1].path, dir.file("sw/0-aaa/exp.h5"));
  EXPECT_TRUE(both.results[1].axis_values.empty());
}

TEST(report_data, errors_name_the_path) {
  test::TempDir dir;
  std::ostringstream notes;
  auto message = [&](const std::vector<std::string>& paths) {
    try {
      load_report_data(paths, notes);
    } catch (const Error& e) {
      return std::to_string(e.exit_code()) + " " + e.what();
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({dir.file("nope.h5")}),
            "2 " + dir.file("nope.h5") + ": neither a result file (.h5) nor a sweep folder (with manifest.json)");
  EXPECT_EQ(message({dir.path()}), "2 " + dir.path() + ": a folder without manifest.json is not a sweep folder");
  dir.write("text.h5", "not hdf5");
  EXPECT_NE(message({dir.file("text.h5")}).find("(expected a pqlab result file or a sweep folder)"), std::string::npos);
  dir.write("bad/manifest.json", "{\"format_version\": 2}");
  EXPECT_EQ(message({dir.file("bad")}),
            "2 " + dir.file("bad/manifest.json") + ": unsupported sweep manifest format_version (this pqlab reads 1)");
  dir.write("broken/manifest.json", "{\"format_version\": 1, \"axes\": []}");
  EXPECT_EQ(message({dir.file("broken")}).rfind("2 " + dir.file("broken/manifest.json") + ": not a sweep manifest: ", 0), 0u);
  dir.write("empty/manifest.json", "{\"format_version\": 1, \"axes\": [], \"tasks\": [{\"index\": 0, \"dir\": \"0-x\", \"result\": \"e.h5\"}]}");
  EXPECT_EQ(message({dir.file("empty")}), "1 no result file found in " + dir.file("empty"));
}

TEST(report_data, numbers_parse_only_when_whole) {
  double x = 0;
  EXPECT_TRUE(parse_number("32", x));
  EXPECT_EQ(x, 32);
  EXPECT_TRUE(parse_number("0.5", x));
  EXPECT_FALSE(parse_number("channel", x));
  EXPECT_FALSE(parse_number("32 ", x));
  EXPECT_FALSE(parse_number("", x));
}

}  // namespace
}  // namespace pqlab
