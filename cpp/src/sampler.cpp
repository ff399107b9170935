#include "nnqft/sampler.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>

#include "nnqft/errors.hpp"
#include "nnqft/parallel.hpp"

namespace nnqft {

void SampleConfig::validate() const {
    spec.validate();
    require(x.rows() >= 1 && x.cols() == spec.d_in, "x must have shape (k, d_in = ",
            spec.d_in, "), got (", x.rows(), ", ", x.cols(), ")");
    require(x.allFinite(), "x must be finite");
    require(block_size >= 1, "block_size must be >= 1, got ", block_size);
    require(estimator != Estimator::conditional || !(spec.uniform_weights || spec.sign_weights),
            "the conditional estimator needs Gaussian read-out weights");
    const std::size_t r = observable_size(estimator, static_cast<std::size_t>(x.rows()));
    for (const GridPoint& g : points()) {
        NetworkSpec at = spec;
        at.sigma_w = g.sigma_w;
        at.sigma_b = g.sigma_b;
        at.spectrum.shell = g.shell;
        at.validate();
        require(g.shift.empty() || g.shift.size() == r, "shift must have ", r,
                " values, got ", g.shift.size());
    }
}

std::vector<GridPoint> SampleConfig::points() const {
    if (!grid.empty()) return grid;
    return {GridPoint{spec.sigma_w, spec.sigma_b, shift, spec.spectrum.shell}};
}

namespace {

// One block of networks -> one leaf node per grid point.
class BlockWorker {
  public:
    BlockWorker(const SampleConfig& c, const MonomialLayout& layout)
        : config_(c),
          points_(c.points()),
          layout_(layout),
          evaluator_(c.spec, c.x, c.key),
          observable_(evaluator_.observable_size(c.estimator)),
          scratch_(layout.scratch_size()),
          shells_vary_(std::any_of(points_.begin(), points_.end(), [&](const GridPoint& p) {
              return p.shell != points_.front().shell;
          })) {}

    std::vector<Node> run(std::uint64_t block, std::uint64_t first, std::uint64_t last,
                          const std::atomic<bool>& stop) {
        std::vector<Node> nodes(points_.size());
        for (Node& node : nodes) {
            node.index = block;
            node.counts = {0};
            node.sums.assign(layout_.stored_size(), 0.0);
        }
        evaluator_.set_stop(&stop);
        try {
            for (std::uint64_t net = first; net < last; ++net) {
                if (stop.load(std::memory_order_relaxed)) break;
                for (std::size_t g = 0; g < points_.size(); ++g) add(net, points_[g], nodes[g]);
            }
        } catch (const StopRequested&) {
            return nodes;  // the caller drops a stopped block
        }
        for (Node& node : nodes) std::sort(node.tail.begin(), node.tail.end(), std::greater<double>());
        return nodes;
    }

  private:
    void add(std::uint64_t net, const GridPoint& point, Node& node) {
        if (points_.size() > 1) {
            evaluator_.set_sigmas(point.sigma_w, point.sigma_b);
            // only a shell grid keeps each network's unmasked activations; a sigma grid
            // would copy them per point for nothing (its shell is the spec's)
            if (shells_vary_) evaluator_.set_shell(point.shell);
        }
        const double scale = evaluator_.evaluate(net, config_.estimator, observable_.data());
        for (std::size_t i = 0; i < point.shift.size(); ++i) observable_[i] -= point.shift[i];
        layout_.add_to(observable_.data(), scratch_.data(), node.sums.data());
        ++node.counts[0];
        keep_largest(node.tail, scale);
    }

    // The tail is a min-heap of the kTailSize largest scales until the block is done.
    static void keep_largest(std::vector<double>& tail, double scale) {
        if (tail.size() < kTailSize) {
            tail.push_back(scale);
            std::push_heap(tail.begin(), tail.end(), std::greater<double>());
        } else if (scale > tail.front()) {
            std::pop_heap(tail.begin(), tail.end(), std::greater<double>());
            tail.back() = scale;
            std::push_heap(tail.begin(), tail.end(), std::greater<double>());
        }
    }

