// Exact error messages for bad experiment configs (the ninja habit: diagnostics are API).
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/experiment/experiment_spec.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

class ConfigErrors : public ::testing::Test {
 protected:
  void SetUp() override { register_builtin_plugins(registries_); }
  // Loads `text` as <tmp>/exp.yaml and returns the error text ("" when it loads).
  std::string errors_of(const std::string& text, const std::vector<std::string>& sets = {}) {
    path_ = dir_.write("exp.yaml", text);
    try {
      load_experiment(path_, sets, registries_);
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return e.what();
    }
    return "";
  }
  // Replaces the temp folder (which differs per run) by "<dir>".
  std::string rel(std::string s) const {
    for (size_t p; (p = s.find(dir_.path())) != std::string::npos;) s.replace(p, dir_.path().size(), "<dir>");
    return s;
  }
  Registries registries_;
  test::TempDir dir_;
  std::string path_;
};

const char* kHead =
    "model: {adapter: toy_mlp}\n"
    "variants:\n"
    "  - label: a\n"
    "    method:\n"
    "      name: rtn\n";

TEST_F(ConfigErrors, valid_config_loads_and_fills_defaults) {
  const std::string text = std::string(kHead) + "      weight_format: {name: int, bits: 4}\n";
  EXPECT_EQ(errors_of(text), "");
  ExperimentSpec s = load_experiment(path_, {}, registries_);
  EXPECT_EQ(s.name, "exp");
  ASSERT_EQ(s.variants.size(), 1u);
  EXPECT_EQ(s.variants[0].method.name, "rtn");
  EXPECT_NE(s.resolved_yaml.find("group_size: 64"), std::string::npos) << s.resolved_yaml;
  EXPECT_NE(s.resolved_yaml.find("outlier_scale: 16.0"), std::string::npos) << s.resolved_yaml;
}

TEST_F(ConfigErrors, unknown_key_suggests_and_lists_valid_keys) {
  const std::string text = std::string(kHead) + "      weight_format: {name: int, bits: 4, group_szie: 64}\n";
  EXPECT_EQ(rel(errors_of(text)),
            "<dir>/exp.yaml:6:43: error: unknown key 'group_szie' in format 'int'\n"
            " 6 |       weight_format: {name: int, bits: 4, group_szie: 64}\n"
            "   |                                           ^~~~~~~~~~\n"
            "note: did you mean 'group_size'?\n"
            "note: valid keys: bits, group_size, name, pad, scale_dtype, symmetric "
            "(keys starting with x_ are free-form notes)\n");
}

TEST_F(ConfigErrors, notes_keys_are_allowed) {
  EXPECT_EQ(errors_of(std::string(kHead) + "      weight_format: nvfp4\nx_note: ablation 3\n"), "");
}

TEST_F(ConfigErrors, unknown_plugin_lists_registered_ones) {
  const std::string text = std::string(kHead) + "      weight_format: nvfp5\n";
  EXPECT_EQ(rel(errors_of(text)),
            "<dir>/exp.yaml:6:22: error: unknown format 'nvfp5'; did you mean 'nvfp4'?\n"
            " 6 |       weight_format: nvfp5\n"
            "   |                      ^~~~~\n"
            "note: registered formats: fp8_e4m3, int, mxfp4, nvfp4\n");
}

TEST_F(ConfigErrors, wrong_type_quotes_value) {
  const std::string text = std::string(kHead) + "      weight_format: {name: int, bits: four}\n";
  EXPECT_EQ(rel(errors_of(text)),
            "<dir>/exp.yaml:6:40: error: 'bits' must be an integer in [2, 8], got 'four'\n"
            " 6 |       weight_format: {name: int, bits: four}\n"
            "   |                                        ^~~~\n");
}

TEST_F(ConfigErrors, out_of_range_quotes_value_and_range) {
  const std::string text = std::string(kHead) + "      weight_format: {name: int, bits: 9}\n";
  EXPECT_EQ(rel(errors_of(text)),
            "<dir>/exp.yaml:6:40: error: 'bits' must be an integer in [2, 8], got '9'\n"
            " 6 |       weight_format: {name: int, bits: 9}\n"
            "   |                                        ^\n");
}

TEST_F(ConfigErrors, missing_required_key_points_at_parent) {
  EXPECT_EQ(rel(errors_of(kHead)),
            "<dir>/exp.yaml:5:7: error: missing required key 'weight_format' in method 'rtn'\n"
            " 5 |       name: rtn\n"
            "   |       ^\n"
            "note: expected a format name or mapping\n");
}

TEST_F(ConfigErrors, malformed_yaml_is_located) {
  EXPECT_EQ(rel(errors_of("model: {adapter: toy_mlp\nvariants: []\n")),
            "<dir>/exp.yaml:2:9: error: invalid YAML: end of map flow not found\n"
            " 2 | variants: []\n"
            "   |         ^\n");
}

