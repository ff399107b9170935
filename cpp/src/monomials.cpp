#include "nnqft/monomials.hpp"

#include <algorithm>

#include "nnqft/errors.hpp"

namespace nnqft {

std::size_t MonomialLayout::count(std::size_t r, int d, std::size_t limit) {
    // C(r + d - 1, d) computed incrementally; every intermediate is an exact binomial
    // and stays below limit * (r + d) < 2^64.
    require(r < (std::size_t{1} << 31), "too many variables: ", r);
    std::uint64_t c = 1;
    for (int i = 1; i <= d; ++i) {
        c = c * (r + static_cast<std::size_t>(i) - 1) / static_cast<std::size_t>(i);
        require(c <= limit, "correlator of order ", d, " on ", r,
                " variables has too many tuples (more than ", limit, ")");
    }
    return static_cast<std::size_t>(c);
}

MonomialLayout::MonomialLayout(std::size_t r, std::vector<int> degrees)
    : r_(r), degrees_(std::move(degrees)) {
    require(r >= 1, "need at least one variable");
    require(!degrees_.empty(), "need at least one degree");
    require(std::is_sorted(degrees_.begin(), degrees_.end()) &&
                std::adjacent_find(degrees_.begin(), degrees_.end()) == degrees_.end(),
            "degrees must be sorted and distinct");
    require(degrees_.front() >= 1, "degrees must be >= 1, got ", degrees_.front());
    const int max_degree = degrees_.back();
    constexpr std::size_t kLimit = std::size_t{1} << 31;

    // Concatenated list of all monomials of degrees 1..max_degree; degree 1 is v itself.
    degree_start_.assign(max_degree + 2, 0);
    degree_start_[1] = 0;
    degree_start_[2] = r;
    std::vector<std::uint32_t> last_of(r);  // last factor of every monomial so far
    for (std::size_t i = 0; i < r; ++i) last_of[i] = static_cast<std::uint32_t>(i);
    for (int d = 2; d <= max_degree; ++d) {
        const std::size_t begin = degree_start_[d - 1], end = degree_start_[d];
        for (std::size_t p = begin; p < end; ++p)
            for (std::uint32_t v = last_of[p]; v < r; ++v) {
                prefix_.push_back(static_cast<std::uint32_t>(p));
                last_.push_back(v);
                last_of.push_back(v);
            }
        degree_start_[d + 1] = last_of.size();
        require(last_of.size() < kLimit, "too many monomials (degree ", d, ", ", r,
                " variables)");
        require(degree_start_[d + 1] - degree_start_[d] == count(r, d, kLimit),
                "internal error: monomial count");
    }
    all_size_ = last_of.size();
    for (int d : degrees_) {
        offsets_.push_back(stored_size_);
        stored_size_ += degree_start_[d + 1] - degree_start_[d];
    }
}

void MonomialLayout::add_to(const double* v, double* scratch, double* sums) const {
    std::copy(v, v + r_, scratch);
    const std::size_t n = prefix_.size();
    double* higher = scratch + r_;
    for (std::size_t i = 0; i < n; ++i) higher[i] = scratch[prefix_[i]] * v[last_[i]];
    for (std::size_t j = 0; j < degrees_.size(); ++j) {
        const int d = degrees_[j];
        const double* src = scratch + degree_start_[d];
        const std::size_t len = degree_start_[d + 1] - degree_start_[d];
        double* dst = sums + offsets_[j];
        for (std::size_t i = 0; i < len; ++i) dst[i] += src[i];
    }
}

}  // namespace nnqft
