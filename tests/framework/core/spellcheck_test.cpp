#include "framework/core/spellcheck.h"

#include <gtest/gtest.h>

#include "framework/core/glob.h"

namespace pqlab {

TEST(spellcheck, edit_distance_counts_single_edits) {
  EXPECT_EQ(edit_distance("group_size", "group_size"), 0);
  EXPECT_EQ(edit_distance("group_szie", "group_size"), 2);  // a swap is two substitutions
  EXPECT_EQ(edit_distance("bit", "bits"), 1);
  EXPECT_EQ(edit_distance("", "abc"), 3);
}

TEST(spellcheck, closest_match_respects_threshold) {
  const std::vector<std::string> keys = {"bits", "group_size", "symmetric", "pad"};
  EXPECT_EQ(closest_match("group_szie", keys), "group_size");
  EXPECT_EQ(closest_match("symetric", keys), "symmetric");
  EXPECT_EQ(closest_match("completely_else", keys), "");
  // A short word is never "corrected" into an unrelated short key.
  EXPECT_EQ(closest_match("x", {"pad"}), "");
}

TEST(glob, matches_layer_keys) {
  EXPECT_TRUE(glob_match("embed.*", "embed.in"));
  EXPECT_TRUE(glob_match("block.*.mlp.up", "block.12.mlp.up"));
  EXPECT_FALSE(glob_match("block.*.mlp.up", "block.1.mlp.down"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("double.?.img.*", "double.7.img.attn.qkv"));
  EXPECT_FALSE(glob_match("double.?.img.*", "double.17.img.attn.qkv"));
  EXPECT_TRUE(glob_match_any({"final.*", "embed.*"}, "final.out"));
  EXPECT_FALSE(glob_match_any({}, "final.out"));
}

}  // namespace pqlab
