/// @file kernels_impl.hpp
/// Portable bodies of the kernels of kernels.hpp, compiled once per instruction set.
///
/// Each of kernels_generic.cpp, kernels_avx2.cpp and kernels_avx512.cpp defines
/// NNQFT_KERNEL_ISA (a namespace name) and includes this file; CMake gives each TU its
/// own -m flags, and kernels.cpp picks one at run time (kernels_isa.hpp).
///
/// Algorithms (all branch-free per element, so GCC's loop vectoriser turns the loops
/// into SIMD code for whatever ISA the TU is compiled for; no libm call on hot paths):
/// - Philox4x32-10 (Salmon et al., SC'11): 8 to 32 blocks per loop step in structure-
///   of-arrays form, each 32-bit state word in a 64-bit lane, so that a round is two
///   native widening multiplies (pmuludq), two shifts and xors on every ISA.
/// - exp/expm1: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (Cody & Waite,
///   "Software Manual for the Elementary Functions", 1980), e^r - 1 = r + r^2 Q(r),
///   scaling by 2^n in two exact steps so that overflow, subnormals and underflow
///   round once, as libm does.
/// - Box-Muller (stream version 3): single precision, correctly rounded operations
///   and FMAs, so that the normals are the same bits on every path with FMA; log(u) =
///   k ln2 + log(1+f) with u 2^-k = 1+f in [sqrt(1/2), sqrt(2)) and log(1+f) a
///   polynomial, sin/cos(2 pi b 2^-32) with the quadrant and an exact remainder taken
///   from the integer b.
/// - cos: Cody-Waite reduction by pi/2 in four parts (exact for |x| < 2^17); larger
///   |x| goes to libm's cos (Payne-Hanek) in a scalar slow path.
/// - erf: erf(x) = x P(x^2 - 25/8) for |x| <= 2.5; beyond, erf = 1 - exp(-H(|x|))
///   with H = -log erfc a polynomial (|x| clamped to 6, where erf rounds to 1). The
///   first form runs on every element, several vectors' Horner chains interleaved;
///   the rare larger |x| are listed without branches and recomputed by the second
///   (erf_chunk).
/// - tanh(|x|) = -m / (2 + m) with m = expm1(-2|x|) (no cancellation near 0).
///
/// Polynomial coefficients: near-minimax fits computed for this file with Lawson's
/// iteratively reweighted least squares (C. L. Lawson, thesis, UCLA 1961) in 40-digit
/// mpmath on 200 Chebyshev nodes, minimising the weighted error that matters (relative error of the final
/// function), then rounded to double; tests/cpp/test_kernels.cpp measures the
/// resulting ulp errors against long-double libm.
///
/// FMA: these TUs are compiled with -ffp-contract=off and use fmadd() explicitly, a
/// true fused multiply-add where the ISA has one (AVX2/AVX-512 paths) and a*b+c on
/// the generic path; every algorithm here is correct either way, which is why paths
/// agree to a few ulp rather than bit for bit (AVX2 and AVX-512 give identical
/// results). -fno-math-errno lets sqrt vectorise; -fno-trapping-math lets GCC turn the
/// selects into blends (nothing reads the floating-point exception flags).
#pragma once

#ifndef NNQFT_KERNEL_ISA
#error "define NNQFT_KERNEL_ISA (namespace name) before including kernels_impl.hpp"
#endif

#include <cstddef>
#include <cstdint>

#include "nnqft/kernels.hpp"  // kChiOctaves, kChiLowestOctave

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 intrinsics (_mm512_undefined_epi32) trip this warning when
// inlined (GCC bug 105593); it is not about our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nnqft::kernels::NNQFT_KERNEL_ISA {

// Internal linkage for every helper: an inline function with external linkage compiled
// with -mavx512f could otherwise be picked by the linker for the generic TU too.
namespace {

using u64 = std::uint64_t;
using std::size_t;

#define NNQFT_INLINE inline __attribute__((always_inline))
#define NNQFT_LAMBDA_INLINE __attribute__((always_inline))  // after a lambda's parameters
#if defined(__clang__)
#define NNQFT_IVDEP _Pragma("clang loop vectorize(enable)")
#else
#define NNQFT_IVDEP _Pragma("GCC ivdep")
#endif

#if defined(__has_builtin)
#if __has_builtin(__builtin_bit_cast)
#define NNQFT_HAVE_BIT_CAST 1
#endif
#endif
#if defined(NNQFT_HAVE_BIT_CAST)  // GCC >= 11, Clang; else the memcpy idiom
NNQFT_INLINE double as_double(u64 b) { return __builtin_bit_cast(double, b); }
NNQFT_INLINE u64 as_bits(double d) { return __builtin_bit_cast(u64, d); }
#else
NNQFT_INLINE double as_double(u64 b) {
    double d;
    __builtin_memcpy(&d, &b, sizeof d);
    return d;
}
NNQFT_INLINE u64 as_bits(double d) {
    u64 b;
    __builtin_memcpy(&b, &d, sizeof b);
    return b;
}
#endif

NNQFT_INLINE double fmadd(double a, double b, double c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return __builtin_fma(a, b, c);
#else
    return a * b + c;
#endif
}

// c[0] + c[1] x + ... + c[N-1] x^(N-1) by Horner's scheme.
template <int N>
NNQFT_INLINE double horner_seq(const double (&c)[N], double x) {
    double p = c[N - 1];
#pragma GCC unroll 32
    for (int k = N - 2; k >= 0; --k) p = fmadd(p, x, c[k]);
    return p;
}

// The same polynomial. With FMA: Horner (these loops are throughput-bound). Without:
// even and odd halves as two Horner chains in x^2, halving the latency of separate
// multiplies and adds (generic SSE2 code is latency-bound otherwise); only for
// polynomials whose two halves do not cancel.
template <int N>
NNQFT_INLINE double horner(const double (&c)[N], double x) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return horner_seq(c, x);
#else
    if constexpr (N < 4) {
        double p = c[N - 1];
        for (int k = N - 2; k >= 0; --k) p = p * x + c[k];
        return p;
    } else {
        const double x2 = x * x;
        constexpr int ne = (N + 1) / 2, no = N / 2;  // counts of even and odd terms
        double pe = c[2 * (ne - 1)], po = c[2 * (no - 1) + 1];
#pragma GCC unroll 32
        for (int k = ne - 2; k >= 0; --k) pe = pe * x2 + c[2 * k];
#pragma GCC unroll 32
        for (int k = no - 2; k >= 0; --k) po = po * x2 + c[2 * k + 1];
        return pe + x * po;
    }
#endif
}

constexpr u64 kSignBit = 0x8000000000000000ULL;
constexpr u64 kExpMagic = 0x4330000000000000ULL;  // bits of 2^52
constexpr double kTwo52 = 4503599627370496.0;     // 2^52
constexpr double kRoundMagic = 6755399441055744.0;  // 1.5 * 2^52: x + it rounds x to int
constexpr double kTwoM53 = 1.0 / 9007199254740992.0;  // 2^-53

/// Exact conversion of an integer v < 2^53 to double, without the int64->double
/// instruction that only AVX-512DQ has: the two halves are planted in the mantissa
/// of 2^52 and the sum of the two exact doubles is exact.
NNQFT_INLINE double u53_to_double(u64 v) {
#if defined(__AVX512DQ__)
    return static_cast<double>(static_cast<std::int64_t>(v));
#else
    const double hi = as_double((v >> 32) | kExpMagic) - kTwo52;
    const double lo = as_double((v & 0xFFFFFFFFULL) | kExpMagic) - kTwo52;
    return fmadd(hi, 4294967296.0, lo);
#endif
}

// ---------------------------------------------------------------------------------
// Coefficients (hex literals are exactly the doubles of the fits described above).

// (e^r - 1 - r)/r^2 on |r| <= ln2/2, degree 9, relative error 2.0e-16.
constexpr double kExpQ[10] = {
    0x1.0000000000001p-1,  0x1.555555555554dp-3,  0x1.5555555553d7dp-5,
    0x1.1111111114495p-7,  0x1.6c16c178835cep-10, 0x1.a01a018c2cc16p-13,
    0x1.a019b9296e020p-16, 0x1.71de5a47e43d9p-19, 0x1.289167f71e146p-22,
    0x1.aeaae95c4675bp-26};
// (sin r - r)/r^3 and (cos r - 1 + r^2/2)/r^4 in z = r^2 <= (pi/4)^2, degree 5.
constexpr double kSinS[6] = {-0x1.5555555555550p-3, 0x1.1111111110311p-7,
                             -0x1.a01a019d4a582p-13, 0x1.71de367452944p-19,
                             -0x1.ae5f1fc94098fp-26, 0x1.5dc5c553b48fap-33};
constexpr double kCosC[6] = {0x1.555555555554bp-5,   -0x1.6c16c16c14f8dp-10,
                             0x1.a01a019c83d96p-16,  -0x1.27e4f7ea6f7ffp-22,
                             0x1.1ee9d77ab2738p-29,  -0x1.8fa47bb0a8796p-37};
