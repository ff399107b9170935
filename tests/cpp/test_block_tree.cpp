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
using nnqft::TreeState;
using nnqft::View;

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

template <class T>
static View<T> view(const std::vector<T>& v) {
    return {v.data(), v.size()};
}

static BlockTree rebuild(const TreeState& s) {
    return BlockTree::from_state(s.n_bins, s.width, view(s.levels), view(s.indices),
                                 view(s.counts), view(s.sums), view(s.tail_lengths),
                                 view(s.tails));
}

// from_state round-trips, and refuses every corruption with an exception (never reads
// out of bounds: the sanitizer build checks that).
static void state_checks() {
    const std::size_t width = 3;
    BlockTree tree(8, width);
    for (std::uint64_t b = 0; b < 13; ++b) tree.insert(leaf(b, width));
    const TreeState good = tree.state();
    totals_equal(tree, rebuild(good));

    auto refused = [&](auto&& edit) {
        TreeState s = good;
        edit(s);
        return throws([&] { rebuild(s); });
    };
    constexpr std::uint64_t big = std::uint64_t{1} << 63;
    CHECK(refused([](TreeState& s) { s.width = big; }));  // wrapped the old size check
    CHECK(refused([](TreeState& s) { s.width = (std::uint64_t{1} << 61) + 1; }));
    CHECK(refused([](TreeState& s) { s.width = 0; }));
    CHECK(refused([](TreeState& s) { s.n_bins = 3; }));
    CHECK(refused([](TreeState& s) { s.n_bins = std::uint64_t{1} << 32; }));
    CHECK(refused([](TreeState& s) { s.levels[0] = 63; }));
    CHECK(refused([](TreeState& s) { s.levels[0] = -1; }));
    CHECK(refused([](TreeState& s) { s.levels.back() += 1; }));  // needs more slots
    // nodes: blocks [0, 8) at level 3, [8, 12) at level 2, [12, 13) at level 0
    CHECK(good.levels == (std::vector<std::int64_t>{3, 2, 0}));
    CHECK(refused([](TreeState& s) { s.indices[2] = 3; }));  // overlaps [0, 8)
    CHECK(refused([](TreeState& s) { s.indices[1] = big; }));  // past block 2^64
    CHECK(refused([](TreeState& s) { s.indices.pop_back(); }));
    CHECK(refused([](TreeState& s) { s.counts.pop_back(); }));
    CHECK(refused([](TreeState& s) { s.sums.pop_back(); }));
    CHECK(refused([](TreeState& s) { s.sums.push_back(1.0); }));
    CHECK(refused([](TreeState& s) {  // counts and sums both short by one slot
        s.counts.pop_back();
        s.sums.resize(s.sums.size() - 3);
    }));
    CHECK(refused([](TreeState& s) { s.counts[0] = big, s.counts[1] = big; }));
    CHECK(refused([](TreeState& s) { s.tail_lengths[0] = big; }));
    CHECK(refused([](TreeState& s) { s.tail_lengths[0] = nnqft::kTailSize + 1; }));
    CHECK(refused([](TreeState& s) { s.tail_lengths[0] += 1; }));
    CHECK(refused([](TreeState& s) { s.tails.push_back(0.0); }));
    CHECK(refused([](TreeState& s) { s.tails[0] = -1.0; }));
    CHECK(refused([](TreeState& s) { s.tails[0] = std::nan(""); }));
    CHECK(refused([](TreeState& s) { std::swap(s.tails[0], s.tails[5]); }));  // unsorted
    // an empty state is a valid empty tree; a huge width with no nodes is still refused
    TreeState empty;
    empty.n_bins = 4;
    empty.width = 2;
    CHECK(rebuild(empty).n_networks() == 0);
    empty.width = std::uint64_t{1} << 40;
    empty.n_bins = std::uint64_t{1} << 31;
    CHECK(throws([&] { rebuild(empty); }));
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
    state_checks();
    return report("test_block_tree");
}
