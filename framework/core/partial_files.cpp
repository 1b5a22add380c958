#include "framework/core/partial_files.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "framework/core/paths.h"

namespace pqlab {
namespace {

constexpr int kSlots = 32;
constexpr size_t kPathBytes = 4096;

// Slot states: free, being filled (invisible to the handler), registered.
enum SlotState : int { kFree = 0, kFilling = 1, kRegistered = 2 };

// Constant-initialized (atomic<int> has a constexpr constructor, the array is zero-filled), so
// nothing runs before main and the handler can read the table at any time.
struct Slot {
  std::atomic<int> state{kFree};
  char path[kPathBytes];
};
Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");

void write_stderr(const char* text) {
  size_t n = std::strlen(text);
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<size_t>(w);
  }
}

extern "C" void on_interrupt(int sig) {
  for (Slot& s : g_slots) {
    if (s.state.load(std::memory_order_acquire) == kRegistered) ::unlink(s.path);
  }
  write_stderr(sig == SIGINT ? "pqlab: interrupted (SIGINT); partial output removed\n"
                             : "pqlab: terminated (SIGTERM); partial output removed\n");
  ::_exit(128 + sig);
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "unknown-host";
  std::string h = buf;
  for (char& c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return h;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string age_text(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  const double s = std::difftime(std::time(nullptr), st.st_mtime);
  if (s < 120) return ", last modified " + std::to_string(static_cast<long>(s)) + " s ago";
  if (s < 7200) return ", last modified " + std::to_string(static_cast<long>(s / 60)) + " min ago";
  return ", last modified " + std::to_string(static_cast<long>(s / 3600)) + " h ago";
}

}  // namespace

void install_interrupt_cleanup() {
  for (const int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);  // one cleanup at a time: block both while handling either
    sigaddset(&sa.sa_mask, SIGTERM);
    ::sigaction(sig, &sa, nullptr);
  }
}

int register_partial_file(const std::string& path) {
  if (path.empty() || path.size() >= kPathBytes) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kFilling)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(kRegistered, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_partial_file(int slot) {
  if (slot >= 0 && slot < kSlots) g_slots[slot].state.store(kFree, std::memory_order_release);
}

std::string partial_file_tag() { return host_name() + "-" + std::to_string(::getpid()); }

StalePartialScan clean_stale_partial_files(const std::string& dir, const std::string& marker) {
  StalePartialScan scan;
  std::vector<std::string> names;
  try {
    names = list_directory(dir);
  } catch (const std::exception&) {
    return scan;  // the run itself reports an unusable folder
  }
  const std::string me = host_name();
  for (const std::string& name : names) {
    const size_t at = name.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    const std::string tag = name.substr(at + marker.size());
    const std::string path = path_join(dir, name);
    if (!is_regular_file(path)) continue;
    if (all_digits(tag)) {
      scan.warnings.push_back("'" + path + "' is a partial result of process " + tag +
                              " on an unknown host (named by an older pqlab)" + age_text(path) +
                              "; delete it once no run is writing it");
      continue;
    }
    const size_t dash = tag.rfind('-');
    if (dash == std::string::npos || dash == 0 || !all_digits(tag.substr(dash + 1))) continue;
    const std::string host = tag.substr(0, dash);
    const pid_t pid = static_cast<pid_t>(std::stol(tag.substr(dash + 1)));
    if (host != me) {
      scan.warnings.push_back("'" + path + "' is a partial result of process " + std::to_string(pid) + " on host '" +
                              host + "'" + age_text(path) +
                              "; it is not removed from here, delete it once no run on that host is writing it");
      continue;
    }
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to signal): a concurrent run
    if (::unlink(path.c_str()) == 0) scan.removed.push_back(path);
  }
  return scan;
}

}  // namespace pqlab