// erf(x)/x as a polynomial in d = x^2 - 25/8 (centred: the monomials of an expansion
// at 0 cancel up to 130-fold near |x| = 2.5, these at most 3-fold), |x| <= 2.5,
// degree 19, relative error 1.5e-17.
constexpr double kErfA[20] = {
    0x1.1e08aeaa8650ap-1, -0x1.4da1dd991e17ap-4, 0x1.fe9c07f868e02p-7,
    -0x1.735d37ff66de5p-9, 0x1.e5489efc949fdp-12, -0x1.19ca094a4d4f7p-14,
    0x1.2396aaea02b7dp-17, -0x1.0ea8ed4f8fc0ap-20, 0x1.c6311e1640811p-24,
    -0x1.5b0bb06d7aee6p-27, 0x1.e64989017fda9p-31, -0x1.3a5061ecdb2f0p-34,
    0x1.78e780082927cp-38, -0x1.a54c91b32cddfp-42, 0x1.b8fec32b4b2f4p-46,
    -0x1.b1951dc7bab97p-50, 0x1.8f487b19ea131p-54, -0x1.60013cc2586bep-58,
    0x1.48c72fecaf2a0p-62, -0x1.f6215d4a50f6bp-67};
constexpr double kErfA0 = 3.125;
// H(x) = -log erfc(x) on [2.5, 6], degree 9, error weighted by erfc/erf (i.e. the
// relative error it causes in erf) 1.0e-17.
constexpr double kErfB[10] = {
    -0x1.e7cc16d24b6d9p-13, 0x1.215dd609085c1p+0,  0x1.4319f0eb72f41p-1,
    0x1.c7d5a139778a9p-4,   -0x1.c0d17da72d351p-6, 0x1.56a40fe86ddf6p-8,
    -0x1.82c202c8496b7p-11, 0x1.2e173723234cep-14, -0x1.22816453d7b96p-18,
    0x1.0278520e29725p-23};
constexpr double kErfSplit = 2.5;
constexpr double kErfSat = 6.0;  // erfc(6) = 2.2e-17 < 2^-54: erf rounds to +-1

constexpr double kInvLn2 = 0x1.71547652b82fep+0;
// ln2 = kLn2Hi + kLn2Lo, kLn2Hi with 42 significant bits: n kLn2Hi exact, |n| < 2^11.
constexpr double kLn2Hi = 0x1.62e42fefa3800p-1;
constexpr double kLn2Lo = 0x1.ef35793c76730p-45;
constexpr double kTwoOverPi = 0x1.45f306dc9c883p-1;
// pi/2 = P1 + P2 + P3 + P4, P1..P3 with <= 36 significant bits: n Pk exact, n < 2^17.
constexpr double kPio2_1 = 0x1.921fb54440000p+0;
constexpr double kPio2_2 = 0x1.68c234c4c0000p-39;
constexpr double kPio2_3 = 0x1.98a2e03700000p-77;
constexpr double kPio2_4 = 0x1.cd129024e088ap-115;
constexpr double kCosFastMax = 131072.0;  // 2^17: the four-part reduction is exact below

// ---------------------------------------------------------------------------------
// Scalar building blocks (always inlined into the vectorised loops).

/// n = nearest integer to x (|x| < 2^51) as double and as int64 bits (two's complement).
NNQFT_INLINE double round_int(double x, u64& n) {
    const double t = x + kRoundMagic;
    n = as_bits(t) - as_bits(kRoundMagic);
    return t - kRoundMagic;
}

/// e^r - 1 for |r| <= ln2/2, relative error ~1 ulp.
NNQFT_INLINE double expm1_reduced(double r) { return fmadd(r * r, horner(kExpQ, r), r); }

/// e^x for x in [-1000, 1000] (callers clamp), NaN propagates. Overflow gives inf,
/// underflow 0, subnormal results are rounded once.
NNQFT_INLINE double exp_clamped(double x) {
    u64 n;
    const double nd = round_int(x * kInvLn2, n);
    const double r = fmadd(-nd, kLn2Lo, fmadd(-nd, kLn2Hi, x));
    const double p = 1.0 + expm1_reduced(r);
    // 2^n = 2^n1 2^n2 with n1 = floor(n/2) (via a positive bias: no 64-bit
    // arithmetic shift before AVX-512), so both factors are normal numbers.
    const u64 n1 = ((n + 2048) >> 1) - 1024;
    const u64 n2 = n - n1;
    return p * as_double((n1 + 1023) << 52) * as_double((n2 + 1023) << 52);
}

NNQFT_INLINE double exp_full(double x) {
    // e^710 overflows and e^-746 underflows to 0 after the final rounding.
    double xc = x > 710.0 ? 710.0 : x;  // comparisons are false for NaN: it passes
    xc = xc < -746.0 ? -746.0 : xc;
    return exp_clamped(xc);
}

/// e^-h for h in [0, 700] (no overflow/underflow handling needed).
NNQFT_INLINE double exp_neg_moderate(double h) {
    u64 n;
    const double nd = round_int(-h * kInvLn2, n);
    const double r = fmadd(-nd, kLn2Lo, fmadd(-nd, kLn2Hi, -h));
    return (1.0 + expm1_reduced(r)) * as_double((n + 1023) << 52);
}

// Sequential Horner: the split form cancels for the alternating terms of kErfA.
NNQFT_INLINE double erf_small(double x) { return x * horner_seq(kErfA, x * x - kErfA0); }

/// erf by the large-|x| form 1 - e^-H(|x|), meant for |x| > 2.5 (and +-inf, NaN).
NNQFT_INLINE double erf_large(double x) {
    const double ax = as_double(as_bits(x) & ~kSignBit);
    const double ac = ax > kErfSat ? kErfSat : ax;
    const double big = 1.0 - exp_neg_moderate(horner(kErfB, ac));
    return as_double(as_bits(big) | (as_bits(x) & kSignBit));
}

/// Sign bit set when |x| > 2.5 or x is +-inf (NaN: either; both forms return NaN).
NNQFT_INLINE u64 erf_is_large(double x) {
    return as_bits(kErfSplit - as_double(as_bits(x) & ~kSignBit)) & kSignBit;
}

// erf in chunks (erf_chunk): the positions of the few elements with |x| > 2.5 (about
// 4% in an erf-net, at random places) are listed first, without branches (a compress
// on AVX-512, a permutation table on AVX2, an unconditional append elsewhere: a branch
// per block on "any large element here" is taken at random on real data and cost
// ~0.6 ns per element on AVX-512 in mispredictions); those elements go through the
// large-|x| form as one dense vector loop, every element through the small-|x| form,
// and the large results are scattered over the small ones. Each element's result is
// the one its own form gives, so this is bit-identical to choosing per element.
constexpr size_t kErfChunk = 1024;  // the first layer calls apply on one width (1000) at a time
// W doubles in one register, for the register-tiled kernels (erf's Horner groups, gram,
// dot_norms, combine; intrinsics: GCC keeps auto-vectorised accumulator arrays on the
// stack). In the sums of eight
// interleaved partial sums, lane l holds the terms j = l mod 8 in increasing j; a path
// with W < 8 sweeps the data 8 / W times, sweep p covering lanes p W .. p W + W - 1,
// so every sum is formed in the same order on every path. kRegs: registers of the ISA.
#if defined(__AVX512F__)
struct Vec {
    using V = __m512d;
    static constexpr size_t W = 8, kRegs = 32;
    static NNQFT_INLINE V zero() { return _mm512_setzero_pd(); }
    static NNQFT_INLINE V load(const double* p) { return _mm512_loadu_pd(p); }
    static NNQFT_INLINE V bcast(double v) { return _mm512_set1_pd(v); }
    static NNQFT_INLINE V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static NNQFT_INLINE void store(double* p, V v) { _mm512_storeu_pd(p, v); }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct Vec {
    using V = __m256d;
    static constexpr size_t W = 4, kRegs = 16;
    static NNQFT_INLINE V zero() { return _mm256_setzero_pd(); }
    static NNQFT_INLINE V load(const double* p) { return _mm256_loadu_pd(p); }
    static NNQFT_INLINE V bcast(double v) { return _mm256_set1_pd(v); }
    static NNQFT_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static NNQFT_INLINE void store(double* p, V v) { _mm256_storeu_pd(p, v); }
};
#elif defined(__SSE2__) && !defined(__FMA__)
struct Vec {  // no FMA: a * b + c, as fmadd() on this path
    using V = __m128d;
    static constexpr size_t W = 2, kRegs = 16;
    static NNQFT_INLINE V zero() { return _mm_setzero_pd(); }
    static NNQFT_INLINE V load(const double* p) { return _mm_loadu_pd(p); }
    static NNQFT_INLINE V bcast(double v) { return _mm_set1_pd(v); }
    static NNQFT_INLINE V fma(V a, V b, V c) { return _mm_add_pd(_mm_mul_pd(a, b), c); }
    static NNQFT_INLINE void store(double* p, V v) { _mm_storeu_pd(p, v); }
};
#else
struct Vec {
    using V = double;
    static constexpr size_t W = 1, kRegs = 16;
    static NNQFT_INLINE V zero() { return 0.0; }
    static NNQFT_INLINE V load(const double* p) { return *p; }
    static NNQFT_INLINE V bcast(double v) { return v; }
    static NNQFT_INLINE V fma(V a, V b, V c) { return fmadd(a, b, c); }
    static NNQFT_INLINE void store(double* p, V v) { *p = v; }
};
#endif

// Doubles per vector, and vectors per group of erf_small_vecs (below).
constexpr size_t kErfLanes = Vec::W;
#if defined(__AVX512F__)
constexpr size_t kErfVecs = 8;
#elif defined(__AVX2__)
constexpr size_t kErfVecs = 6;
#else
constexpr size_t kErfVecs = 4;
#endif

/// Writes position i to where[k] and steps k only if in[i] takes the large form:
/// branch-free, the slot is simply overwritten otherwise.
NNQFT_INLINE void append_if_large(const double* in, std::uint32_t i, std::uint32_t* where,
                                  size_t& k) {
    where[k] = i;
    k += erf_is_large(in[i]) >> 63;
}

#if defined(__AVX2__) && !defined(__AVX512F__)
/// For each 4-bit mask m, the vpermilps indices that move the 32-bit lanes set in m
/// to the front, in order (the remaining lanes are don't-care).
struct Compress4 {
    alignas(16) std::int32_t idx[16][4] = {};
    constexpr Compress4() {
        for (int m = 0; m < 16; ++m)
            for (int l = 0, k = 0; l < 4; ++l)
                if ((m >> l) & 1) idx[m][k++] = l;
    }
};
constexpr Compress4 kCompress4{};
#endif

/// Writes the positions of the elements of in[0, n) that take the large form
/// (erf_is_large) to where[], in order; returns their number. Writes up to n + 16
/// slots.
NNQFT_INLINE size_t erf_collect_large(const double* in, size_t n, std::uint32_t* where) {
    size_t k = 0, i = 0;
#if defined(__AVX512F__)
    // |x| > 2.5 is false for NaN, as is erf_is_large (the sign of 2.5 - |x|).
    const __m512d split = _mm512_set1_pd(kErfSplit);
    __m512i pos = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (; i < n; i += 16) {
        const size_t left = n - i;
        const __mmask16 live = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1U << left) - 1);
        const auto live0 = static_cast<__mmask8>(live);
        const auto live1 = static_cast<__mmask8>(live >> 8);
        const __m512d x0 = _mm512_abs_pd(_mm512_maskz_loadu_pd(live0, in + i));
        const __m512d x1 = _mm512_abs_pd(_mm512_maskz_loadu_pd(live1, in + i + 8));
        const __mmask8 m0 = _mm512_mask_cmp_pd_mask(live0, x0, split, _CMP_GT_OQ);
        const __mmask8 m1 = _mm512_mask_cmp_pd_mask(live1, x1, split, _CMP_GT_OQ);
        const __mmask16 m = _mm512_kunpackb(m1, m0);
        _mm512_storeu_si512(where + k, _mm512_maskz_compress_epi32(m, pos));
        k += static_cast<size_t>(__builtin_popcount(m));
        pos = _mm512_add_epi32(pos, _mm512_set1_epi32(16));
    }
