// Build identity recorded in every result file.
#pragma once
namespace pqlab {
const char* version();     ///< semantic version of pqlab, e.g. "0.1.0"
const char* git_commit();  ///< `git describe --always --dirty` at configure time, or "unknown"
}  // namespace pqlab
