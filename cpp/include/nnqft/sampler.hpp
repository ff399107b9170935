/// @file sampler.hpp
/// The ensemble sampler: evaluates networks [start, start + count) block by block on a
/// thread pool and accumulates the monomials of each network's observable (outputs or
/// empirical kernel) into a BlockTree. Python-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "nnqft/block_tree.hpp"
#include "nnqft/monomials.hpp"
#include "nnqft/network.hpp"

namespace nnqft {

/// One point of a sigma grid: standard deviations and the observable's shift, and
/// the momentum shell of a spectral cos-net (infinite: every neuron).
struct GridPoint {
    std::vector<double> sigma_w, sigma_b, shift;
    double shell = std::numeric_limits<double>::infinity();
};

struct SampleConfig {
    NetworkSpec spec;
    RowMatrix x;  ///< k x d_in inputs
    Key key{0, 0};
    Estimator estimator = Estimator::plain;
    std::vector<int> degrees;  ///< stored monomial degrees of the observable
    std::vector<double> shift;  ///< subtracted from the observable first (may be empty)
    std::uint64_t block_size = 32;
    std::uint32_t n_bins = 64;
    /// Optional sigma grid: every network is evaluated at each point from one set of
    /// draws (common random numbers in one pass). Empty: the spec's own sigmas and shift.
    std::vector<GridPoint> grid;

    void validate() const;
    /// The grid points actually evaluated (one when `grid` is empty).
    std::vector<GridPoint> points() const;
};

/// Progress callback: networks done so far; return false to stop the run.
using PollFn = std::function<bool(std::uint64_t networks_done)>;

/// Result of `sample`: one accumulated tree per grid point, and whether the run completed.
struct SampleResult {
    std::vector<BlockTree> trees;
    bool completed;
};

/// Sample networks [start, start + count); `start` must be a multiple of block_size.
SampleResult sample(const SampleConfig& config, std::uint64_t start, std::uint64_t count,
                    unsigned n_threads, const PollFn& poll);

/// Result of `evaluate_networks`: one row per network, and whether every row was filled.
struct EvaluateResult {
    RowMatrix rows;
    bool completed;
};

/// Observables of the given networks, row by row (for tests and the conditional
/// estimator's pilot shift), on `n_threads` threads; `poll` as for `sample` (returning
/// false stops the run within milliseconds, leaving rows unfilled: completed = false).
EvaluateResult evaluate_networks(const SampleConfig& config,
                                 const std::vector<std::uint64_t>& ids, unsigned n_threads,
                                 const PollFn& poll);

}  // namespace nnqft
