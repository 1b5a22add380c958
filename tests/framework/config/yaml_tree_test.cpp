// YAML text -> Node tree (framework/config/yaml_tree.cpp): aliases, merge keys, limits, strictness.
#include <gtest/gtest.h>

#include <string>

#include "framework/config/config_value.h"

namespace pqlab::config {
namespace {

struct Parsed {
  Node node;
  std::string errors;  ///< every diagnostic, formatted as the CLI prints them
  size_t count = 0;
};

Parsed parse(const std::string& text) {
  ErrorList errors;
  auto f = std::make_shared<SourceFile>();
  f->path = "t.yaml";
  Parsed p;
  p.node = parse_yaml(text, f, errors);
  p.count = errors.size();
  try {
    errors.throw_if_any();
  } catch (const ConfigError& e) {
    p.errors = e.what();
  }
  return p;
}

TEST(yaml_tree, aliases_copy_the_anchored_value_and_note_the_route) {
  const Parsed p = parse("base: &b {bits: 4, group_size: 64}\nw: *b\n");
  ASSERT_EQ(p.count, 0u) << p.errors;
  EXPECT_EQ(to_yaml(p.node), "base:\n  bits: 4\n  group_size: 64\nw:\n  bits: 4\n  group_size: 64\n");
  const Node* bits = p.node.find("w")->find("bits");
  EXPECT_EQ(bits->origin.line, 1);  // the copy keeps the anchor's location
  EXPECT_EQ(bits->origin.column, 17);
  EXPECT_EQ(bits->origin.via, "reached through alias '*b' at t.yaml:2:4");
  EXPECT_EQ(p.node.find("base")->find("bits")->origin.via, "");
}

TEST(yaml_tree, alias_inside_its_own_anchor_is_an_error_not_a_crash) {
  Parsed p = parse("a: &x [1, *x]\n");
  EXPECT_EQ(p.errors,
            "t.yaml:1:11: error: alias '*x' is used inside its own anchor '&x' (a recursive value); YAML allows "
            "it, a config cannot hold it\n"
            " 1 | a: &x [1, *x]\n"
            "   |           ^\n");
  p = parse("m: &m\n  k: *m\n");
  EXPECT_EQ(p.count, 1u);
  EXPECT_NE(p.errors.find("t.yaml:2:6: error: alias '*m' is used inside its own anchor"), std::string::npos);
}

TEST(yaml_tree, alias_bomb_stops_at_the_expansion_limit) {
  // Nine levels of ten aliases each would be 10^9 values.
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", " : "") + prev;
    text += "]\n";
  }
  const Parsed p = parse(text);
  EXPECT_EQ(p.count, 1u);
  EXPECT_NE(p.errors.find("error: aliases expand to more than 100000 values (an alias 'bomb'?)"),
            std::string::npos)
      << p.errors;
  EXPECT_EQ(p.node.kind, Node::Kind::null);
}

TEST(yaml_tree, aliases_nested_too_deep_are_an_error) {
  std::string text = "a0: &a0 1\n";
  for (int i = 1; i <= 20; ++i)
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + "]\n";
  const Parsed p = parse(text);
  // a1 holds one alias level, a16 sixteen, so the alias inside a17 is the seventeenth.
  EXPECT_NE(p.errors.find("t.yaml:18:12: error: aliases nest more than 16 deep"), std::string::npos) << p.errors;
}

TEST(yaml_tree, deep_nesting_is_an_error_with_a_bounded_echo) {
  const std::string text = "a: " + std::string(10000, '[') + std::string(10000, ']') + "\n";
  const Parsed p = parse(text);
  EXPECT_EQ(p.count, 1u);
  EXPECT_EQ(p.errors.rfind("t.yaml:1:67: error: values nest more than 64 levels deep\n", 0), 0u) << p.errors.substr(0, 300);
  EXPECT_LT(p.errors.size(), 500u);  // the 20,000-character line is shown as a window
  EXPECT_NE(p.errors.find(" 1 | ..."), std::string::npos);
  // 64 levels are fine.
  EXPECT_EQ(parse("a: " + std::string(63, '[') + std::string(63, ']') + "\n").count, 0u);
}

