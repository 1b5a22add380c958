// An image classifier that image metrics judge generated images with: the class it sees (class
// accuracy) and its penultimate features (Frechet distance to real data, the FID analogue). A
// plugin kind of its own so that a metric names the classifier in its config and never depends
// on the model that provides it (the built-in one: models/fmnist_cnn.cpp).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace pqlab {
namespace config { class ConfigIo; }

class ImageClassifier {
 public:
  virtual ~ImageClassifier() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  /// Loads the weights; cheap to call again. RuntimeError naming the file when it is missing or bad.
  virtual void load() = 0;
  /// Class names, indexed by logit. Valid after load().
  virtual const std::vector<std::string>& classes() const = 0;

  struct Output {
    at::Tensor logits;    ///< [N, classes] float32 on the CPU
    at::Tensor features;  ///< [N, F] float32 on the CPU
  };
  /// images: [N, C, H, W] float32 on the CPU, values in [0, 1]. RuntimeError on a shape it cannot take.
  virtual Output evaluate(const at::Tensor& images) const = 0;
  /// Mean [F] and covariance [F, F] (float64, CPU) of the real data's features; both undefined
  /// when the classifier does not know them.
  virtual std::pair<at::Tensor, at::Tensor> reference_moments() const = 0;
};

}  // namespace pqlab
