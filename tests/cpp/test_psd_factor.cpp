// PsdFactor: A A^T reproduces positive semi-definite matrices of every rank, scale and
// sign of round-off, with the rank revealed and nothing non-finite.
#include <cmath>
#include <random>
#include <vector>

#include "check.hpp"
#include "nnqft/psd_factor.hpp"

using Eigen::MatrixXd;

namespace {

MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal;
    MatrixXd m(rows, cols);
    for (Eigen::Index j = 0; j < cols; ++j)
        for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = normal(gen);
    return m;
}

// max_ab |(A A^T - G)_ab| / sqrt(G_aa G_bb): relative to each pair's own scale
double relative_residual(const nnqft::PsdFactor& f, const MatrixXd& g) {
    const MatrixXd a = f.factor();
    const MatrixXd r = a * a.transpose() - g;
    double worst = 0;
    for (Eigen::Index i = 0; i < g.rows(); ++i)
        for (Eigen::Index j = 0; j < g.cols(); ++j) {
            const double scale = std::sqrt(g(i, i) * g(j, j));
            worst = std::max(worst, scale > 0 ? std::abs(r(i, j)) / scale : std::abs(r(i, j)));
        }
    return worst;
}

// order() is a permutation of the rows; row order[t] has zeros beyond column t (t < r):
// the structure combine() skips.
bool order_is_triangular(const nnqft::PsdFactor& f, Eigen::Index k) {
    const MatrixXd a = f.factor();
    const auto& order = f.order();
    std::vector<char> seen(static_cast<std::size_t>(k), 0);
    bool ok = static_cast<Eigen::Index>(order.size()) == k;
    for (std::size_t t = 0; ok && t < order.size(); ++t) {
        const auto i = static_cast<Eigen::Index>(order[t]);
        ok = i < k && !seen[order[t]];
        seen[order[t]] = 1;
        for (Eigen::Index s = static_cast<Eigen::Index>(t) + 1; ok && s < a.cols(); ++s)
            ok = a(i, s) == 0.0;
    }
    return ok;
}

}  // namespace

int main() {
    nnqft::PsdFactor f;
    // full rank
    for (unsigned seed = 1; seed <= 20; ++seed) {
        const MatrixXd b = random_matrix(6, 6, seed);
        const MatrixXd g = b * b.transpose();
        CHECK(f.compute(g) == 6);
        CHECK(f.factor().cols() == 6 && f.factor().allFinite());
        CHECK(relative_residual(f, g) < 1e-13);
        CHECK(order_is_triangular(f, 6));
    }
    // every rank below k, including k > rank + 1 and rank 0
    for (int r = 0; r <= 5; ++r) {
        const MatrixXd b = random_matrix(6, r, 100 + static_cast<unsigned>(r));
        const MatrixXd g = b * b.transpose();
        CHECK(f.compute(g) == r);
        CHECK(f.factor().allFinite());
        CHECK(relative_residual(f, g) < 1e-13);
        CHECK(order_is_triangular(f, 6));
    }
    // nearly collinear but full rank (a deep kernel at nearby inputs): directions with
    // 1e-8 of the variance are genuine (the differences between the inputs' outputs), kept
    // to full accuracy, at any overall scale
    for (double scale : {1e-20, 1.0, 1e20}) {
        const MatrixXd common = random_matrix(6, 1, 11), spread = random_matrix(6, 6, 12);
        const MatrixXd g =
            scale * (common * common.transpose() + 1e-8 * spread * spread.transpose());
        CHECK(f.compute(g) == 6);
        CHECK(relative_residual(f, g) < 1e-13);
    }
    // rank 1 over 16 orders of magnitude (ReLU on a ray): no input is dropped
    Eigen::VectorXd v(5);
    v << 1e-8, -3e-3, 1.0, 250.0, 7e5;
    MatrixXd g = v * v.transpose();
    CHECK(f.compute(g) == 1);
    CHECK(relative_residual(f, g) < 1e-15);
    // round-off negatives: a rank-2 matrix with -1e-16 relative on the diagonal
    const MatrixXd b2 = random_matrix(6, 2, 7);
    g = b2 * b2.transpose();
    g.diagonal() *= 1 - 1e-16;
    CHECK(f.compute(g) == 2);
    CHECK(f.factor().allFinite());
    CHECK(relative_residual(f, g) < 1e-13);
    // zero-variance inputs get zero rows; a tiny but genuine variance is kept
    g = MatrixXd::Zero(4, 4);
    g(1, 1) = 2.0;
    g(3, 3) = 1e-30;
    CHECK(f.compute(g) == 2);
    CHECK(f.factor().row(0).isZero(0) && f.factor().row(2).isZero(0));
    CHECK(std::abs(f.factor().row(3).squaredNorm() / 1e-30 - 1) < 1e-15);
    // the factor is lower trapezoidal in pivot order: the first pivot is input 0
    g = random_matrix(3, 3, 9) * random_matrix(3, 3, 9).transpose();
    f.compute(g);
    CHECK(f.factor()(0, 1) == 0.0 && f.factor()(0, 2) == 0.0);
    // a non-finite kernel poisons the draw instead of vanishing
    g(1, 2) = g(2, 1) = std::nan("");
    CHECK(f.compute(g) == 1 && std::isnan(f.factor()(0, 0)));
    return report("test_psd_factor");
}
