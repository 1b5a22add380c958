#include "framework/experiment/calibration_cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "framework/core/error.h"
#include "framework/core/partial_files.h"
#include "framework/core/paths.h"
#include "framework/core/stable_hash.h"
#include "framework/core/version.h"
#include "framework/io/hdf5_file.h"

namespace pqlab {
namespace {

constexpr int64_t kCacheFormat = 1;

std::string site_group(const std::string& key) { return "/sites/" + key; }

// An exclusive flock held for the object's lifetime (released by close()).
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw RuntimeError("cannot open lock file '" + path + "': " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd_);
      throw RuntimeError("cannot lock '" + path + "': " + why);
    }
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

std::string attr_of(const H5Reader& r, const std::string& path, const std::string& name) {
  for (const auto& [k, v] : r.attrs("/"))
    if (k == name) return v;
  throw RuntimeError("calibration cache file '" + path + "': attribute '" + name + "' missing");
}

}  // namespace

std::string calibration_identity(const std::string& model_yaml, const std::string& calibration_yaml,
                                 int64_t first_sample, int64_t seed, int64_t threads, int64_t keep_rows,
                                 const std::vector<std::string>& site_keys) {
  std::string s = "pqlab calibration cache " + std::to_string(kCacheFormat) + "\nbuild: " + version() + " " +
                  git_commit() + "\nmodel:\n" + model_yaml + "calibration:\n" + calibration_yaml +
                  "first_sample: " + std::to_string(first_sample) + "\nseed: " + std::to_string(seed) +
                  "\nthreads: " + std::to_string(threads) + "\nkeep_rows: " + std::to_string(keep_rows) + "\nsites:";
  for (const std::string& k : site_keys) s += " " + k;
  return s + "\n";
}

void write_calibration_file(const std::string& path, const Calibration& cal, const std::string& identity) {
  H5Writer h5(path);
  h5.set_attr("/", "identity", identity);
  h5.set_attr("/", "cache_format", kCacheFormat);
  h5.set_attr("/", "noise_seed", static_cast<int64_t>(cal.noise_seed));
  h5.write_strings("/site_keys", cal.site_keys);
  h5.write("/bucket_first_step", at::tensor(cal.bucket_first_step, at::kLong));
  h5.write("/timesteps", at::tensor(cal.timesteps, at::kDouble));
  h5.write("/samples", at::tensor(cal.samples, at::kLong));
  h5.write_strings("/prompts", cal.prompts);
  for (const std::string& key : cal.site_keys) {
    const std::string g = site_group(key);
    const std::vector<InputStats>& buckets = cal.stats.at(key);
    std::vector<at::Tensor> count, sum, sumsq, absmax;
    for (size_t b = 0; b < buckets.size(); ++b) {
      const InputStats& st = buckets[b];
      count.push_back(st.count.reshape({1}).cpu());
      sum.push_back(st.sum.cpu());
      sumsq.push_back(st.sumsq.cpu());
      absmax.push_back(st.absmax.cpu());
      // Reservoirs differ in size per bucket, so one dataset each.
      if (st.rows.defined()) {
        h5.write(g + "/rows/" + std::to_string(b), st.rows.to(at::kFloat));
        h5.write(g + "/keys/" + std::to_string(b), st.keys.to(at::kDouble));
      }
    }
    h5.write(g + "/count", at::cat(count));
    h5.write(g + "/sum", at::stack(sum));
    h5.write(g + "/sumsq", at::stack(sumsq));
    h5.write(g + "/absmax", at::stack(absmax));
    h5.write(g + "/weight_sq_mean", cal.weight_sq_mean.at(key));
    h5.write(g + "/weight_absmax", cal.weight_absmax.at(key));
  }
  h5.commit();
}

Calibration read_calibration_file(const std::string& path, const std::string& identity, const std::string& device) {
  const H5Reader r(path);
  if (attr_of(r, path, "identity") != identity)
    throw RuntimeError("calibration cache file '" + path +
                       "' holds statistics of another configuration (a hash collision or an edited file); delete it");
  const at::Device dev(device);
  Calibration cal;
  cal.noise_seed = static_cast<uint64_t>(std::stoull(attr_of(r, path, "noise_seed")));
  cal.site_keys = r.read_strings("/site_keys");
  auto longs = [&](const std::string& p) {
    const at::Tensor t = r.read(p).contiguous();
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  };
  cal.bucket_first_step = longs("/bucket_first_step");
  cal.samples = longs("/samples");
  const at::Tensor ts = r.read("/timesteps").contiguous();
  cal.timesteps.assign(ts.data_ptr<double>(), ts.data_ptr<double>() + ts.numel());
  cal.prompts = r.read_strings("/prompts");
  for (const std::string& key : cal.site_keys) {
    const std::string g = site_group(key);
    const at::Tensor count = r.read(g + "/count"), sum = r.read(g + "/sum"), sumsq = r.read(g + "/sumsq"),
                     absmax = r.read(g + "/absmax");
    std::vector<InputStats>& buckets = cal.stats[key];
    for (int64_t b = 0; b < count.size(0); ++b) {
      InputStats st;
      st.count = count[b].clone().to(dev);
      st.sum = sum[b].clone().to(dev);
      st.sumsq = sumsq[b].clone().to(dev);
      st.absmax = absmax[b].clone().to(dev);
      const std::string rows = g + "/rows/" + std::to_string(b);
      if (r.exists(rows)) {
        st.rows = r.read(rows).to(at::kFloat);
        st.keys = r.read(g + "/keys/" + std::to_string(b));
      }
      buckets.push_back(std::move(st));
    }
    cal.weight_sq_mean[key] = r.read(g + "/weight_sq_mean").to(dev);
    cal.weight_absmax[key] = r.read(g + "/weight_absmax").to(dev);
  }
  return cal;
}

CachedCalibration cached_calibration(const std::string& dir, const std::string& identity, const std::string& device,
                                     const std::function<Calibration()>& compute) {
  create_directories(dir);
  const std::string key = stable_hash_hex(identity);
  CachedCalibration out;
  out.path = path_join(dir, key + ".h5");
  // An entry that exists is complete (it was renamed into place), so the common case takes no lock.
  if (!is_regular_file(out.path)) {
    const FileLock lock(path_join(dir, key + ".lock"));
    if (!is_regular_file(out.path)) {
      // A task killed while writing this entry leaves its partial file; under the lock no live
      // writer of this key exists on this host, so it is safe to remove leftovers here.
      clean_stale_partial_files(dir, ".h5.partial-");
      out.cal = compute();
      write_calibration_file(out.path, out.cal, identity);
      return out;
    }
  }
  out.cal = read_calibration_file(out.path, identity, device);
  out.hit = true;
  return out;
}

}  // namespace pqlab
