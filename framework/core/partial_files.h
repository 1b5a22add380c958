// Files that exist only while being written (<result>.h5.partial-<host>-<pid>, <file>.tmp-<pid>)
// and what happens to them when the process is interrupted or dies:
//   * register_partial_file() puts a path in a fixed table that a SIGINT/SIGTERM handler reads;
//     the handler unlinks every registered path and exits 130 (SIGINT) or 143 (SIGTERM). It only
//     calls unlink(), write() and _exit(), so it is async-signal-safe.
//   * clean_stale_partial_files() is run before a new result is written: a partial file of this
//     host whose process no longer exists is deleted; others that may be stale are reported.
// Partial names carry the host because results folders live on cluster file systems shared by
// many nodes, where a pid alone names different processes on different hosts.
// Tests: tests/framework/core/partial_files_test.cpp, tests/cli/interrupt_test.cpp
#pragma once
#include <string>
#include <vector>

namespace pqlab {

/// Installs the SIGINT and SIGTERM handlers described above. Called from main(), never from a
/// static initializer. A signal that the parent process set to be ignored (SIG_IGN, e.g. SIGINT
/// for background jobs of a non-interactive shell) stays ignored.
void install_interrupt_cleanup();

/// Adds `path` to the table the signal handler removes. Returns the slot to pass to
/// unregister_partial_file(), or -1 when the table (32 entries) is full or the path is longer
/// than 4095 bytes; such a file then survives a signal, and clean_stale_partial_files() removes
/// it on the next run in its folder on this host.
int register_partial_file(const std::string& path);
/// Forgets a slot from register_partial_file(); -1 is ignored.
void unregister_partial_file(int slot);

/// "<host>-<pid>": this host's name (characters other than letters, digits, '.', '_', '-'
/// replaced by '_') and this process's id, the suffix of partial-file names.
std::string partial_file_tag();

struct StalePartialScan {
  std::vector<std::string> removed;   ///< paths deleted: left by a process of this host that is gone
  std::vector<std::string> warnings;  ///< one message per file that may be stale but cannot be judged here
};

/// Looks at the regular files of `dir` named "<stem><marker><host>-<pid>" (marker e.g.
/// ".h5.partial-"). Deletes those of this host whose process does not exist (kill(pid, 0) fails
/// with ESRCH); files of live processes (concurrent runs) are left alone silently. Files of other
/// hosts, and old-style "<stem><marker><pid>" files that name no host, are only reported: their
/// process may still be writing them. A missing or unreadable `dir` gives an empty scan.
StalePartialScan clean_stale_partial_files(const std::string& dir, const std::string& marker);

}  // namespace pqlab
