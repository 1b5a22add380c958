// FNV-1a 64 against the published test vectors (Fowler/Noll/Vo, "FNV test suite"): task folder
// names and calibration cache keys must not change between builds, machines or compilers.
#include "framework/core/stable_hash.h"

#include <gtest/gtest.h>

namespace pqlab {
namespace {

TEST(StableHash, matches_the_fnv1a_64_test_vectors) {
  EXPECT_EQ(stable_hash64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(stable_hash64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(stable_hash64("foobar"), 0x85944171f73967e8ULL);
}

TEST(StableHash, hex_is_the_leading_digits_of_the_hash) {
  EXPECT_EQ(stable_hash_hex("foobar"), "85944171f73967e8");
  EXPECT_EQ(stable_hash_hex("foobar", 10), "85944171f7");
  EXPECT_EQ(stable_hash_hex("", 16), "cbf29ce484222325");
  EXPECT_EQ(stable_hash_hex("a", 40), "af63dc4c8601ec8c");  // clamped to 16
}

}  // namespace
}  // namespace pqlab
