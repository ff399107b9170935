// Tests of nnqft::kernels on every instruction-set path the CPU supports:
// Philox4x32 against the reference philox4x32 and the Random123 known-answer vectors,
// every function against long-double libm (max ulp error on millions of points and
// edge cases), agreement of the normals between paths, and their first four moments.
// Dependency-free; exit status 0 on success. Closing line: "N passed, M failed".
#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "nnqft/kernels.hpp"
#include "nnqft/philox.hpp"

namespace {

using nnqft::Counter32;
using nnqft::Key32;
using nnqft::u64;
namespace K = nnqft::kernels;

int g_pass = 0, g_fail = 0;

void check(bool ok, const std::string& what) {
    (ok ? g_pass : g_fail) += 1;
    std::printf("%s %s\n", ok ? "  ok  " : "  FAIL", what.c_str());
}

std::string fmt(const char* f, double a = 0, double b = 0, double c = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, a, b, c);
    return buf;
}

// splitmix64: test inputs only.
struct Rng {
    u64 s;
    u64 next() {
        u64 z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    double uniform(double lo, double hi) {
        return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1p-53;
    }
};

/// Error of `got` in units in the last place of the double nearest to `ref`.
double ulp_error(double got, long double ref) {
    if (std::isnan(static_cast<double>(ref)) || std::isnan(got))
        return std::isnan(got) == std::isnan(static_cast<double>(ref)) ? 0.0 : 1e300;
    const double r = static_cast<double>(ref);
    if (std::isinf(r) || std::isinf(got)) return got == r ? 0.0 : 1e300;
    const double ar = std::fabs(r);
    double ulp = std::nextafter(ar, std::numeric_limits<double>::infinity()) - ar;
    if (ar == std::numeric_limits<double>::max()) ulp = std::ldexp(1.0, 971);
    return static_cast<double>(std::fabs(static_cast<long double>(got) - ref) / ulp);
}

// ---------------------------------------------------------------------------------

void test_philox() {
    // Random123 kat_vectors, the three "philox4x32 10" lines: counter, key, result.
    struct Kat {
        nnqft::Counter32 c;
        nnqft::Key32 k;
        nnqft::Counter32 r;
    };
    const Kat kats[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5U, 0xe169c58dU, 0xbc57ac4cU, 0x9b00dbd8U}},
        {{~0U, ~0U, ~0U, ~0U}, {~0U, ~0U}, {0x408f276dU, 0x41c83b0eU, 0xa20bc7c6U, 0x6d5451fdU}},
        {{0x243f6a88U, 0x85a308d3U, 0x13198a2eU, 0x03707344U},
         {0xa4093822U, 0x299f31d0U},
         {0xd16cfe09U, 0x94fdccebU, 0x5001e420U, 0x24126ea1U}},
    };
    bool kat_ok = true;
    for (const Kat& t : kats) {
        u64 out[2];
        K::philox_stream(t.k, t.c, 1, out);
        const u64 want[2] = {t.r[0] | (u64{t.r[1]} << 32), t.r[2] | (u64{t.r[3]} << 32)};
        kat_ok = kat_ok && out[0] == want[0] && out[1] == want[1] &&
                 nnqft::philox4x32(t.c, t.k) == t.r;
    }
    check(kat_ok, "philox4x32: Random123 known-answer vectors");

    // Streams of every length up to 100 and some long ones, random keys and counters
    // (counter word 0 wraps without carry, as documented).
    Rng rng{42};
    bool same = true;
    std::vector<u64> got;
    auto u32_of = [&] { return static_cast<nnqft::u32>(rng.next()); };
    for (std::size_t n = 0; n <= 1100 && same; n += (n < 100 ? 1 : 250)) {
        const nnqft::Key32 key{u32_of(), u32_of()};
        nnqft::Counter32 first{u32_of(), u32_of(), u32_of(), u32_of()};
        if (n == 50) first[0] = ~0U - 20;  // wrap inside the stream
        got.assign(2 * n + 1, 0xDEADBEEFULL);
        K::philox_stream(key, first, n, got.data());
        for (std::size_t j = 0; j < n; ++j) {
            nnqft::Counter32 c = first;
            c[0] = first[0] + static_cast<nnqft::u32>(j);
            const nnqft::Counter32 r = nnqft::philox4x32(c, key);
            same = same && got[2 * j] == (r[0] | (u64{r[1]} << 32)) &&
                   got[2 * j + 1] == (r[2] | (u64{r[3]} << 32));
        }
        same = same && got[2 * n] == 0xDEADBEEFULL;  // nothing written past the end
    }
    check(same, "philox_stream == philox4x32 for n_blocks = 0..100, 350, ..., 1100");
}

// ---------------------------------------------------------------------------------

struct FuncCase {
    K::Func f;
    const char* name;
    long double (*ref)(long double);
    double max_ulp;  // accepted maximum
    std::vector<double> x;
    std::vector<long double> y;
};

long double relu_ref(long double x) { return std::isnan(x) ? x : (x <= 0 ? 0.0L : x); }
long double id_ref(long double x) { return x; }
long double erf_ref(long double x) { return std::erf(x); }
long double tanh_ref(long double x) { return std::tanh(x); }
long double exp_ref(long double x) { return std::exp(x); }
long double cos_ref(long double x) { return std::cos(x); }
long double sinc_ref(long double x) { return x == 0 ? 1.0L : std::sin(x) / x; }

