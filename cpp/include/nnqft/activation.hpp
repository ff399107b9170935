/// @file activation.hpp
/// The activation functions of the ensemble (design.md "Conventions").
#pragma once

#include <string>

namespace nnqft {

/// Activation of the hidden layers. `gauss` is the HMS Gauss-net exp(z - Var z) and
/// `cos` the random-Fourier-feature net with a uniform first-layer phase; both are
/// defined for depth 1 only. The numeric values are part of the pickle format.
enum class Activation : int { erf = 0, relu = 1, tanh = 2, linear = 3, gauss = 4, cos = 5 };

/// Parse a name ("erf", "relu", ...); throws std::invalid_argument on unknown names.
Activation activation_from_name(const std::string& name);
const char* activation_name(Activation a);

}  // namespace nnqft
