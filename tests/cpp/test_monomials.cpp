// MonomialLayout: order and values equal a brute-force combinations_with_replacement.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "nnqft/monomials.hpp"

// next sorted tuple with repetition in lexicographic order; false after the last
static bool next_tuple(std::vector<std::size_t>& t, std::size_t r) {
    for (std::size_t i = t.size(); i-- > 0;) {
        if (t[i] + 1 < r) {
            ++t[i];
            for (std::size_t j = i + 1; j < t.size(); ++j) t[j] = t[i];
            return true;
        }
    }
    return false;
}

int main() {
    const std::size_t r = 5;
    const std::vector<double> v = {0.5, -1.25, 2.0, 3.5, -0.75};
    nnqft::MonomialLayout layout(r, {1, 3, 4});
    std::vector<double> scratch(layout.scratch_size()), sums(layout.stored_size(), 0.0);
    layout.add_to(v.data(), scratch.data(), sums.data());
    layout.add_to(v.data(), scratch.data(), sums.data());
    std::size_t pos = 0;
    for (int d : {1, 3, 4}) {
        std::vector<std::size_t> t(static_cast<std::size_t>(d), 0);
        do {
            double p = 1;
            for (auto i : t) p *= v[i];
            CHECK(pos < sums.size() && sums[pos] == 2 * p);
            ++pos;
        } while (next_tuple(t, r));
    }
    CHECK(pos == layout.stored_size());
    CHECK(nnqft::MonomialLayout::count(6, 6, 1u << 30) == 462);
    CHECK(nnqft::MonomialLayout::count(21, 3, 1u << 30) == 1771);
    CHECK(throws([] { nnqft::MonomialLayout::count(1000, 8, 1u << 30); }));
    CHECK(throws([] { nnqft::MonomialLayout(3, {2, 1}); }));
    CHECK(throws([] { nnqft::MonomialLayout(3, {0}); }));
    return report("test_monomials");
}