#elif defined(__AVX2__)
    const __m256d split = _mm256_set1_pd(kErfSplit);
    const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL));
    __m128 pos = _mm_castsi128_ps(_mm_set_epi32(3, 2, 1, 0));
    for (; i + 4 <= n; i += 4) {
        const __m256d x = _mm256_loadu_pd(in + i);
        const int m = _mm256_movemask_pd(
            _mm256_cmp_pd(_mm256_and_pd(x, magnitude), split, _CMP_GT_OQ));
        const __m128i perm =
            _mm_load_si128(reinterpret_cast<const __m128i*>(kCompress4.idx[m]));
        _mm_storeu_ps(reinterpret_cast<float*>(where + k), _mm_permutevar_ps(pos, perm));
        k += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(m)));
        pos = _mm_castsi128_ps(_mm_add_epi32(_mm_castps_si128(pos), _mm_set1_epi32(4)));
    }
#endif
    for (; i < n; ++i) append_if_large(in, static_cast<std::uint32_t>(i), where, k);
    return k;
}

// erf_small on kErfVecs independent vectors at once, their Horner steps interleaved:
// a step is a 4-cycle FMA, and one vector at a time (as GCC vectorises the plain loop)
// is latency-bound, the out-of-order window holding the 19-step chains of too few
// vectors. The same operations per element as erf_small, so the same bits. kErfVecs
// measured best of 4/8/12 (AVX-512), 4/6/8 (AVX2), 2/4/6 (SSE2).
constexpr size_t kErfGroup = kErfLanes * kErfVecs;
/// erf_small of V vectors (V kErfLanes elements).
template <size_t V>
NNQFT_INLINE void erf_small_vecs(const double* in, double* out) {
    // Vec::V's + - * are the ISA's packed instructions (-ffp-contract=off keeps them
    // unfused) and Vec::fma is fmadd(): the operations of erf_small, lane by lane.
    Vec::V d[V], p[V];
    const Vec::V top = Vec::bcast(kErfA[19]);
#pragma GCC unroll 16
    for (size_t g = 0; g < V; ++g) {
        const Vec::V x = Vec::load(in + kErfLanes * g);
        d[g] = x * x - Vec::bcast(kErfA0);
        p[g] = top;
    }
#pragma GCC unroll 19
    for (int c = 18; c >= 0; --c) {
        const Vec::V cc = Vec::bcast(kErfA[c]);
#pragma GCC unroll 16
        for (size_t g = 0; g < V; ++g) p[g] = Vec::fma(p[g], d[g], cc);
    }
#pragma GCC unroll 16
    for (size_t g = 0; g < V; ++g)
        Vec::store(out + kErfLanes * g, Vec::load(in + kErfLanes * g) * p[g]);
}

/// erf_small_vecs<v> for a run-time v < V.
template <size_t V>
NNQFT_INLINE void erf_small_some_vecs(const double* in, double* out, size_t v) {
    if constexpr (V > 1) {
        if (v == V - 1)
            erf_small_vecs<V - 1>(in, out);
        else
            erf_small_some_vecs<V - 1>(in, out, v);
    }
}

/// erf_small of in[0, n) to out (they may alias): interleaved groups, then the whole
/// vectors left as one smaller group, then the last elements one by one.
NNQFT_INLINE void erf_small_all(const double* in, double* out, size_t n) {
    size_t i = 0;
    for (; i + kErfGroup <= n; i += kErfGroup) erf_small_vecs<kErfVecs>(in + i, out + i);
    const size_t v = (n - i) / kErfLanes;
    erf_small_some_vecs<kErfVecs>(in + i, out + i, v);
    for (i += v * kErfLanes; i < n; ++i) out[i] = erf_small(in[i]);
}

/// erf of up to kErfChunk elements (in and out may alias).
NNQFT_INLINE void erf_chunk(const double* in, double* out, size_t n) {
    std::uint32_t where[kErfChunk + 16];
    double large[kErfChunk + kErfLanes];
    const size_t n_large = erf_collect_large(in, n, where);
    // The large form first, while in is intact; whole vectors (no scalar remainder
    // loop): the pad slots get a defined value.
    for (size_t j = 0; j < n_large; ++j) large[j] = in[where[j]];
    for (size_t j = 0; j < kErfLanes; ++j) large[n_large + j] = 0.0;
    const size_t padded = (n_large + kErfLanes - 1) / kErfLanes * kErfLanes;
NNQFT_IVDEP
    for (size_t j = 0; j < padded; ++j) large[j] = erf_large(large[j]);
    erf_small_all(in, out, n);
    for (size_t j = 0; j < n_large; ++j) out[where[j]] = large[j];
}

NNQFT_INLINE double tanh_full(double x) {
    const u64 sign = as_bits(x) & kSignBit;
    double ax = as_double(as_bits(x) ^ sign);
    ax = ax > 20.0 ? 20.0 : ax;  // tanh(20) rounds to 1; NaN passes
    // m = expm1(-2|x|) = 2^n (1 + e) - 1 = 2^n e + (2^n - 1), n in [-58, 0].
    const double y = -2.0 * ax;
    u64 n;
    const double nd = round_int(y * kInvLn2, n);
    const double r = fmadd(-nd, kLn2Lo, fmadd(-nd, kLn2Hi, y));
    const double s = as_double((n + 1023) << 52);
    const double m = fmadd(s, expm1_reduced(r), s - 1.0);
    const double t = m / (2.0 + m);  // = -tanh|x|, in [-1, 0]
    return as_double((as_bits(t) & ~kSignBit) | sign);
}

/// cos(x - shift pi/2) for |x| < 2^17 (larger finite |x| is handled by the caller); NaN,
/// inf -> NaN. x = r + n pi/2, |r| <= pi/4 (Cody-Waite in four parts: exact for |x| <
/// 2^17); shift 0: cos x, 1: sin x (as accurate: the shift only picks the quadrant).
template <unsigned Shift>
NNQFT_INLINE double cos_shifted(double x) {
    u64 n;
    const double nd = round_int(x * kTwoOverPi, n);
    double r = fmadd(-nd, kPio2_1, x);
    r = fmadd(-nd, kPio2_2, r);
    r = fmadd(-nd, kPio2_3, r);
    r = fmadd(-nd, kPio2_4, r);
    const double z = r * r;
    // sin r = r + r z S(z);  cos r = w + (((1 - w) - z/2) + z^2 C(z)), w = 1 - z/2
    // (the split keeps the rounding error of 1 - z/2 out of the result).
    const double sn = fmadd(r * z, horner(kSinS, z), r);
    const double hz = 0.5 * z;
    const double w = 1.0 - hz;
    const double cs = w + (((1.0 - w) - hz) + z * z * horner(kCosC, z));
    // cos(r + n pi/2) = cos r, -sin r, -cos r, sin r for n mod 4 = 0, 1, 2, 3.
    n += 4 - Shift;  // cos(x - pi/2) = cos(r + (n + 3) pi/2); + 4 changes nothing
    const u64 odd = 0 - (n & 1);
    const u64 v = (as_bits(cs) & ~odd) | (as_bits(sn) & odd);
    return as_double(v ^ ((((n + 1) >> 1) & 1) << 63));
}

