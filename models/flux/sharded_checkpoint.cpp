// Sharded safetensors reader and checkpoint path resolution; see sharded_checkpoint.h.
#include "models/flux/sharded_checkpoint.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/io/json_limits.h"
#include "framework/core/paths.h"

namespace pqlab::models {
namespace {

using nlohmann::json;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

ShardedSafetensors::ShardedSafetensors(const std::string& index_json_path) : index_path_(index_json_path) {
  std::ifstream in(index_json_path, std::ios::binary);
  if (!in) throw RuntimeError("cannot read checkpoint index '" + index_json_path + "'");
  std::stringstream text;
  text << in.rdbuf();
  // Before parsing: copies and dumps of a deeply nested value would overflow the stack.
  const std::string too_deep = json_depth_error(text.str());
  if (!too_deep.empty()) throw RuntimeError("checkpoint index '" + index_json_path + "' is not usable JSON: " + too_deep);
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::exception& e) {
    throw RuntimeError("checkpoint index '" + index_json_path + "' is not valid JSON: " + excerpt(e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw RuntimeError("checkpoint index '" + index_json_path + "' has no \"weight_map\" object");
  if (j.contains("metadata") && j["metadata"].is_object()) {
    for (const auto& [k, v] : j["metadata"].items()) metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }

  const std::string dir = path_parent(index_json_path);
  std::map<std::string, size_t> shard_index;  // shard file name -> index into shards_
  std::vector<std::string> problems;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) {
      problems.push_back("weight_map['" + excerpt(name) + "'] is not a file name: " + excerpt(file.dump()));
      continue;
    }
    const std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "..") {
      problems.push_back("weight_map['" + excerpt(name) + "'] names '" + excerpt(f) + "', not a file in the index's folder");
      continue;
    }
    auto it = shard_index.find(f);
    if (it == shard_index.end()) {
      const std::string shard_path = path_join(dir, f);
      if (!is_regular_file(shard_path)) {
        problems.push_back("shard '" + shard_path + "' (holding '" + excerpt(name) + "') does not exist");
        shard_index[f] = SIZE_MAX;
        continue;
      }
      shards_.push_back(std::make_unique<SafetensorsFile>(shard_path));
      it = shard_index.emplace(f, shards_.size() - 1).first;
    }
    if (it->second == SIZE_MAX) continue;
    if (!shards_[it->second]->contains(name)) {
      problems.push_back("'" + excerpt(name) + "' is mapped to '" + excerpt(f) + "', which does not hold it");
      continue;
    }
    where_[name] = it->second;
  }
  for (const auto& shard : shards_) {
    std::vector<std::string> unlisted;
    for (const std::string& name : shard->names())
      if (!j["weight_map"].contains(name)) unlisted.push_back(name);
    if (unlisted.empty()) continue;
    std::string first;
    for (size_t i = 0; i < unlisted.size() && i < 3; ++i) first += (i ? ", '" : "'") + unlisted[i] + "'";
    problems.push_back("shard '" + shard->path() + "' holds " + std::to_string(unlisted.size()) +
                       " tensor(s) the index does not list: " + first + (unlisted.size() > 3 ? ", ..." : ""));
  }
  if (!problems.empty()) {
    std::string msg = "sharded checkpoint '" + index_json_path + "' is inconsistent:";
    for (size_t i = 0; i < problems.size() && i < 50; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 50) msg += "\n  ... and " + std::to_string(problems.size() - 50) + " more";
    throw RuntimeError(msg);
  }
}

std::vector<std::string> ShardedSafetensors::names() const {
  std::vector<std::string> v;
  v.reserve(where_.size());
  for (const auto& kv : where_) v.push_back(kv.first);
  return v;
}

bool ShardedSafetensors::contains(const std::string& name) const { return where_.count(name) != 0; }

const SafetensorsFile& ShardedSafetensors::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw RuntimeError("sharded checkpoint '" + index_path_ + "' has no tensor '" + name + "'");
  return *shards_[it->second];
}

SafetensorsReader::TensorInfo ShardedSafetensors::info(const std::string& name) const { return shard_of(name).info(name); }

at::Tensor ShardedSafetensors::get(const std::string& name) const { return shard_of(name).get(name); }

OpenedCheckpoint open_checkpoint(const std::string& path) {
  OpenedCheckpoint c;
  if (is_regular_file(path)) {
    c.weights_path = path;
  } else if (path_exists(path)) {
    static const char* const kCandidates[] = {
        "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors",
        "model.safetensors.index.json", "model.safetensors"};
    for (const std::string& dir : {path, path_join(path, "transformer")}) {
      if (!path_exists(dir) || is_regular_file(dir)) continue;
      for (const char* name : kCandidates) {
        if (is_regular_file(path_join(dir, name))) {
          c.weights_path = path_join(dir, name);
          break;
        }
      }
      if (!c.weights_path.empty()) break;
      std::vector<std::string> found;
      for (const std::string& e : list_directory(dir))
        if (ends_with(e, ".safetensors") && is_regular_file(path_join(dir, e))) found.push_back(e);
      if (found.size() == 1) {
        c.weights_path = path_join(dir, found[0]);
        break;
      }
      if (found.size() > 1)
        throw RuntimeError("checkpoint folder '" + dir + "' holds " + std::to_string(found.size()) +
                           " .safetensors files and no index (*.safetensors.index.json) saying how they combine");
    }
    if (c.weights_path.empty())
      throw RuntimeError("checkpoint folder '" + path +
                         "' holds no diffusion_pytorch_model.safetensors[.index.json], model.safetensors[.index.json] "
                         "or single .safetensors file (also looked in its transformer/ subfolder)");
  } else {
    throw RuntimeError("checkpoint '" + path + "' does not exist");
  }
  if (ends_with(c.weights_path, ".index.json"))
    c.reader = std::make_unique<ShardedSafetensors>(c.weights_path);
  else
    c.reader = open_safetensors(c.weights_path);
  const std::string dir = path_parent(c.weights_path);
  const std::string cfg = path_join(dir.empty() ? "." : dir, "config.json");
  if (is_regular_file(cfg)) c.config_json = cfg;
  return c;
}

}  // namespace pqlab::models