std::vector<double> edge_cases() {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> e = {0.0,     -0.0,    1e-300, -1e-300, 4.9e-324, -4.9e-324,
                             1e-17,   1e-8,    0.5,    1.0,     2.5,      2.5000000000000004,
                             2.4999999999999996, 5.9,  5.92,    6.0,      6.5,
                             20.0,    27.0,    40.0,   700.0,   709.0,    709.78,
                             709.782712893384,  709.7827128933841, 710.0,  -708.0,
                             -708.4,  -709.0,  -744.0, -745.0,  -745.13,   -745.1332191019412,
                             -745.1332191019411, -746.0, -1000.0, 1e5,    131071.99999999999,
                             131072.0, 131073.5, 1e6,  1e22,   1e300,   inf,      -inf,
                             nan,     -nan,    std::numeric_limits<double>::max()};
    const std::size_t m = e.size();
    for (std::size_t i = 0; i < m; ++i) e.push_back(-e[i]);
    // Doubles nearest to multiples of pi/2 (hardest points for the cos reduction).
    for (int k = 1; k < 100000; k = k * 3 + 1) {
        const double x = static_cast<double>(k * 1.5707963267948966192313216916397514L);
        for (double d = x, j = 0; j < 3; ++j, d = std::nextafter(d, inf)) e.push_back(d);
    }
    return e;
}

std::vector<double> sample_points(K::Func f, std::size_t n) {
    Rng rng{static_cast<u64>(f) * 7919 + 1};
    std::vector<double> x = edge_cases();
    x.reserve(n);
    double lim = 8.0;  // the range where the function is not trivially saturated
    if (f == K::Func::tanh) lim = 22.0;
    if (f == K::Func::exp) lim = 750.0;
    if (f == K::Func::cos || f == K::Func::sinc) lim = 131072.0;
    while (x.size() < n) {
        const int kind = static_cast<int>(rng.next() % 4);
        if (kind == 0) {  // uniform over the interesting range
            x.push_back(rng.uniform(-lim, lim));
        } else if (kind == 1) {  // the bulk of network pre-activations
            x.push_back(rng.uniform(-4.0, 4.0));
        } else if (kind == 2) {  // log-uniform magnitudes down to 1e-300
            const double m = std::exp(rng.uniform(std::log(1e-300), std::log(lim)));
            x.push_back(rng.next() & 1 ? m : -m);
        } else {  // arbitrary bit patterns (incl. NaN payloads, huge, subnormal)
            double d;
            const u64 b = rng.next();
            std::memcpy(&d, &b, sizeof d);
            x.push_back(d);
        }
    }
    return x;
}

void test_functions(std::vector<FuncCase>& cases) {
    for (FuncCase& c : cases) {
        std::vector<double> out(c.x.size()), inplace = c.x;
        K::apply(c.f, c.x.data(), out.data(), c.x.size());
        K::apply(c.f, inplace.data(), inplace.data(), inplace.size());
        double worst = 0.0, worst_x = 0.0;
        for (std::size_t i = 0; i < c.x.size(); ++i) {
            const double e = ulp_error(out[i], c.y[i]);
            if (e > worst) worst = e, worst_x = c.x[i];
        }
        const bool alias_ok =
            std::memcmp(out.data(), inplace.data(), out.size() * sizeof(double)) == 0;
        check(worst <= c.max_ulp && alias_ok,
              std::string("apply ") + c.name +
                  fmt(": max %.2f ulp (limit %.0f) at x = %.17g", worst, c.max_ulp,
                      worst_x) +
                  fmt(" over %.0f points", static_cast<double>(c.x.size())) +
                  (alias_ok ? "" : "; in-place result differs!"));
    }
}

/// Cauchy radii: words whose uniforms u fill [0, 1) (random, log-uniform down to 2^-53,
/// 0 and the largest u, whose x = angle u is the double below pi/2: the pole).
struct TanCase {
    double angle;
    std::vector<u64> words;
    std::vector<double> x;  // angle u, as uniforms() forms it
    std::vector<long double> ref;
};

TanCase tan_case(double angle, std::size_t n) {
    Rng rng{4242};
    TanCase c{angle, {0, 1, 1ULL << 11, 2ULL << 11, ~u64{0}, ~u64{0} - (1ULL << 11)}, {}, {}};
    while (c.words.size() < n) {
        const u64 w = rng.next();
        if (w % 2 == 0) {
            c.words.push_back(w);
        } else {  // log-uniform u in [2^-53, 1): the tiny radii, relative accuracy
            const double u = std::exp(rng.uniform(std::log(0x1p-53), 0.0));
            c.words.push_back((static_cast<u64>(u * 0x1p53) << 11) | (w & 0x7FF));
        }
    }
    c.x.resize(n);
    K::uniforms(c.words.data(), 0.0, angle, c.x.data(), n);
    c.ref.resize(n);
    for (std::size_t i = 0; i < n; ++i) c.ref[i] = std::tan(static_cast<long double>(c.x[i]));
    return c;
}

