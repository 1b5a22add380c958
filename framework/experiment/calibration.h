// Calibration statistics: per quantized linear site and timestep bucket, per input channel, the
// token count, sum and sum of squares (float64) and the absolute maximum of the site's input, plus
// a seeded reservoir of input rows for methods that need real activations (acceptance rules,
// SmoothQuant / SVDQuant searches), and per input channel the weight's mean square over outputs
// and its absolute maximum. Streaming: memory does not grow with the number of samples; the sums
// are accumulated on the model's device (no host synchronisation per call).
// Tests: tests/framework/experiment/calibration_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/interfaces/ordering.h"
#include "framework/interfaces/permutation_site.h"
#include "framework/interfaces/step.h"

namespace pqlab {

class LinearSite;

/// The experiment's `calibration:` block.
struct CalibrationSpec {
  int64_t samples = 0;       ///< calibration trajectories (0 = no calibration stage)
  int64_t batch_size = 1;    ///< trajectories per model call
  int64_t first_sample = -1; ///< sample index of the first trajectory (it picks prompt/class); -1 = right after the held-out samples
  std::vector<int64_t> buckets;  ///< first step of each timestep bucket, ascending from 0; empty = one bucket per step
  int64_t keep_rows = 0;     ///< seeded reservoir of input rows per site and bucket (0 = none)
  bool store_rows = true;    ///< write the reservoir rows to the result file
  template <class IO> static void map(IO& io, CalibrationSpec& c) {
    io.field("samples", c.samples,
             "calibration trajectories (noise seeds disjoint from the held-out samples'); 0 = no calibration",
             config::in_range(0, 1e7));
    io.field("batch_size", c.batch_size, "trajectories per model call", config::in_range(1, 1e6));
    io.field("first_sample", c.first_sample,
             "sample index of the first calibration trajectory; it picks the prompt (class) as for held-out "
             "samples. -1 = data.eval_samples, so prompts are disjoint from evaluation where the prompt set "
             "has more entries than eval_samples (the built-in model's 10 classes repeat: same classes, other seeds)",
             config::in_range(-1, 1e12));
    io.field("buckets", c.buckets,
             "timestep buckets by their first step, e.g. [0, 4, 8] (steps 0-3, 4-7, 8-end); empty = one bucket per step");
    io.field("keep_rows", c.keep_rows, "input rows kept per site and bucket in a seeded reservoir (0 = none)",
             config::in_range(0, 1e7));
    io.field("store_rows", c.store_rows,
             "write the reservoir rows to the result file (/calibration/sites/<key>/rows); for FLUX-sized models "
             "they are gigabytes (buckets x keep_rows x every layer's K floats), so large runs turn this off");
    bool ascending = c.buckets.empty() || c.buckets[0] == 0;
    for (size_t i = 1; i < c.buckets.size(); ++i) ascending = ascending && c.buckets[i] > c.buckets[i - 1];
    io.check(ascending, "buckets", "'buckets' must start at 0 and increase (the first step of each bucket)");
  }
};

/// Statistics of one site in one bucket. All float64 on the model's device.
struct InputStats {
  at::Tensor count;   ///< [] tokens seen
  at::Tensor sum;     ///< [K] sum of x
  at::Tensor sumsq;   ///< [K] sum of x^2
  at::Tensor absmax;  ///< [K] max |x|
  at::Tensor rows;    ///< [R', K] reservoir rows (R' <= keep_rows), float32; undefined without a reservoir
  at::Tensor keys;    ///< [R'] the rows' random priorities (the R' smallest seen)
};

/// Everything the calibration stage measured; read by methods (Method::apply) and written under
/// /calibration of the result file.
struct Calibration {
  std::vector<std::string> site_keys;            ///< sites with statistics, model order
  std::vector<int64_t> bucket_first_step;        ///< [buckets]
  std::vector<double> timesteps;                 ///< the schedule of the calibration trajectories
  std::vector<int64_t> samples;                  ///< sample indices of the trajectories
  uint64_t noise_seed = 0;                       ///< sample_inputs seed of the trajectories
  std::vector<std::string> prompts;              ///< prompt of each trajectory (empty: unconditioned)
  std::map<std::string, std::vector<InputStats>> stats;  ///< site key -> [bucket]
  std::map<std::string, at::Tensor> weight_sq_mean;        ///< site key -> [K] mean over outputs of W^2 (float64)
  std::map<std::string, at::Tensor> weight_absmax;         ///< site key -> [K] max over outputs of |W| (float64)

  /// The bucket of step s.
  int64_t bucket_of(int64_t step) const;
  /// Statistics of `key` summed over every bucket (the reservoir: the keep_rows rows of smallest
  /// priority over all buckets).
  InputStats pooled(const std::string& key) const;
};

/// The per-channel statistics an ordering sorts by at permutation site `site`: the activation
/// moments of its consumers' shared input (pooled over every bucket, or of bucket `bucket` >= 0),
/// the weight moments pooled over the output rows of every consumer (from the full-precision
/// weights the calibration saw), the site's segments, and `seed`. sites: every linear site by key
/// (for the consumers' row counts). RuntimeError naming a consumer without statistics, consumers
/// of different K, or a bucket without tokens.
ChannelStats site_channel_stats(const Calibration& cal, const PermutationSite& site,
                                const std::map<std::string, LinearSite*>& sites, int64_t bucket, uint64_t seed);

/// Accumulates statistics from site taps during calibration trajectories.
class CalibrationCollector {
 public:
  /// sites: the sites to observe; keep_rows: reservoir size; seed: seeds the reservoir priorities.
  CalibrationCollector(const std::vector<LinearSite*>& sites, std::vector<int64_t> bucket_first_step,
                       int64_t num_steps, int64_t keep_rows, uint64_t seed);
  /// Installs taps on the sites; `ctx` must point at the runner's current step (trajectory hooks).
  void arm(const StepContext* ctx);
  /// Removes the taps.
  void disarm();
  /// Folds one observation in. x: [B, ..., K], row b of dim 0 is sample ctx.first_sample + b.
  void observe(const LinearSite& site, const at::Tensor& x, const StepContext& ctx);
  /// The statistics (moves them out) with the weight statistics of the sites' current weights.
  Calibration finish();

 private:
  std::vector<LinearSite*> sites_;
  std::vector<int64_t> bucket_first_step_;
  std::vector<int64_t> bucket_of_step_;
  int64_t keep_rows_;
  uint64_t seed_;
  std::map<std::string, std::vector<InputStats>> stats_;
  /// Reservoir priorities of the rows of one call ([rows] float64 on `device`), cached per call.
  const at::Tensor& priorities(int64_t batch, int64_t rows, const StepContext& ctx, const at::Device& device);
  /// The current call's priorities by row count (a model call feeds sites of different token
  /// counts, e.g. FLUX's image and text streams; caching one count only redrew them per site).
  std::map<int64_t, at::Tensor> keys_by_rows_;
  std::array<int64_t, 3> keys_call_{-1, -1, -1};  ///< first_sample, step, batch of keys_by_rows_
  /// Which rows a reservoir keeps from one call, given its previous priorities (old_keys) and the
  /// call's: the same for every site whose reservoir holds the same priorities, so computed once
  /// per call for all of them (one top-k per call instead of one per site). Cleared per call.
  struct Pick {
    at::Tensor old_keys;   ///< held, so that its address cannot be reused while cached
    at::Tensor call_keys;  ///< this call's priorities it was computed for
    at::Tensor keys, new_index, old_index, from_old;
  };
  std::vector<Pick> picks_;
};

}  // namespace pqlab
