// SpectrumSpec: the radius laws of spectral cos-nets (exact Cauchy inverse CDF, quantile
// table with t^d interpolation) and their validation.
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
    // table: t^d linear in u between the nodes, |q| = s t / (1 - t)
    SpectrumSpec table;
    table.kind = SpectrumSpec::Kind::table;
    table.scale = 1.0;
    table.dimension = 2;
    table.table = {0.0, 0.25, 0.64};  // t = 0, 0.5, 0.8 at u = 0, 1/2, 1
    table.validate(2);
    CHECK(std::abs(table.radius(0.5) - 1.0) < 1e-14);                    // t = 0.5
    CHECK(std::abs(table.radius(0.25) - std::sqrt(0.125) / (1 - std::sqrt(0.125))) < 1e-14);
    CHECK(std::abs(table.radius(1.0) - 4.0) < 1e-12);                    // t = 0.8, clamped cell
    CHECK(throws([&] { table.validate(3); }));                           // table for d = 2
    table.table = {0.0, 0.5, 0.4};
    CHECK(throws([&] { table.validate(2); }));                           // not monotone
    table.table = {0.0, 1.0};
    CHECK(throws([&] { table.validate(2); }));                           // t = 1 is |q| = inf
    table.table = {0.0, 0.125};  // d = 3, one cell: t^3 = u / 8, t = u^(1/3) / 2
    table.dimension = 3;
    table.validate(3);
    CHECK(std::abs(table.radius(1.0 / 8) - 1.0 / 3) < 1e-15);          // t = 1/4
    table.dimension = 5;
    CHECK(throws([&] { table.validate(5); }));                           // roots for d <= 4
    SpectrumSpec shell;
    shell.shell = 0.0;
    CHECK(throws([&] { shell.validate(1); }));
    return report("test_spectrum");
}
