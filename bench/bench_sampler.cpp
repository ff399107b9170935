// Throughput of the C++ sampler without Python: erf-net, d_in = 1, k = 6 inputs,
// orders 2/4/6, over widths and thread counts (plain chrono, best of 3).
//
//   cmake -S . -B build/bench -DNNQFT_BUILD_BENCH=ON && cmake --build build/bench -j2
//   build/bench/bench/bench_sampler                       # the table
//   build/bench/bench/bench_sampler 1000 plain 1 50000    # one case (for profilers)
//   build/bench/bench/bench_sampler 1000 conditional 1 5000 3 gram   # depth, sampler
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "nnqft/sampler.hpp"

namespace {

double networks_per_second(int width, unsigned threads, nnqft::Estimator e,
                           std::uint64_t n, int depth = 1,
                           nnqft::Sampler sampler = nnqft::Sampler::weights) {
    nnqft::SampleConfig c;
    c.spec.activation = nnqft::Activation::erf;
    c.spec.width = width;
    c.spec.depth = depth;
    c.spec.sampler = sampler;
    c.spec.sigma_w.assign(static_cast<std::size_t>(depth) + 1, 1.0);
    c.spec.sigma_b.assign(static_cast<std::size_t>(depth) + 1, 1.0);
    c.x.resize(6, 1);
    c.x << -1.0, -0.6, -0.2, 0.2, 0.6, 1.0;
    c.key = {42, 7};
    c.estimator = e;
    c.degrees = e == nnqft::Estimator::plain ? std::vector<int>{2, 4, 6}
                                             : std::vector<int>{1, 2, 3};
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = nnqft::sample(c, 0, n, threads, [](std::uint64_t) { return true; });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r.trees[0].n_networks() != n) std::printf("error: wrong count\n");
        best = std::max(best, static_cast<double>(n) / s);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 5) {
        const auto e = std::strcmp(argv[2], "conditional") == 0 ? nnqft::Estimator::conditional
                                                                 : nnqft::Estimator::plain;
        const int depth = argc >= 6 ? std::atoi(argv[5]) : 1;
        const auto sampler = nnqft::sampler_from_name(argc >= 7 ? argv[6] : "weights");
        std::printf("%.0f networks/s\n",
                    networks_per_second(std::atoi(argv[1]), static_cast<unsigned>(std::atoi(argv[3])),
                                        e, std::strtoull(argv[4], nullptr, 10), depth, sampler));
        return 0;
    }
    std::printf("| width | estimator | threads | networks/s |\n|---|---|---|---|\n");
    for (int width : {10, 100, 1000}) {
        const std::uint64_t n = width >= 1000 ? 20000 : 200000;
        for (auto e : {nnqft::Estimator::plain, nnqft::Estimator::conditional})
            for (unsigned t : {1u, 2u})
                std::printf("| %d | %s | %u | %.0f |\n", width,
                            e == nnqft::Estimator::plain ? "plain" : "conditional", t,
                            networks_per_second(width, t, e, n));
    }
}