TEST_F(ConfigErrors, missing_include_lists_searched_paths) {
  const std::string e = rel(errors_of(std::string("include: nowhere.yaml\n") + kHead + "      weight_format: nvfp4\n"));
  EXPECT_EQ(e.substr(0, e.find("note:")),
            "<dir>/exp.yaml:1:10: error: included file 'nowhere.yaml' not found\n"
            " 1 | include: nowhere.yaml\n"
            "   |          ^~~~~~~~~~~~\n");
  EXPECT_NE(e.find("note: searched: <dir>/nowhere.yaml, "), std::string::npos) << e;
}

TEST_F(ConfigErrors, error_inside_fragment_points_at_fragment_and_include_site) {
  dir_.write("frag/int4.yaml", "name: int\nbits: 4\ngroup_size: 65x\n");
  const std::string text = std::string(kHead) + "      weight_format: {include: frag/int4.yaml}\n";
  EXPECT_EQ(rel(errors_of(text)),
            "<dir>/frag/int4.yaml:3:13: error: 'group_size' must be a positive integer, 'channel' or 'tensor', got '65x'\n"
            " 3 | group_size: 65x\n"
            "   |             ^~~\n"
            "note: included from <dir>/exp.yaml:6:32\n");
}

TEST_F(ConfigErrors, fragment_values_are_overridden_by_experiment_and_set) {
  dir_.write("frag/int4.yaml", "name: int\nbits: 4\ngroup_size: 32\n");
  const std::string text = std::string(kHead) + "      weight_format: {include: frag/int4.yaml, bits: 3}\n";
  EXPECT_EQ(errors_of(text, {"variants.0.method.weight_format.group_size=16"}), "");
  ExperimentSpec s = load_experiment(path_, {"variants.0.method.weight_format.group_size=16"}, registries_);
  EXPECT_EQ(s.variants[0].method->weight_format_label(), "int3 g16 sym");
}

TEST_F(ConfigErrors, bad_set_key_is_reported_with_its_origin) {
  const std::string text = std::string(kHead) + "      weight_format: nvfp4\n";
  EXPECT_EQ(errors_of(text, {"variants.0.method.weight_format.group_szie=8"}),
            "<command line: --set variants.0.method.weight_format.group_szie=8>: error: unknown key "
            "'group_szie' in format 'nvfp4'\n"
            "note: did you mean 'group_size'?\n"
            "note: valid keys: global_scale, group_size, name, pad (keys starting with x_ are free-form notes)\n");
}

TEST_F(ConfigErrors, duplicate_key_is_an_error) {
  EXPECT_EQ(rel(errors_of("seed: 1\nseed: 2\n")).substr(0, 60),
            std::string("<dir>/exp.yaml:2:1: error: duplicate key 'seed'\n 2 | seed: 2\n").substr(0, 60));
}

TEST_F(ConfigErrors, all_errors_are_collected) {
  const std::string text =
      "model: {adapter: toy_mlp, hiden: 3}\n"
      "seed: -1\n"
      "variants:\n"
      "  - label: a\n"
      "    method: {name: rtn, weight_format: {name: int, bits: 1}}\n"
      "  - label: a\n"
      "    method: {name: rtm}\n";
  const std::string e = errors_of(text);
  size_t n = 0;
  for (size_t p = 0; (p = e.find(": error: ", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 5u) << e;
  EXPECT_NE(e.find("unknown key 'hiden' in model 'toy_mlp'"), std::string::npos);
  EXPECT_NE(e.find("'seed' must be an integer in [0, 9e+15], got '-1'"), std::string::npos);
  EXPECT_NE(e.find("'bits' must be an integer in [2, 8], got '1'"), std::string::npos);
  EXPECT_NE(e.find("unknown method 'rtm'; did you mean 'rtn'?"), std::string::npos);
  EXPECT_NE(e.find("duplicate variant label 'a'"), std::string::npos);
}

TEST_F(ConfigErrors, resolved_config_round_trips) {
  const std::string text = std::string(kHead) +
                           "      weight_format: {name: mxfp4, scale_mode: rceil}\n"
                           "      act_format: {name: int, bits: 8, group_size: channel, symmetric: false}\n"
                           "      skip: [embed.*]\n"
                           "metrics: [sqnr]\n";
  EXPECT_EQ(errors_of(text), "");
  ExperimentSpec a = load_experiment(path_, {}, registries_);
  const std::string again = dir_.write("again.yaml", a.resolved_yaml);
  ExperimentSpec b = load_experiment(again, {}, registries_);
  b.name = a.name;
  EXPECT_EQ(dump_experiment(b), a.resolved_yaml);
  EXPECT_NE(a.resolved_yaml.find("scale_mode: rceil"), std::string::npos) << a.resolved_yaml;
}

}  // namespace
}  // namespace pqlab
