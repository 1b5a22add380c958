// This process's place in the world, for provenance and for judging whether a recorded process
// still runs: the host name, the UTC time, and liveness of a pid on this host.
#pragma once
#include <string>

namespace pqlab {

/// gethostname(), or "unknown-host".
std::string host_name();
/// The current UTC time as "2026-12-01T10:59:42Z".
std::string now_iso8601();
/// Whether a process with this pid exists on this host (kill(pid, 0); a process of another user
/// counts as existing).
bool process_exists(long pid);

}  // namespace pqlab