NNQFT_INLINE double cos_fast(double x) { return cos_shifted<0>(x); }

/// sin x / x for |x| < 2^17, 1 at x = 0 (sin x within an ulp of x there).
NNQFT_INLINE double sinc_fast(double x) { return x == 0.0 ? 1.0 : cos_shifted<1>(x) / x; }

double sinc_libm(double x) { return x == 0.0 ? 1.0 : __builtin_sin(x) / x; }

// tan r = r + r z P(z) / Q(z), z = r^2, on [0, pi/4]: a rational fit of degree (3, 3)
// (relative error 1e-17 with these double coefficients).
constexpr double kTanP[4] = {0x1.5555555555555p-2, -0x1.5f4abf725436bp-6,
                             0x1.00b402f7f4a1ap-12, -0x1.32e6ded91a3eap-26};
constexpr double kTanQ[4] = {0x1.0000000000000p+0, -0x1.db779d7f0963dp-2,
                             0x1.92602f5a68e15p-6, -0x1.0c6555ddafdcfp-12};
constexpr double kQuarterPi = 0.78539816339744830962;

/// tan x for x in [0, pi/2] (the Cauchy radii), a few ulp, one division: above pi/4,
/// tan x = 1 / tan r with r = pi/2 - x in three parts (exact near the pole, where r is
/// as small as 6e-17). NaN for NaN.
NNQFT_INLINE double tan_first_quadrant(double x) {
    const bool upper = x > kQuarterPi;
    const double r = upper ? ((kPio2_1 - x) + kPio2_2) + kPio2_3 : x;
    const double z = r * r;
    const double q = horner(kTanQ, z);
    const double a = fmadd(r, q, (r * z) * horner(kTanP, z));  // Q tan r, r q unrounded
    return upper ? q / a : a / q;
}

constexpr u64 kOneBits = 0x3FF0000000000000ULL;  // bits of 1.0

// ---------------------------------------------------------------------------------
// Box-Muller in single precision (stream version 3).
//
// Every step below is a correctly rounded IEEE single-precision +, -, *, sqrt or
// fused multiply-add (mul_add: a true FMA on the AVX2 and AVX-512 paths and wherever the
// generic build has one, a * b + c on x86-64 without FMA), an exact integer or bit
// operation or a correctly rounded conversion, in a fixed order: the normals are
// bit-identical on every path with FMA (tests/test_rng.py recomputes them bit for bit in
// numpy, with and without FMA). The same template runs on one lane (scalar types) and on whole SIMD
// registers (GCC vector types).

using u32 = std::uint32_t;
using i32 = std::int32_t;

/// Reinterpretation of the bits of x (scalar or vector) as To.
template <class To, class From>
NNQFT_INLINE To bits_as(From x) {
    static_assert(sizeof(To) == sizeof(From));
    To y;
    __builtin_memcpy(&y, &x, sizeof y);
    return y;
}

// log(1+f) = f + f^2 Q(f) on f in [sqrt(1/2) - 1, sqrt(2) - 1], Q of degree 8 (relative
// error 4.7e-9 in log(1+f) with the coefficients rounded to float, 0.75 ulp as
// evaluated; no division).
constexpr float kLogQ[9] = {-0x1.fffff8p-2f, 0x1.55555p-2f,   -0x1.000428p-2f,
                            0x1.99a402p-3f,  -0x1.542744p-3f, 0x1.227088p-3f,
                            -0x1.0f377ep-3f, 0x1.084e78p-3f,  -0x1.383e14p-4f};
// sin(2 pi t)/t (relative error 3.4e-8) and (1 - cos(2 pi t))/t^2 (1.1e-8 relative to
// cos) in w = t^2 <= 1/64.
constexpr float kSinF[4] = {0x1.921fb6p+2f, -0x1.4abbbap+5f, 0x1.465e92p+6f,
                            -0x1.2d9302p+6f};
constexpr float kCosF[4] = {0x1.3bd3ccp+4f, -0x1.03c1dep+6f, 0x1.55c5e0p+6f,
                            -0x1.d9d57cp+5f};
// ln2 = kLn2HiF + kLn2LoF; kLn2HiF has 15 significant bits, so n kLn2HiF is exact.
constexpr float kLn2HiF = 0x1.62e4p-1f;
constexpr float kLn2LoF = 0x1.7f7d1cp-20f;

// Lane types: float, uint32, int32 as scalars, and as GCC vectors of one register
// where the kernels below use whole registers (to_float, sqrt_lanes, mul_add per type).
NNQFT_INLINE float to_float(i32 x) { return static_cast<float>(x); }
NNQFT_INLINE float sqrt_lanes(float x) { return __builtin_sqrtf(x); }
NNQFT_INLINE float mul_add(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return __builtin_fmaf(a, b, c);
#else
    return a * b + c;
#endif
}
#if defined(__AVX512F__)
using VF = float __attribute__((vector_size(64)));
using VU = u32 __attribute__((vector_size(64)));
using VS = i32 __attribute__((vector_size(64)));
NNQFT_INLINE VF sqrt_lanes(VF x) { return bits_as<VF>(_mm512_sqrt_ps(bits_as<__m512>(x))); }
NNQFT_INLINE VF mul_add(VF a, VF b, VF c) {
    return bits_as<VF>(_mm512_fmadd_ps(bits_as<__m512>(a), bits_as<__m512>(b), bits_as<__m512>(c)));
}
#elif defined(__AVX2__)
using VF = float __attribute__((vector_size(32)));
using VU = u32 __attribute__((vector_size(32)));
using VS = i32 __attribute__((vector_size(32)));
NNQFT_INLINE VF sqrt_lanes(VF x) { return bits_as<VF>(_mm256_sqrt_ps(bits_as<__m256>(x))); }
NNQFT_INLINE VF mul_add(VF a, VF b, VF c) {
    return bits_as<VF>(_mm256_fmadd_ps(bits_as<__m256>(a), bits_as<__m256>(b), bits_as<__m256>(c)));
}
#endif
/// The constant c in every lane of F.
template <class F>
NNQFT_INLINE F splat(float c) {
    return F{} + c;
}

/// c[0] + c[1] x + ... by Horner's scheme, one mul_add per step.
template <class F, int N>
NNQFT_INLINE F horner_f32(const float (&c)[N], F x) {
    F p = mul_add(x, splat<F>(c[N - 1]), splat<F>(c[N - 2]));
#pragma GCC unroll 8
    for (int k = N - 3; k >= 0; --k) p = mul_add(p, x, splat<F>(c[k]));
    return p;
}
#if defined(__AVX512F__) || defined(__AVX2__)
NNQFT_INLINE VF to_float(VS x) { return __builtin_convertvector(x, VF); }
#endif

/// Box-Muller pairs from 32-bit words a (radius) and b (angle), lane by lane:
/// R = sqrt(-2 log((a + 1/2) 2^-32)) <= sqrt(66 ln 2) = 6.76, theta = 2 pi b 2^-32,
/// (c, s) = (R cos theta, R sin theta), |error| <= 4 2^-24 R (tests/test_rng.py).
template <class F, class U, class S>
NNQFT_INLINE void box_muller_lanes(U a, U b, F& c, F& s) {
    // -log u for u = (a + 1/2) 2^-32 = h + l, h and l exact floats, so that f = u 2^-k - 1
    // is formed with one rounding even within 2^-24 of u = 1 (where u is not a float).
    const F h = to_float(bits_as<S>(a >> 16)) * 0x1p-16f;
    const F l = (to_float(bits_as<S>(a & 0xFFFFU)) + 0.5f) * 0x1p-32f;
    // h + l ~ 2^k m, m in [sqrt(1/2), sqrt(2)), -33 <= k <= 0 (an arithmetic shift).
    const S k = bits_as<S>(bits_as<U>(h + l) - 0x3F3504F3U) >> 23;
    const F scale = bits_as<F>((127 - k) << 23);  // 2^-k, exact
    // h 2^-k - 1 is exact (Sterbenz) and so is l 2^-k: only the sum rounds, FMA or not.
    const F f = mul_add(l, scale, mul_add(h, scale, splat<F>(-1.0f)));
    const F log1pf = mul_add(f * f, horner_f32(kLogQ, f), f);
    const F nk = to_float(-k);
    // -log u = -k ln2 - log(1+f) >= 0, with -k kLn2HiF exact
    const F t = mul_add(nk, splat<F>(kLn2HiF), -mul_add(-nk, splat<F>(kLn2LoF), log1pf));
    const F rad = sqrt_lanes(t + t);
    // theta = 2 pi (q/4 + x): the quadrant q = round(4 b 2^-32) mod 4 is the top two bits
    // of v, and x 2^32 = (v mod 2^30) - 2^29 in [-2^29, 2^29) is an exact integer (its
    // conversion to float rounds to 24 bits).
    const U v = b + 0x20000000U;
    const F x = to_float(bits_as<S>(v & 0x3FFFFFFFU) - 0x20000000) * 0x1p-32f;
    const F xx = x * x;
    const F sn = x * horner_f32(kSinF, xx);
    const F cs = mul_add(-xx, horner_f32(kCosF, xx), splat<F>(1.0f));
    // (cos, sin)(theta) = (c, s), (-s, c), (-c, -s), (s, -c) for q = 0..3: swap where q is
    // odd (bit 30 of v), negate cos where q is 1 or 2 (bit 31 xor bit 30), sin where q
    // is 2 or 3 (bit 31).
    const U swap = bits_as<U>(bits_as<S>(v << 1) >> 31);
    const U cos_sign = (v ^ (v << 1)) & 0x80000000U, sin_sign = v & 0x80000000U;
    const U cb = ((bits_as<U>(cs) & ~swap) | (bits_as<U>(sn) & swap)) ^ cos_sign;
    const U sb = ((bits_as<U>(sn) & ~swap) | (bits_as<U>(cs) & swap)) ^ sin_sign;
    c = rad * bits_as<F>(cb);
    s = rad * bits_as<F>(sb);
}

