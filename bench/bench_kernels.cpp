// Micro-benchmark of nnqft::kernels: ns per element for every function and every
// instruction-set path the CPU supports, next to the scalar libm reference (the
// first kernels.cpp, reproduced in namespace ref below: one 64-bit word and half a
// double-precision Box-Muller pair per normal). In stream version 3 a normal costs half
// a 64-bit Philox4x32 word and half a single-precision Box-Muller pair: the row
// "normal (both)" is kernels::philox_normals, the sampler's fused draw, in ns per
// normal. Plain std::chrono: 5 runs of ~1e7 elements each in calls on a cache-resident
// buffer of 4096 elements (the sampler works on per-network arrays of a few thousand).
//
// Random-number rows: the fastest call counts. Activation rows: the input buffer is
// shuffled (untimed) before every call, so that the branch predictor cannot learn the
// positions of the inputs that take a slow path (erf's |x| > 2.5, cos's |x| >= 2^17)
// as it does when one buffer is re-run (the sampler never sees the same data twice);
// every call then does the same work, and the median call counts (the fastest would
// pick the call with the fewest mispredictions). The row "erf ... same data" re-runs
// one buffer without shuffling, for comparison.
//
//   bench_kernels [n_elements]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "nnqft/kernels.hpp"
#include "nnqft/philox.hpp"

using nnqft::Counter32;
using nnqft::Key32;
using nnqft::u64;
namespace K = nnqft::kernels;

namespace ref {  // the scalar reference implementation (libm)
constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kInv53 = 1.0 / 9007199254740992.0;
constexpr double kHalfPi = 1.5707963267948966;  // the Cauchy spectrum without cutoff

void philox_stream(const Key32& key, const Counter32& first, std::size_t n_blocks, u64* out) {
    Counter32 c = first;
    for (std::size_t j = 0; j < n_blocks; ++j) {
        c[0] = first[0] + static_cast<nnqft::u32>(j);
        const Counter32 r = nnqft::philox4x32(c, key);
        std::memcpy(out + 2 * j, r.data(), sizeof(r));
    }
}
void normals(const u64* bits, double* out, std::size_t n) {
    for (std::size_t i = 0; i + 1 < n; i += 2) {
        const double u1 = static_cast<double>((bits[i] >> 11) + 1) * kInv53;
        const double u2 = static_cast<double>(bits[i + 1] >> 11) * kInv53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[i] = r * std::cos(kTwoPi * u2);
        out[i + 1] = r * std::sin(kTwoPi * u2);
    }
}
void uniforms(const u64* bits, double lo, double hi, double* out, std::size_t n) {
    const double w = hi - lo;
    for (std::size_t i = 0; i < n; ++i)
        out[i] = lo + w * (static_cast<double>(bits[i] >> 11) * kInv53);
}
void cauchy_radii(const u64* bits, double angle, double* out, std::size_t n) {
    uniforms(bits, 0.0, angle, out, n);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::tan(out[i]);
}
void table_radii(const double* u, const double* table, std::size_t size, double scale,
                 double* out, std::size_t n) {
    const double m = static_cast<double>(size - 1);
    for (std::size_t i = 0; i < n; ++i) {
        const double pos = u[i] * m;
        const std::size_t j = std::min(static_cast<std::size_t>(pos), size - 2);
        const double t = table[j] + (pos - j) * (table[j + 1] - table[j]);
        out[i] = scale * t / (1.0 - t);
    }
}
/// The radius from a separate uniform (quantile table in t^3, cube root), the direction
/// normalised: what d = 3 spectra did before chi tables (stream version 3).
void uniform_radius_frequencies(const double* u, const double* table, std::size_t size,
                                double* g, std::size_t n) {
    const double m = static_cast<double>(size - 1);
    for (std::size_t i = 0; i < n; ++i) {
        const double pos = u[i] * m;
        const std::size_t j = std::min(static_cast<std::size_t>(pos), size - 2);
        const double t = std::cbrt(table[j] + (pos - j) * (table[j + 1] - table[j]));
        double* gi = g + 3 * i;
        const double f = t / (1.0 - t) / std::sqrt(gi[0] * gi[0] + gi[1] * gi[1] + gi[2] * gi[2]);
        for (int c = 0; c < 3; ++c) gi[c] *= f;
    }
}
void apply(K::Func f, const double* in, double* out, std::size_t n) {
    switch (f) {
        case K::Func::erf:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::erf(in[i]);
            break;
        case K::Func::relu:
            for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0 ? in[i] : 0.0;
            break;
        case K::Func::tanh:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
            break;
        case K::Func::identity:
            if (out != in) std::memmove(out, in, n * sizeof(double));
            break;
        case K::Func::exp:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
            break;
        case K::Func::cos:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::cos(in[i]);
            break;
        case K::Func::sinc:
            for (std::size_t i = 0; i < n; ++i)
                out[i] = in[i] == 0.0 ? 1.0 : std::sin(in[i]) / in[i];
            break;
    }
}
}  // namespace ref

