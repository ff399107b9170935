/// @file sampler.hpp
/// The ensemble sampler: evaluates networks [start, start + count) block by block on a
/// thread pool and accumulates the monomials of each network's observable (outputs or
/// empirical kernel) into a BlockTree. Python-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "nnqft/block_tree.hpp"
#include "nnqft/monomials.hpp"
#include "nnqft/network.hpp"

namespace nnqft {

struct SampleConfig {
    NetworkSpec spec;
    RowMatrix x;  ///< k x d_in inputs
    Key key{0, 0};
    Estimator estimator = Estimator::plain;
    std::vector<int> degrees;  ///< stored monomial degrees of the observable
    std::vector<double> shift;  ///< subtracted from the observable first (may be empty)
    std::uint64_t block_size = 32;
    std::uint32_t n_bins = 64;

    void validate() const;
};

/// Progress callback: networks done so far; return false to stop the run.
using PollFn = std::function<bool(std::uint64_t networks_done)>;

/// Result of `sample`: the accumulated tree, and whether the run completed.
struct SampleResult {
    BlockTree tree;
    bool completed;
};

/// Sample networks [start, start + count); `start` must be a multiple of block_size.
SampleResult sample(const SampleConfig& config, std::uint64_t start, std::uint64_t count,
                    unsigned n_threads, const PollFn& poll);

/// Observables of the given networks, row by row (for tests and the conditional shift).
RowMatrix evaluate_networks(const SampleConfig& config, const std::vector<std::uint64_t>& ids);

}  // namespace nnqft
