// The Fashion-MNIST classifier behind the image metrics of the built-in model (class accuracy of
// generated samples, Frechet distance on its penultimate features): a small VGG-style CNN,
//   conv 1->C1 3x3, relu, conv C1->C1 3x3, relu, maxpool 2      28 -> 14
//   conv C1->C2 3x3, relu, conv C2->C2 3x3, relu, maxpool 2     14 -> 7
//   fc C2*49 -> F, relu           = the features (FD is computed on these)
//   dropout 0.3 (training only), fc F -> 10 = the logits
// in ATen, so the same code trains it (autograd) and evaluates it. The shipped weights
// (models/fmnist/classifier.safetensors) also carry the mean and covariance of the features of
// the 10000 test images, so FD needs no pass over the test set at run time.
// Trained by `pqlab train-classifier` (models/fmnist/train_classifier.h).
// Tests: tests/models/fmnist_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pqlab::models {

struct FmnistClassifierShape {
  int64_t c1 = 32, c2 = 64, features = 128;
};

class FmnistClassifier {
 public:
  /// weights: every tensor of classifier_tensor_shapes(shape), float32, one device.
  /// Throws RuntimeError naming a missing or mis-shaped tensor.
  FmnistClassifier(const FmnistClassifierShape& shape, std::map<std::string, at::Tensor> weights);

  /// Loads a classifier file (tensors + metadata "classes", "shape"); the reference feature
  /// statistics are optional (present in the shipped file). RuntimeError names the file.
  static FmnistClassifier load(const std::string& path, at::Device device = at::kCPU);
  /// PyTorch-default init (kaiming-uniform weights and uniform biases, bound 1/sqrt(fan_in))
  /// from a CPU generator seeded with `seed`.
  static std::map<std::string, at::Tensor> init(const FmnistClassifierShape& shape, uint64_t seed);
  /// Name and shape of every weight, in file order.
  static std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_shapes(const FmnistClassifierShape& s);

  struct Output {
    at::Tensor logits;    ///< [N, 10] float32
    at::Tensor features;  ///< [N, features] float32 (after relu)
  };
  /// images: [N, 1, 28, 28] (or [N, 28, 28]), any float dtype, values in [0, 1]; moved to the
  /// weights' device. `dropout_gen` non-null = training mode (dropout drawn from it).
  Output forward(const at::Tensor& images, at::Generator* dropout_gen = nullptr) const;
  /// forward() in batches of `batch` without autograd; features and predicted class on the CPU.
  Output evaluate(const at::Tensor& images, int64_t batch = 500) const;

  const FmnistClassifierShape& shape() const { return shape_; }
  std::map<std::string, at::Tensor>& weights() { return w_; }
  const std::map<std::string, at::Tensor>& weights() const { return w_; }
  /// Mean [F] and covariance [F, F] (float64, CPU) of the test set's features; undefined if absent.
  const at::Tensor& reference_mean() const { return ref_mean_; }
  const at::Tensor& reference_cov() const { return ref_cov_; }
  void set_reference(at::Tensor mean, at::Tensor cov) { ref_mean_ = std::move(mean); ref_cov_ = std::move(cov); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// Writes weights, reference statistics (if set) and `metadata` (+ "shape", "classes").
  void save(const std::string& path, std::map<std::string, std::string> metadata) const;

 private:
  FmnistClassifierShape shape_;
  std::map<std::string, at::Tensor> w_;
  at::Tensor ref_mean_, ref_cov_;
  std::map<std::string, std::string> metadata_;
};


}  // namespace pqlab::models
