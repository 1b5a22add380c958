#include "framework/core/subprocess.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "framework/core/error.h"

namespace pqlab {
namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const std::string& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

// In the child after fork(): only async-signal-safe calls until exec.
[[noreturn]] void exec_or_die(const std::vector<char*>& argv, int err_fd) {
  ::execvp(argv[0], argv.data());
  const char* why = std::strerror(errno);
  const char* msg = "pqlab: cannot execute ";
  (void)!::write(err_fd, msg, std::strlen(msg));
  (void)!::write(err_fd, argv[0], std::strlen(argv[0]));
  (void)!::write(err_fd, ": ", 2);
  (void)!::write(err_fd, why, std::strlen(why));
  (void)!::write(err_fd, "\n", 1);
  ::_exit(127);
}

// In the child after fork(): stdin from /dev/null, stdout and stderr to `out_fd`, then into
// `workdir` (when not empty) or exit 127 saying so. Async-signal-safe calls only.
void child_setup(int out_fd, const std::string& workdir) {
  const int in = ::open("/dev/null", O_RDONLY);
  if (in >= 0) ::dup2(in, 0);
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) {
    const char* msg = "pqlab: cannot enter the working directory\n";
    (void)!::write(2, msg, std::strlen(msg));
    ::_exit(127);
  }
}

}  // namespace

int exit_code_of(int s) {
  if (WIFEXITED(s)) return WEXITSTATUS(s);
  if (WIFSIGNALED(s)) return 128 + WTERMSIG(s);
  return 1;
}

long spawn_logged(const std::vector<std::string>& argv, const std::string& workdir, const std::string& log_path,
                  const std::vector<std::pair<std::string, std::string>>& env) {
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw RuntimeError("cannot open log '" + log_path + "': " + std::strerror(errno));
  const std::vector<char*> args = c_argv(argv);
  // The environment is set up before fork: setenv is not async-signal-safe.
  std::vector<std::string> env_text;
  std::vector<char*> envp;
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& [k, v] : env)
      if (std::strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=') replaced = true;
    if (!replaced) envp.push_back(*e);
  }
  for (std::string& s : env_text) envp.push_back(s.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    throw RuntimeError(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    child_setup(log, workdir);
    environ = envp.data();
    exec_or_die(args, 2);
  }
  ::close(log);
  return pid;
}

CommandOutput run_command(const std::vector<std::string>& argv, const std::string& workdir) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw RuntimeError(std::string("pipe failed: ") + std::strerror(errno));
  const std::vector<char*> args = c_argv(argv);
  const pid_t pid = ::fork();
  if (pid < 0) throw RuntimeError(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    child_setup(fds[1], workdir);
    exec_or_die(args, 2);
  }
  ::close(fds[1]);
  CommandOutput out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) out.output.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = exit_code_of(status);
  return out;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  const std::string p = path ? path : "";
  size_t s = 0;
  for (;;) {
    const size_t e = p.find(':', s);
    std::string dir = p.substr(s, e == std::string::npos ? std::string::npos : e - s);
    if (dir.empty()) dir = ".";  // an empty PATH entry is the working directory
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (e == std::string::npos) return "";
    s = e + 1;
  }
}

}  // namespace pqlab
