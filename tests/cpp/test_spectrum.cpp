// SpectrumSpec: the radius laws of spectral cos-nets (exact Cauchy inverse CDF, d = 1
// quantile table, d >= 2 chi table) and their validation.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "nnqft/network.hpp"

using nnqft::SpectrumSpec;

int main() {
    const double pi = std::acos(-1.0);
    // Cauchy: |q| = m tan(u angle); the median of |q| without a cutoff is m
    SpectrumSpec cauchy;
    cauchy.kind = SpectrumSpec::Kind::cauchy;
    cauchy.scale = 2.0;
    cauchy.angle = pi / 2;
    CHECK(std::abs(cauchy.radius(0.5) - 2.0) < 1e-14);
    CHECK(cauchy.radius(0.0) == 0.0);
    cauchy.angle = std::atan(3.0 / 2.0);  // sharp cutoff at 3: u -> 1 reaches it
    CHECK(std::abs(cauchy.radius(1.0) - 3.0) < 1e-14);
    cauchy.validate(1);
    CHECK(throws([&] { cauchy.validate(2); }));  // one-dimensional law
    // table (d = 1): t linear in u between the nodes, |q| = s t / (1 - t)
    SpectrumSpec table;
    table.kind = SpectrumSpec::Kind::table;
    table.scale = 1.0;
    table.table = {0.0, 0.5, 0.8};  // t at u = 0, 1/2, 1
    table.validate(1);
    CHECK(std::abs(table.radius(0.5) - 1.0) < 1e-14);                    // t = 0.5
    CHECK(std::abs(table.radius(0.25) - 1.0 / 3) < 1e-14);               // t = 0.25
    CHECK(std::abs(table.radius(1.0) - 4.0) < 1e-12);                    // t = 0.8, clamped cell
    CHECK(throws([&] { table.validate(2); }));                           // d >= 2 is chi's
    table.table = {0.0, 0.5, 0.4};
    CHECK(throws([&] { table.validate(1); }));                           // not monotone
    table.table = {0.0, 1.0};
    CHECK(throws([&] { table.validate(1); }));                           // t = 1 is |q| = inf
    // chi (d = 2..4): 32 K + 1 finite values >= 0, K a power of two; H need not increase
    SpectrumSpec chi;
    chi.kind = SpectrumSpec::Kind::chi;
    chi.dimension = 3;
    chi.table.assign(32 * 4 + 1, 1.0);
    chi.table[7] = 0.5;
    chi.validate(3);
    CHECK(throws([&] { chi.validate(2); }));                             // table for d = 3
    chi.table.assign(32 * 3 + 1, 1.0);
    CHECK(throws([&] { chi.validate(3); }));                             // K = 3
    chi.table.assign(32 + 2, 1.0);
    CHECK(throws([&] { chi.validate(3); }));                             // not 32 K + 1
    chi.table.assign(33, 1.0);
    chi.table[5] = std::nan("");
    CHECK(throws([&] { chi.validate(3); }));
    chi.table[5] = -1.0;
    CHECK(throws([&] { chi.validate(3); }));
    chi.table[5] = 1.0;
    chi.validate(3);                                                     // K = 1
    chi.dimension = 1;
    CHECK(throws([&] { chi.validate(1); }));                             // d = 1: table
    chi.dimension = 5;
    CHECK(throws([&] { chi.validate(5); }));
    SpectrumSpec shell;
    shell.shell = 0.0;
    CHECK(throws([&] { shell.validate(1); }));
    return report("test_spectrum");
}