    const SampleConfig& config_;
    std::vector<GridPoint> points_;
    const MonomialLayout& layout_;
    Evaluator evaluator_;
    std::vector<double> observable_, scratch_;
    bool shells_vary_;  // a momentum-shell grid (not a sigma grid): set_shell per point
};

}  // namespace

SampleResult sample(const SampleConfig& config, std::uint64_t start, std::uint64_t count,
                    unsigned n_threads, const PollFn& poll) {
    config.validate();
    require(n_threads >= 1, "threads must be >= 1, got ", n_threads);
    require(count >= 1, "n_networks must be >= 1, got ", count);
    require(start % config.block_size == 0, "start (", start,
            ") must be a multiple of block_size (", config.block_size, ")");
    const std::uint64_t stop_net = start + count;
    require(stop_net > start, "network range overflows");
    const MonomialLayout layout(
        observable_size(config.estimator, static_cast<std::size_t>(config.x.rows())),
        config.degrees);
    const std::uint64_t first_block = start / config.block_size;
    const std::uint64_t n_blocks = (count + config.block_size - 1) / config.block_size;
    n_threads = static_cast<unsigned>(std::min<std::uint64_t>(n_threads, n_blocks));

    std::vector<BlockTree> trees(config.points().size(),
                                 BlockTree(config.n_bins, layout.stored_size()));
    std::mutex tree_mutex;
    std::atomic<std::uint64_t> done{0};
    std::vector<std::unique_ptr<BlockWorker>> workers(n_threads);  // made by their thread

    auto task = [&](std::uint64_t i, unsigned thread, const std::atomic<bool>& stop) {
        auto& worker = workers[thread];
        if (!worker) worker = std::make_unique<BlockWorker>(config, layout);
        const std::uint64_t block = first_block + i;
        const std::uint64_t first = block * config.block_size;
        const std::uint64_t last = std::min(first + config.block_size, stop_net);
        std::vector<Node> leaves = worker->run(block, first, last, stop);
        if (stop.load()) return;  // an incomplete block is dropped, never half-counted
        done.fetch_add(last - first);
        std::lock_guard<std::mutex> lock(tree_mutex);
        for (std::size_t g = 0; g < leaves.size(); ++g) trees[g].insert(std::move(leaves[g]));
    };
    const bool completed = parallel_for(n_blocks, n_threads, task,
                                        [&] { return poll(done.load()); });
    return {std::move(trees), completed};
}

EvaluateResult evaluate_networks(const SampleConfig& config,
                                 const std::vector<std::uint64_t>& ids, unsigned n_threads,
                                 const PollFn& poll) {
    config.validate();
    require(n_threads >= 1, "threads must be >= 1, got ", n_threads);
    const auto r = observable_size(config.estimator, static_cast<std::size_t>(config.x.rows()));
    EvaluateResult result{RowMatrix(static_cast<Eigen::Index>(ids.size()),
                                    static_cast<Eigen::Index>(r)),
                          true};
    if (ids.empty()) return result;
    n_threads = static_cast<unsigned>(std::min<std::uint64_t>(n_threads, ids.size()));
    std::vector<std::unique_ptr<Evaluator>> evaluators(n_threads);  // made by their thread
    std::atomic<std::uint64_t> done{0};
    // One network per task: a row depends only on its network, so any thread count
    // gives the same bits. The evaluator polls `stop` inside wide networks, so a
    // stop request is honoured within milliseconds even when one network takes seconds.
    auto task = [&](std::uint64_t i, unsigned thread, const std::atomic<bool>& stop) {
        auto& evaluator = evaluators[thread];
        if (!evaluator) evaluator = std::make_unique<Evaluator>(config.spec, config.x, config.key);
        evaluator->set_stop(&stop);
        try {
            evaluator->evaluate(ids[i], config.estimator,
                                result.rows.row(static_cast<Eigen::Index>(i)).data());
        } catch (const StopRequested&) {
            return;  // the caller reports the run as stopped
        }
        done.fetch_add(1);
    };
    result.completed = parallel_for(ids.size(), n_threads, task,
                                    [&] { return poll(done.load()); });
    return result;
}

}  // namespace nnqft
