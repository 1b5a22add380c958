// A metric of a set of generated images on its own (no full-precision reference): class accuracy
// under a classifier, Frechet distance of classifier features to a real data set, ... Paired
// image comparisons against the full-precision model's images (PSNR, SSIM) are ordinary `metric`
// plugins applied to the two image tensors.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace pqlab {
namespace config { class ConfigIo; }

/// Images a model generated, one per evaluation sample.
struct ImageSet {
  at::Tensor images;                 ///< [N, C, H, W] float32 on the CPU, values in [0, 1]
  std::vector<std::string> prompts;  ///< N prompts (class-conditional models: class names), or empty
};

class ImageMetric {
 public:
  virtual ~ImageMetric() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  virtual bool higher_is_better() const = 0;
  /// Loads what the metric needs (classifier weights, reference statistics). Called once before
  /// compute(); cheap to call again. RuntimeError naming the file when something is missing.
  virtual void prepare() = 0;
  /// The metric of `images`. RuntimeError when the set does not fit (size, shape, unknown prompt).
  virtual double compute(const ImageSet& images) const = 0;
  /// float64 [N] on the CPU: each image's own value, whose mean is compute() (paired differences
  /// against a control need them); undefined for metrics of the set as a whole (a Frechet distance).
  virtual at::Tensor per_sample(const ImageSet& images) const {
    (void)images;
    return {};
  }
};

}  // namespace pqlab
