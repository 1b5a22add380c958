#include "framework/config/config_value.h"

#include <gtest/gtest.h>

namespace pqlab::config {
namespace {

Node parse(const std::string& text) {
  ErrorList errors;
  auto f = std::make_shared<SourceFile>();
  f->path = "t.yaml";
  Node n = parse_yaml(text, f, errors);
  EXPECT_TRUE(errors.empty());
  return n;
}

TEST(config_value, origins_are_one_based_and_keep_the_file) {
  Node n = parse("a:\n  b: [1, 'two']\n");
  const Node* b = n.find("a")->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->seq[1].origin.line, 2);
  EXPECT_EQ(b->seq[1].origin.column, 10);
  EXPECT_EQ(b->seq[1].origin.length, 5);  // quotes included
  EXPECT_TRUE(b->seq[1].quoted);
  EXPECT_FALSE(b->seq[0].quoted);
  EXPECT_EQ(b->seq[0].origin.file->path, "t.yaml");
}

TEST(config_value, merge_is_deep_for_maps_and_replaces_the_rest) {
  Node base = parse("m: {a: 1, b: {c: 2, d: 3}}\nl: [1, 2]\n");
  merge_into(base, parse("m: {b: {d: 4}, e: 5}\nl: [9]\n"));
  EXPECT_EQ(to_yaml(base), "m:\n  a: 1\n  b:\n    c: 2\n    d: 4\n  e: 5\nl:\n  - 9\n");
}

TEST(config_value, set_creates_paths_indexes_sequences_and_expands_shorthand) {
  Node n = parse("v: [{method: {weight_format: nvfp4}}]\n");
  ErrorList errors;
  apply_set(n, "v.0.method.weight_format.group_size=32", errors);
  apply_set(n, "seed=7", errors);
  apply_set(n, "out.dir=/tmp/x", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(to_yaml(n),
            "v:\n  - method:\n      weight_format:\n        name: nvfp4\n        group_size: 32\nseed: 7\nout:\n  dir: /tmp/x\n");
  apply_set(n, "v.3.method=rtn", errors);
  apply_set(n, "novalue", errors);
  EXPECT_EQ(errors.size(), 2u);
}

TEST(config_value, error_list_caps_at_twenty_and_says_so) {
  ErrorList errors;
  for (int i = 0; i < 25; ++i) errors.add(Origin{}, "e" + std::to_string(i));
  try {
    errors.throw_if_any();
    FAIL();
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.diagnostics().size(), 21u);
    EXPECT_EQ(e.diagnostics().back().message, "too many errors (25); stopping after 20");
  }
}

}  // namespace
}  // namespace pqlab::config
