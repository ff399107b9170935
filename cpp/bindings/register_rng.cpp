#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "nnqft/kernels.hpp"
#include "nnqft/philox.hpp"
#include "pybind11.hpp"

namespace {

using U64Array = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;
using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

nnqft::kernels::Func func_from_name(const std::string& name) {
    using nnqft::kernels::Func;
    if (name == "erf") return Func::erf;
    if (name == "relu") return Func::relu;
    if (name == "tanh") return Func::tanh;
    if (name == "identity") return Func::identity;
    if (name == "exp") return Func::exp;
    if (name == "cos") return Func::cos;
    if (name == "sinc") return Func::sinc;
    throw std::invalid_argument("unknown kernel function '" + name + "'");
}

/// f(i0, i1) over [0, n) in consecutive chunks of 2^20 (milliseconds each), with a look
/// at pending signals before each: Ctrl-C stops a call on billions of values at once
/// (KeyboardInterrupt). Each element is computed on its own, so chunks change no bit.
template <class F>
void interruptible_chunks(std::size_t n, F&& f) {
    constexpr std::size_t kChunk = std::size_t{1} << 20;
    for (std::size_t i = 0; i < n; i += kChunk) {
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        f(i, std::min(n, i + kChunk));
    }
}

/// m.name(first, key, n_blocks): the per_block values per Philox block that `draw` makes;
/// chunks of blocks start at counter word 0 first[0] + i (wrapping as the kernel does).
template <class T>
void def_block_draw(py::module_& m, const char* name, std::size_t per_block,
                    void (*draw)(const nnqft::Key32&, const nnqft::Counter32&, std::size_t, T*),
                    const char* doc) {
    m.def(
        name,
        [per_block, draw](nnqft::Counter32 first, nnqft::Key32 key, std::size_t n_blocks) {
            py::array_t<T> out(static_cast<py::ssize_t>(per_block * n_blocks));
            T* data = out.mutable_data();
            interruptible_chunks(n_blocks, [&](std::size_t i0, std::size_t i1) {
                nnqft::Counter32 at = first;
                at[0] += static_cast<std::uint32_t>(i0);
                draw(key, at, i1 - i0, data + per_block * i0);
            });
            return out;
        },
        "first"_a, "key"_a, "n_blocks"_a, doc);
}

}  // namespace

void register_rng(py::module_& m) {
    m.attr("STREAM_VERSION") = nnqft::kStreamVersion;
    m.def(
        "philox4x32",
        [](nnqft::Counter32 counter, nnqft::Key32 key) { return nnqft::philox4x32(counter, key); },
        "counter"_a, "key"_a, "One Philox4x32-10 block (4 32-bit words) for a counter and key.");
    def_block_draw(m, "philox_stream", 2, nnqft::kernels::philox_stream,
                   "Philox4x32 blocks for counters first + (j, 0, 0, 0), j < n_blocks, as "
                   "64-bit words (two per block, low 32-bit word first).");
    m.def(
        "normals_from_bits",
        [](const U64Array& bits) {
            F64Array out(2 * bits.size());
            const std::uint64_t* in = bits.data();
            double* data = out.mutable_data();
            interruptible_chunks(static_cast<std::size_t>(bits.size()),
                                 [&](std::size_t i0, std::size_t i1) {
                                     nnqft::kernels::normals(in + i0, data + 2 * i0, 2 * (i1 - i0));
                                 });
            return out;
        },
        "bits"_a, "Box-Muller standard normals, two per 64-bit word (stream version 3).");
    def_block_draw(m, "philox_normals", 4, nnqft::kernels::philox_normals,
                   "The 4 n_blocks standard normals of philox_stream(first, key, n_blocks), "
                   "drawn without storing the words (the sampler's draws).");
    m.def(
        "apply_function",
        [](const std::string& name, const F64Array& x) {
            const nnqft::kernels::Func f = func_from_name(name);
            F64Array out(x.size());
            const double* in = x.data();
            double* data = out.mutable_data();
            interruptible_chunks(static_cast<std::size_t>(x.size()),
                                 [&](std::size_t i0, std::size_t i1) {
                                     nnqft::kernels::apply(f, in + i0, data + i0, i1 - i0);
                                 });
            return out;
        },
        "name"_a, "x"_a,
        "Element-wise kernel function (erf, relu, tanh, identity, exp, cos, sinc = sin x / x).");
    m.def("kernel_path", &nnqft::kernels::path, "Instruction-set path of the kernels in use.");
    m.def("kernel_fma", &nnqft::kernels::fused_multiply_add,
          "Whether the kernel path in use has a fused multiply-add (normals round once per "
          "multiply-add there).");
    m.def(
        "set_kernel_path", [](const std::string& name) { return nnqft::kernels::set_path(name.c_str()); },
        "name"_a, "Force a kernel path ('generic', 'avx2', 'avx512' or 'auto'); False if unsupported.");
}
