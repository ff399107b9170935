/// @file kernels.hpp
/// The hot element-wise kernels of the sampler: Philox4x32 bit streams, Box-Muller normals,
/// uniforms and activation functions on contiguous arrays.
///
/// Implementations exist for several instruction sets (generic x86-64, AVX2+FMA,
/// AVX-512) and one is chosen at run time from the CPU's features. Integer outputs
/// (Philox) are bit-identical on every path; floating-point outputs agree to a few ulp
/// (polynomial approximations and FMA contraction differ), which the tests tolerate.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nnqft/philox.hpp"

namespace nnqft::kernels {

/// Element-wise functions applied by `apply`: activations, and sinc = sin(x) / x (1 at
/// x = 0), the angular average of a plane wave in three dimensions (the spectral theory).
enum class Func : int { erf = 0, relu = 1, tanh = 2, identity = 3, exp = 4, cos = 5, sinc = 6 };

/// Philox4x32-10 blocks x = philox4x32(first + (j, 0, 0, 0), key) for j < n_blocks as
/// 64-bit words out[2j] = x0 | x1 << 32, out[2j + 1] = x2 | x3 << 32 (the 32-bit words
/// in order, on a little-endian machine). Counter word 0 wraps modulo 2^32 without a
/// carry into word 1: callers keep j below 2^32.
void philox_stream(const Key32& key, const Counter32& first, std::size_t n_blocks, u64* out);

/// Standard normals, stream version 3: each 64-bit word w gives one Box-Muller pair
/// from a = w mod 2^32 and b = w >> 32,
///   R = sqrt(-2 ln u), u = (a + 1/2) 2^-32,  theta = 2 pi b 2^-32,
///   out[2i] = R cos theta,  out[2i + 1] = R sin theta   (word i = bits[i], i < n/2;
///   n even),
/// evaluated in IEEE single precision with correctly rounded operations and fused
/// multiply-adds (the same bits on every path with FMA; x86-64 without it, the generic
/// path, rounds the products too), |error| <= 4 2^-24 R, then widened to double.
/// Tails: R <= sqrt(66 ln 2) = 6.76, beyond which a normal pair has probability 2^-33;
/// the lattice of u and theta biases moments up to the 8th by < 1e-6 relative.
void normals(const u64* bits, double* out, std::size_t n);

/// The 4 n_blocks normals of philox_stream(key, first, n_blocks) as normals() makes
/// them, without storing the words (the sampler's draws): bit-identical to the two
/// calls in sequence.
void philox_normals(const Key32& key, const Counter32& first, std::size_t n_blocks,
                    double* out);

/// out[i] = lo + (hi - lo) (b[i] >> 11) 2^-53, uniform on [lo, hi).
void uniforms(const u64* bits, double lo, double hi, double* out, std::size_t n);

/// out[i] = f(in[i]); in and out may alias.
void apply(Func f, const double* in, double* out, std::size_t n);

/// The radii of a Cauchy spectrum: out[i] = scale tan(x_i), x_i = angle (b[i] >> 11) 2^-53
/// (uniforms(bits, 0, angle) bit for bit), for angle <= pi/2 (tan to a few ulp: sin and
/// cos of one shared range reduction, as apply(Func::cos)); one pass.
void cauchy_radii(const u64* bits, double angle, double scale, double* out, std::size_t n);

/// The radii of a tabulated spectrum in d = 1: for u[i] in [0, 1], t linear in u between
/// the quantiles table[j] = t_j at u = j / (size - 1) (the last cell extends to u = 1),
/// then out[i] = scale t / (1 - t). u and out may alias; size >= 2.
void table_radii(const double* u, const double* table, std::size_t size, double scale,
                 double* out, std::size_t n);

/// Octaves of |g|^2 spanned by a chi table (chi_frequencies), from 2^kChiLowestOctave.
inline constexpr int kChiOctaves = 32;
inline constexpr int kChiLowestOctave = -24;

/// The frequencies of a spectral first layer in d >= 2 from its unit normals, with the
/// radius a function of their length: each row g_i of the n x d row-major g becomes
/// scale H(q_i) g_i, q_i = |g_i|^2, and (radii non-null) radii[i] = H(q_i) sqrt(q_i).
/// H is linear in q between the nodes table[j] = H(Q_j), j = 0..size - 1, at
///   Q_j = 2^(kChiLowestOctave + j / K) (1 + (j mod K) / K),  K = (size - 1) / kChiOctaves,
/// K a power of two (cells of equal width within each octave); constant below Q_0 and
/// above Q_{size - 1} = 2^(kChiLowestOctave + kChiOctaves). q ~ chi^2_d is independent of
/// the direction, so H(q) = F^-1(F_chi2(q)) / sqrt(q) gives the radius law F exactly up to
/// interpolation.
void chi_frequencies(double* g, std::size_t d, const double* table, std::size_t size,
                     double scale, double* radii, std::size_t n);

/// The frequencies of a spectral first layer at d = 1: out[i] = +-scale radii[i], minus
/// where bit 0 of b[i] is set (the radius's uniform uses bits 11-63 of the same word).
void signed_frequencies(const u64* bits, const double* radii, double scale, double* out,
                        std::size_t n);

/// The two forms behind apply(Func::erf), each on every element (tests: apply must
/// give, bit for bit, small[i] where |in[i]| <= 2.5 or in[i] is NaN, large[i]
/// otherwise): small = x P(x^2 - 25/8), large = sign(x) (1 - e^-H(|x|)).
void erf_forms(const double* in, double* small, double* large, std::size_t n);

/// out[j] = a u[j stride] + v[j] (one input coordinate of a first-layer pre-activation);
/// v and out may alias.
void affine(double a, const double* u, std::size_t stride, const double* v, double* out,
            std::size_t n);

/// Partial sums in eight lanes (dot_norms_lanes, gram_lanes): lane l of a sum holds its
/// terms j = l mod 8 in increasing j, and lane_sums adds the lanes in a fixed tree: the
/// same order on every path. A sum over the columns [0, n) cut into consecutive ranges
/// [j0, j1), each j0 a multiple of kLanes and each j1 too or = n, carries its lanes from
/// one range to the next and gives the bits of one call over [0, n); the caller can
/// look at a stop flag in between.
constexpr std::size_t kLanes = 8;

/// lanes[16 a + l] += the lane-l terms over j0 <= j < j1 of sum_j h[a n + j] w[j], and
/// lanes[16 a + 8 + l] those of sum_j h[a n + j]^2, for the k rows a of h (row-major
/// k x n): the read-outs and the conditional variances of k inputs (see kLanes).
void dot_norms_lanes(const double* h, std::size_t k, const double* w, std::size_t n,
                     std::size_t j0, std::size_t j1, double* lanes);

/// lanes[8 t + l] += the lane-l terms over j0 <= j < j1 of the Gram matrix of the k rows
/// of h (row-major k x n), out[t] = sum_j h[a n + j] h[b n + j] for a <= b packed row by
/// row (t = 0 .. k (k + 1) / 2 - 1); see kLanes.
void gram_lanes(const double* h, std::size_t k, std::size_t n, std::size_t j0, std::size_t j1,
                double* lanes);

/// out[t] = the fixed-tree sum of lanes[8 t .. 8 t + 8) for t < count.
void lane_sums(const double* lanes, std::size_t count, double* out);

/// result[2 a] = sum_j h[a n + j] w[j], result[2 a + 1] = sum_j h[a n + j]^2 for the
/// k rows a of h (row-major k x n), in one call: dot_norms_lanes over [0, n), then
/// lane_sums; each sum in a fixed order, the same on every path, independent of k.
void dot_norms(const double* h, std::size_t k, const double* w, std::size_t n,
               double* result);

/// The Gram matrix of the k rows of h (row-major k x n), packed as gram_lanes
/// describes, in one call (gram_lanes over [0, n), then lane_sums).
void gram(const double* h, std::size_t k, std::size_t n, double* out);

/// combine() on the columns from a multiple of this on (with the pointers u + j0 and
/// out + j0) computes them bit for bit as one call on all the columns does.
constexpr std::size_t kCombineAlign = 96;

/// out[i stride + j] = sum_{s < r} c[i r + s] u[s stride + j] for i < k, j < n: the
/// product of c (row-major k x r) and u (r x n, rows stride apart), each sum in the
/// order s = 0, 1, ... (the Gram-chain sampler's z = A xi; stride > n: a block of
/// columns, see kCombineAlign). Rows are computed in tiles of consecutive entries of
/// `order` (a permutation of 0..k-1; null: 0, 1, ...), and a tile stops at the last
/// non-zero coefficient of its rows: ordered by pivot, a triangular c costs about half.
/// Terms skipped are exact zeros times finite u, so the values are the same either way
/// (up to the sign of a zero sum).
void combine(const double* c, std::size_t k, std::size_t r, const u32* order, const double* u,
             std::size_t stride, std::size_t n, double* out);

/// Whether the path in use has a true fused multiply-add (every path but x86-64 generic).
bool fused_multiply_add();

/// Name of the instruction-set path in use: "avx512", "avx2" or "generic".
const char* path();

/// Force a path (tests, benchmarks). Returns false, and changes nothing, when the CPU
/// lacks it or the name is unknown. "auto" restores the run-time choice.
bool set_path(const char* name);

}  // namespace nnqft::kernels