/// cauchy_radii against long double tan of the same x; scale tan rounded once; the
/// uniforms are uniforms()'s bit for bit (x = 0 gives radius 0). signed_frequencies: the
/// sign of bit 0, the magnitude scale radius.
void test_cauchy(const TanCase& c) {
    const std::size_t n = c.words.size();
    std::vector<double> out(n), scaled(n), freq(n);
    K::cauchy_radii(c.words.data(), c.angle, 1.0, out.data(), n);
    double worst = 0.0, worst_x = 0.0;
    bool zero_ok = true;
    for (std::size_t i = 0; i < n; ++i) {
        const double e = ulp_error(out[i], c.ref[i]);
        if (e > worst) worst = e, worst_x = c.x[i];
        if (c.x[i] == 0.0) zero_ok &= out[i] == 0.0 && !std::signbit(out[i]);
    }
    check(worst <= 4 && zero_ok,
          fmt("cauchy_radii (angle %.17g): max %.2f ulp (limit 4) at x = %.17g", c.angle, worst,
              worst_x));
    K::cauchy_radii(c.words.data(), c.angle, -2.5, scaled.data(), n);
    bool scale_ok = true;
    for (std::size_t i = 0; i < n; ++i) scale_ok &= scaled[i] == -2.5 * out[i];
    check(scale_ok, "cauchy_radii: scale * tan, rounded once");
    K::signed_frequencies(c.words.data(), out.data(), 0.75, freq.data(), n);
    bool sign_ok = true;
    for (std::size_t i = 0; i < n; ++i)
        sign_ok &= freq[i] == ((c.words[i] & 1) != 0U ? -(0.75 * out[i]) : 0.75 * out[i]);
    check(sign_ok, "signed_frequencies: +-scale radius by bit 0");
}

// ---------------------------------------------------------------------------------

/// n_words Philox words, the first ones replaced by every pair of extreme halves: a (the
/// radius word) = 0, 1, 2^31, 2^32 - 256, 2^32 - 1; b (the angle word) = 0 and the
/// quadrant boundaries 2^29, 3 2^29, ... with their neighbours.
std::vector<u64> normal_words(std::size_t n_words) {
    std::vector<u64> w(n_words + n_words % 2);
    K::philox_stream(Key32{12345, 678910}, Counter32{0, 1, 2, 3}, w.size() / 2, w.data());
    w.resize(n_words);
    const u64 radius[] = {0, 1, 1ULL << 31, (1ULL << 32) - 256, (1ULL << 32) - 1};
    const u64 angle[] = {0, (1ULL << 29) - 1, 1ULL << 29, 1ULL << 30, 3ULL << 29,
                         5ULL << 29, 7ULL << 29, (1ULL << 32) - 1};
    std::size_t i = 0;
    for (u64 a : radius)
        for (u64 b : angle)
            if (i < n_words) w[i++] = a | b << 32;
    // The largest errors found by a targeted search (3.60 and 3.51 2^-24 R, generic and
    // FMA paths): the bound of 4 is tight there.
    for (u64 worst : {0xe096cd90dfb5ff9fULL, 0xe07c0d90df3d229fULL})
        if (i < n_words) w[i++] = worst;
    return w;
}

/// The defining formula of stream version 3 in long double: word w -> (r cos, r sin).
long double normal_ref(u64 w, bool second) {
    const long double pi2 = 6.283185307179586476925286766559005768L;
    const long double u = (static_cast<long double>(w & 0xFFFFFFFFULL) + 0.5L) * 0x1p-32L;
    const long double theta = pi2 * static_cast<long double>(w >> 32) * 0x1p-32L;
    const long double r = std::sqrt(-2.0L * std::log(u));
    return r * (second ? std::sin(theta) : std::cos(theta));
}

void check_normal_distribution();

void test_normals(std::vector<double>& first_path_out, const std::vector<u64>& words,
                  const std::vector<long double>& ref, const char* path) {
    const std::size_t n = 2 * words.size();
    std::vector<double> out(n);
    K::normals(words.data(), out.data(), n);
    // Single precision by design: error relative to the radius r of the pair (the scale
    // of both its outputs), in units of 2^-24.
    double worst = 0;
    for (std::size_t i = 0; i < n; i += 2) {
        const long double r = std::hypot(ref[i], ref[i + 1]);
        for (int k = 0; k < 2; ++k)
            if (r > 0)
                worst = std::max(worst, static_cast<double>(
                    std::fabs(static_cast<long double>(out[i + k]) - ref[i + k]) / r) * 0x1p24);
    }
    check(worst <= 4.0, fmt("normals: max |err|/r = %.2f 2^-24 (limit 4)", worst));

    // The fused draw is the same bits as words then transform, for any block count.
    bool fused_same = true;
    for (std::size_t n_blocks : {0, 1, 7, 31, 32, 33, 64, 1000, 1027}) {
        const Key32 key{77, 5};
        const Counter32 first{0xFFFFFFF0U, 3, 9, 1};  // counter word 0 wraps
        std::vector<u64> w(2 * n_blocks);
        K::philox_stream(key, first, n_blocks, w.data());
        std::vector<double> two(4 * n_blocks), fused(4 * n_blocks);
        K::normals(w.data(), two.data(), two.size());
        K::philox_normals(key, first, n_blocks, fused.data());
        fused_same = fused_same && (two.empty() ||
                                    std::memcmp(two.data(), fused.data(), two.size() * 8) == 0);
    }
    check(fused_same, "philox_normals == normals(philox_stream) bit for bit, 0..1027 blocks");

    // Correctly rounded single-precision operations and FMAs only: the same bits on
    // every path with FMA (x86-64 generic has none and rounds its products).
    static bool first_fma = false;
    if (first_path_out.empty()) {
        first_path_out = out;
        first_fma = K::fused_multiply_add();
    } else if (K::fused_multiply_add() == first_fma) {
        check(std::memcmp(out.data(), first_path_out.data(), n * sizeof(double)) == 0,
              std::string("normals are bit-identical to the first path's (") + path + ")");
    }

    check_normal_distribution();
}

