// BlockTree: canonical dyadic merging gives bit-identical totals for any insertion order
// or split; overlaps are refused.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>

#include "check.hpp"
#include "nnqft/block_tree.hpp"

using nnqft::BlockTree;
using nnqft::Node;

static Node leaf(std::uint64_t b, std::size_t width) {
    Node n;
    n.index = b;
    n.counts = {b % 7 + 1};
    n.sums.resize(width);
    std::mt19937_64 gen(b);
    std::uniform_real_distribution<double> u(-1e3, 1e3);  // wide range: rounding matters
    for (auto& s : n.sums) s = u(gen) * std::pow(10.0, static_cast<int>(gen() % 12) - 6);
    for (int i = 0; i < 40; ++i) n.tail.push_back(std::abs(u(gen)));
    std::sort(n.tail.begin(), n.tail.end(), std::greater<double>());
    return n;
}

static void totals_equal(const BlockTree& a, const BlockTree& b) {
    std::vector<std::uint64_t> ca, cb;
    std::vector<double> sa, sb;
    a.totals(ca, sa);
    b.totals(cb, sb);
    CHECK(ca == cb);
    CHECK(sa == sb);  // bit-identical
    CHECK(a.tail() == b.tail());
    CHECK(a.tail().size() == nnqft::kTailSize);
}

int main() {
    const std::size_t width = 5;
    for (std::uint32_t bins : {2u, 8u, 64u}) {
        const std::uint64_t n_blocks = 301;
        BlockTree ordered(bins, width);
        for (std::uint64_t b = 0; b < n_blocks; ++b) ordered.insert(leaf(b, width));
        CHECK(ordered.nodes().size() <= 2 * 9);

        std::vector<std::uint64_t> perm(n_blocks);
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), std::mt19937_64(bins));
        BlockTree shuffled(bins, width);
        for (auto b : perm) shuffled.insert(leaf(b, width));
        totals_equal(ordered, shuffled);

        for (std::uint64_t cut : {1ull, 37ull, 128ull, 300ull}) {  // split and merge
            BlockTree left(bins, width), right(bins, width);
            for (std::uint64_t b = 0; b < n_blocks; ++b)
                (b < cut ? left : right).insert(leaf(b, width));
            right.merge(left);
            totals_equal(ordered, right);
        }
        std::uint64_t expected = 0;
        for (std::uint64_t b = 0; b < n_blocks; ++b) expected += b % 7 + 1;
        CHECK(ordered.n_networks() == expected);

        // bin assignment: block b feeds bin b mod n_bins
        std::vector<std::uint64_t> counts;
        std::vector<double> sums;
        ordered.totals(counts, sums);
        std::vector<std::uint64_t> direct(bins, 0);
        for (std::uint64_t b = 0; b < n_blocks; ++b) direct[b % bins] += b % 7 + 1;
        CHECK(counts == direct);

        CHECK(throws([&] { ordered.insert(leaf(5, width)); }));  // overlap
        BlockTree other(bins, width);
        other.insert(leaf(3, width));
        const auto before = ordered.n_networks();
        CHECK(throws([&] { ordered.merge(other); }));
        CHECK(ordered.n_networks() == before);  // a failed merge changes nothing
        CHECK(throws([&] { BlockTree(bins, width + 1).merge(ordered); }));
    }
    CHECK(throws([] { BlockTree(3, 1); }));  // not a power of two
    return report("test_block_tree");
}
