// Progress lines: plain lines without escape codes for logs, one redrawn line on a terminal.
#include "framework/core/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace pqlab {
namespace {

TEST(progress, logs_get_plain_lines_with_phase_detail_and_eta) {
  std::ostringstream os;
  Progress p(&os, false);
  p.phase("w4 teacher-forced", 3);
  p.advance("step 1/3, sample 1/1");
  p.advance("step 2/3, sample 1/1");  // within 5 s of the last line: not printed
  p.advance("step 3/3, sample 1/1");
  p.finish();
  const std::string s = os.str();
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(s.find('\033'), std::string::npos);
  EXPECT_EQ(s.rfind("pqlab: w4 teacher-forced   0% 0/3 elapsed 0:00 eta -\n", 0), 0u) << s;
  EXPECT_NE(s.find("pqlab: w4 teacher-forced 100% 3/3 elapsed 0:00 eta - (step 3/3, sample 1/1)\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("step 2/3"), std::string::npos) << s;
}

TEST(progress, a_terminal_gets_one_line_redrawn_and_quiet_prints_nothing) {
  std::ostringstream os;
  Progress p(&os, true);
  p.phase("calibration", 2);
  p.advance("step 1/2, sample 1/1");
  p.finish();
  const std::string s = os.str();
  EXPECT_EQ(s.rfind("\rpqlab: [....................] calibration   0% 0/2 elapsed 0:00 eta -", 0), 0u) << s;
  EXPECT_EQ(s.back(), '\n');
  Progress quiet(nullptr, false);
  quiet.phase("x", 1);
  quiet.advance("y");
  quiet.finish();
}

}  // namespace
}  // namespace pqlab