/// Moments 1..8 and two-sided tail frequencies P(|z| > t), t = 1..6, of 1e7 draws from
/// a distinct stream against the standard normal: |z-score| < 5 with the exact
/// standard errors (Var z^k = E z^2k - (E z^k)^2; binomial counts). Also the largest
/// |z| against the cut-off sqrt(66 ln 2) = 6.76 implied by u >= 2^-33.
void check_normal_distribution() {
    const std::size_t m = 10000000;
    std::vector<double> z(m);
    K::philox_normals(Key32{2024, 7}, Counter32{0, 99, 0, 0}, m / 4, z.data());
    long double s[9] = {};
    std::size_t tail[7] = {};
    double zmax = 0;
    for (double v : z) {
        long double p = 1;
        for (int k = 1; k <= 8; ++k) s[k] += (p *= v);
        const double a = std::fabs(v);
        for (int t = 1; t <= 6; ++t) tail[t] += a > t;
        zmax = std::max(zmax, a);
    }
    const double nn = static_cast<double>(m);
    auto gauss_moment = [](int k) {  // E z^k = (k - 1)!! for even k, 0 for odd k
        double r = k % 2 ? 0.0 : 1.0;
        for (int j = k - 1; j > 1 && k % 2 == 0; j -= 2) r *= j;
        return r;
    };
    double worst = 0;
    std::string detail;
    for (int k = 1; k <= 8; ++k) {
        const double mk = static_cast<double>(s[k] / nn), ek = gauss_moment(k);
        const double se = std::sqrt((gauss_moment(2 * k) - ek * ek) / nn);
        worst = std::max(worst, std::fabs(mk - ek) / se);
        detail += fmt(k == 1 ? " E z^%.0f = %.3g" : ", %.0f: %.6g", k, mk);
    }
    for (int t = 1; t <= 6; ++t) {
        const double p = std::erfc(t / std::sqrt(2.0));
        const double zs = (static_cast<double>(tail[t]) - nn * p) / std::sqrt(nn * p * (1 - p));
        worst = std::max(worst, std::fabs(zs));
    }
    const double cutoff = std::sqrt(66.0 * std::log(2.0));
    check(worst < 5 && zmax <= cutoff * (1 + 1e-6),
          fmt("normals: 1e7 draws, moments 1..8 and P(|z| > 1..6) within %.2f sigma (< 5), "
              "max |z| = %.3f <= %.4f;", worst, zmax, cutoff) + detail);
}

void test_uniforms() {
    std::vector<u64> bits(100003);
    K::philox_stream(Key32{1, 2}, Counter32{3, 4, 5, 6}, bits.size() / 2, bits.data());
    bits[0] = 0, bits[1] = ~0ULL;
    std::vector<double> out(bits.size());
    K::uniforms(bits.data(), -3.0, 0.5, out.data(), bits.size());
    bool same = true, in_range = true;
    for (std::size_t i = 0; i < bits.size(); ++i) {
        const double ref = -3.0 + 3.5 * (static_cast<double>(bits[i] >> 11) * 0x1p-53);
        same = same && out[i] == ref;
        in_range = in_range && out[i] >= -3.0 && out[i] < 0.5;
    }
    check(same && in_range, "uniforms: bit-identical to lo + (hi-lo) (b >> 11) 2^-53");
}

/// table_radii: t linear in u between the quantiles, then 2.5 t / (1 - t), bit for bit
/// as the scalar formula (t_j = 0.9 (j / M)^0.7: not a power law in u), u in [0, 1] (0,
/// 1 and the cell edges included), in place and not.
void test_table_radii() {
    Rng rng{77};
    const std::size_t cells = 64;
    std::vector<double> u = {0.0, 1.0, 0.5, 1.0 / 64, 63.0 / 64, 0x1p-53};
    while (u.size() < 20000) u.push_back(rng.uniform(0.0, 1.0));
    std::vector<double> table(cells + 1);
    for (std::size_t j = 0; j <= cells; ++j)
        table[j] = 0.9 * std::pow(static_cast<double>(j) / cells, 0.7);
    std::vector<double> out(u.size()), inplace = u;
    K::table_radii(u.data(), table.data(), table.size(), 2.5, out.data(), u.size());
    K::table_radii(inplace.data(), table.data(), table.size(), 2.5, inplace.data(),
                   inplace.size());
    bool exact = true;
    for (std::size_t i = 0; i < u.size(); ++i) {
        const double pos = u[i] * cells;
        const std::size_t j = std::min(static_cast<std::size_t>(pos), cells - 1);
        const double t = table[j] + (pos - static_cast<double>(j)) * (table[j + 1] - table[j]);
        exact &= out[i] == 2.5 * t / (1.0 - t);
    }
    const bool alias_ok = std::memcmp(out.data(), inplace.data(), out.size() * 8) == 0;
    check(exact && alias_ok, "table_radii: bit-identical to the scalar formula, in place too");
}

