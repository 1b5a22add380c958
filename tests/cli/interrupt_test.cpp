// issue 8: SIGINT/SIGTERM during `pqlab run` remove the partial result and exit 130/143, and a
// later run in the same folder removes partial files left by dead processes of this host and
// reports those of other hosts. Runs the real binary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "framework/core/partial_files.h"
#include "framework/core/paths.h"
#include "tests/common/run_cli.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

// `pqlab run` of the toy experiment into `out`, made slow enough (many samples and tokens, one
// thread) that a signal lands while the result file is being written.
pid_t spawn_slow_run(const std::string& out, const std::string& err_file) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::chdir(PQLAB_SOURCE_DIR) != 0) ::_exit(99);
  const int fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, STDERR_FILENO);
  ::dup2(fd, STDOUT_FILENO);
  ::setenv("OMP_NUM_THREADS", "1", 1);
  const std::vector<std::string> args = {PQLAB_BINARY, "run", "experiments/toy_w4a4.yaml", "--quiet", "--out", out,
                                         "--set", "data.eval_samples=16", "--set", "model.tokens=1024"};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  ::_exit(98);
}

// Waits until `dir` holds a file whose name contains `part`; false after 120 s.
bool wait_for_file(const std::string& dir, const std::string& part) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < end) {
    for (const std::string& n : list_directory(dir))
      if (n.find(part) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void expect_signal_cleans_up(int sig, int expected_rc, const std::string& message) {
  test::TempDir dir;
  const std::string out = dir.file("out");
  create_directories(out);
  const pid_t pid = spawn_slow_run(out, dir.file("stderr.txt"));
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_file(out, "toy_w4a4.h5.partial-")) << read_text(dir.file("stderr.txt"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it write into the file
  ASSERT_EQ(::kill(pid, sig), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), expected_rc) << read_text(dir.file("stderr.txt"));
  EXPECT_EQ(list_directory(out), std::vector<std::string>{}) << "no partial and no final result may remain";
  EXPECT_EQ(read_text(dir.file("stderr.txt")), message);
}

TEST(interrupt, issue_8_sigterm_removes_the_partial_result_and_exits_143) {
  expect_signal_cleans_up(SIGTERM, 143, "pqlab: terminated (SIGTERM); partial output removed\n");
}

TEST(interrupt, issue_8_sigint_removes_the_partial_result_and_exits_130) {
  expect_signal_cleans_up(SIGINT, 130, "pqlab: interrupted (SIGINT); partial output removed\n");
}

TEST(interrupt, issue_8_next_run_removes_dead_partials_of_this_host_and_reports_foreign_ones) {
  test::TempDir dir;
  const std::string tag = partial_file_tag();
  const std::string host = tag.substr(0, tag.rfind('-'));
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = dir.write("out/old.h5.partial-" + host + "-" + std::to_string(dead), "x");
  const std::string foreign = dir.write("out/old.h5.partial-othernode-17", "x");

  const test::CliResult r = test::pqlab_cli("run experiments/toy_w4a4.yaml --quiet --set data.eval_samples=2 --set "
                                            "model.tokens=16 --out " + dir.file("out"),
                                            dir, PQLAB_SOURCE_DIR);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(path_exists(stale));
  EXPECT_TRUE(path_exists(foreign));
  EXPECT_TRUE(path_exists(dir.file("out/toy_w4a4.h5")));
  const std::string removed =
      "pqlab: note: removed '" + stale + "', left by a process of this host that no longer exists\n";
  const std::string reported = "pqlab: warning: '" + foreign +
                               "' is a partial result of process 17 on host 'othernode', last modified ";
  ASSERT_EQ(r.err.substr(0, removed.size() + reported.size()), removed + reported) << r.err;
  const std::string tail = " s ago; it is not removed from here, delete it once no run on that host is writing it\n";
  ASSERT_GE(r.err.size(), tail.size());
  EXPECT_EQ(r.err.substr(r.err.size() - tail.size()), tail) << r.err;
}

}  // namespace
}  // namespace pqlab
