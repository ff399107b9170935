// parallel_for: every task runs once; a worker's exception reaches the caller; a poll
// returning false stops the run; the sampler is bit-identical for 1..4 threads.
#include <atomic>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "nnqft/parallel.hpp"
#include "nnqft/sampler.hpp"

int main() {
    for (unsigned threads : {1u, 2u, 3u, 8u}) {
        std::vector<std::atomic<int>> hits(1000);
        const bool done = nnqft::parallel_for(
            hits.size(), threads, [&](std::uint64_t i, unsigned, const std::atomic<bool>&) { ++hits[i]; },
            [] { return true; });
        CHECK(done);
        for (auto& h : hits) CHECK(h.load() == 1);

        CHECK(throws([&] {
            nnqft::parallel_for(
                100, threads,
                [](std::uint64_t i, unsigned, const std::atomic<bool>&) {
                    if (i == 42) throw std::runtime_error("worker failure");
                },
                [] { return true; });
        }));

        std::atomic<int> ran{0};
        const bool completed = nnqft::parallel_for(
            1u << 20, threads,
            [&](std::uint64_t, unsigned, const std::atomic<bool>& stop) {
                ++ran;
                while (!stop.load()) std::this_thread::yield();
            },
            [] { return false; }, std::chrono::milliseconds(5));
        CHECK(!completed);
        CHECK(ran.load() <= static_cast<int>(threads));
    }

    nnqft::SampleConfig config;
    config.spec.activation = nnqft::Activation::tanh;
    config.spec.width = 9;
    config.spec.depth = 2;
    config.spec.sigma_w = {1.0, 1.2, 0.8};
    config.spec.sigma_b = {0.3, 0.1, 0.5};
    config.x = nnqft::RowMatrix::Random(4, 1);
    config.key = {12345, 678};
    config.degrees = {2, 4};
    config.block_size = 16;
    std::vector<double> reference;
    for (unsigned threads : {1u, 2u, 3u, 4u}) {
        auto result = nnqft::sample(config, 32, 5000, threads, [](std::uint64_t) { return true; });
        CHECK(result.completed);
        CHECK(result.trees.size() == 1 && result.trees[0].n_networks() == 5000);
        std::vector<std::uint64_t> counts;
        std::vector<double> sums;
        result.trees[0].totals(counts, sums);
        if (reference.empty()) reference = sums;
        CHECK(sums == reference);
    }
    CHECK(throws([&] { nnqft::sample(config, 5, 10, 1, [](std::uint64_t) { return true; }); }));
    return report("test_parallel");
}
