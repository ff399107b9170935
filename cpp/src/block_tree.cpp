#include "nnqft/block_tree.hpp"

#include <algorithm>
#include <functional>
#include <cmath>
#include <iterator>
#include <limits>

#include "nnqft/errors.hpp"

namespace nnqft {

std::vector<double> merge_tails(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> out(a.size() + b.size());
    std::merge(a.begin(), a.end(), b.begin(), b.end(), out.begin(), std::greater<double>());
    if (out.size() > kTailSize) out.resize(kTailSize);
    return out;
}

BlockTree::BlockTree(std::uint32_t n_bins, std::size_t width)
    : n_bins_(n_bins), width_(width) {
    require(n_bins >= 2 && (n_bins & (n_bins - 1)) == 0,
            "n_bins must be a power of two >= 2, got ", n_bins);
    require(width >= 1 && width <= kMaxTreeWidth, "accumulator width must be in 1..",
            kMaxTreeWidth, ", got ", width);
    require(width <= std::numeric_limits<std::size_t>::max() / sizeof(double) / n_bins,
            "n_bins x width = ", n_bins, " x ", width, " exceeds the address space");
}

std::size_t BlockTree::slots(int level) const {
    return level >= 32 || (std::uint64_t{1} << level) >= n_bins_
               ? n_bins_
               : static_cast<std::size_t>(std::uint64_t{1} << level);
}

std::uint64_t BlockTree::n_networks() const {
    std::uint64_t n = 0;
    for (const auto& [start, node] : nodes_)
        for (auto c : node.counts) n += c;
    return n;
}

Node BlockTree::combine(Node left, Node right) const {
    Node parent;
    parent.level = left.level + 1;
    parent.index = left.index >> 1;
    parent.tail = merge_tails(left.tail, right.tail);
    if (slots(parent.level) == slots(left.level) * 2) {  // still one slot per block
        parent.counts = std::move(left.counts);
        parent.counts.insert(parent.counts.end(), right.counts.begin(), right.counts.end());
        parent.sums = std::move(left.sums);
        parent.sums.insert(parent.sums.end(), right.sums.begin(), right.sums.end());
        return parent;
    }
    parent.counts = std::move(left.counts);
    parent.sums = std::move(left.sums);
    for (std::size_t i = 0; i < parent.counts.size(); ++i) parent.counts[i] += right.counts[i];
    for (std::size_t i = 0; i < parent.sums.size(); ++i) parent.sums[i] += right.sums[i];
    return parent;
}

void BlockTree::insert(Node node) {
    require(node.level >= 0 && node.level < 64, "node level out of range: ", node.level);
    require(node.level == 0 || (node.index >> (63 - node.level)) == 0,
            "node index out of range");
    require(node.tail.size() <= kTailSize &&
                std::is_sorted(node.tail.begin(), node.tail.end(), std::greater<double>()),
            "node tail must be sorted descending with at most ", kTailSize, " values");
    require(node.counts.size() == slots(node.level) &&
                node.sums.size() == slots(node.level) * width_,
            "node has the wrong shape for level ", node.level);
    for (;;) {
        const std::uint64_t first = node.first_block(), end = node.end_block();
        auto next = nodes_.lower_bound(first);
        const bool overlaps_next = next != nodes_.end() && next->first < end;
        const bool overlaps_prev =
            next != nodes_.begin() && std::prev(next)->second.end_block() > first;
        require(!overlaps_next && !overlaps_prev, "cannot merge overlapping network ranges: ",
                "blocks [", first, ", ", end, ") are already present (the same networks "
                "would be counted twice)");
        const std::uint64_t sibling_first = (node.index ^ 1) << node.level;
        auto sib = nodes_.find(sibling_first);
        if (sib == nodes_.end() || sib->second.level != node.level) {
            nodes_.emplace(first, std::move(node));
            return;
        }
        Node sibling = std::move(sib->second);
        nodes_.erase(sib);
        node = (node.index & 1) ? combine(std::move(sibling), std::move(node))
                                : combine(std::move(node), std::move(sibling));
    }
}

void BlockTree::merge(const BlockTree& other) {
    require(other.n_bins_ == n_bins_ && other.width_ == width_,
            "cannot merge accumulators of different shape (n_bins ", n_bins_, " vs ",
            other.n_bins_, ", width ", width_, " vs ", other.width_, ")");
    // Check all overlaps first so a failed merge leaves *this unchanged.
    BlockTree copy = *this;
    for (const auto& [start, node] : other.nodes_) copy.insert(node);
    *this = std::move(copy);
}

void BlockTree::totals(std::vector<std::uint64_t>& counts, std::vector<double>& sums) const {
    counts.assign(n_bins_, 0);
    sums.assign(static_cast<std::size_t>(n_bins_) * width_, 0.0);
    for (const auto& [start, node] : nodes_) {
        for (std::size_t s = 0; s < node.counts.size(); ++s) {
            const std::size_t bin = (start + s) % n_bins_;
            counts[bin] += node.counts[s];
            const double* src = node.sums.data() + s * width_;
            double* dst = sums.data() + bin * width_;
            for (std::size_t i = 0; i < width_; ++i) dst[i] += src[i];
        }
    }
}

std::vector<double> BlockTree::tail() const {
    std::vector<double> out;
    for (const auto& [start, node] : nodes_) out = merge_tails(out, node.tail);
    return out;
}

TreeState BlockTree::state() const {
    TreeState s;
    s.n_bins = n_bins_;
    s.width = width_;
    for (const auto& [start, node] : nodes_) {
        s.levels.push_back(node.level);
        s.indices.push_back(node.index);
        s.tail_lengths.push_back(node.tail.size());
        s.counts.insert(s.counts.end(), node.counts.begin(), node.counts.end());
        s.sums.insert(s.sums.end(), node.sums.begin(), node.sums.end());
        s.tails.insert(s.tails.end(), node.tail.begin(), node.tail.end());
    }
    return s;
}

namespace {
// "corrupt accumulator state: ..." unless `condition`.
template <class... Parts>
void require_state(bool condition, Parts&&... parts) {
    require(condition, "corrupt accumulator state: ", std::forward<Parts>(parts)...);
}
}  // namespace

BlockTree BlockTree::from_state(std::uint64_t n_bins, std::uint64_t width,
                                View<std::int64_t> levels, View<std::uint64_t> indices,
                                View<std::uint64_t> counts, View<double> sums,
                                View<std::uint64_t> tail_lengths, View<double> tails) {
    require_state(n_bins >= 2 && n_bins <= (std::uint64_t{1} << 31) &&
                      (n_bins & (n_bins - 1)) == 0,
                  "n_bins must be a power of two in 2..2^31, got ", n_bins);
    require_state(width >= 1 && width <= kMaxTreeWidth, "width must be in 1..",
                  kMaxTreeWidth, ", got ", width);
    require_state(indices.size == levels.size && tail_lengths.size == levels.size,
                  "levels, indices and tail_lengths differ in length (", levels.size, ", ",
                  indices.size, ", ", tail_lengths.size, ")");
    // Sizes are compared by division, never by a product that could wrap.
    require_state(sums.size % width == 0 && sums.size / width == counts.size,
                  counts.size, " slot counts do not match ", sums.size, " sums of width ",
                  width);
    BlockTree t(static_cast<std::uint32_t>(n_bins), static_cast<std::size_t>(width));
    std::size_t c = 0, tc = 0;  // slots and tail values consumed so far
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < levels.size; ++i) {
        Node node;
        require_state(levels.data[i] >= 0 && levels.data[i] <= 62, "node ", i,
                      " has level ", levels.data[i], " (expected 0..62)");
        node.level = static_cast<int>(levels.data[i]);
        node.index = indices.data[i];
        const std::size_t slots = t.slots(node.level);
        require_state(slots <= counts.size - c, "node ", i, " needs ", slots,
                      " slots, only ", counts.size - c, " left");
        for (std::size_t s = c; s < c + slots; ++s) {
            require_state(counts.data[s] <= std::numeric_limits<std::uint64_t>::max() - total,
                          "network counts overflow");
            total += counts.data[s];
        }
        node.counts.assign(counts.data + c, counts.data + c + slots);
        node.sums.assign(sums.data + c * width, sums.data + (c + slots) * width);
        c += slots;
        const std::uint64_t n_tail = tail_lengths.data[i];
        require_state(n_tail <= kTailSize && n_tail <= tails.size - tc, "node ", i,
                      " declares ", n_tail, " tail values (at most ", kTailSize, ", ",
                      tails.size - tc, " left)");
        node.tail.assign(tails.data + tc, tails.data + tc + n_tail);
        tc += static_cast<std::size_t>(n_tail);
        for (double v : node.tail)
            require_state(std::isfinite(v) && v >= 0, "node ", i, " has tail value ", v,
                          " (scales are finite and >= 0)");
        t.insert(std::move(node));
    }
    require_state(c == counts.size, counts.size - c, " slot counts left over");
    require_state(tc == tails.size, tails.size - tc, " tail values left over");
    return t;
}

}  // namespace nnqft