/// chi_frequencies against a long-double reference that finds the cell of q = |g|^2 by
/// frexp (not by its bits): H(Q_j) = 1 / (1 + Q_j) + 0.5 sqrt(Q_j) (smooth, not linear),
/// K = 4 cells per octave; rows of d = 2, 3, 4 and 5 normals (uniform, scaled into every
/// octave), q = 0, below Q_0, above the last node, on a node.
void test_chi_frequencies() {
    Rng rng{78};
    const std::size_t per_octave = 4, size = K::kChiOctaves * per_octave + 1;
    std::vector<double> table(size);
    auto node = [&](std::size_t j) {
        return std::ldexp(1.0 + static_cast<double>(j % per_octave) / per_octave,
                          K::kChiLowestOctave + static_cast<int>(j / per_octave));
    };
    for (std::size_t j = 0; j < size; ++j)
        table[j] = 1.0 / (1.0 + node(j)) + 0.5 * std::sqrt(node(j));
    auto reference = [&](long double q) -> long double {  // H(q), linear between nodes
        if (q < node(0)) return table[0];
        if (q >= node(size - 1)) return table[size - 1];
        int e;
        const long double m = 2 * std::frexp(q, &e);  // q = m 2^(e - 1), m in [1, 2)
        const long double pos = (m - 1) * per_octave;
        const auto step = static_cast<std::size_t>(pos);
        const auto octave = static_cast<std::size_t>(e - 1 - K::kChiLowestOctave);
        const std::size_t j = octave * per_octave + step;
        return table[j] + (pos - step) * (static_cast<long double>(table[j + 1]) - table[j]);
    };
    for (std::size_t d = 2; d <= 5; ++d) {
        const std::size_t n = 3000;
        std::vector<double> g(n * d);
        for (std::size_t i = 0; i < n; ++i) {
            const double spread = std::ldexp(1.0, static_cast<int>(rng.uniform(-15.0, 6.0)));
            for (std::size_t c = 0; c < d; ++c) g[i * d + c] = spread * rng.uniform(-1.0, 1.0);
        }
        for (std::size_t i = 0; i < 4; ++i)
            for (std::size_t c = 0; c < d; ++c) g[i * d + c] = 0.0;
        g[d] = 0x1p-14;                  // q = 2^-28: below Q_0 (row 0: q = 0)
        g[2 * d] = 100.0;                // q = 10^4: above the last node, 2^8
        g[3 * d] = std::sqrt(node(37));  // on a node (its square root rounded)
        const std::vector<double> g0 = g;
        std::vector<double> radii(n), none = g;
        K::chi_frequencies(g.data(), d, table.data(), size, 1.5, radii.data(), n);
        K::chi_frequencies(none.data(), d, table.data(), size, 1.5, nullptr, n);
        double worst = 0.0, worst_r = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            long double q = 0;
            for (std::size_t c = 0; c < d; ++c)
                q += static_cast<long double>(g0[i * d + c]) * g0[i * d + c];
            const long double h = reference(q);
            for (std::size_t c = 0; c < d; ++c)
                worst = std::max(worst, ulp_error(g[i * d + c], 1.5L * h * g0[i * d + c]));
            worst_r = std::max(worst_r, ulp_error(radii[i], h * std::sqrt(q)));
        }
        const bool same = std::memcmp(g.data(), none.data(), g.size() * 8) == 0;
        check(worst <= 8 && worst_r <= 8 && same && g[0] == 0.0,
              fmt("chi_frequencies d = %.0f: max %.1f ulp (p), %.1f ulp (|p|); limit 8: q's "
                  "rounding (d ulp) moves H by |q H' / H| <= 1/2 of it, then 3 roundings",
                  static_cast<double>(d), worst, worst_r));
    }
}

// apply(erf) works in chunks that set the large-|x| elements aside without branches
// (kernels_impl.hpp, erf_chunk): every element must get, bit for bit, the value of its
// own form (erf_forms: small for |x| <= 2.5 and NaN, large otherwise), whatever the
// pattern of large elements around it, the length (not a multiple of the vector, group
// or chunk sizes), the alignment, and in == out.
double erf_input(Rng& rng, bool large) {
    const double inf = std::numeric_limits<double>::infinity();
    const int kind = static_cast<int>(rng.next() % 8);
    double x;
    if (large) {
        const double edge[] = {0x1.4000000000001p+1, 6.0, 0x1.8000000000001p+2, 27.0,
                               1e300, inf};  // just above 2.5, the clamp at 6, huge
        x = kind < 5 ? rng.uniform(2.5, 7.0) : edge[rng.next() % 6];
    } else {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        const double edge[] = {2.5, 0x1.3ffffffffffffp+1, 0.0, 4.9e-324, 1e-300, nan};
        x = kind < 5 ? rng.uniform(0.0, 2.5) : edge[rng.next() % 6];
    }
    return rng.next() & 1 ? -x : x;
}

