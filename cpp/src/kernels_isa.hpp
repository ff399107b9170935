/// @file kernels_isa.hpp
/// Internal: the per-instruction-set entry points behind kernels.hpp. Each namespace
/// is one TU built from kernels_impl.hpp with its own -m flags; kernels.cpp selects
/// one at run time. Raw pointers only, so that no std:: inline function is
/// instantiated inside an ISA-specific TU (the linker could otherwise keep an
/// AVX-512 copy of it for the whole program).
#pragma once

#include <cstddef>
#include <cstdint>

namespace nnqft::kernels::detail {
/// combine() tiles columns in blocks of C W from its first column (C W = 6, 12 or 32
/// on the generic, AVX2 and AVX-512 paths): a call on the columns from a multiple of
/// this on computes them exactly as one call on all columns (kernels.hpp: kCombineAlign).
constexpr std::size_t kCombineAlign = 96;
}  // namespace nnqft::kernels::detail

#define NNQFT_DECLARE_KERNEL_ISA(ns)                                                   \
    namespace nnqft::kernels::ns {                                                      \
    void philox_stream(const std::uint32_t* key, const std::uint32_t* first,           \
                       std::size_t n_blocks, std::uint64_t* out);                       \
    void philox_normals(const std::uint32_t* key, const std::uint32_t* first,          \
                        std::size_t n_blocks, double* out);                             \
    void normals(const std::uint64_t* bits, double* out, std::size_t n);                \
    bool fused_multiply_add();                                                          \
    void uniforms(const std::uint64_t* bits, double lo, double hi, double* out,         \
                  std::size_t n);                                                       \
    void apply(int func, const double* in, double* out, std::size_t n);                 \
    void cauchy_radii(const std::uint64_t* bits, double angle, double scale,             \
                      double* out, std::size_t n);                                      \
    void table_radii(const double* u, const double* table, std::size_t size,              \
                     double scale, double* out, std::size_t n);                         \
    void chi_frequencies(double* g, std::size_t d, const double* table, std::size_t size, \
                         double scale, double* radii, std::size_t n);                   \
    void signed_frequencies(const std::uint64_t* bits, const double* radii, double scale, \
                            double* out, std::size_t n);                                \
    void erf_forms(const double* in, double* small, double* large, std::size_t n);      \
    void affine(double a, const double* u, std::size_t stride, const double* v,          \
                double* out, std::size_t n);                                            \
    void dot_norms_lanes(const double* h, std::size_t k, const double* w, std::size_t n, \
                         std::size_t j0, std::size_t j1, double* lanes);                \
    void gram_lanes(const double* h, std::size_t k, std::size_t n, std::size_t j0,      \
                    std::size_t j1, double* lanes);                                     \
    void lane_sums(const double* lanes, std::size_t count, double* out);                \
    void combine(const double* c, std::size_t k, std::size_t r,                         \
                 const std::uint32_t* order, const double* u, std::size_t stride,       \
                 std::size_t n, double* out);                                           \
    }

NNQFT_DECLARE_KERNEL_ISA(generic)
#if defined(NNQFT_KERNELS_AVX2)
NNQFT_DECLARE_KERNEL_ISA(avx2)
#endif
#if defined(NNQFT_KERNELS_AVX512)
NNQFT_DECLARE_KERNEL_ISA(avx512)
#endif
