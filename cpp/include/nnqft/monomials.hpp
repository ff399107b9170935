/// @file monomials.hpp
/// All monomials of a vector v (length r) up to a maximal degree, in the order of
/// itertools.combinations_with_replacement(range(r), d) for each degree d (the
/// correlator layout of design.md). A degree-d monomial is its degree-(d-1) prefix times
/// one entry of v, so each costs one multiplication.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nnqft {

class MonomialLayout {
  public:
    /// r: length of v; degrees: the degrees whose monomials are stored (sorted, >= 1).
    MonomialLayout(std::size_t r, std::vector<int> degrees);

    std::size_t r() const { return r_; }
    const std::vector<int>& degrees() const { return degrees_; }
    /// Number of stored values: the sum over stored degrees of C(r + d - 1, d).
    std::size_t stored_size() const { return stored_size_; }
    /// Offset of each stored degree inside the stored vector.
    const std::vector<std::size_t>& offsets() const { return offsets_; }
    /// Size of the scratch buffer `add_to` needs.
    std::size_t scratch_size() const { return all_size_; }

    /// sums[0 .. stored_size) += the stored monomials of v.
    void add_to(const double* v, double* scratch, double* sums) const;

    /// C(r + d - 1, d), throwing std::invalid_argument beyond `limit`.
    static std::size_t count(std::size_t r, int d, std::size_t limit);

  private:
    std::size_t r_;
    std::vector<int> degrees_;
    std::vector<std::size_t> offsets_;
    std::size_t stored_size_ = 0;
    std::size_t all_size_ = 0;
    // For every monomial of degree >= 2 (all degrees concatenated, from degree 2 on):
    // index of its prefix in the concatenated list, and the index of its last factor.
    std::vector<std::uint32_t> prefix_, last_;
    std::vector<std::size_t> degree_start_;  // start of degree d in the concatenated list
};

}  // namespace nnqft
