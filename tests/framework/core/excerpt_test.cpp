#include "framework/core/excerpt.h"

#include <gtest/gtest.h>

#include <string>

namespace pqlab {
namespace {

TEST(excerpt, short_text_is_unchanged_long_text_is_cut_with_dots) {
  EXPECT_EQ(excerpt(""), "");
  EXPECT_EQ(excerpt(std::string(200, 'a')), std::string(200, 'a'));
  EXPECT_EQ(excerpt(std::string(201, 'a')), std::string(200, 'a') + "...");
  EXPECT_EQ(excerpt("abcdef", 3), "abc...");
}

TEST(excerpt, never_splits_a_utf8_character) {
  // "é" is two bytes (C3 A9); a cut after byte 2 of "aé..." would leave a lone C3.
  EXPECT_EQ(excerpt("a\xC3\xA9xyz", 2), "a...");
  EXPECT_EQ(excerpt("a\xC3\xA9xyz", 3), "a\xC3\xA9...");
}

}  // namespace
}  // namespace pqlab
