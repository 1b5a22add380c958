// The FID formula. Why the trace of the matrix square root is computed this way:
//
// Tr((S1 S2)^(1/2)) is taken as the sum of sqrt(eigenvalues) of A = sqrt(S1) S2 sqrt(S1). This is
// exact: S1 S2 = sqrt(S1) (sqrt(S1) S2), and XY and YX have the same eigenvalues, so S1 S2 and A
// share their spectrum; (S1 S2)^(1/2) has the square roots of those eigenvalues (all real and
// >= 0, since A is symmetric PSD), and the trace is their sum. It is also stable: both steps are
// symmetric eigendecompositions (Eigen::SelfAdjointEigenSolver), which are backward stable and
// return real eigenvalues; tiny negative ones from rounding are clamped to 0. scipy's
// sqrtm(S1 @ S2) instead takes a Schur-based square root of a non-symmetric, often singular
// product, which can return complex parts and inaccurate results (pytorch-fid then adds eps to
// the diagonals and discards the imaginary parts).
#include "framework/stats/frechet.h"

#include <ATen/ATen.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "framework/core/error.h"

namespace pqlab {

namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Mat to_mat(const at::Tensor& t) {
  const at::Tensor d = t.detach().to(at::kCPU).to(at::kDouble).contiguous();
  Mat m = Eigen::Map<const Mat>(d.data_ptr<double>(), d.size(0), d.size(1));
  return (0.5 * (m + m.transpose())).eval();
}

Eigen::VectorXd to_vec(const at::Tensor& t) {
  const at::Tensor d = t.detach().to(at::kCPU).to(at::kDouble).contiguous();
  return Eigen::Map<const Eigen::VectorXd>(d.data_ptr<double>(), d.numel());
}

}  // namespace

std::pair<at::Tensor, at::Tensor> feature_moments(const at::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2)
    throw RuntimeError("feature_moments: need features [N, D] with N >= 2");
  const at::Tensor x = features.detach().to(at::kCPU, at::kDouble);
  const at::Tensor m = x.mean(0);
  const at::Tensor c = x - m;
  return {m, c.t().mm(c) / static_cast<double>(x.size(0) - 1)};
}

double frechet_distance(const at::Tensor& mu1_t, const at::Tensor& s1_t, const at::Tensor& mu2_t, const at::Tensor& s2_t) {
  const int64_t d = mu1_t.numel();
  if (mu1_t.dim() != 1 || mu2_t.dim() != 1 || mu2_t.numel() != d || s1_t.dim() != 2 || s2_t.dim() != 2 ||
      s1_t.size(0) != d || s1_t.size(1) != d || s2_t.size(0) != d || s2_t.size(1) != d)
    throw RuntimeError("frechet_distance: expected means [D] and covariances [D, D] of one D");
  const Eigen::VectorXd mu1 = to_vec(mu1_t), mu2 = to_vec(mu2_t);
  const Mat s1 = to_mat(s1_t), s2 = to_mat(s2_t);
  Eigen::SelfAdjointEigenSolver<Mat> e1(s1);
  if (e1.info() != Eigen::Success) throw RuntimeError("frechet_distance: eigendecomposition failed");
  const Eigen::VectorXd r1 = e1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Mat sqrt_s1 = e1.eigenvectors() * r1.asDiagonal() * e1.eigenvectors().transpose();
  Mat a = sqrt_s1 * s2 * sqrt_s1;
  a = (0.5 * (a + a.transpose())).eval();
  Eigen::SelfAdjointEigenSolver<Mat> ea(a, Eigen::EigenvaluesOnly);
  if (ea.info() != Eigen::Success) throw RuntimeError("frechet_distance: eigendecomposition failed");
  const double tr_sqrt = ea.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  const double dist = (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
  return std::max(dist, 0.0);  // exact value is >= 0; rounding can give -1e-16
}

}  // namespace pqlab
