#include "pybind11.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "nnqft compiled core: Philox streams, network evaluation, the sampler";
    m.attr("__version__") = NNQFT_VERSION_STRING;
    register_rng(m);
    register_sampler(m);
}
