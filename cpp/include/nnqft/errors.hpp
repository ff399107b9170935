/// @file errors.hpp
/// `require(cond, parts...)`: throw std::invalid_argument with a message built from the
/// parts (the offending values included), so bad input never crashes the interpreter.
#pragma once

#include <sstream>
#include <stdexcept>
#include <utility>

namespace nnqft {

template <class... Parts>
void require(bool condition, Parts&&... parts) {
    if (condition) return;
    std::ostringstream msg;
    (msg << ... << std::forward<Parts>(parts));
    throw std::invalid_argument(msg.str());
}

}  // namespace nnqft
