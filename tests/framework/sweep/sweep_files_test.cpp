// A task's state is read from its folder alone (framework/sweep/sweep_files.h): the result file
// decides "complete"; the status line decides the rest, with liveness checked on this host.
#include "framework/sweep/sweep_files.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <gtest/gtest.h>

#include "framework/core/host.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

TEST(SweepFiles, task_states_follow_result_and_status) {
  test::TempDir d;
  const std::string dir = d.path();
  EXPECT_EQ(read_task_status(dir, "x.h5").state, TaskState::pending);

  write_task_status(dir, status_running());  // this process: alive
  EXPECT_EQ(read_task_status(dir, "x.h5").state, TaskState::running);

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // reaped: the pid names no process now
  write_task_status(dir, "running " + host_name() + " " + std::to_string(child) + " 2026-12-01T00:00:00Z");
  EXPECT_EQ(read_task_status(dir, "x.h5").state, TaskState::interrupted);
  // On another host nothing can be judged from here: it may be running.
  write_task_status(dir, "running some-other-node 1 2026-12-01T00:00:00Z");
  EXPECT_EQ(read_task_status(dir, "x.h5").state, TaskState::running);

  write_task_status(dir, status_failed(137));
  const TaskStatus f = read_task_status(dir, "x.h5");
  EXPECT_EQ(f.state, TaskState::failed);
  EXPECT_EQ(f.exit_code, 137);

  write_task_status(dir, status_done());  // done, but the result was deleted since: run again
  EXPECT_EQ(read_task_status(dir, "x.h5").state, TaskState::interrupted);

  std::ofstream(d.file("x.h5")) << "result";
  write_task_status(dir, status_running());  // killed after its result was renamed into place
  EXPECT_EQ(read_task_status(dir, "x.h5").state, TaskState::complete);
}

}  // namespace
}  // namespace pqlab
