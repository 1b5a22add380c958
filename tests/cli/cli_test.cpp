// End-to-end tests of the real pqlab binary: exit codes, exact messages, files written.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "framework/core/paths.h"
#include "framework/io/hdf5_file.h"
#include "framework/io/safetensors.h"
#include "tests/common/plugins.h"
#include "tests/common/run_cli.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

using Result = test::CliResult;

// Runs from the source tree so experiment paths like experiments/toy_w4a4.yaml resolve.
Result run_in_source(const std::string& args, const test::TempDir& dir) {
  return test::pqlab_cli(args, dir, PQLAB_SOURCE_DIR);
}

class Cli : public ::testing::Test {
 protected:
  test::TempDir dir_;
};

TEST_F(Cli, version_and_help) {
  Result r = run_in_source("--version", dir_);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out.rfind("pqlab 0.1.0 (commit ", 0), 0u) << r.out;
  r = run_in_source("--help", dir_);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("quant-tensor"), std::string::npos);
  r = run_in_source("run --help", dir_);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("--set"), std::string::npos);
}

TEST_F(Cli, unknown_command_suggests) {
  const Result r = run_in_source("rnu x.yaml", dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "pqlab: error: unknown command 'rnu'; did you mean 'run'?\n"
            "note: commands: run, sweep, validate, list, explain, inspect, report, quant-tensor, sample, forward, train-classifier, train-flux\n");
}

