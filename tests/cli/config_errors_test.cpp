// Issue 8, config classes, through the real binary: every bad config names its file and line (or
// the --set argument), exits 2, and nothing input controls can crash or exhaust the process.
#include <gtest/gtest.h>

#include <string>

#include "framework/config/config_value.h"
#include "framework/core/paths.h"
#include "tests/common/run_cli.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

using Result = test::CliResult;

class ConfigErrors : public ::testing::Test {
 protected:
  // Validates a config written into the temp folder; runs from the source tree so includes of
  // configs/ resolve.
  Result validate(const std::string& yaml, const std::string& extra = "") {
    const std::string path = dir_.write("e.yaml", yaml);
    return test::pqlab_cli("validate " + path + " " + extra, dir_, PQLAB_SOURCE_DIR);
  }
  std::string path() const { return dir_.file("e.yaml"); }
  test::TempDir dir_;
};

const std::string kModel = "model: {adapter: toy_mlp, hidden: 64, blocks: 1, tokens: 8}\n";

TEST_F(ConfigErrors, empty_file_and_directory_name_the_path) {
  Result r = validate("");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, path() + ": error: config file is empty (expected a mapping of keys)\n");
  r = validate("# only a comment\n");
  EXPECT_EQ(r.err, path() + ": error: config file is empty (expected a mapping of keys)\n");
  r = test::pqlab_cli("validate " + dir_.path(), dir_);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, dir_.path() + ": error: is a directory, not a config file\n");
}

TEST_F(ConfigErrors, recursive_alias_in_file_and_in_set_is_an_error) {
  Result r = validate(kModel + "variants: &v [{label: a, method: {name: rtn, weight_format: int}}, *v]\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind(path() + ":2:68: error: alias '*v' is used inside its own anchor '&v'", 0), 0u) << r.err;
  r = validate(kModel + "variants: [{label: a, method: {name: rtn, weight_format: int}}]\n", "--set 'seed=&s [*s]'");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "<command line: --set seed=&s [*s]>: error: alias '*s' is used inside its own anchor '&s' (a recursive "
            "value); YAML allows it, a config cannot hold it\n");
}

TEST_F(ConfigErrors, error_inside_an_anchor_is_reported_once_with_its_route) {
  const Result r = validate(kModel +
                            "fmt: &f {name: int, bits: 4, group_szie: 16}\n"
                            "x_unused: 1\n"
                            "variants:\n"
                            "  - {label: a, method: {name: rtn, weight_format: *f}}\n"
                            "  - {label: b, method: {name: rtn, weight_format: *f}}\n");
  EXPECT_EQ(r.rc, 2);
  // 'fmt' itself is an unknown key of the experiment; the typo inside the anchor is one error.
  size_t n = 0;
  for (size_t at = r.err.find("unknown key 'group_szie'"); at != std::string::npos;
       at = r.err.find("unknown key 'group_szie'", at + 1))
    ++n;
  EXPECT_EQ(n, 1u) << r.err;
  EXPECT_NE(r.err.find(path() + ":2:30: error: unknown key 'group_szie' in format 'int'\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("note: reached through alias '*f' at " + path() + ":5:51\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path() + ":2:1: error: unknown key 'fmt' in experiment"), std::string::npos) << r.err;
}

TEST_F(ConfigErrors, merge_keys_are_supported_and_errors_point_into_the_merged_mapping) {
  Result r = validate(kModel +
                      "x_base: &base {name: rtn, weight_format: {name: int, bits: 4, group_size: 16}}\n"
                      "variants:\n"
                      "  - label: a\n"
                      "    method: {<<: *base, act_format: int}\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  r = validate(kModel +
               "x_base: &base {name: rtn, weight_fromat: int}\n"
               "variants:\n"
               "  - label: a\n"
               "    method:\n"
               "      <<: *base\n"
               "      weight_format: int\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            path() + ":2:27: error: unknown key 'weight_fromat' in method 'rtn'\n"
                     " 2 | x_base: &base {name: rtn, weight_fromat: int}\n"
                     "   |                           ^~~~~~~~~~~~~\n"
                     "note: did you mean 'weight_format'?\n"
                     "note: valid keys: act_format, name, only, ordering, ordering_bucket, skip, weight_format (keys starting with x_ are "
                     "free-form notes)\n"
                     "note: reached through alias '*base' at " + path() + ":6:11\n");
}

TEST_F(ConfigErrors, set_path_errors_name_the_set_argument) {
  const Result r = validate(kModel + "seed: 1\nvariants: [{label: a, method: {name: rtn, weight_format: int}}]\n",
                            "--set seed.sub=1");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "<command line: --set seed.sub=1>: error: 'seed' must be an integer in [0, 9e+15], got a mapping\n");
}

TEST_F(ConfigErrors, second_document_and_unterminated_quote_are_errors) {
  Result r = validate(kModel + "variants: [{label: a, method: {name: rtn, weight_format: int}}]\n---\nsede: 1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind(path() + ":3:1: error: a config file holds one YAML document; a second one starts here", 0),
            0u)
      << r.err;
  r = validate(kModel + "variants: [{label: a, method: {name: rtn, weight_format: int}}]\nname: \"run\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind(path() + ":3:7: error: unterminated quoted string (no closing \")", 0), 0u) << r.err;
}

TEST_F(ConfigErrors, size_depth_and_alias_limits_are_errors) {
  // One byte over the file limit.
  std::string big = kModel + "x_pad: \"";
  big += std::string(config::kMaxConfigFileBytes - big.size() - 1, 'a') + "\"\n";
  ASSERT_EQ(big.size(), config::kMaxConfigFileBytes + 1);
  Result r = validate(big);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, path() + ": error: config file is " + std::to_string(config::kMaxConfigFileBytes + 1) +
                       " bytes; the limit is " + std::to_string(config::kMaxConfigFileBytes) + "\n");

  r = validate(kModel + "x: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind(path() + ":2:67: error: values nest more than 64 levels deep\n", 0), 0u);
  EXPECT_LT(r.err.size(), 600u);

  std::string bomb = kModel + "x_0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "x_" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  r = validate(bomb);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("error: aliases expand to more than 100000 values"), std::string::npos) << r.err;
}

TEST_F(ConfigErrors, group_size_no_layer_takes_names_the_variant_and_its_line_before_any_forward) {
  const std::string path = dir_.write("e.yaml", kModel +
                                                    "variants:\n"
                                                    "  - {label: ok, method: {name: rtn, weight_format: int}}\n"
                                                    "  - label: bad\n"
                                                    "    method: {name: rtn, weight_format: int, act_format: {name: int, group_size: 48}}\n");
  const Result r = test::pqlab_cli("run " + path + " --out " + dir_.file("out"), dir_, PQLAB_SOURCE_DIR);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            path + ":4:5: error: variant 'bad': layer 'embed.in' (K=64): int: last dimension K=64 is not a "
                   "multiple of group_size 48 (set pad: true to zero-pad the last group)\n"
                   " 4 |   - label: bad\n"
                   "   |     ^\n");
  EXPECT_FALSE(is_regular_file(dir_.file("out/e.h5")));
}

}  // namespace
}  // namespace pqlab
