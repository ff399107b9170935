#include "nnqft/psd_factor.hpp"

#include <cmath>
#include <limits>

namespace nnqft {

int PsdFactor::compute(const Eigen::MatrixXd& g) {
    const Eigen::Index k = g.rows();
    d_.resize(k);
    s_.resize(k, k);
    a_.resize(k, k);
    chosen_.assign(static_cast<std::size_t>(k), 0);
    order_.clear();
    rank_ = 0;
    if (!g.allFinite()) {  // let the NaN reach the outputs, as on the explicit path
        a_.col(0).setConstant(std::numeric_limits<double>::quiet_NaN());
        for (Eigen::Index i = 0; i < k; ++i) order_.push_back(static_cast<std::uint32_t>(i));
        rank_ = k > 0 ? 1 : 0;
        return rank_;
    }
    for (Eigen::Index a = 0; a < k; ++a) d_(a) = g(a, a) > 0 ? std::sqrt(g(a, a)) : 0.0;
    for (Eigen::Index b = 0; b < k; ++b)
        for (Eigen::Index a = 0; a < k; ++a)
            s_(a, b) = a == b ? (d_(a) > 0 ? 1.0 : 0.0)
                              : (d_(a) > 0 && d_(b) > 0 ? g(a, b) / d_(a) / d_(b) : 0.0);
    auto unchosen = [&](Eigen::Index i) { return !chosen_[static_cast<std::size_t>(i)]; };
    for (;;) {
        Eigen::Index p = -1;
        double best = kRankTolerance;
        for (Eigen::Index i = 0; i < k; ++i)
            if (unchosen(i) && s_(i, i) > best) best = s_(i, i), p = i;
        if (p < 0) break;
        chosen_[static_cast<std::size_t>(p)] = 1;
        order_.push_back(static_cast<std::uint32_t>(p));
        const double pivot = std::sqrt(best);
        auto f = a_.col(rank_);
        for (Eigen::Index i = 0; i < k; ++i) f(i) = unchosen(i) ? s_(i, p) / pivot : 0.0;
        f(p) = pivot;
        for (Eigen::Index j = 0; j < k; ++j)
            if (unchosen(j))
                for (Eigen::Index i = 0; i < k; ++i)
                    if (unchosen(i)) s_(i, j) -= f(i) * f(j);
        ++rank_;
    }
    a_.leftCols(rank_) = d_.asDiagonal() * a_.leftCols(rank_);  // back to G's scale
    for (Eigen::Index i = 0; i < k; ++i)
        if (unchosen(i)) order_.push_back(static_cast<std::uint32_t>(i));
    return rank_;
}

}  // namespace nnqft