TEST(yaml_tree, unterminated_quotes_are_errors) {
  Parsed p = parse("name: \"abc\n");
  EXPECT_EQ(p.errors,
            "t.yaml:1:7: error: unterminated quoted string (no closing \")\n"
            " 1 | name: \"abc\n"
            "   |       ^\n");
  p = parse("a: 1\nname: 'it''s\n");
  EXPECT_NE(p.errors.find("t.yaml:2:7: error: unterminated quoted string (no closing ')"), std::string::npos);
  // Closed quotes, escapes and multi-line quoted values stay valid.
  p = parse("a: \"x\\\"y\"\nb: 'it''s'\nc: \"one\n  two\"\nd: &q 'z'\n");
  ASSERT_EQ(p.count, 0u) << p.errors;
  EXPECT_EQ(p.node.find("a")->scalar, "x\"y");
  EXPECT_EQ(p.node.find("b")->scalar, "it's");
  EXPECT_EQ(p.node.find("c")->scalar, "one two");
  EXPECT_EQ(p.node.find("d")->scalar, "z");
}

TEST(yaml_tree, a_second_document_is_an_error) {
  Parsed p = parse("a: 1\n---\nb: 2\n");
  EXPECT_EQ(p.errors,
            "t.yaml:2:1: error: a config file holds one YAML document; a second one starts here\n"
            " 2 | ---\n"
            "   | ^\n");
  // A leading document marker and a closing '...' are one document.
  p = parse("---\na: 1\n...\n");
  EXPECT_EQ(p.count, 0u) << p.errors;
}

TEST(yaml_tree, merge_keys_merge_with_locations_and_explicit_keys_win) {
  const Parsed p = parse(
      "base: &b {bits: 4, group_size: 64}\n"
      "more: &m {group_size: 16, pad: true}\n"
      "w:\n"
      "  group_size: 32\n"
      "  <<: [*b, *m]\n");
  ASSERT_EQ(p.count, 0u) << p.errors;
  const Node* w = p.node.find("w");
  EXPECT_EQ(to_yaml(*w), "group_size: 32\nbits: 4\npad: true\n");
  EXPECT_EQ(w->find("group_size")->origin.line, 4);  // explicit key, even before '<<'
  EXPECT_EQ(w->find("bits")->origin.line, 1);
  EXPECT_EQ(w->find("pad")->origin.line, 2);
  EXPECT_EQ(w->find("pad")->origin.via, "reached through alias '*m' at t.yaml:5:12");
  // Inline mapping, and the note for values that came through '<<' without an alias.
  const Parsed q = parse("w: {<<: {a: 1}, b: 2}\n");
  ASSERT_EQ(q.count, 0u) << q.errors;
  EXPECT_EQ(q.node.find("w")->find("a")->origin.via, "merged by '<<' at t.yaml:1:5");
  // A quoted '<<' is an ordinary key; a merge of a scalar is an error.
  EXPECT_EQ(to_yaml(parse("w: {'<<': 1}\n").node), "w:\n  \"<<\": 1\n");
  EXPECT_NE(parse("w: {<<: 1}\n").errors.find("t.yaml:1:9: error: '<<' (merge key) takes a mapping or a list of mappings, got a scalar"),
            std::string::npos);
}

TEST(yaml_tree, duplicate_keys_are_found_in_large_mappings) {
  std::string text;
  for (int i = 0; i < 50000; ++i) text += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  text += "k123: again\n";
  const Parsed p = parse(text);
  EXPECT_EQ(p.count, 1u);
  EXPECT_EQ(p.errors.rfind("t.yaml:50001:1: error: duplicate key 'k123'", 0), 0u) << p.errors.substr(0, 200);
  EXPECT_NE(p.errors.find("note: first defined at t.yaml:124:1"), std::string::npos);
}

TEST(yaml_tree, set_values_are_parsed_with_the_same_limits) {
  Node root = parse("seed: 1\n").node;
  ErrorList errors;
  apply_set(root, "seed=&a [*a]", errors);
  try {
    errors.throw_if_any();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "<command line: --set seed=&a [*a]>: error: alias '*a' is used inside its own anchor '&a' (a "
              "recursive value); YAML allows it, a config cannot hold it\n");
  }
}

}  // namespace
}  // namespace pqlab::config