void test_erf_chunks() {
    Rng rng{2025};
    const std::size_t sizes[] = {1,   3,   7,   8,   9,    15,   16,   17,   31,  63,
                                 64,  65,  127, 129, 511,  512,  513,  1000, 1023, 1024,
                                 1025, 1535, 2047, 2048, 2049, 3001};
    const double densities[] = {0.0, 0.01, 0.04, 0.3, 0.5, 0.9, 1.0};
    std::size_t cases = 0, bad = 0, large_seen = 0;
    double bad_x = 0;
    for (std::size_t n : sizes) {
        for (int pattern = 0; pattern < 11; ++pattern) {
            // patterns 0-6: random positions at a density; 7: alternating; 8: only the
            // last element; 9: only multiples of 64 and of 512; 10: runs of 1-20.
            std::vector<char> big(n, 0);
            for (std::size_t i = 0; i < n; ++i) {
                if (pattern < 7)
                    big[i] = rng.uniform(0.0, 1.0) < densities[pattern];
                else if (pattern == 7)
                    big[i] = i % 2;
                else if (pattern == 8)
                    big[i] = i + 1 == n;
                else if (pattern == 9)
                    big[i] = i % 64 == 0 || i % 512 == 511;
            }
            if (pattern == 10)
                for (std::size_t i = 0; i < n;) {
                    const std::size_t run = 1 + rng.next() % 20;
                    const bool on = rng.next() & 1;
                    for (std::size_t r = 0; i < n && r < run; ++i, ++r) big[i] = on;
                }
            // One spare element in front: the kernels also run on misaligned arrays.
            std::vector<double> x(n + 1), small(n + 1), large(n + 1), out(n + 1);
            for (std::size_t i = 0; i < n; ++i) x[i + 1] = erf_input(rng, big[i] != 0);
            K::erf_forms(x.data() + 1, small.data() + 1, large.data() + 1, n);
            std::vector<double> inplace = x;
            K::apply(K::Func::erf, x.data() + 1, out.data() + 1, n);
            K::apply(K::Func::erf, inplace.data() + 1, inplace.data() + 1, n);
            for (std::size_t i = 1; i <= n; ++i) {
                const bool is_large = std::fabs(x[i]) > 2.5;  // false for NaN
                large_seen += is_large;
                const double want = is_large ? large[i] : small[i];
                if (std::memcmp(&out[i], &want, sizeof want) != 0 ||
                    std::memcmp(&inplace[i], &want, sizeof want) != 0) {
                    if (bad++ == 0) bad_x = x[i];
                }
            }
            ++cases;
        }
    }
    check(bad == 0 && large_seen > 10000,
          fmt("erf: bit-identical to the per-element forms in %.0f arrays (%.0f large "
              "elements), ",
              static_cast<double>(cases), static_cast<double>(large_seen)) +
              fmt("%.0f mismatches (first at x = %.17g)", static_cast<double>(bad), bad_x));
}

// Gram matrix and dot_norms against long-double sums, on sizes that leave tails
// (k = 7 rows: groups of pairs that do not divide evenly; n not a multiple of 8).
void test_gram() {
    Rng rng{77};
    bool ok = true;
    double worst = 0;
    for (std::size_t k : {1, 2, 6, 7}) {
        for (std::size_t n : {1, 7, 8, 1003}) {
            std::vector<double> h(k * n), out(k * (k + 1) / 2, -1.0);
            for (double& v : h) v = rng.uniform(-2.0, 3.0);
            K::gram(h.data(), k, n, out.data());
            std::size_t t = 0;
            for (std::size_t a = 0; a < k; ++a)
                for (std::size_t b = a; b < k; ++b, ++t) {
                    long double ref = 0, scale = 0;
                    for (std::size_t j = 0; j < n; ++j) {
                        ref += static_cast<long double>(h[a * n + j]) * h[b * n + j];
                        scale += std::fabs(static_cast<long double>(h[a * n + j]) * h[b * n + j]);
                    }
                    const double err = static_cast<double>(std::fabs(out[t] - ref) / scale);
                    worst = std::max(worst, err);
                    ok = ok && err < 1e-15 * static_cast<double>(n < 16 ? 16 : n);
                }
            // every row against the last: the squares are gram's diagonal, bit for bit
            std::vector<double> r(2 * k);
            K::dot_norms(h.data(), k, h.data() + (k - 1) * n, n, r.data());
            for (std::size_t a = 0; a < k; ++a) {
                const double diag = out[a * (2 * k - a + 1) / 2];
                const double cross = out[a * (2 * k - a + 1) / 2 + (k - 1 - a)];
                ok = ok && r[2 * a + 1] == diag && r[2 * a] == cross;
            }
        }
    }
    check(ok, fmt("gram: packed h h^T against long double, max error/sum|terms| = %.2e; "
                  "dot_norms agree", worst));
}

// affine (the first layer: z = x_a W[:, i] + z, weights strided by d_in, in place)
// against long double, within the two roundings of an unfused a*u + v.
void test_affine() {
    Rng rng{79};
    bool ok = true;
    double worst = 0;
    for (std::size_t stride : {1, 2, 3}) {
        for (std::size_t n : {1, 7, 8, 33, 1003}) {
            const double a = rng.uniform(-2.0, 3.0);
            std::vector<double> u(n * stride), v(n), out(n, -1.0);
            for (double& e : u) e = rng.uniform(-2.0, 3.0);
            for (double& e : v) e = rng.uniform(-2.0, 3.0);
            K::affine(a, u.data(), stride, v.data(), out.data(), n);
            std::vector<double> inplace = v;
            K::affine(a, u.data(), stride, inplace.data(), inplace.data(), n);
            ok = ok && std::memcmp(out.data(), inplace.data(), n * sizeof(double)) == 0;
            for (std::size_t j = 0; j < n; ++j) {
                const long double term = static_cast<long double>(a) * u[j * stride];
                const long double ref = term + v[j];
                const double err = static_cast<double>(std::fabs(out[j] - ref) /
                                                       (std::fabs(term) + std::fabs(v[j])));
                worst = std::max(worst, err);
                ok = ok && err <= 0x1p-52;
            }
        }
    }
    check(ok, fmt("affine: a u[j stride] + v[j] against long double, strides 1..3, in place "
                  "too; max error/(|a u| + |v|) = %.2e", worst));
}

