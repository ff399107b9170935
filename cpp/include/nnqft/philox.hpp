/// @file philox.hpp
/// Philox4x64-10 counter-based random bit generator (Salmon, Moraes, Dror, Shaw,
/// "Parallel random numbers: as easy as 1, 2, 3", SC'11; constants of Random123 and
/// numpy.random.Philox). Stateless: block(counter, key) -> 4 x 64 random bits, so any
/// network's draws can be computed by any thread, process or machine.
#pragma once

#include <array>
#include <cstdint>

namespace nnqft {

using u64 = std::uint64_t;
using Counter = std::array<u64, 4>;
using Key = std::array<u64, 2>;

namespace philox_detail {
inline constexpr u64 kMul0 = 0xD2E7470EE14C6C93ULL;
inline constexpr u64 kMul1 = 0xCA5A826395121157ULL;
inline constexpr u64 kWeyl0 = 0x9E3779B97F4A7C15ULL;  // golden ratio
inline constexpr u64 kWeyl1 = 0xBB67AE8584CAA73BULL;  // sqrt(3) - 1

__extension__ typedef unsigned __int128 u128;  // GCC/Clang 128-bit product

inline void mulhilo(u64 a, u64 b, u64& hi, u64& lo) {
    const u128 p = static_cast<u128>(a) * b;
    hi = static_cast<u64>(p >> 64);
    lo = static_cast<u64>(p);
}
}  // namespace philox_detail

/// One Philox4x64-10 block: ten rounds with the key bumped between rounds.
inline Counter philox4x64(Counter ctr, Key key) {
    using namespace philox_detail;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            key[0] += kWeyl0;
            key[1] += kWeyl1;
        }
        u64 hi0, lo0, hi1, lo1;
        mulhilo(kMul0, ctr[0], hi0, lo0);
        mulhilo(kMul1, ctr[2], hi1, lo1);
        ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    }
    return ctr;
}

}  // namespace nnqft