/// The pair of one 64-bit word w: a = w mod 2^32, b = w >> 32 (stream version 3).
NNQFT_INLINE void box_muller_word(u64 w, double* out) {
    float c, s;
    box_muller_lanes<float, u32, i32>(static_cast<u32>(w), static_cast<u32>(w >> 32), c, s);
    out[0] = static_cast<double>(c);
    out[1] = static_cast<double>(s);
}

// ---------------------------------------------------------------------------------
// Philox4x32-10.

constexpr u64 kPhM0 = 0xD2511F53U;
constexpr u64 kPhM1 = 0xCD9E8D57U;
constexpr u32 kPhW0 = 0x9E3779B9U;
constexpr u32 kPhW1 = 0xBB67AE85U;
constexpr u64 kLow32 = 0xFFFFFFFFULL;

struct RoundKeys {
    u64 k0[10], k1[10];  // zero-extended: xor-ed into 64-bit lanes
    explicit RoundKeys(const u32* key) {
        u32 a = key[0], b = key[1];
        for (int r = 0; r < 10; ++r, a += kPhW0, b += kPhW1) {
            k0[r] = a;
            k1[r] = b;
        }
    }
};

/// S consecutive blocks (S <= kPhStep), structure of arrays: lane l holds block l's
/// state words as 32-bit values in 64-bit lanes, so that each round's products are
/// the widening 32 x 32 -> 64 multiplies every x86 vector ISA has (pmuludq). The high
/// halves of the lanes may hold garbage (the products' high words): the multiplies
/// read only the low halves and the xors never carry between halves.
template <size_t S>
NNQFT_INLINE void philox_blocks(const RoundKeys& rk, const u32* first, u32 c0start,
                                u64* __restrict out) {
    u64 c0[S], c1[S], c2[S], c3[S];
    for (size_t l = 0; l < S; ++l) {
        c0[l] = static_cast<u32>(c0start + static_cast<u32>(l));  // wraps mod 2^32
        c1[l] = first[1];
        c2[l] = first[2];
        c3[l] = first[3];
    }
#pragma GCC unroll 10
    for (int r = 0; r < 10; ++r) {
        const u64 k0 = rk.k0[r], k1 = rk.k1[r];
NNQFT_IVDEP
        for (size_t l = 0; l < S; ++l) {
            const u64 p0 = (c0[l] & kLow32) * kPhM0;
            const u64 p1 = (c2[l] & kLow32) * kPhM1;
            c0[l] = (p1 >> 32) ^ c1[l] ^ k0;
            c2[l] = (p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = p1;
            c3[l] = p0;
        }
    }
NNQFT_IVDEP
    for (size_t l = 0; l < S; ++l) {
        out[2 * l] = (c0[l] & kLow32) | (c1[l] << 32);
        out[2 * l + 1] = (c2[l] & kLow32) | (c3[l] << 32);
    }
}


// Explicit vector forms: G independent groups of W blocks per step, enough multiply
// chains in flight to hide the ~7-cycle latency of a round (G = 2 measured slower;
// a dword shuffle instead of the shift of the high word made no difference).
#if defined(__AVX512F__)
constexpr size_t kPhW = 8, kPhG = 4;
using VecI = __m512i;
NNQFT_INLINE VecI v_set1(u64 v) { return _mm512_set1_epi64(static_cast<long long>(v)); }
NNQFT_INLINE VecI v_mul(VecI a, VecI b) { return _mm512_mul_epu32(a, b); }
NNQFT_INLINE VecI v_hi(VecI p) { return _mm512_srli_epi64(p, 32); }
NNQFT_INLINE VecI v_xor3(VecI a, VecI b, VecI c) { return _mm512_ternarylogic_epi64(a, b, c, 0x96); }
NNQFT_INLINE VecI v_iota(u64 start) {
    return _mm512_add_epi64(v_set1(start), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
}
/// Lanes l of (c0, c1), (c2, c3) -> out[2l] = c0 | c1 << 32, out[2l + 1] = c2 | c3 << 32.
NNQFT_INLINE void v_store_words(VecI c0, VecI c1, VecI c2, VecI c3, u64* out) {
    const VecI w01 = _mm512_mask_blend_epi32(0xAAAA, c0, _mm512_slli_epi64(c1, 32));
    const VecI w23 = _mm512_mask_blend_epi32(0xAAAA, c2, _mm512_slli_epi64(c3, 32));
    const VecI lo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    const VecI hi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    _mm512_storeu_si512(out, _mm512_permutex2var_epi64(w01, lo, w23));
    _mm512_storeu_si512(out + 8, _mm512_permutex2var_epi64(w01, hi, w23));
}
/// Box-Muller words of 8 blocks: lane l + 8p of a (radius) and b (angle) is pair p of
/// block l, i.e. a = x0 | x2 words, b = x1 | x3 words (the low halves of the lanes).
NNQFT_INLINE void v_pair_words(VecI c0, VecI c1, VecI c2, VecI c3, VU& a, VU& b) {
    const VecI low = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    a = bits_as<VU>(_mm512_permutex2var_epi32(c0, low, c2));
    b = bits_as<VU>(_mm512_permutex2var_epi32(c1, low, c3));
}
/// out[4l + 2p] = c[l + 8p], out[4l + 2p + 1] = s[l + 8p] (normals in stream order).
NNQFT_INLINE void v_store_normals(VF c, VF s, double* out) {
    const VecI lo = _mm512_set_epi32(27, 11, 19, 3, 26, 10, 18, 2, 25, 9, 17, 1, 24, 8, 16, 0);
    const VecI hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    const __m512 first = _mm512_permutex2var_ps(bits_as<__m512>(c), lo, bits_as<__m512>(s));
    const __m512 second = _mm512_permutex2var_ps(bits_as<__m512>(c), hi, bits_as<__m512>(s));
    auto upper = [](__m512 v) {  // lanes 8..15 (AVX512F has no 256-bit float extract)
        return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    };
    _mm512_storeu_pd(out, _mm512_cvtps_pd(_mm512_castps512_ps256(first)));
    _mm512_storeu_pd(out + 8, _mm512_cvtps_pd(upper(first)));
    _mm512_storeu_pd(out + 16, _mm512_cvtps_pd(_mm512_castps512_ps256(second)));
    _mm512_storeu_pd(out + 24, _mm512_cvtps_pd(upper(second)));
}
#elif defined(__AVX2__)
constexpr size_t kPhW = 4, kPhG = 4;
using VecI = __m256i;
NNQFT_INLINE VecI v_set1(u64 v) { return _mm256_set1_epi64x(static_cast<long long>(v)); }
NNQFT_INLINE VecI v_mul(VecI a, VecI b) { return _mm256_mul_epu32(a, b); }
NNQFT_INLINE VecI v_hi(VecI p) { return _mm256_srli_epi64(p, 32); }
NNQFT_INLINE VecI v_xor3(VecI a, VecI b, VecI c) {
    return _mm256_xor_si256(_mm256_xor_si256(a, b), c);
}
NNQFT_INLINE VecI v_iota(u64 start) {
    return _mm256_add_epi64(v_set1(start), _mm256_set_epi64x(3, 2, 1, 0));
}
NNQFT_INLINE void v_store_words(VecI c0, VecI c1, VecI c2, VecI c3, u64* out) {
    const VecI w01 = _mm256_blend_epi32(c0, _mm256_slli_epi64(c1, 32), 0xAA);
    const VecI w23 = _mm256_blend_epi32(c2, _mm256_slli_epi64(c3, 32), 0xAA);
    const VecI a = _mm256_unpacklo_epi64(w01, w23);  // words of blocks 0 | 2
    const VecI b = _mm256_unpackhi_epi64(w01, w23);  // blocks 1 | 3
    auto* o = reinterpret_cast<__m256i*>(out);
    _mm256_storeu_si256(o, _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(a, b, 0x31));
}
/// Box-Muller words of 4 blocks: lane 2l + p of a (radius) and b (angle) is pair p of
/// block l (a = x0 | x2 words, b = x1 | x3 words).
NNQFT_INLINE void v_pair_words(VecI c0, VecI c1, VecI c2, VecI c3, VU& a, VU& b) {
    a = bits_as<VU>(_mm256_blend_epi32(c0, _mm256_slli_epi64(c2, 32), 0xAA));
    b = bits_as<VU>(_mm256_blend_epi32(c1, _mm256_slli_epi64(c3, 32), 0xAA));
}
/// out[2i] = c[i], out[2i + 1] = s[i] (normals in stream order).
NNQFT_INLINE void v_store_normals(VF c, VF s, double* out) {
    const __m256 cv = bits_as<__m256>(c), sv = bits_as<__m256>(s);
    const __m256 lo = _mm256_unpacklo_ps(cv, sv);  // pairs of lanes 0 1 | 4 5
    const __m256 hi = _mm256_unpackhi_ps(cv, sv);  // pairs of lanes 2 3 | 6 7
    _mm256_storeu_pd(out, _mm256_cvtps_pd(_mm256_castps256_ps128(lo)));
    _mm256_storeu_pd(out + 4, _mm256_cvtps_pd(_mm256_castps256_ps128(hi)));
    _mm256_storeu_pd(out + 8, _mm256_cvtps_pd(_mm256_extractf128_ps(lo, 1)));
    _mm256_storeu_pd(out + 12, _mm256_cvtps_pd(_mm256_extractf128_ps(hi, 1)));
}
#elif defined(__SSE2__)  // every x86-64 CPU: pmuludq on 2 blocks per xmm
constexpr size_t kPhW = 2, kPhG = 4;
using VecI = __m128i;
NNQFT_INLINE VecI v_set1(u64 v) { return _mm_set1_epi64x(static_cast<long long>(v)); }
NNQFT_INLINE VecI v_mul(VecI a, VecI b) { return _mm_mul_epu32(a, b); }
NNQFT_INLINE VecI v_hi(VecI p) { return _mm_srli_epi64(p, 32); }
NNQFT_INLINE VecI v_xor3(VecI a, VecI b, VecI c) { return _mm_xor_si128(_mm_xor_si128(a, b), c); }
NNQFT_INLINE VecI v_iota(u64 start) { return _mm_add_epi64(v_set1(start), _mm_set_epi64x(1, 0)); }
NNQFT_INLINE void v_store_words(VecI c0, VecI c1, VecI c2, VecI c3, u64* out) {
    const VecI low = v_set1(kLow32);
    const VecI w01 = _mm_or_si128(_mm_and_si128(c0, low), _mm_slli_epi64(c1, 32));
    const VecI w23 = _mm_or_si128(_mm_and_si128(c2, low), _mm_slli_epi64(c3, 32));
    auto* o = reinterpret_cast<__m128i*>(out);
    _mm_storeu_si128(o, _mm_unpacklo_epi64(w01, w23));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi64(w01, w23));
}
#endif

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__SSE2__)
constexpr size_t kPhStep = kPhW * kPhG;
/// The kPhStep blocks from counter word 0 = c0start, handed to sink(g, c0, c1, c2, c3)
/// group by group (W blocks each) in structure-of-arrays form.
template <class Sink>
NNQFT_INLINE void philox_groups(const RoundKeys& rk, const u32* first, u32 c0start, Sink sink) {
    const VecI m0 = v_set1(kPhM0), m1 = v_set1(kPhM1);
    VecI c0[kPhG], c1[kPhG], c2[kPhG], c3[kPhG];
#pragma GCC unroll 4
    for (size_t g = 0; g < kPhG; ++g) {
        // Counter word 0 wraps modulo 2^32: only the low halves are ever read.
        c0[g] = v_iota(static_cast<u64>(c0start) + kPhW * g);
        c1[g] = v_set1(first[1]);
        c2[g] = v_set1(first[2]);
        c3[g] = v_set1(first[3]);
    }
#pragma GCC unroll 10
    for (int r = 0; r < 10; ++r) {
        const VecI k0 = v_set1(rk.k0[r]), k1 = v_set1(rk.k1[r]);
#pragma GCC unroll 4
        for (size_t g = 0; g < kPhG; ++g) {
            const VecI p0 = v_mul(c0[g], m0), p1 = v_mul(c2[g], m1);
            c0[g] = v_xor3(v_hi(p1), c1[g], k0);
            c2[g] = v_xor3(v_hi(p0), c3[g], k1);
            c1[g] = p1;
            c3[g] = p0;
        }
    }
#pragma GCC unroll 4
    for (size_t g = 0; g < kPhG; ++g) sink(g, c0[g], c1[g], c2[g], c3[g]);
}
NNQFT_INLINE void philox_step(const RoundKeys& rk, const u32* first, u32 c0start, u64* out) {
    philox_groups(rk, first, c0start, [out](size_t g, VecI c0, VecI c1, VecI c2, VecI c3) {
        v_store_words(c0, c1, c2, c3, out + 2 * kPhW * g);
    });
}
#else
constexpr size_t kPhStep = 8;
NNQFT_INLINE void philox_step(const RoundKeys& rk, const u32* first, u32 c0start, u64* out) {
    philox_blocks<kPhStep>(rk, first, c0start, out);
}
#endif

