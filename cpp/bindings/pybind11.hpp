// The only header that includes pybind11 (boost-histogram / iminuit pattern).
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace pybind11::literals;

void register_rng(py::module_& m);
void register_sampler(py::module_& m);
