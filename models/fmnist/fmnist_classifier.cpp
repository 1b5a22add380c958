#include "models/fmnist/fmnist_classifier.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/core/text.h"
#include "framework/io/json_limits.h"
#include "framework/io/safetensors.h"
#include "models/fmnist/fmnist_data.h"

namespace pqlab::models {
namespace {

at::Tensor conv(const std::map<std::string, at::Tensor>& w, const std::string& name, const at::Tensor& x) {
  return at::relu(at::conv2d(x, w.at(name + ".weight"), w.at(name + ".bias"), 1, 1));
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> FmnistClassifier::tensor_shapes(
    const FmnistClassifierShape& s) {
  return {{"conv1.weight", {s.c1, 1, 3, 3}},  {"conv1.bias", {s.c1}},
          {"conv2.weight", {s.c1, s.c1, 3, 3}}, {"conv2.bias", {s.c1}},
          {"conv3.weight", {s.c2, s.c1, 3, 3}}, {"conv3.bias", {s.c2}},
          {"conv4.weight", {s.c2, s.c2, 3, 3}}, {"conv4.bias", {s.c2}},
          {"fc1.weight", {s.features, s.c2 * 49}}, {"fc1.bias", {s.features}},
          {"fc2.weight", {10, s.features}},    {"fc2.bias", {10}}};
}

FmnistClassifier::FmnistClassifier(const FmnistClassifierShape& shape, std::map<std::string, at::Tensor> weights)
    : shape_(shape), w_(std::move(weights)) {
  for (const auto& [name, dims] : tensor_shapes(shape_)) {
    auto it = w_.find(name);
    if (it == w_.end()) throw RuntimeError("fmnist classifier: missing tensor '" + name + "' (expected shape " +
                                           shape_str(dims) + ")");
    if (it->second.sizes() != at::IntArrayRef(dims))
      throw RuntimeError("fmnist classifier: tensor '" + name + "' has shape " + shape_str(it->second.sizes()) +
                         ", expected " + shape_str(dims));
    it->second = it->second.to(at::kFloat);
  }
}

std::map<std::string, at::Tensor> FmnistClassifier::init(const FmnistClassifierShape& shape, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::map<std::string, at::Tensor> w;
  int64_t fan_in = 1;
  for (const auto& [name, dims] : tensor_shapes(shape)) {
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      fan_in = 1;
      for (size_t i = 1; i < dims.size(); ++i) fan_in *= dims[i];
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    w[name] = at::empty(dims, at::kFloat).uniform_(-bound, bound, gen);
  }
  return w;
}

FmnistClassifier::Output FmnistClassifier::forward(const at::Tensor& images, at::Generator* dropout_gen) const {
  const at::Device device = w_.at("fc2.weight").device();
  at::Tensor x = images.to(device, at::kFloat);
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4 || x.size(1) != 1 || x.size(2) != 28 || x.size(3) != 28)
    throw RuntimeError("fmnist classifier: images must be [N, 1, 28, 28], got " + shape_str(images.sizes()));
  x = (x - 0.5) / 0.5;  // the training data's normalization
  x = at::max_pool2d(conv(w_, "conv2", conv(w_, "conv1", x)), {2, 2});
  x = at::max_pool2d(conv(w_, "conv4", conv(w_, "conv3", x)), {2, 2});
  const at::Tensor f = at::relu(at::linear(x.flatten(1), w_.at("fc1.weight"), w_.at("fc1.bias")));
  at::Tensor h = f;
  if (dropout_gen) {
    // Inverted dropout with an explicit generator, so training is reproducible from the seed.
    constexpr double kKeep = 0.7;
    const at::Tensor keep = at::empty(f.sizes(), at::kFloat).bernoulli_(kKeep, *dropout_gen).to(device);
    h = f * keep / kKeep;
  }
  return {at::linear(h, w_.at("fc2.weight"), w_.at("fc2.bias")), f};
}

FmnistClassifier::Output FmnistClassifier::evaluate(const at::Tensor& images, int64_t batch) const {
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> logits, feats;
  for (int64_t i = 0; i < images.size(0); i += batch) {
    const Output o = forward(images.narrow(0, i, std::min(batch, images.size(0) - i)));
    logits.push_back(o.logits.to(at::kCPU));
    feats.push_back(o.features.to(at::kCPU));
  }
  return {at::cat(logits), at::cat(feats)};
}

FmnistClassifier FmnistClassifier::load(const std::string& path, at::Device device) {
  const auto r = open_safetensors(path);
  const auto& md = r->metadata();
  FmnistClassifierShape s;
  auto sh = md.find("shape");
  if (sh == md.end()) throw RuntimeError("fmnist classifier '" + path + "': no 'shape' metadata (not a classifier file?)");
  const std::string too_deep = json_depth_error(sh->second);  // copies of deep JSON recurse
  if (!too_deep.empty()) throw RuntimeError("fmnist classifier '" + path + "': bad 'shape' metadata: " + too_deep);
  try {
    const auto j = nlohmann::json::parse(sh->second);
    s.c1 = j.at("c1").get<int64_t>();
    s.c2 = j.at("c2").get<int64_t>();
    s.features = j.at("features").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError("fmnist classifier '" + path + "': bad 'shape' metadata: " + excerpt(e.what()));
  }
  std::map<std::string, at::Tensor> w;
  for (const auto& [name, dims] : tensor_shapes(s)) {
    if (!r->contains(name))
      throw RuntimeError("fmnist classifier '" + path + "': missing tensor '" + name + "' (expected shape " +
                         shape_str(dims) + ")");
    w[name] = r->get(name).to(device, at::kFloat).clone();
  }
  FmnistClassifier c(s, std::move(w));
  if (r->contains("reference.mean") && r->contains("reference.cov")) {
    const at::Tensor m = r->get("reference.mean").to(at::kDouble).clone(), cv = r->get("reference.cov").to(at::kDouble).clone();
    if (m.dim() != 1 || m.size(0) != s.features || cv.dim() != 2 || cv.size(0) != s.features || cv.size(1) != s.features)
      throw RuntimeError("fmnist classifier '" + path + "': reference.mean " + shape_str(m.sizes()) + " / reference.cov " +
                         shape_str(cv.sizes()) + " do not match " + std::to_string(s.features) + " features");
    c.set_reference(m, cv);
  }
  c.metadata_ = md;
  return c;
}

void FmnistClassifier::save(const std::string& path, std::map<std::string, std::string> metadata) const {
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& [name, dims] : tensor_shapes(shape_)) t.emplace_back(name, w_.at(name).detach().to(at::kCPU).contiguous());
  if (ref_mean_.defined()) {
    t.emplace_back("reference.mean", ref_mean_.to(at::kCPU).contiguous());
    t.emplace_back("reference.cov", ref_cov_.to(at::kCPU).contiguous());
  }
  metadata["shape"] = nlohmann::json{{"c1", shape_.c1}, {"c2", shape_.c2}, {"features", shape_.features}}.dump();
  metadata["classes"] = nlohmann::json(std::vector<std::string>(kFashionMnistClasses.begin(), kFashionMnistClasses.end())).dump();
  write_safetensors(path, t, metadata);
}

}  // namespace pqlab::models