#if defined(__AVX512F__) || defined(__AVX2__)
/// The 4 kPhStep normals of kPhStep blocks, transformed in registers.
NNQFT_INLINE void philox_normals_step(const RoundKeys& rk, const u32* first, u32 c0start,
                                      double* out) {
    philox_groups(rk, first, c0start, [out](size_t g, VecI c0, VecI c1, VecI c2, VecI c3) {
        VU a, b;
        v_pair_words(c0, c1, c2, c3, a, b);
        VF c, s;
        box_muller_lanes<VF, VU, VS>(a, b, c, s);
        v_store_normals(c, s, out + 4 * kPhW * g);
    });
}
#else
/// The 4 kPhStep normals of kPhStep blocks, through a buffer of words.
NNQFT_INLINE void philox_normals_step(const RoundKeys& rk, const u32* first, u32 c0start,
                                      double* out) {
    u64 words[2 * kPhStep];
    philox_step(rk, first, c0start, words);
    for (size_t i = 0; i < 2 * kPhStep; ++i) box_muller_word(words[i], out + 2 * i);
}
#endif

}  // namespace

// ---------------------------------------------------------------------------------
// Entry points (declared in kernels_isa.hpp).

namespace {
/// The fixed-order sum of eight interleaved partial sums (dot_norms, gram): the same
/// tree on every path, so results differ between paths only by FMA rounding.
NNQFT_INLINE double sum_lanes(const double* c) {
    return ((c[0] + c[4]) + (c[1] + c[5])) + ((c[2] + c[6]) + (c[3] + c[7]));
}


template <size_t M>
struct Size {
    static constexpr size_t value = M;
};

/// f(Size<m>()) for a run-time m in 1..Max: a tile kernel unrolled for each row count.
template <size_t Max, class F>
NNQFT_INLINE void with_size(size_t m, F&& f) {
    if constexpr (Max > 1) {
        if (m < Max) return with_size<Max - 1>(m, f);
    }
    f(Size<Max>());
}

/// Adds to the lane sums acc[t][0..8) the columns j0 <= j < j8 (multiples of 8) of the
/// products of rows: kTri, all pairs (a[p], a[q]), p <= q < MA, t packed; else all
/// (a[p], b[q]), t = p MB + q. Each row vector is loaded once per step and used by
/// every pair. Every lane adds its terms in increasing j, continuing the sums it is
/// given: columns split into consecutive ranges give the bits of one range.
template <size_t MA, size_t MB, bool kTri>
NNQFT_INLINE void gram_tile(const double* const* a, const double* const* b, size_t j0,
                            size_t j8, double (*acc)[8]) {
    using V = Vec::V;
    constexpr size_t P = kTri ? MA * (MA + 1) / 2 : MA * MB;
    for (size_t sweep = 0; sweep < 8; sweep += Vec::W) {
        V s[P];
#pragma GCC unroll 64
        for (size_t t = 0; t < P; ++t) s[t] = Vec::load(acc[t] + sweep);
        for (size_t j = j0 + sweep; j < j8; j += 8) {
            V x[MA];
#pragma GCC unroll 16
            for (size_t p = 0; p < MA; ++p) x[p] = Vec::load(a[p] + j);
            if constexpr (kTri) {
#pragma GCC unroll 16
                for (size_t p = 0; p < MA; ++p)
#pragma GCC unroll 16
                    for (size_t q = p; q < MA; ++q) {
                        const size_t t = p * MA - p * (p - 1) / 2 + (q - p);
                        s[t] = Vec::fma(x[p], x[q], s[t]);
                    }
            } else {
#pragma GCC unroll 16
                for (size_t q = 0; q < MB; ++q) {
                    const V y = Vec::load(b[q] + j);
#pragma GCC unroll 16
                    for (size_t p = 0; p < MA; ++p) s[p * MB + q] = Vec::fma(x[p], y, s[p * MB + q]);
                }
            }
        }
#pragma GCC unroll 64
        for (size_t t = 0; t < P; ++t) Vec::store(acc[t] + sweep, s[t]);
    }
}

/// Adds to the lane sums the columns j0 <= j < j8 (multiples of 8) of the dot products
/// h[p] . w and the squares h[p] . h[p] of M rows, continuing the given sums as
/// gram_tile does; w is loaded once per step for all rows.
template <size_t M>
NNQFT_INLINE void dot_norm_tile(const double* const* h, const double* w, size_t j0,
                                size_t j8, double (*dot)[8], double (*sq)[8]) {
    using V = Vec::V;
    for (size_t sweep = 0; sweep < 8; sweep += Vec::W) {
        V d[M], s[M];
#pragma GCC unroll 16
        for (size_t p = 0; p < M; ++p) {
            d[p] = Vec::load(dot[p] + sweep);
            s[p] = Vec::load(sq[p] + sweep);
        }
        for (size_t j = j0 + sweep; j < j8; j += 8) {
            const V y = Vec::load(w + j);
#pragma GCC unroll 16
            for (size_t p = 0; p < M; ++p) {
                const V x = Vec::load(h[p] + j);
                d[p] = Vec::fma(x, y, d[p]);
                s[p] = Vec::fma(x, x, s[p]);
            }
        }
#pragma GCC unroll 16
        for (size_t p = 0; p < M; ++p) {
            Vec::store(dot[p] + sweep, d[p]);
            Vec::store(sq[p] + sweep, s[p]);
        }
    }
}

/// out[p][j + q W] = sum_s c[p][s] u[s stride + j + q W] for p < M rows, q < C
/// vectors of columns: the M C accumulators stay in registers over the r terms, each
/// summed in the order s = 0, 1, ... starting from 0.
template <size_t M, size_t C>
NNQFT_INLINE void combine_tile(const double* const* c, size_t terms, const double* u,
                               size_t stride, size_t j, double* const* out) {
    using V = Vec::V;
    V acc[M][C];
#pragma GCC unroll 16
    for (size_t p = 0; p < M; ++p)
#pragma GCC unroll 16
        for (size_t q = 0; q < C; ++q) acc[p][q] = Vec::zero();
    for (size_t s = 0; s < terms; ++s) {
        V us[C];
#pragma GCC unroll 16
        for (size_t q = 0; q < C; ++q) us[q] = Vec::load(u + s * stride + j + q * Vec::W);
#pragma GCC unroll 16
        for (size_t p = 0; p < M; ++p) {
            const V cp = Vec::bcast(c[p][s]);
#pragma GCC unroll 16
            for (size_t q = 0; q < C; ++q) acc[p][q] = Vec::fma(cp, us[q], acc[p][q]);
        }
    }
#pragma GCC unroll 16
    for (size_t p = 0; p < M; ++p)
#pragma GCC unroll 16
        for (size_t q = 0; q < C; ++q) Vec::store(out[p] + j + q * Vec::W, acc[p][q]);
}
}  // namespace

