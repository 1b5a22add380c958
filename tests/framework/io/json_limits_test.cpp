#include "framework/io/json_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace pqlab {
namespace {

TEST(json_limits, depth_is_counted_outside_strings_only) {
  EXPECT_EQ(json_depth_error(R"({"a": [1, {"b": []}]})", 4), "");
  EXPECT_EQ(json_depth_error(R"({"a": [1, {"b": []}]})", 3),
            "arrays and objects nest deeper than 3 levels (at byte 16)");
  // Brackets in strings, behind escaped quotes and backslashes, do not count.
  EXPECT_EQ(json_depth_error(R"(["[[[\"[[[", "\\", "{{{"])", 1), "");
  // Siblings do not add up; only the depth at one point does.
  EXPECT_EQ(json_depth_error("[[],[],[],[]]", 2), "");
  EXPECT_EQ(json_depth_error(std::string(), 0), "");
}

TEST(json_limits, issue_8_hundred_thousand_levels_stop_at_the_limit) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_EQ(json_depth_error(deep), "arrays and objects nest deeper than 64 levels (at byte 64)");
  const std::string ok = std::string(kJsonMaxDepth, '{') + std::string(kJsonMaxDepth, '}');
  EXPECT_EQ(json_depth_error(ok), "");
}

}  // namespace
}  // namespace pqlab
