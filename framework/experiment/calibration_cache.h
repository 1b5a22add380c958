// Calibration statistics cached on disk, shared by the runs of a sweep that differ only in what
// calibration does not depend on (method settings, formats, orderings, evaluation): the first run
// computes them, every other run reads them back bit for bit.
//
// An entry is <dir>/<key>.h5, key = stable hash of calibration_identity(). It is written through
// H5Writer (a partial file renamed into place), so a reader never sees half an entry, and under
// an exclusive flock on <dir>/<key>.lock, so no two runs compute or write the same entry: the
// others wait for it and then read it. flock works across the processes of one host and, on
// Linux NFSv4 and Lustre, across nodes (where it maps to POSIX record locks).
// Tests: tests/framework/experiment/calibration_cache_test.cpp
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "framework/experiment/calibration.h"

namespace pqlab {

/// Everything the statistics depend on, as text: the model's and the calibration block's
/// resolved config, the first calibration sample, the seed, the CPU threads (they can change
/// summation order), the reservoir size, the observed sites and the pqlab build.
std::string calibration_identity(const std::string& model_yaml, const std::string& calibration_yaml,
                                 int64_t first_sample, int64_t seed, int64_t threads, int64_t keep_rows,
                                 const std::vector<std::string>& site_keys);

/// Writes `cal` (statistics, reservoir rows and priorities, weight statistics, provenance) to
/// `path` atomically; `identity` is stored with it and checked on reading.
void write_calibration_file(const std::string& path, const Calibration& cal, const std::string& identity);

/// Reads a file of write_calibration_file(). Statistics go to `device` (float64, as the collector
/// keeps them); reservoir rows (float32) and priorities (float64) stay on the CPU. RuntimeError
/// naming the file when it was written for another identity.
Calibration read_calibration_file(const std::string& path, const std::string& identity, const std::string& device);

struct CachedCalibration {
  Calibration cal;
  std::string path;  ///< the entry's file
  bool hit = false;  ///< read from the cache (false: computed by this call and stored)
};

/// The entry of `identity` in `dir` (created if needed): read when present, else computed by
/// `compute` and stored, all under the entry's lock.
CachedCalibration cached_calibration(const std::string& dir, const std::string& identity, const std::string& device,
                                     const std::function<Calibration()>& compute);

}  // namespace pqlab