void philox_stream(const u32* key, const u32* first, size_t n_blocks, u64* out) {
    const RoundKeys rk(key);
    size_t j = 0;
    for (; j + kPhStep <= n_blocks; j += kPhStep)
        philox_step(rk, first, first[0] + static_cast<u32>(j), out + 2 * j);
    for (; j + 4 <= n_blocks; j += 4)
        philox_blocks<4>(rk, first, first[0] + static_cast<u32>(j), out + 2 * j);
    for (; j < n_blocks; ++j)
        philox_blocks<1>(rk, first, first[0] + static_cast<u32>(j), out + 2 * j);
}

void philox_normals(const u32* key, const u32* first, size_t n_blocks, double* out) {
    const RoundKeys rk(key);
    size_t j = 0;
    for (; j + kPhStep <= n_blocks; j += kPhStep)
        philox_normals_step(rk, first, first[0] + static_cast<u32>(j), out + 4 * j);
    for (; j < n_blocks; ++j) {
        u64 words[2];
        philox_blocks<1>(rk, first, first[0] + static_cast<u32>(j), words);
        box_muller_word(words[0], out + 4 * j);
        box_muller_word(words[1], out + 4 * j + 2);
    }
}

bool fused_multiply_add() {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return true;
#else
    return false;
#endif
}

void normals(const u64* __restrict bits, double* __restrict out, size_t n) {
    for (size_t i = 0; i < n / 2; ++i) box_muller_word(bits[i], out + 2 * i);
}

void uniforms(const u64* __restrict bits, double lo, double hi, double* __restrict out,
              size_t n) {
    const double w = hi - lo;
    for (size_t i = 0; i < n; ++i)
        out[i] = lo + w * (u53_to_double(bits[i] >> 11) * kTwoM53);
}

void cauchy_radii(const u64* __restrict bits, double angle, double scale,
                  double* __restrict out, size_t n) {
    // uniforms(bits, 0, angle) then scale tan, in one pass (0 + y = y for y >= +0)
NNQFT_IVDEP
    for (size_t i = 0; i < n; ++i)
        out[i] = scale * tan_first_quadrant(angle * (u53_to_double(bits[i] >> 11) * kTwoM53));
}

void table_radii(const double* u, const double* __restrict table, size_t size, double scale,
                 double* out, size_t n) {
    // t linear in u between the quantiles at u = j / M, then s t / (1 - t)
    const double m = static_cast<double>(size - 1);
    const double last = static_cast<double>(size - 2);
NNQFT_IVDEP
    for (size_t i = 0; i < n; ++i) {
        const double pos = u[i] * m;
        u64 jn;
        double j = round_int(pos, jn);  // floor(pos), capped at the last cell
        if (j > pos) j -= 1.0;
        j = j < last ? j : last;
        round_int(j, jn);
        const double lo = table[jn], hi = table[jn + 1];
        const double t = lo + (pos - j) * (hi - lo);
        out[i] = scale * t / (1.0 - t);
    }
}

void chi_frequencies(double* __restrict g, size_t d, const double* __restrict table,
                     size_t size, double scale, double* __restrict radii, size_t n) {
    // q = |g_i|^2 ~ chi^2_d is independent of g_i / |g_i|: p_i = scale H(q) g_i
    // (kernels.hpp). The cell of q is read off its bits: the exponent and the top k
    // mantissa bits (2^k cells per octave from 2^kChiLowestOctave); the rest of the
    // mantissa is the position in the cell, exactly. No root, no division.
    const size_t cells = size - 1;
    const unsigned k = static_cast<unsigned>(__builtin_ctzll(cells / kChiOctaves));
    const unsigned shift = 52 - k;
    const long long base = static_cast<long long>(1023 + kChiLowestOctave) << k;
    const long long last = static_cast<long long>(cells) - 1;
    const u64 low = (u64{1} << shift) - 1;
    auto rows = [&](auto dim, auto with_radii) NNQFT_LAMBDA_INLINE {
        const size_t dd = dim.value != 0 ? dim.value : d;
NNQFT_IVDEP
        for (size_t i = 0; i < n; ++i) {
            double* gi = g + i * dd;
            double q = 0.0;
            for (size_t c = 0; c < dd; ++c) q += gi[c] * gi[c];
            const u64 b = as_bits(q);
            const long long cell = static_cast<long long>(b >> shift) - base;
            double frac = as_double(kOneBits | ((b & low) << k)) - 1.0;
            frac = cell < 0 ? 0.0 : (cell > last ? 1.0 : frac);
            const long long j = cell < 0 ? 0 : (cell > last ? last : cell);
            const double lo = table[j], hi = table[j + 1];
            const double h = lo + frac * (hi - lo);
            if constexpr (with_radii.value != 0) radii[i] = h * __builtin_sqrt(q);
            const double f = scale * h;
            for (size_t c = 0; c < dd; ++c) gi[c] *= f;
        }
    };
    auto dims = [&](auto with_radii) NNQFT_LAMBDA_INLINE {
        switch (d) {
            case 2: return rows(Size<2>(), with_radii);
            case 3: return rows(Size<3>(), with_radii);
            case 4: return rows(Size<4>(), with_radii);
            default: return rows(Size<0>(), with_radii);
        }
    };
    return radii != nullptr ? dims(Size<1>()) : dims(Size<0>());
}

void signed_frequencies(const u64* __restrict bits, const double* __restrict radii,
                        double scale, double* __restrict out, size_t n) {
    // bit 0 xor-ed into the sign bit (a branch on a random bit mispredicts half the time)
NNQFT_IVDEP
    for (size_t i = 0; i < n; ++i) out[i] = as_double(as_bits(scale * radii[i]) ^ (bits[i] << 63));
}

/// out[i] = fast(in[i]) for |in[i]| < kCosFastMax (and NaN, inf), else slow(in[i]):
/// blocks of 8 without a large finite argument take the vectorised loop.
template <class Fast, class Slow>
NNQFT_INLINE void periodic(const double* in, double* out, size_t n, Fast fast, Slow slow) {
    constexpr size_t B = 8;
    for (size_t i = 0; i < n; i += B) {
        const size_t m = n - i < B ? n - i : B;
        u64 big = 0;  // any finite |x| >= 2^17 in the block?
        for (size_t k = 0; k < m; ++k)
            big |= as_bits(kCosFastMax - as_double(as_bits(in[i + k]) & ~kSignBit));
        if (m == B && (big & kSignBit) == 0) {
NNQFT_IVDEP
            for (size_t k = 0; k < B; ++k) out[i + k] = fast(in[i + k]);
        } else {
            for (size_t k = 0; k < m; ++k) {
                const double x = in[i + k];
                const double ax = as_double(as_bits(x) & ~kSignBit);
                // Payne-Hanek reduction via libm, rare: never in the hot loop.
                out[i + k] = (ax >= kCosFastMax && ax <= 0x1.fffffffffffffp+1023) ? slow(x)
                                                                                 : fast(x);
            }
        }
    }
}

