/// @file block_tree.hpp
/// Mergeable, order-independent accumulation of per-block sums.
///
/// Networks are cut into fixed blocks; block b feeds jackknife bin (b mod n_bins). The
/// blocks a run has seen are kept as the canonical set of maximal aligned dyadic
/// intervals [j 2^l, (j+1) 2^l) ("nodes"). A node's value is defined recursively as
/// combine(left child, right child), so it does not depend on which thread, process or
/// machine produced which blocks, nor on the order of merges: any split of the blocks
/// merges to bit-identical bins. Below n_bins blocks a node keeps one slot per block
/// (combining concatenates); from n_bins blocks on it keeps one slot per bin (combining
/// adds element-wise). Memory is O(log(#blocks)) nodes.
///
/// Each node also keeps the `kTailSize` largest per-network scales seen in its blocks
/// (sorted, descending): the upper order statistics a Hill tail-index estimate needs to
/// tell when heavy tails make error bars untrustworthy. Merging them is exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace nnqft {

/// Sums of one dyadic interval of blocks: `slots` = min(2^level, n_bins) slots, each a
/// count and `width` sums.
struct Node {
    int level = 0;
    std::uint64_t index = 0;
    std::vector<std::uint64_t> counts;
    std::vector<double> sums;  // slots x width, row-major
    std::vector<double> tail;  // largest per-network scales, descending, <= kTailSize

    std::uint64_t first_block() const { return index << level; }
    std::uint64_t end_block() const { return (index + 1) << level; }
};

/// Number of largest per-network scales each node keeps.
inline constexpr std::size_t kTailSize = 128;

/// Merge two descending lists keeping the kTailSize largest values.
std::vector<double> merge_tails(const std::vector<double>& a, const std::vector<double>& b);

/// A read-only view of `size` values (the arrays of a stored state, not copied).
template <class T>
struct View {
    const T* data = nullptr;
    std::size_t size = 0;
};

/// A BlockTree as flat arrays (what files and pickles store): per node its level, index
/// and tail length; all nodes' slot counts, slot sums (slots x width) and tails
/// concatenated in node order.
struct TreeState {
    std::uint64_t n_bins = 0, width = 0;
    std::vector<std::int64_t> levels;
    std::vector<std::uint64_t> indices, counts, tail_lengths;
    std::vector<double> sums, tails;
};

/// Largest accumulator width (stored values per bin) a tree accepts: n_bins x width
/// doubles must be addressable, and no sampler run comes near it.
inline constexpr std::uint64_t kMaxTreeWidth = std::uint64_t{1} << 40;

class BlockTree {
  public:
    BlockTree(std::uint32_t n_bins, std::size_t width);

    std::uint32_t n_bins() const { return n_bins_; }
    std::size_t width() const { return width_; }
    std::uint64_t n_networks() const;
    const std::map<std::uint64_t, Node>& nodes() const { return nodes_; }

    /// Add a node (a leaf is level 0); throws std::invalid_argument if its blocks
    /// overlap blocks already present or its shape is wrong.
    void insert(Node node);
    /// Add every node of `other` (same n_bins and width required).
    void merge(const BlockTree& other);

    /// Per-bin counts (n_bins) and sums (n_bins x width), folded over the nodes in
    /// block order.
    void totals(std::vector<std::uint64_t>& counts, std::vector<double>& sums) const;
    /// The kTailSize largest per-network scales of all nodes, descending.
    std::vector<double> tail() const;

    /// Flat arrays of every node, in block order (inverse of `from_state`).
    TreeState state() const;
    /// Rebuild a tree from flat arrays, trusting nothing: every size is checked with
    /// overflow-safe arithmetic against the arrays actually given, shapes, levels, tails
    /// and the total count are validated, and overlapping nodes are refused. Throws
    /// std::invalid_argument naming the first inconsistency ("corrupt accumulator
    /// state: ..."); never reads out of bounds.
    static BlockTree from_state(std::uint64_t n_bins, std::uint64_t width,
                                View<std::int64_t> levels, View<std::uint64_t> indices,
                                View<std::uint64_t> counts, View<double> sums,
                                View<std::uint64_t> tail_lengths, View<double> tails);

  private:
    Node combine(Node left, Node right) const;
    std::size_t slots(int level) const;

    std::uint32_t n_bins_;
    std::size_t width_;
    std::map<std::uint64_t, Node> nodes_;  // keyed by first block
};

}  // namespace nnqft
