/// @file kernels_isa.hpp
/// Internal: the per-instruction-set entry points behind kernels.hpp. Each namespace
/// is one TU built from kernels_impl.hpp with its own -m flags; kernels.cpp selects
/// one at run time. Raw pointers only, so that no std:: inline function is
/// instantiated inside an ISA-specific TU (the linker could otherwise keep an
/// AVX-512 copy of it for the whole program).
#pragma once

#include <cstddef>
#include <cstdint>

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
    void erf_forms(const double* in, double* small, double* large, std::size_t n);      \
    void affine(double a, const double* u, std::size_t stride, const double* v,          \
                double* out, std::size_t n);                                            \
    void dot_norms(const double* h, std::size_t k, const double* w, std::size_t n,      \
                   double* result);                                                     \
    void gram(const double* h, std::size_t k, std::size_t n, double* out);              \
    void combine(const double* c, std::size_t k, std::size_t r,                         \
                 const std::uint32_t* order, const double* u, std::size_t n, double* out); \
    }

NNQFT_DECLARE_KERNEL_ISA(generic)
#if defined(NNQFT_KERNELS_AVX2)
NNQFT_DECLARE_KERNEL_ISA(avx2)
#endif
#if defined(NNQFT_KERNELS_AVX512)
NNQFT_DECLARE_KERNEL_ISA(avx512)
#endif
