// Sharded safetensors checkpoints (diffusers / transformers layout): an index JSON whose
// "weight_map" names the shard file of every tensor, e.g.
//   diffusion_pytorch_model.safetensors.index.json
//   diffusion_pytorch_model-00001-of-00003.safetensors ...
// plus the resolution of a checkpoint path (file, index file or folder) to a reader.
// Kept in models/flux/ until framework/io's open_safetensors() learns the index format.
// Tests: tests/models/flux_test.cpp
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/io/safetensors.h"

namespace pqlab::models {

/// All tensors of the shards listed by one index file, as one reader. The constructor opens
/// every shard (validating its header) and checks that each weight_map entry exists in its shard
/// and that no shard holds a tensor the index does not list; any failure is one RuntimeError.
class ShardedSafetensors final : public SafetensorsReader {
 public:
  explicit ShardedSafetensors(const std::string& index_json_path);

  std::vector<std::string> names() const override;
  bool contains(const std::string& name) const override;
  TensorInfo info(const std::string& name) const override;
  at::Tensor get(const std::string& name) const override;
  /// The index's "metadata" object (values that are not strings are stored as JSON text).
  const std::map<std::string, std::string>& metadata() const override { return metadata_; }

  const std::string& index_path() const { return index_path_; }
  size_t shard_count() const { return shards_.size(); }

 private:
  const SafetensorsFile& shard_of(const std::string& name) const;

  std::string index_path_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> index into shards_
  std::map<std::string, std::string> metadata_;
};

/// A checkpoint path resolved to the files it stands for.
struct OpenedCheckpoint {
  std::unique_ptr<SafetensorsReader> reader;
  std::string weights_path;  ///< the .safetensors or .index.json file actually read
  std::string config_json;   ///< config.json next to it, or ""
};

/// Opens `path`: a .safetensors file, a *.safetensors.index.json file, or a folder holding one of
/// diffusion_pytorch_model.safetensors.index.json, diffusion_pytorch_model.safetensors,
/// model.safetensors.index.json, model.safetensors, or a single *.safetensors file (a diffusers
/// pipeline folder is searched in its transformer/ subfolder). RuntimeError otherwise, listing
/// what was looked for.
OpenedCheckpoint open_checkpoint(const std::string& path);

}  // namespace pqlab::models
