# test_kernels: Philox KATs, ulp errors against long-double libm, cross-path agreement
# of the normals, on every instruction-set path the CPU supports.
# Included by tests/cpp/CMakeLists.txt.
add_executable(test_kernels ${CMAKE_CURRENT_LIST_DIR}/test_kernels.cpp)
target_link_libraries(test_kernels PRIVATE nnqft_core)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(test_kernels PRIVATE -Wall -Wextra)
  if(NNQFT_WERROR)
    target_compile_options(test_kernels PRIVATE -Werror)
  endif()
endif()
add_test(NAME test_kernels COMMAND test_kernels)
