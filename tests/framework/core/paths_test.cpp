#include "framework/core/paths.h"

#include <gtest/gtest.h>

#include <string>

namespace pqlab {
namespace {

TEST(paths, plain_file_stems_cannot_leave_their_folder) {
  for (const char* ok : {"toy_w4a4", "w4a4_nvfp4", "run-1.2", ".hidden", "a..b", "..."})
    EXPECT_TRUE(is_plain_file_stem(ok)) << ok;
  for (const char* bad : {"", ".", "..", "../escaped", "a/b", "/abs", "a b", "a\\b", "ä", "x\n"})
    EXPECT_FALSE(is_plain_file_stem(bad)) << bad;
  EXPECT_TRUE(is_plain_file_stem(std::string(128, 'a')));
  EXPECT_FALSE(is_plain_file_stem(std::string(129, 'a')));
}

}  // namespace
}  // namespace pqlab
