/// @file psd_factor.hpp
/// Rank-revealing factor G = A A^T of a small positive semi-definite matrix (the k x k
/// empirical kernels of the Gram-chain sampler, physics-deep.md §1), such that drawing
/// z = A xi with xi ~ N(0, I_r) takes only r = rank(G) normals.
///
/// Method: pivoted Cholesky (complete diagonal pivoting on the Schur complement) of the
/// correlation matrix R = D^-1/2 G D^-1/2, D = diag G, stopped once no input has more
/// than `kRankTolerance` of its own variance left unexplained; then A = D^1/2 P^T L.
/// With this pivoting the method is backward stable for semi-definite matrices (Higham,
/// "Accuracy and Stability of Numerical Algorithms", 2nd ed., §10.3) and never takes the
/// square root of a negative round-off pivot. Working on R makes the stopping rule
/// relative to each input's own variance, so a small-variance input is not dropped next
/// to a large one. Eigen's LDLT is not used: it pivots on the original diagonal, not the
/// Schur complement, so it does not reveal the rank and its L is unbounded after a
/// round-off pivot. The factor is canonical (ties go to the lowest index), so the draw
/// is reproducible by any implementation that follows these rules.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace nnqft {

class PsdFactor {
  public:
    /// Unexplained variance fraction below which an input counts as spanned by the
    /// pivots already chosen: a few hundred times the round-off of a kernel summed over
    /// ~10^4 neurons, and far below any statistical resolution.
    static constexpr double kRankTolerance = 1e-12;

    /// Factor the symmetric positive semi-definite `g` (k x k; both triangles read).
    /// Zero-variance inputs (g_aa <= 0) get a zero row. Returns the rank r.
    /// No allocation after the first call with a given k.
    int compute(const Eigen::MatrixXd& g);

    /// The numerical rank r of the last `compute`.
    int rank() const { return rank_; }

    /// A (k x r, lower trapezoidal in pivot order): A A^T = g up to round-off.
    auto factor() const { return a_.leftCols(rank_); }

    /// The rows of A by pivot order, then the rows spanned by the pivots: row order()[t]
    /// has non-zeros in columns 0..t only, for t < r.
    const std::vector<std::uint32_t>& order() const { return order_; }

  private:
    Eigen::MatrixXd s_;  // Schur complement of the correlation matrix
    Eigen::MatrixXd a_;  // k x k; the first rank_ columns hold A
    Eigen::VectorXd d_;  // sqrt(g_aa), 0 for a zero-variance input
    std::vector<char> chosen_;
    std::vector<std::uint32_t> order_;
    int rank_ = 0;
};

}  // namespace nnqft
