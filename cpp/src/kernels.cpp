// Scalar reference implementation of kernels.hpp (first version; multi-ISA dispatch
// replaces it).
#include "nnqft/kernels.hpp"

#include <cmath>
#include <cstring>

namespace nnqft::kernels {

namespace {
constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kInv53 = 1.0 / 9007199254740992.0;  // 2^-53
}  // namespace

void philox_stream(const Key& key, const Counter& first, std::size_t n_blocks, u64* out) {
    Counter c = first;
    for (std::size_t j = 0; j < n_blocks; ++j) {
        c[0] = first[0] + j;
        const Counter r = philox4x64(c, key);
        std::memcpy(out + 4 * j, r.data(), sizeof(r));
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

void apply(Func f, const double* in, double* out, std::size_t n) {
    switch (f) {
        case Func::erf:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::erf(in[i]);
            break;
        case Func::relu:
            for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0 ? in[i] : 0.0;
            break;
        case Func::tanh:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
            break;
        case Func::identity:
            if (out != in) std::memmove(out, in, n * sizeof(double));
            break;
        case Func::exp:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
            break;
        case Func::cos:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::cos(in[i]);
            break;
    }
}

const char* path() { return "generic"; }

bool set_path(const char* name) {
    return std::strcmp(name, "generic") == 0 || std::strcmp(name, "auto") == 0;
}

}  // namespace nnqft::kernels
