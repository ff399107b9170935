// Minimal dependency-free test helpers: CHECK records failures, main returns their count.
#pragma once

#include <cstdio>

inline int& failures() {
    static int n = 0;
    return n;
}

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures();                                                        \
        }                                                                        \
    } while (0)

template <class F>
bool throws(F&& f) {
    try {
        f();
    } catch (...) {
        return true;
    }
    return false;
}

inline int report(const char* name) {
    std::printf("%s: %s (%d failures)\n", name, failures() ? "FAILED" : "passed", failures());
    return failures() ? 1 : 0;
}
