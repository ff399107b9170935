# Multi-ISA element-wise kernels (cpp/src/kernels*.cpp), added to nnqft_core.
# Included by cpp/CMakeLists.txt after nnqft_core exists:
#     include(${CMAKE_CURRENT_SOURCE_DIR}/kernels.cmake)
#
# kernels_impl.hpp is compiled three times with different instruction sets into
# separate namespaces; kernels.cpp (ordinary flags) picks one at run time with
# __builtin_cpu_supports (override: NNQFT_KERNEL_PATH=generic|avx2|avx512). No
# -march=native, no -ffast-math. Per-source flags of the kernel TUs only:
#   -ffp-contract=off  FMAs only where the code asks (fmadd()), whatever -std says
#   -fno-math-errno    sqrt vectorises (no libm call that may set errno)
#   -fno-trapping-math lets GCC if-convert the branch-free selects into SIMD blends;
#                      the code never reads floating-point exception flags
#   -O2 -ftree-vectorize -fvect-cost-model=dynamic  in optimised builds: -O2 with the
#                      full vectoriser measured up to 8% faster than -O3 (erf)
target_sources(nnqft_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/src/kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/kernels_generic.cpp)

set(_nnqft_x86 FALSE)
# The target, not the host: a macOS wheel for x86_64 may be built on an arm64 runner
# (cibuildwheel passes the target as CMAKE_OSX_ARCHITECTURES), and the other way round.
set(_nnqft_target_arch "${CMAKE_SYSTEM_PROCESSOR}")
if(CMAKE_OSX_ARCHITECTURES)
  set(_nnqft_target_arch "${CMAKE_OSX_ARCHITECTURES}")
endif()
if(_nnqft_target_arch MATCHES "^(x86_64|AMD64|amd64|x64)$"
   AND CMAKE_SIZEOF_VOID_P EQUAL 8
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_nnqft_x86 TRUE)
endif()
unset(_nnqft_target_arch)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_nnqft_kernel_flags -ffp-contract=off -fno-math-errno -fno-trapping-math)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set(_nnqft_opt $<NOT:$<CONFIG:Debug>>)
    list(APPEND _nnqft_kernel_flags $<${_nnqft_opt}:-O2> $<${_nnqft_opt}:-ftree-vectorize>
         $<${_nnqft_opt}:-fvect-cost-model=dynamic>)
  endif()
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/src/kernels_generic.cpp
               TARGET_DIRECTORY nnqft_core APPEND PROPERTY COMPILE_OPTIONS ${_nnqft_kernel_flags})
endif()

if(_nnqft_x86)
  target_sources(nnqft_core PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/src/kernels_avx2.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/kernels_avx512.cpp)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/src/kernels_avx2.cpp
               TARGET_DIRECTORY nnqft_core APPEND PROPERTY COMPILE_OPTIONS ${_nnqft_kernel_flags} -mavx2 -mfma)
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/src/kernels_avx512.cpp
               TARGET_DIRECTORY nnqft_core APPEND PROPERTY COMPILE_OPTIONS ${_nnqft_kernel_flags}
                 -mavx512f -mavx512dq -mavx2 -mfma -mprefer-vector-width=512)
  # Tells kernels.cpp which ISA builds exist.
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/src/kernels.cpp
               TARGET_DIRECTORY nnqft_core APPEND PROPERTY COMPILE_DEFINITIONS NNQFT_KERNELS_AVX2 NNQFT_KERNELS_AVX512)
  message(STATUS "nnqft: kernels for generic, avx2, avx512 (chosen at run time)")
else()
  message(STATUS "nnqft: kernels for generic only (${CMAKE_SYSTEM_PROCESSOR})")
endif()
unset(_nnqft_x86)
unset(_nnqft_kernel_flags)
unset(_nnqft_opt)