// combine (z = A xi) against long-double sums; r = 0 gives zeros.
void test_combine() {
    Rng rng{78};
    bool ok = true;
    double worst = 0;
    for (std::size_t k : {1, 6}) {
        for (std::size_t r : {0, 1, 3, 6, 11}) {
            for (std::size_t n : {1, 31, 32, 1003}) {
                std::vector<double> c(k * r), u(r * n), out(k * n, -1.0);
                for (double& v : c) v = rng.uniform(-2.0, 3.0);
                for (double& v : u) v = rng.uniform(-2.0, 3.0);
                K::combine(c.data(), k, r, nullptr, u.data(), n, n, out.data());
                for (std::size_t i = 0; i < k; ++i)
                    for (std::size_t j = 0; j < n; ++j) {
                        long double ref = 0, scale = 0;
                        for (std::size_t s = 0; s < r; ++s) {
                            const long double term =
                                static_cast<long double>(c[i * r + s]) * u[s * n + j];
                            ref += term;
                            scale += std::fabs(term);
                        }
                        const double got = out[i * n + j];
                        const double err = static_cast<double>(
                            scale > 0 ? std::fabs(got - ref) / scale : std::fabs(got));
                        worst = std::max(worst, err);
                        ok = ok && err < 4e-16 * static_cast<double>(r + 1);
                    }
            }
        }
    }
    check(ok, fmt("combine: sum_s c_is u_sj against long double, max error/sum|terms| = %.2e",
                  worst));
}


// The summation order of gram, dot_norms and combine, exactly: on the FMA paths every
// value must equal, bit for bit, a scalar std::fma evaluation in the documented order
// (eight partial sums, lane l holding the terms j = l mod 8 in increasing j, summed by
// the fixed tree; combine's terms s = 0, 1, ...), whatever k, n and tiling. This is what
// makes AVX2 and AVX-512 results identical.
double lane_sum_ref(const double* a, const double* b, std::size_t n) {
    double c[8] = {};
    for (std::size_t j = 0; j < n; ++j) c[j % 8] = std::fma(a[j], b[j], c[j % 8]);
    return ((c[0] + c[4]) + (c[1] + c[5])) + ((c[2] + c[6]) + (c[3] + c[7]));
}

void test_summation_order() {
    Rng rng{80};
    bool ok = true;
    for (std::size_t k : {1, 2, 3, 5, 6, 7, 13}) {
        for (std::size_t n : {1, 7, 8, 13, 37, 1003}) {
            std::vector<double> h(k * n), w(n), out(k * (k + 1) / 2), r(2 * k);
            for (double& v : h) v = rng.uniform(-2.0, 3.0);
            for (double& v : w) v = rng.uniform(-2.0, 3.0);
            K::gram(h.data(), k, n, out.data());
            K::dot_norms(h.data(), k, w.data(), n, r.data());
            for (std::size_t a = 0, t = 0; a < k; ++a) {
                const double* ha = h.data() + a * n;
                ok = ok && r[2 * a] == lane_sum_ref(ha, w.data(), n) &&
                     r[2 * a + 1] == lane_sum_ref(ha, ha, n);
                for (std::size_t b = a; b < k; ++b, ++t)
                    ok = ok && out[t] == lane_sum_ref(ha, h.data() + b * n, n);
            }
            const std::size_t rank = k < 6 ? k : 6;
            std::vector<double> c(k * rank), u(rank * n), z(k * n);
            for (double& v : c) v = rng.uniform(-2.0, 3.0);
            for (double& v : u) v = rng.uniform(-2.0, 3.0);
            // Dense, then lower trapezoidal in a shuffled pivot order (row order[t] has
            // exact zeros beyond column t, as PsdFactor's A): tiles that stop at their
            // last non-zero coefficient give the same values as the full sums.
            std::vector<std::uint32_t> order(k);
            for (std::size_t i = 0; i < k; ++i) order[i] = static_cast<std::uint32_t>(i);
            for (std::size_t i = k; i > 1; --i)
                std::swap(order[i - 1], order[static_cast<std::size_t>(rng.uniform(0.0, 1.0) * i)]);
            for (int triangular = 0; triangular < 2; ++triangular) {
                if (triangular)
                    for (std::size_t t = 0; t < k; ++t)
                        for (std::size_t s = t + 1; s < rank; ++s) c[order[t] * rank + s] = 0.0;
                K::combine(c.data(), k, rank, triangular ? order.data() : nullptr, u.data(), n, n,
                           z.data());
                for (std::size_t i = 0; i < k; ++i)
                    for (std::size_t j = 0; j < n; ++j) {
                        double acc = 0.0;
                        for (std::size_t s = 0; s < rank; ++s)
                            acc = std::fma(c[i * rank + s], u[s * n + j], acc);
                        ok = ok && z[i * n + j] == acc;
                    }
            }
        }
    }
    check(ok, "gram, dot_norms, combine: bit-identical to std::fma in the documented order");
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// The sampler cuts its Gram sums, read-outs and z = A xi into chunks of neurons (to look
// at a stop flag in between): carried lanes and column blocks from multiples of
// kCombineAlign must give, bit for bit, the values of one call, on every path.
void test_chunked_sums() {
    Rng rng{81};
    bool ok = true;
    for (std::size_t k : {1, 5, 6, 13, 40}) {
        for (std::size_t n : {13, 203, 1003, 5001}) {
            const std::size_t pairs = k * (k + 1) / 2;
            std::vector<double> h(k * n), w(n), whole(pairs), chunked(pairs), r(2 * k),
                r_chunked(2 * k);
            for (double& v : h) v = rng.uniform(-2.0, 3.0);
            for (double& v : w) v = rng.uniform(-2.0, 3.0);
            K::gram(h.data(), k, n, whole.data());
            K::dot_norms(h.data(), k, w.data(), n, r.data());
            // random chunks of multiples of kLanes columns (some empty), the last ends at n
            std::vector<double> lanes(K::kLanes * pairs, 0.0), dot_lanes(K::kLanes * 2 * k, 0.0);
            for (std::size_t j0 = 0; j0 < n;) {
                const std::size_t step = K::kLanes * static_cast<std::size_t>(rng.uniform(0.0, 40.0));
                const std::size_t j1 = std::min(n, j0 + step);
                K::gram_lanes(h.data(), k, n, j0, j1, lanes.data());
                K::dot_norms_lanes(h.data(), k, w.data(), n, j0, j1, dot_lanes.data());
                j0 = j1;
            }
            K::lane_sums(lanes.data(), pairs, chunked.data());
            K::lane_sums(dot_lanes.data(), 2 * k, r_chunked.data());
            ok = ok && same_bits(whole, chunked) && same_bits(r, r_chunked);

            const std::size_t rank = std::min<std::size_t>(k, 7);
            std::vector<double> c(k * rank), u(rank * n), z(k * n), z_chunked(k * n);
            for (double& v : c) v = rng.uniform(-2.0, 3.0);
            for (std::size_t i = 0; i < k; ++i)  // trailing zeros: tiles stop early
                for (std::size_t s = i + 1; s < rank; ++s) c[i * rank + s] = 0.0;
            for (double& v : u) v = rng.uniform(-2.0, 3.0);
            K::combine(c.data(), k, rank, nullptr, u.data(), n, n, z.data());
            for (std::size_t j0 = 0; j0 < n;) {
                const std::size_t step =
                    K::kCombineAlign * (1 + static_cast<std::size_t>(rng.uniform(0.0, 3.0)));
                const std::size_t m = std::min(step, n - j0);
                K::combine(c.data(), k, rank, nullptr, u.data() + j0, n, m, z_chunked.data() + j0);
                j0 += m;
            }
            ok = ok && same_bits(z, z_chunked);
        }
    }
    check(ok, "gram_lanes, dot_norms_lanes, combine in chunks: the bits of one call");
}
}  // namespace

