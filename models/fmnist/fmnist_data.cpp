#include "models/fmnist/fmnist_data.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/io/idx.h"

namespace pqlab::models {
namespace {

// "dir/name" if it exists, else "dir/name.gz" if that exists, else "".
std::string find_split_file(const std::string& dir, const std::string& name) {
  const std::string plain = path_join(dir, name);
  if (is_regular_file(plain)) return plain;
  if (is_regular_file(plain + ".gz")) return plain + ".gz";
  return "";
}

}  // namespace

std::string default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

FashionMnist load_fashion_mnist(const std::string& dir, bool train) {
  const std::string hint = " (install the Debian package dataset-fashion-mnist, or point to a folder holding the "
                           "Fashion-MNIST idx files)";
  if (!path_exists(dir)) throw RuntimeError("Fashion-MNIST folder '" + dir + "' does not exist" + hint);
  const std::string prefix = train ? "train" : "t10k";
  const std::string img_name = prefix + "-images-idx3-ubyte";
  const std::string lbl_name = prefix + "-labels-idx1-ubyte";
  const std::string img_path = find_split_file(dir, img_name);
  const std::string lbl_path = find_split_file(dir, lbl_name);
  if (img_path.empty() || lbl_path.empty()) {
    const std::string missing = path_join(dir, img_path.empty() ? img_name : lbl_name);
    throw RuntimeError("Fashion-MNIST file '" + missing + "' (or '" + missing + ".gz') does not exist" + hint);
  }
  FashionMnist d;
  d.images = read_idx(img_path);
  const at::Tensor labels = read_idx(lbl_path);
  if (d.images.dim() != 3 || d.images.size(1) != 28 || d.images.size(2) != 28)
    throw RuntimeError("IDX file '" + img_path + "': expected images [N, 28, 28]");
  if (labels.dim() != 1) throw RuntimeError("IDX file '" + lbl_path + "': expected labels [N]");
  if (labels.size(0) != d.images.size(0))
    throw RuntimeError("Fashion-MNIST: '" + img_path + "' has " + std::to_string(d.images.size(0)) + " images but '" +
                       lbl_path + "' has " + std::to_string(labels.size(0)) + " labels");
  if (labels.numel() > 0 && labels.max().item<int64_t>() > 9)
    throw RuntimeError("IDX file '" + lbl_path + "': label out of range 0..9");
  d.labels = labels.to(at::kLong);
  return d;
}
FmnistImages load_fmnist_padded(const std::string& dir, bool train, int64_t pad) {
  const FashionMnist d = load_fashion_mnist(dir, train);
  at::Tensor x = d.images.to(at::kFloat).unsqueeze(1) / 127.5 - 1.0;
  if (pad > 0) x = at::constant_pad_nd(x, {pad, pad, pad, pad}, -1.0);
  return {x.contiguous(), d.labels};
}

}  // namespace pqlab::models