namespace {

volatile double g_sink;  // keeps results observable

/// ns per element: `total` elements are processed in calls of `chunk`, five times;
/// each call is timed. Without `prepare`, the fastest call counts (robust against
/// preemption on a shared machine; the arrays are cache-resident, so calls are alike
/// otherwise). With it, `prepare` runs untimed before every call and the median call
/// counts.
double time_ns(std::size_t total, std::size_t chunk, const std::function<void()>& call,
               const std::function<void()>& prepare) {
    const std::size_t reps = std::max<std::size_t>(1, total / chunk);
    std::vector<double> t(5 * reps);
    for (std::size_t c = 0; c < t.size(); ++c) {
        if (prepare) prepare();
        const auto t0 = std::chrono::steady_clock::now();
        call();
        const auto t1 = std::chrono::steady_clock::now();
        t[c] = std::chrono::duration<double, std::nano>(t1 - t0).count();
    }
    const auto pick = t.begin() + (prepare ? static_cast<std::ptrdiff_t>(t.size() / 2) : 0);
    std::nth_element(t.begin(), pick, t.end());
    return *pick / static_cast<double>(chunk);
}

__extension__ typedef unsigned __int128 u128;

/// Fisher-Yates shuffles of a buffer, a new permutation each call (splitmix64 bits;
/// the multiply-shift bound is biased by < 2^-50, irrelevant here).
struct Shuffler {
    std::vector<double>* buf;
    u64 s = 0x243F6A8885A308D3ULL;
    void operator()() {
        std::vector<double>& v = *buf;
        for (std::size_t i = v.size() - 1; i > 0; --i) {
            u64 z = (s += 0x9E3779B97F4A7C15ULL);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z ^= z >> 31;
            const auto j = static_cast<std::size_t>(
                (static_cast<u128>(z) * (i + 1)) >> 64);
            std::swap(v[i], v[j]);
        }
    }
};

/// The CPU's model name (Linux), for the record.
std::string cpu_model() {
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000;
    constexpr std::size_t n = 4096;  // elements per call (multiple of 4)

    std::vector<u64> bits(n);
    ref::philox_stream(Key32{1, 2}, Counter32{0, 0, 0, 0}, n / 2, bits.data());
    std::vector<double> out(n), z(n), zwide(n), zcos(n);
    ref::normals(bits.data(), z.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
        z[i] *= std::sqrt(1.5);                          // erf-net pre-activation spread
        zwide[i] = -7.0 + 14.0 * static_cast<double>(bits[i] >> 11) * 0x1p-53;
        zcos[i] = z[i] + 3.0 * (zwide[i] / 7.0);          // cos net: w x + U(-pi, pi)
    }
    const std::vector<double> zsame = z;  // never shuffled
    // a d = 1 quantile table of 4096 cells; a d = 3 one (t^3: the old d >= 2 form); a chi
    // table of 16 cells per octave; n neurons' normals for d = 3
    std::vector<double> unit(n), table(4097), cube(4097), chi(K::kChiOctaves * 16 + 1);
    for (std::size_t i = 0; i < n; ++i) unit[i] = static_cast<double>(bits[i] >> 11) * 0x1p-53;
    for (std::size_t j = 0; j < table.size(); ++j) {
        table[j] = 0.9 * std::sqrt(static_cast<double>(j) / 4096.0);
        cube[j] = std::pow(table[j], 3);
    }
    for (std::size_t j = 0; j < chi.size(); ++j) chi[j] = 1.0 / (1.0 + 0.01 * j);
    std::vector<double> g0(3 * n), g;
    ref::normals(bits.data(), g0.data(), n);  // 3n normals (the last n repeat the first)
    ref::normals(bits.data() + n / 2, g0.data() + n, n);
    ref::normals(bits.data(), g0.data() + 2 * n, n);
    g = g0;
    struct Row {
        std::string name;
        std::function<void()> fast, slow, prepare;  // prepare: untimed, before each call
    };
    const Key32 key{0x452821e6U, 0xbe5466cfU};
    const Counter32 ctr{7, 1, 2, 3};
    auto fn = [&](K::Func f, const std::vector<double>& in) {
        return std::function<void()>([&, f] { K::apply(f, in.data(), out.data(), n); });
    };
    auto rf = [&](K::Func f, const std::vector<double>& in) {
        return std::function<void()>([&, f] { ref::apply(f, in.data(), out.data(), n); });
    };
    auto fresh = [](std::vector<double>& in) { return std::function<void()>(Shuffler{&in}); };
    const std::vector<Row> rows = {
        {"philox4x32 (u64)",
         [&] { K::philox_stream(key, ctr, n / 2, bits.data()); },
         [&] { ref::philox_stream(key, ctr, n / 2, bits.data()); },
         {}},
        {"box-muller (u64->z)", [&] { K::normals(bits.data(), out.data(), n); },
         [&] { ref::normals(bits.data(), out.data(), n); }, {}},
        {"normal (both)", [&] { K::philox_normals(key, ctr, n / 4, out.data()); },
         [&] {
             ref::philox_stream(key, ctr, n / 2, bits.data());
             ref::normals(bits.data(), out.data(), n);
         },
         {}},
        {"uniforms", [&] { K::uniforms(bits.data(), -3.0, 3.0, out.data(), n); },
         [&] { ref::uniforms(bits.data(), -3.0, 3.0, out.data(), n); }, {}},
        {"cauchy radii (u64)",
         [&] { K::cauchy_radii(bits.data(), ref::kHalfPi, 1.0, out.data(), n); },
         [&] { ref::cauchy_radii(bits.data(), ref::kHalfPi, out.data(), n); }, {}},
        {"table radii (d = 1)",
         [&] { K::table_radii(unit.data(), table.data(), table.size(), 1.0, out.data(), n); },
         [&] { ref::table_radii(unit.data(), table.data(), table.size(), 1.0, out.data(), n); },
         {}},
        {"chi frequencies (d = 3; per neuron)",
         [&] { K::chi_frequencies(g.data(), 3, chi.data(), chi.size(), 1.0, nullptr, n); },
         [&] {
             ref::uniform_radius_frequencies(unit.data(), cube.data(), cube.size(), g.data(), n);
         },
         [&] { g = g0; }},
        {"erf  z~N(0,1.5)", fn(K::Func::erf, z), rf(K::Func::erf, z), fresh(z)},
        {"erf  ... same data", fn(K::Func::erf, zsame), rf(K::Func::erf, zsame), [] {}},
        {"erf  U(-7,7)", fn(K::Func::erf, zwide), rf(K::Func::erf, zwide), fresh(zwide)},
        {"tanh z~N(0,1.5)", fn(K::Func::tanh, z), rf(K::Func::tanh, z), fresh(z)},
        {"exp  z~N(0,1.5)", fn(K::Func::exp, z), rf(K::Func::exp, z), fresh(z)},
        {"cos  z+U(-3,3)", fn(K::Func::cos, zcos), rf(K::Func::cos, zcos), fresh(zcos)},
        {"sinc z+U(-3,3)", fn(K::Func::sinc, zcos), rf(K::Func::sinc, zcos), fresh(zcos)},
        {"relu", fn(K::Func::relu, z), rf(K::Func::relu, z), fresh(z)},
        {"identity", fn(K::Func::identity, z), rf(K::Func::identity, z), fresh(z)},
    };

    std::vector<std::string> paths;
    for (const char* p : {"avx512", "avx2", "generic"})
        if (K::set_path(p)) paths.emplace_back(p);

    std::printf("%s; ns/element in calls of %zu, 5 x %zu elements (auto path: %s)\n"
                "random numbers: fastest call; activations: median call, inputs shuffled "
                "before each call\n",
                cpu_model().c_str(), n, total, (K::set_path("auto"), K::path()));
    std::printf("%-21s %10s", "kernel", "reference");
    for (const auto& p : paths) std::printf(" %10s", p.c_str());
    std::printf(" %9s\n", "speed-up");
    for (const Row& row : rows) {
        const double t_ref = time_ns(total, n, row.slow, row.prepare);
        std::printf("%-21s %10.3f", row.name.c_str(), t_ref);
        double best = 1e300;
        for (const auto& p : paths) {
            K::set_path(p.c_str());
            const double t = time_ns(total, n, row.fast, row.prepare);
            best = std::min(best, t);
            std::printf(" %10.3f", t);
        }
        std::printf(" %8.1fx\n", t_ref / best);
        g_sink = out[n / 2];
    }
    K::set_path("auto");
    return 0;
}
