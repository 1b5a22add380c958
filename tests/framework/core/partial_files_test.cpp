#include "framework/core/partial_files.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <vector>
#include <string>

#include "framework/core/paths.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

// A pid that certainly belonged to a process of this host that has exited.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

std::string host_of_tag() {
  const std::string tag = partial_file_tag();
  return tag.substr(0, tag.rfind('-'));
}

TEST(partial_files, tag_is_host_dash_pid) {
  const std::string tag = partial_file_tag();
  EXPECT_EQ(tag.substr(tag.rfind('-') + 1), std::to_string(::getpid()));
  EXPECT_FALSE(host_of_tag().empty());
  EXPECT_EQ(host_of_tag().find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"),
            std::string::npos);
}

TEST(partial_files, signal_removes_registered_files_and_exits_128_plus_signal) {
  test::TempDir dir;
  for (const int sig : {SIGTERM, SIGINT}) {
    const std::string kept = dir.write("kept", "x"), gone = dir.write("gone", "x"), forgotten = dir.write("forgotten", "x");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      install_interrupt_cleanup();
      register_partial_file(gone);
      unregister_partial_file(register_partial_file(forgotten));
      ::raise(sig);
      ::_exit(0);  // not reached
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    EXPECT_TRUE(path_exists(kept));
    EXPECT_FALSE(path_exists(gone));
    EXPECT_TRUE(path_exists(forgotten));
  }
}

TEST(partial_files, ignored_signals_stay_ignored) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGINT, SIG_IGN);  // as for background jobs of a non-interactive shell
    install_interrupt_cleanup();
    ::raise(SIGINT);
    ::_exit(7);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(partial_files, overlong_paths_and_a_full_table_are_not_registered) {
  EXPECT_EQ(register_partial_file(std::string(5000, 'a')), -1);
  EXPECT_EQ(register_partial_file(""), -1);
  std::vector<int> slots;
  for (int i = 0; i < 40; ++i) slots.push_back(register_partial_file("/nonexistent/p" + std::to_string(i)));
  // This process registered nothing else, so exactly 32 fit.
  EXPECT_EQ(std::count_if(slots.begin(), slots.end(), [](int s) { return s >= 0; }), 32);
  EXPECT_EQ(slots.back(), -1);
  for (int s : slots) unregister_partial_file(s);
  EXPECT_GE(register_partial_file("/nonexistent/again"), 0);
}

TEST(partial_files, stale_files_of_this_host_are_removed_others_reported) {
  test::TempDir dir;
  const std::string host = host_of_tag();
  const std::string dead = dir.write("r.h5.partial-" + host + "-" + std::to_string(dead_pid()), "x");
  const std::string live = dir.write("r.h5.partial-" + host + "-" + std::to_string(::getppid()), "x");
  const std::string mine = dir.write("r.h5.partial-" + partial_file_tag(), "x");
  const std::string foreign = dir.write("r.h5.partial-node-b17.cluster-4242", "x");
  const std::string old_style = dir.write("s.h5.partial-4243", "x");
  const std::string unrelated = dir.write("notes.partial-x", "x");
  const std::string other_kind = dir.write("w.safetensors.partial-" + host + "-" + std::to_string(dead_pid()), "x");

  const StalePartialScan scan = clean_stale_partial_files(dir.path(), ".h5.partial-");
  EXPECT_EQ(scan.removed, std::vector<std::string>{dead});
  EXPECT_FALSE(path_exists(dead));
  for (const std::string& p : {live, mine, foreign, old_style, unrelated, other_kind}) EXPECT_TRUE(path_exists(p)) << p;
  ASSERT_EQ(scan.warnings.size(), 2u);
  const std::string w_foreign = "'" + foreign + "' is a partial result of process 4242 on host 'node-b17.cluster', last modified ";
  EXPECT_EQ(scan.warnings[0].substr(0, w_foreign.size()), w_foreign) << scan.warnings[0];
  EXPECT_NE(scan.warnings[0].find(" s ago; it is not removed from here, delete it once no run on that host is writing it"),
            std::string::npos)
      << scan.warnings[0];
  const std::string w_old = "'" + old_style + "' is a partial result of process 4243 on an unknown host (named by an older pqlab), last modified ";
  EXPECT_EQ(scan.warnings[1].substr(0, w_old.size()), w_old) << scan.warnings[1];

  EXPECT_TRUE(clean_stale_partial_files(dir.file("missing"), ".h5.partial-").warnings.empty());
}

}  // namespace
}  // namespace pqlab
