// Kernels compiled for: -mavx2 -mfma (flags set per source in cpp/kernels.cmake).
#if !defined(__AVX2__) || !defined(__FMA__)
#error "kernels_avx2.cpp needs its ISA flags (see cpp/kernels.cmake)"
#endif
#include "kernels_isa.hpp"
#define NNQFT_KERNEL_ISA avx2
#include "kernels_impl.hpp"
