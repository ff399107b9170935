#include "nnqft/block_tree.hpp"

#include <algorithm>
#include <functional>
#include <iterator>

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
    require(width >= 1, "accumulator width must be >= 1");
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

}  // namespace nnqft
