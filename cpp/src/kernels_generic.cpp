// Kernels compiled for: baseline x86-64 (SSE2) or any other architecture (flags set per source in cpp/kernels.cmake).
#include "kernels_isa.hpp"
#define NNQFT_KERNEL_ISA generic
#include "kernels_impl.hpp"
