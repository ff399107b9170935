/// @file philox.hpp
/// Philox4x32-10 counter-based random bit generator (Salmon, Moraes, Dror, Shaw,
/// "Parallel random numbers: as easy as 1, 2, 3", SC'11; constants of Random123).
/// Stateless: block(counter, key) -> 4 x 32 random bits, so any network's draws can be
/// computed by any thread, process or machine. The 32 x 32 -> 64-bit products of its
/// rounds are native vector multiplies (SSE2 pmuludq and its AVX2/AVX-512 widenings),
/// which is why it replaced Philox4x64-10 (stream version 1) in stream version 2.
#pragma once

#include <array>
#include <cstdint>

namespace nnqft {

using u32 = std::uint32_t;
using u64 = std::uint64_t;
/// Seeds as Python hands them over: the first two 64-bit words of a SeedSequence's state.
using Key = std::array<u64, 2>;
using Counter32 = std::array<u32, 4>;
using Key32 = std::array<u32, 2>;

/// Version of the random streams (generator, counter layout and normal transform):
/// results drawn with different versions are different ensembles and must not be
/// merged. 1: Philox4x64-10 + Box-Muller on 53-bit uniforms (nnqft <= 0.1, no version
/// recorded); 2: Philox4x32-10 (see kernels::philox_stream) + the same Box-Muller;
/// 3: Philox4x32-10 + single-precision Box-Muller on 32-bit uniforms, one 64-bit word
/// per pair of normals (kernels::normals); 4: the same, with the radii of spectral
/// cos-nets in d >= 2 a function of their direction normals' length
/// (kernels::chi_frequencies) instead of a uniform of a separate stream.
inline constexpr int kStreamVersion = 4;

namespace philox_detail {
inline constexpr u32 kMul0 = 0xD2511F53U;
inline constexpr u32 kMul1 = 0xCD9E8D57U;
inline constexpr u32 kWeyl0 = 0x9E3779B9U;  // golden ratio
inline constexpr u32 kWeyl1 = 0xBB67AE85U;  // sqrt(3) - 1
}  // namespace philox_detail

/// One Philox4x32-10 block: ten rounds with the key bumped between rounds.
inline Counter32 philox4x32(Counter32 ctr, Key32 key) {
    using namespace philox_detail;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            key[0] += kWeyl0;
            key[1] += kWeyl1;
        }
        const u64 p0 = static_cast<u64>(kMul0) * ctr[0];
        const u64 p1 = static_cast<u64>(kMul1) * ctr[2];
        ctr = {static_cast<u32>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<u32>(p1),
               static_cast<u32>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<u32>(p0)};
    }
    return ctr;
}

/// The Philox4x32 key of a seed: its first 64 bits (key[0], low half first).
inline Key32 stream_key(const Key& key) {
    return {static_cast<u32>(key[0]), static_cast<u32>(key[0] >> 32)};
}

}  // namespace nnqft