int main() {
    const char* all_paths[] = {"avx512", "avx2", "generic"};
    std::printf("test_kernels: automatic path is %s\n", K::path());

    // References are computed once and shared by all paths.
    std::vector<FuncCase> cases = {
        {K::Func::erf, "erf", erf_ref, 4, {}, {}},
        {K::Func::tanh, "tanh", tanh_ref, 4, {}, {}},
        {K::Func::exp, "exp", exp_ref, 4, {}, {}},
        {K::Func::cos, "cos", cos_ref, 4, {}, {}},
        {K::Func::sinc, "sinc", sinc_ref, 4, {}, {}},
        {K::Func::relu, "relu", relu_ref, 0, {}, {}},
        {K::Func::identity, "identity", id_ref, 0, {}, {}},
    };
    for (FuncCase& c : cases) {
        c.x = sample_points(c.f, c.f == K::Func::relu || c.f == K::Func::identity ? 200000
                                                                                  : 3000000);
        c.y.resize(c.x.size());
        for (std::size_t i = 0; i < c.x.size(); ++i) c.y[i] = c.ref(c.x[i]);
    }
    const TanCase cauchy_half_pi = tan_case(1.5707963267948966, 1000000);
    const TanCase cauchy_cut = tan_case(1.2, 200000);  // a sharp cutoff: angle < pi/2
    const std::vector<u64> words = normal_words(1000000);
    std::vector<long double> nref(2 * words.size());
    for (std::size_t i = 0; i < words.size(); ++i) {
        nref[2 * i] = normal_ref(words[i], false);
        nref[2 * i + 1] = normal_ref(words[i], true);
    }

    std::vector<double> first_normals;
    int n_paths = 0;
    for (const char* p : all_paths) {
        if (!K::set_path(p)) {
            std::printf("[%s] not supported by this CPU or build: skipped\n", p);
            continue;
        }
        ++n_paths;
        std::printf("[%s]\n", K::path());
        check(std::strcmp(K::path(), p) == 0, "set_path/path");
        test_philox();
        test_functions(cases);
        test_cauchy(cauchy_half_pi);
        test_cauchy(cauchy_cut);
        test_erf_chunks();
        test_normals(first_normals, words, nref, p);
        test_uniforms();
        test_table_radii();
        test_chi_frequencies();
        test_gram();
        test_affine();
        test_combine();
        test_chunked_sums();
        if (std::strcmp(p, "generic") != 0) test_summation_order();  // FMA paths
    }
    check(!K::set_path("no-such-isa") && K::set_path("auto"), "set_path rejects unknown");
    check(n_paths >= 1, "at least the generic path ran");
    std::printf("test_kernels: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