TEST_F(Cli, list_formats_sorted_with_help) {
  const Result r = run_in_source("list format", dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
  std::istringstream is(r.out);
  std::string line, names;
  std::getline(is, line);
  EXPECT_EQ(line, "format:");
  while (std::getline(is, line)) names += line.substr(2, line.find(' ', 2) - 2) + ",";
  EXPECT_EQ(names, "fp8_e4m3,int,mxfp4,nvfp4,");
}

TEST_F(Cli, list_unknown_kind_is_usage_error) {
  const Result r = run_in_source("list formt", dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "pqlab list: error: unknown plugin kind 'formt'; did you mean 'format'? "
            "(kinds: classifier, command, format, image_metric, launcher, method, metric, model, ordering)\n");
}

TEST_F(Cli, explain_shows_keys_types_defaults) {
  const Result r = run_in_source("explain format mxfp4", dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("scale_mode"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(floor|rceil)"), std::string::npos) << r.out;
  EXPECT_EQ(run_in_source("explain method rtx", dir_).rc, 2);
}

TEST_F(Cli, bad_options_are_usage_errors) {
  Result r = run_in_source("run", dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("usage: pqlab run <experiment.yaml>"), std::string::npos) << r.err;
  r = run_in_source("run experiments/toy_w4a4.yaml --bogus", dir_);
  EXPECT_EQ(r.rc, 2);
  r = run_in_source("validate " + dir_.file("missing.yaml"), dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, dir_.file("missing.yaml") + ": error: cannot open config file\n");
}

TEST_F(Cli, validate_reports_config_errors_with_exit_2) {
  const std::string p = dir_.write("bad.yaml", "model: {adapter: toy_mpl}\nvariants: []\n");
  const Result r = run_in_source("validate " + p, dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            p + ":1:18: error: unknown model 'toy_mpl'; did you mean 'toy_mlp'?\n"
                " 1 | model: {adapter: toy_mpl}\n"
                "   |                  ^~~~~~~\n"
                "note: registered models: flux, toy_mlp\n" +
                p + ":2:11: error: 'variants' must list at least one variant\n"
                " 2 | variants: []\n"
                "   |           ^\n");
}

TEST_F(Cli, run_writes_complete_result_and_inspect_reads_it) {
  const Result v = run_in_source("validate experiments/toy_w4a4.yaml", dir_);
  EXPECT_EQ(v.rc, 0) << v.err;
  const Result r = run_in_source("run experiments/toy_w4a4.yaml --out " + dir_.path() +
                                 " --set data.eval_samples=2 --set model.tokens=16",
                             dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string h5 = dir_.file("toy_w4a4.h5");
  ASSERT_TRUE(path_exists(h5)) << r.out;
  for (const auto& name : list_directory(dir_.path())) EXPECT_EQ(name.find(".partial"), std::string::npos) << name;
  EXPECT_NE(r.out.find("w4a4_nvfp4"), std::string::npos) << r.out;

  H5Reader rd(h5);
  EXPECT_EQ(rd.read_strings("/variant_labels"),
            (std::vector<std::string>{"w8a8_int", "w4a16_int_g64", "w4a4_int_g64", "w4a4_nvfp4", "w4a4_mxfp4"}));
  std::map<std::string, std::string> attrs;
  for (const auto& [k, val] : rd.attrs("/")) attrs[k] = val;
  for (const char* k : {"pqlab_version", "git_commit", "config", "seed", "host", "start_time", "end_time",
                        "torch_version", "device"})
    EXPECT_TRUE(attrs.count(k)) << k;
  EXPECT_NE(attrs["config"].find("eval_samples: 2"), std::string::npos);  // --set is recorded
  const at::Tensor out8 = rd.read("/variants/w8a8_int/output/rel_mse");
  const at::Tensor out4 = rd.read("/variants/w4a4_int_g64/output/rel_mse");
  EXPECT_EQ(out8.numel(), 2);
  EXPECT_LT(out8.mean().item<double>(), out4.mean().item<double>());
  EXPECT_EQ(rd.read("/variants/w4a16_int_g64/layers/weight_rel_mse").numel(), 6);

  const Result i = run_in_source("inspect " + h5, dir_);
  EXPECT_EQ(i.rc, 0) << i.err;
  EXPECT_NE(i.out.find("w4a4_mxfp4"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("/variants/w8a8_int/teacher_forced/isolated_rel_mse  float64 [6, 1]"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("    velocity rel_mse (teacher-forced) per step: "), std::string::npos) << i.out;
  EXPECT_EQ(run_in_source("inspect " + dir_.file("nope.h5"), dir_).rc, 1);
}

// issue 8: `name` and variant labels become file names under the output folder; neither may
// name a path, so nothing is written outside --out / output.dir.
TEST_F(Cli, issue_8_name_and_label_cannot_escape_the_output_folder) {
  const std::string out = dir_.file("out");
  Result r = run_in_source("run experiments/toy_w4a4.yaml --set name=../escaped --out " + out, dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "<command line: --set name=../escaped>: error: 'name' must be a plain file stem (1 to 128 letters, "
            "digits, '_', '.' or '-', and not '.' or '..'), got '../escaped'\n");
  const std::string p = dir_.write("labels.yaml", "include: " + std::string(PQLAB_SOURCE_DIR) +
                                                      "/configs/models/toy_mlp.yaml\n"
                                                      "variants:\n"
                                                      "  - {label: ../../evil, method: {name: rtn, weight_format: nvfp4}}\n"
                                                      "  - {label: .., method: {name: rtn, weight_format: nvfp4}}\n");
  r = run_in_source("run " + p + " --out " + out, dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            p + ":3:13: error: 'label' must be a plain file stem (1 to 128 letters, digits, '_', '.' or '-', and not "
                "'.' or '..'), got '../../evil'\n"
                " 3 |   - {label: ../../evil, method: {name: rtn, weight_format: nvfp4}}\n"
                "   |             ^~~~~~~~~~\n" +
                p + ":4:13: error: 'label' must be a plain file stem (1 to 128 letters, digits, '_', '.' or '-', and not "
                "'.' or '..'), got '..'\n"
                " 4 |   - {label: .., method: {name: rtn, weight_format: nvfp4}}\n"
                "   |             ^~\n");
  EXPECT_EQ(list_directory(dir_.path()), (std::vector<std::string>{"labels.yaml", "stderr.txt"}));
}

// issue 8: the default name is the file's stem, held to the same rule; the error names the file.
TEST_F(Cli, issue_8_default_name_from_an_odd_file_stem_is_a_config_error) {
  std::ifstream src(std::string(PQLAB_SOURCE_DIR) + "/experiments/toy_w4a4.yaml");
  std::stringstream text;
  text << src.rdbuf();
  std::string yaml = text.str();
  yaml.replace(yaml.find("../configs"), 10, std::string(PQLAB_SOURCE_DIR) + "/configs");
  const std::string p = dir_.write("my run.yaml", yaml);
  Result r = run_in_source("validate '" + p + "'", dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, p + ": error: the experiment name defaults to the file stem 'my run', which is not a plain file "
                       "stem (1 to 128 letters, digits, '_', '.' or '-', and not '.' or '..')\n"
                       "note: set 'name' in the file (or --set name=...), or rename the file\n");
  r = run_in_source("validate '" + p + "' --set name=my_run", dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST_F(Cli, quant_tensor_matches_the_format_and_writes_codes) {
  const at::Tensor x = at::randn({4, 64}) * 3;
  const at::Tensor idx = at::arange(5, at::kInt);
  const std::string in = dir_.file("x.safetensors"), out = dir_.file("y.safetensors");
  write_safetensors(in, {{"w", x}, {"w_bf16", x.to(at::kBFloat16)}, {"idx", idx}});
  const Result r = run_in_source("quant-tensor --format nvfp4 --codes --in " + in + " --out " + out, dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto fmt = test::make_plugin<NumberFormat>(test::builtin(), "nvfp4");
  SafetensorsFile y(out);
  EXPECT_TRUE(at::equal(y.get("w"), fmt->fake_quant(x)));
  EXPECT_TRUE(at::equal(y.get("w_bf16"), fmt->fake_quant(x.to(at::kBFloat16))));
  EXPECT_TRUE(at::equal(y.get("idx"), idx));
  const EncodedTensor e = fmt->encode(x);
  EXPECT_TRUE(at::equal(y.get("w.codes"), e.codes));
  EXPECT_TRUE(at::equal(y.get("w.scales"), e.scales));
  EXPECT_NE(y.metadata().at("format").find("group_size: 16"), std::string::npos);
}

TEST_F(Cli, quant_tensor_ragged_group_is_usage_error) {
  const std::string in = dir_.file("x.safetensors");
  write_safetensors(in, {{"w", at::randn({2, 100})}});
  Result r = run_in_source("quant-tensor --format int --group-size 64 --in " + in + " --out " + dir_.file("y.st"), dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("K=100"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(dir_.file("y.st")));
  r = run_in_source("quant-tensor --format int --group-size 64 --set pad=true --in " + in + " --out " + dir_.file("y.st"), dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
  r = run_in_source("quant-tensor --format int --set bits=12 --in " + in + " --out " + dir_.file("z.st"), dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "<command line: --set bits=12>: error: 'bits' must be an integer in [2, 8], got '12'\n");
  r = run_in_source("quant-tensor --format nvfp5 --in " + in + " --out " + dir_.file("z.st"), dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "<command line: --format nvfp5>: error: unknown format 'nvfp5'; did you mean 'nvfp4'?\n"
            "note: registered formats: fp8_e4m3, int, mxfp4, nvfp4\n");
  r = run_in_source("quant-tensor --format int --in " + dir_.file("absent.safetensors") + " --out " + dir_.file("z.st"), dir_);
  EXPECT_EQ(r.rc, 1);
}

}  // namespace
}  // namespace pqlab