void apply(int func, const double* in, double* out, size_t n) {
    // in == out is allowed (element-wise, each input read before its output is
    // written); partial overlap is not.
    switch (func) {
        case 0:  // erf
            for (size_t i = 0; i < n; i += kErfChunk)
                erf_chunk(in + i, out + i, n - i < kErfChunk ? n - i : kErfChunk);
            break;
        case 1:  // relu; NaN propagates (x <= 0 is false for NaN)
NNQFT_IVDEP
            for (size_t i = 0; i < n; ++i) out[i] = in[i] <= 0.0 ? 0.0 : in[i];
            break;
        case 2:  // tanh
NNQFT_IVDEP
            for (size_t i = 0; i < n; ++i) out[i] = tanh_full(in[i]);
            break;
        case 3:  // identity
            if (out != in) __builtin_memmove(out, in, n * sizeof(double));
            break;
        case 4:  // exp
NNQFT_IVDEP
            for (size_t i = 0; i < n; ++i) out[i] = exp_full(in[i]);
            break;
        case 5:  // cos
            periodic(in, out, n, [](double x) NNQFT_LAMBDA_INLINE { return cos_fast(x); },
                     [](double x) { return __builtin_cos(x); });
            break;
        case 6:  // sinc
            periodic(in, out, n, [](double x) NNQFT_LAMBDA_INLINE { return sinc_fast(x); },
                     sinc_libm);
            break;
        default:
            break;
    }
}

void erf_forms(const double* in, double* small, double* large, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        small[i] = erf_small(in[i]);
        large[i] = erf_large(in[i]);
    }
}

void affine(double a, const double* u, size_t stride, const double* v, double* out,
            size_t n) {
    if (stride == 1) {
        NNQFT_IVDEP
        for (size_t j = 0; j < n; ++j) out[j] = fmadd(a, u[j], v[j]);
    } else {
        for (size_t j = 0; j < n; ++j) out[j] = fmadd(a, u[j * stride], v[j]);
    }
}

void dot_norms_lanes(const double* __restrict h, size_t k, const double* __restrict w,
                     size_t n, size_t j0, size_t j1, double* __restrict lanes) {
    // Rows in groups of R, all against the same loads of w (one row at a time is
    // bound by the latency of its two FMA chains); per row, eight interleaved partial
    // sums in the fixed order described at Vec. The last columns j8 <= j < j1 (j1 = n)
    // go to lanes j - j8 = j mod 8.
    constexpr size_t R = 6;  // 2 R accumulators + 2 registers
    const size_t j8 = j0 + (j1 - j0) / 8 * 8;
    for (size_t i0 = 0; i0 < k; i0 += R) {
        const size_t m = k - i0 < R ? k - i0 : R;
        const double* rows[R];
        double dot[R][8], sq[R][8];
        for (size_t p = 0; p < m; ++p) {
            rows[p] = h + (i0 + p) * n;
            __builtin_memcpy(dot[p], lanes + 16 * (i0 + p), sizeof dot[p]);
            __builtin_memcpy(sq[p], lanes + 16 * (i0 + p) + 8, sizeof sq[p]);
        }
        with_size<R>(m, [&](auto M) NNQFT_LAMBDA_INLINE { dot_norm_tile<M.value>(rows, w, j0, j8, dot, sq); });
        for (size_t p = 0; p < m; ++p) {
            for (size_t j = j8, l = 0; j < j1; ++j, ++l) {
                dot[p][l] = fmadd(rows[p][j], w[j], dot[p][l]);
                sq[p][l] = fmadd(rows[p][j], rows[p][j], sq[p][l]);
            }
            __builtin_memcpy(lanes + 16 * (i0 + p), dot[p], sizeof dot[p]);
            __builtin_memcpy(lanes + 16 * (i0 + p) + 8, sq[p], sizeof sq[p]);
        }
    }
}

void gram_lanes(const double* __restrict h, size_t k, size_t n, size_t j0, size_t j1,
                double* __restrict lanes) {
    // Rows in blocks of T: a triangle of pairs per diagonal block, rectangles of T x Q
    // rows off the diagonal; each tile is one sweep over the columns (8 / W sweeps on
    // narrower paths) with its accumulators and rows in registers: T (T + 1) / 2 + T,
    // or T Q + T + 1. k = 6 is one tile with AVX-512, three with 16 registers.
    constexpr size_t T = Vec::kRegs >= 32 ? 6 : 3, Q = 3;
    const size_t j8 = j0 + (j1 - j0) / 8 * 8;
    const double* rows_a[T];
    const double* rows_b[Q];
    double acc[T * T][8];
    auto lane = [&](size_t a, size_t b) { return lanes + 8 * (a * (2 * k - a + 1) / 2 + (b - a)); };
    auto load = [&](size_t t, size_t a, size_t b) NNQFT_LAMBDA_INLINE {
        __builtin_memcpy(acc[t], lane(a, b), sizeof acc[t]);
    };
    // The last columns j8 <= j < j1 (j1 = n) go to lanes j - j8 = j mod 8.
    auto store = [&](size_t t, size_t a, size_t b) NNQFT_LAMBDA_INLINE {
        const double* ha = h + a * n;
        const double* hb = h + b * n;
        for (size_t j = j8, l = 0; j < j1; ++j, ++l) acc[t][l] = fmadd(ha[j], hb[j], acc[t][l]);
        __builtin_memcpy(lane(a, b), acc[t], sizeof acc[t]);
    };
    for (size_t i0 = 0; i0 < k; i0 += T) {
        const size_t mi = k - i0 < T ? k - i0 : T;
        for (size_t p = 0; p < mi; ++p) rows_a[p] = h + (i0 + p) * n;
        auto triangle = [&](auto&& f) NNQFT_LAMBDA_INLINE {
            for (size_t p = 0, t = 0; p < mi; ++p)
                for (size_t q = p; q < mi; ++q, ++t) f(t, i0 + p, i0 + q);
        };
        triangle(load);
        with_size<T>(mi, [&](auto M) NNQFT_LAMBDA_INLINE { gram_tile<M.value, M.value, true>(rows_a, rows_a, j0, j8, acc); });
        triangle(store);
        for (size_t jb = i0 + T; jb < k; jb += Q) {  // here block i0 is full (mi = T)
            const size_t mj = k - jb < Q ? k - jb : Q;
            for (size_t q = 0; q < mj; ++q) rows_b[q] = h + (jb + q) * n;
            auto rectangle = [&](auto&& f) NNQFT_LAMBDA_INLINE {
                for (size_t p = 0; p < T; ++p)
                    for (size_t q = 0; q < mj; ++q) f(p * mj + q, i0 + p, jb + q);
            };
            rectangle(load);
            with_size<Q>(mj, [&](auto M) NNQFT_LAMBDA_INLINE { gram_tile<T, M.value, false>(rows_a, rows_b, j0, j8, acc); });
            rectangle(store);
        }
    }
}

void lane_sums(const double* lanes, size_t count, double* out) {
    for (size_t t = 0; t < count; ++t) out[t] = sum_lanes(lanes + 8 * t);
}

void combine(const double* __restrict c, size_t k, size_t r, const u32* order,
             const double* __restrict u, size_t stride, size_t n, double* __restrict out) {
    // Tiles of M rows x C vectors of columns: per term s, C loads of u and M broadcasts
    // feed M C independent FMA chains (loads of u shared by M rows; enough chains to
    // hide the FMA latency). Column blocks outermost: u's block stays in L1 for all k
    // rows. Every output sums its terms in the order s = 0, 1, ... on every path, up to
    // the last non-zero coefficient of its tile (trailing zero terms only add zeros).
    constexpr size_t M = 3, C = Vec::kRegs >= 32 ? 4 : 3;  // M C + C + 1 registers
    static_assert(detail::kCombineAlign % (C * Vec::W) == 0,
                  "columns from a multiple of kCombineAlign on are tiled as in one call");
    constexpr size_t kMaxTiles = 64;
    size_t tile_terms[kMaxTiles];
    const size_t n_tiles = (k + M - 1) / M;
    auto row = [&](size_t t) { return order != nullptr ? size_t{order[t]} : t; };
    auto terms_of = [&](size_t i) {
        size_t m = r;
        while (m > 0 && c[i * r + m - 1] == 0.0) --m;
        return m;
    };
    for (size_t t = 0; t < n_tiles && t < kMaxTiles; ++t) {
        tile_terms[t] = 0;
        for (size_t p = t * M; p < k && p < (t + 1) * M; ++p) {
            const size_t m = terms_of(row(p));
            if (m > tile_terms[t]) tile_terms[t] = m;
        }
    }
    auto rows = [&](auto width, size_t j) NNQFT_LAMBDA_INLINE {
        for (size_t i0 = 0, t = 0; i0 < k; i0 += M, ++t)
            with_size<M>(k - i0 < M ? k - i0 : M, [&](auto m) NNQFT_LAMBDA_INLINE {
                const double* crow[m.value];
                double* orow[m.value];
                for (size_t p = 0; p < m.value; ++p) {
                    crow[p] = c + row(i0 + p) * r;
                    orow[p] = out + row(i0 + p) * stride;
                }
                combine_tile<m.value, width.value>(crow, t < kMaxTiles ? tile_terms[t] : r, u,
                                                   stride, j, orow);
            });
    };
    size_t j = 0;
    for (; j + C * Vec::W <= n; j += C * Vec::W) rows(Size<C>(), j);
    for (; j + Vec::W <= n; j += Vec::W) rows(Size<1>(), j);
    for (size_t i = 0; j < n && i < k; ++i) {  // the last columns, one by one
        const size_t m = terms_of(i);
        for (size_t jj = j; jj < n; ++jj) {
            double acc = 0.0;
            for (size_t s = 0; s < m; ++s) acc = fmadd(c[i * r + s], u[s * stride + jj], acc);
            out[i * stride + jj] = acc;
        }
    }
}

}  // namespace nnqft::kernels::NNQFT_KERNEL_ISA
