/// @file kernels.cpp
/// Run-time dispatch of kernels.hpp over the instruction-set builds of
/// kernels_impl.hpp (generic, avx2, avx512). The first call picks the best path the
/// CPU (and OS, via XGETBV inside __builtin_cpu_supports) supports, unless
/// NNQFT_KERNEL_PATH=generic|avx2|avx512 asks for another one; set_path() overrides
/// both. This TU is compiled with the target's ordinary flags.
#include "nnqft/kernels.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels_isa.hpp"

namespace nnqft::kernels {

static_assert(kCombineAlign == detail::kCombineAlign);

namespace {

struct Impl {
    const char* name;
    bool (*supported)();
    void (*philox)(const u32*, const u32*, std::size_t, u64*);
    void (*philox_normals)(const u32*, const u32*, std::size_t, double*);
    void (*normals)(const u64*, double*, std::size_t);
    bool (*fused_multiply_add)();
    void (*uniforms)(const u64*, double, double, double*, std::size_t);
    void (*apply)(int, const double*, double*, std::size_t);
    void (*cauchy_radii)(const u64*, double, double, double*, std::size_t);
    void (*signed_frequencies)(const u64*, const double*, double, double*, std::size_t);
    void (*table_radii)(const double*, const double*, std::size_t, double, double*,
                        std::size_t);
    void (*chi_frequencies)(double*, std::size_t, const double*, std::size_t, double, double*,
                            std::size_t);
    void (*erf_forms)(const double*, double*, double*, std::size_t);
    void (*affine)(double, const double*, std::size_t, const double*, double*, std::size_t);
    void (*dot_norms_lanes)(const double*, std::size_t, const double*, std::size_t,
                            std::size_t, std::size_t, double*);
    void (*gram_lanes)(const double*, std::size_t, std::size_t, std::size_t, std::size_t,
                       double*);
    void (*lane_sums)(const double*, std::size_t, double*);
    void (*combine)(const double*, std::size_t, std::size_t, const u32*, const double*,
                    std::size_t, std::size_t, double*);
};

#if defined(NNQFT_KERNELS_AVX2) || defined(NNQFT_KERNELS_AVX512)
bool cpu_has_avx2() {
    __builtin_cpu_init();  // may run before the constructors of libgcc's cpu model
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
#if defined(NNQFT_KERNELS_AVX512)
bool cpu_has_avx512() {
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq");
}
#endif

// Best first.
constexpr Impl kImpls[] = {
#if defined(NNQFT_KERNELS_AVX512)
    {"avx512", cpu_has_avx512, avx512::philox_stream, avx512::philox_normals,
     avx512::normals, avx512::fused_multiply_add, avx512::uniforms, avx512::apply,
     avx512::cauchy_radii,
     avx512::signed_frequencies, avx512::table_radii,
     avx512::chi_frequencies, avx512::erf_forms, avx512::affine, avx512::dot_norms_lanes,
     avx512::gram_lanes, avx512::lane_sums, avx512::combine},
#endif
#if defined(NNQFT_KERNELS_AVX2)
    {"avx2", cpu_has_avx2, avx2::philox_stream, avx2::philox_normals, avx2::normals,
     avx2::fused_multiply_add, avx2::uniforms, avx2::apply, avx2::cauchy_radii,
     avx2::signed_frequencies, avx2::table_radii,
     avx2::chi_frequencies, avx2::erf_forms,
     avx2::affine, avx2::dot_norms_lanes, avx2::gram_lanes, avx2::lane_sums, avx2::combine},
#endif
    {"generic", [] { return true; }, generic::philox_stream, generic::philox_normals,
     generic::normals, generic::fused_multiply_add, generic::uniforms, generic::apply,
     generic::cauchy_radii,
     generic::signed_frequencies, generic::table_radii,
     generic::chi_frequencies, generic::erf_forms, generic::affine, generic::dot_norms_lanes,
     generic::gram_lanes, generic::lane_sums, generic::combine},
};

const Impl* find(const char* name) {
    for (const Impl& impl : kImpls)
        if (std::strcmp(impl.name, name) == 0) return impl.supported() ? &impl : nullptr;
    return nullptr;
}

const Impl* best() {
    for (const Impl& impl : kImpls)
        if (impl.supported()) return &impl;
    return &kImpls[sizeof(kImpls) / sizeof(kImpls[0]) - 1];
}

const Impl* initial() {
    const char* env = std::getenv("NNQFT_KERNEL_PATH");
    if (env != nullptr && *env != '\0' && std::strcmp(env, "auto") != 0) {
        if (const Impl* impl = find(env)) return impl;
        std::fprintf(stderr,
                     "nnqft: NNQFT_KERNEL_PATH=%s is unknown or unsupported by this "
                     "CPU; using the automatic choice\n",
                     env);
    }
    return best();
}

std::atomic<const Impl*> g_impl{nullptr};

const Impl& impl() {
    const Impl* p = g_impl.load(std::memory_order_acquire);
    if (p == nullptr) {  // racing first calls compute the same answer
        p = initial();
        g_impl.store(p, std::memory_order_release);
    }
    return *p;
}

}  // namespace

void philox_stream(const Key32& key, const Counter32& first, std::size_t n_blocks, u64* out) {
    impl().philox(key.data(), first.data(), n_blocks, out);
}

void philox_normals(const Key32& key, const Counter32& first, std::size_t n_blocks,
                    double* out) {
    impl().philox_normals(key.data(), first.data(), n_blocks, out);
}

void normals(const u64* bits, double* out, std::size_t n) { impl().normals(bits, out, n); }

bool fused_multiply_add() { return impl().fused_multiply_add(); }

void uniforms(const u64* bits, double lo, double hi, double* out, std::size_t n) {
    impl().uniforms(bits, lo, hi, out, n);
}

void apply(Func f, const double* in, double* out, std::size_t n) {
    impl().apply(static_cast<int>(f), in, out, n);
}

void cauchy_radii(const u64* bits, double angle, double scale, double* out, std::size_t n) {
    impl().cauchy_radii(bits, angle, scale, out, n);
}

void signed_frequencies(const u64* bits, const double* radii, double scale, double* out,
                        std::size_t n) {
    impl().signed_frequencies(bits, radii, scale, out, n);
}

void table_radii(const double* u, const double* table, std::size_t size, double scale,
                 double* out, std::size_t n) {
    impl().table_radii(u, table, size, scale, out, n);
}

void chi_frequencies(double* g, std::size_t d, const double* table, std::size_t size,
                     double scale, double* radii, std::size_t n) {
    impl().chi_frequencies(g, d, table, size, scale, radii, n);
}

void erf_forms(const double* in, double* small, double* large, std::size_t n) {
    impl().erf_forms(in, small, large, n);
}

void affine(double a, const double* u, std::size_t stride, const double* v, double* out,
            std::size_t n) {
    impl().affine(a, u, stride, v, out, n);
}

void dot_norms_lanes(const double* h, std::size_t k, const double* w, std::size_t n,
                     std::size_t j0, std::size_t j1, double* lanes) {
    impl().dot_norms_lanes(h, k, w, n, j0, j1, lanes);
}

void gram_lanes(const double* h, std::size_t k, std::size_t n, std::size_t j0, std::size_t j1,
                double* lanes) {
    impl().gram_lanes(h, k, n, j0, j1, lanes);
}

void lane_sums(const double* lanes, std::size_t count, double* out) {
    impl().lane_sums(lanes, count, out);
}

void dot_norms(const double* h, std::size_t k, const double* w, std::size_t n,
               double* result) {
    std::vector<double> lanes(kLanes * 2 * k, 0.0);
    dot_norms_lanes(h, k, w, n, 0, n, lanes.data());
    lane_sums(lanes.data(), 2 * k, result);
}

void gram(const double* h, std::size_t k, std::size_t n, double* out) {
    const std::size_t pairs = k * (k + 1) / 2;
    std::vector<double> lanes(kLanes * pairs, 0.0);
    gram_lanes(h, k, n, 0, n, lanes.data());
    lane_sums(lanes.data(), pairs, out);
}

void combine(const double* c, std::size_t k, std::size_t r, const u32* order, const double* u,
             std::size_t stride, std::size_t n, double* out) {
    impl().combine(c, k, r, order, u, stride, n, out);
}

const char* path() { return impl().name; }

bool set_path(const char* name) {
    if (name == nullptr) return false;
    const Impl* p = std::strcmp(name, "auto") == 0 ? best() : find(name);
    if (p == nullptr) return false;
    g_impl.store(p, std::memory_order_release);
    return true;
}

}  // namespace nnqft::kernels
