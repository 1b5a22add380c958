#include "models/fmnist/fmnist_data.h"

#include <ATen/ATen.h>

#include "framework/io/idx.h"

namespace pqlab::models {

FmnistImages load_fmnist_padded(const std::string& dir, bool train, int64_t pad) {
  const FashionMnist d = load_fashion_mnist(dir, train);
  at::Tensor x = d.images.to(at::kFloat).unsqueeze(1) / 127.5 - 1.0;
  if (pad > 0) x = at::constant_pad_nd(x, {pad, pad, pad, pad}, -1.0);
  return {x.contiguous(), d.labels};
}

}  // namespace pqlab::models
