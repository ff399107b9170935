// Kernels compiled for: -mavx512f -mavx512dq -mavx2 -mfma (flags set per source in cpp/kernels.cmake).
#if !defined(__AVX512F__) || !defined(__AVX512DQ__) || !defined(__AVX2__) || !defined(__FMA__)
#error "kernels_avx512.cpp needs its ISA flags (see cpp/kernels.cmake)"
#endif
#include "kernels_isa.hpp"
#define NNQFT_KERNEL_ISA avx512
#include "kernels_impl.hpp"
