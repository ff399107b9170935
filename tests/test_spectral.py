"""Spectral cos-nets (issue 23): frequency laws, exact theory, sampling, shells."""

import itertools
import math

import numpy as np
import pytest
from conftest import assert_z
from scipy import integrate, special

import nnqft
from nnqft import _core
from nnqft.spectral import DEFAULT_TABLE_SIZE, Spectrum, gaussian_spectrum, massive_spectrum

X1 = np.array([-0.6, 0.0, 0.25, 0.9])
X2 = np.array([[0.3, -0.5], [1.0, 0.2], [-0.4, -0.9], [0.0, 0.4]])
X3 = np.array([[0.3, -0.5, 0.1], [1.0, 0.2, -0.3], [-0.4, -0.9, 0.5]])


def spectral_arch(spectrum, width=4, weight_dist="gaussian", **kw):
    return nnqft.Architecture("cos", width=width, d_in=spectrum.d, spectrum=spectrum,
                              weight_dist=weight_dist, **kw)


# -- the frequency law -------------------------------------------------------------------
def test_closed_forms():
    r = np.array([0.0, 0.3, 1.0, 2.5])
    # d = 1, power 1 and d = 3, power 2: exp(-m r)
    for d, power in ((1, 1.0), (3, 2.0)):
        c = massive_spectrum(1.7, d=d, power=power).characteristic(r)
        np.testing.assert_allclose(c, np.exp(-1.7 * r), rtol=1e-13)
    # d = 2, power 2 (nu = 1): m r K_1(m r)
    c = massive_spectrum(0.8, d=2, power=2).characteristic(r)
    z = 0.8 * r
    expect = np.where(z == 0, 1.0, z * special.kv(1, np.where(z == 0, 1, z)))
    np.testing.assert_allclose(c, expect, rtol=1e-13)
    np.testing.assert_allclose(gaussian_spectrum(2, 1.3).characteristic(r),
                               np.exp(-1.69 * r**2 / 4), rtol=1e-14)


@pytest.mark.parametrize("ratio", [1e4, 1e6])
def test_far_cutoff_quadratures(ratio):
    """d = 2, power 1, sharp: int_0^L p dp / (p^2 + m^2) = ln(1 + L^2/m^2) / 2.  With the
    compactified grid alone the tail p in [1e2, 1e4] m was one panel: the normaliser was
    16% low at L/m = 1e6 and c(0) = 1.2 (the two-point function 20% off, z = 93)."""
    sp = massive_spectrum(0.01, d=2, cutoff=0.01 * ratio)
    assert sp.normaliser() == pytest.approx(0.5 * math.log1p(ratio**2), rel=1e-10)
    np.testing.assert_allclose(sp.characteristic([0.0, 1.0])[0], 1.0, rtol=1e-10)
    smooth = massive_spectrum(1.0, d=2, cutoff=ratio, regulator="smooth")
    np.testing.assert_allclose(smooth.characteristic([0.0, 1.0])[0], 1.0, rtol=1e-10)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("regulator", ["sharp", "smooth"])
def test_characteristic_quadrature_against_scipy(d, regulator):
    sp = massive_spectrum(0.7, d=d, cutoff=6.0, regulator=regulator)
    omega = {1: np.cos, 2: special.j0, 3: lambda z: np.sinc(z / np.pi),
             4: lambda z: 2 * special.j1(z) / z if z else 1.0}[d]
    end = 6.0 if regulator == "sharp" else 6.0 * math.sqrt(40)
    norm = integrate.quad(lambda p: p ** (d - 1) * sp.density(p), 0, end, limit=400)[0]
    for r in (0.0, 0.4, 2.0, 7.0):
        ref = integrate.quad(lambda p, r=r: p ** (d - 1) * sp.density(p) * omega(p * r), 0, end,
                             limit=800, epsabs=1e-14)[0] / norm
        assert sp.characteristic(r) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_shell_is_the_unnormalised_truncation():
    sp = massive_spectrum(1.0, d=1)
    shell = sp.truncated(2.0)
    assert shell.characteristic(0.0) == pytest.approx(2 / math.pi * math.atan(2.0), rel=1e-12)
    assert shell.mass() == pytest.approx(2 / math.pi * math.atan(2.0), rel=1e-15)
    # the shell integral of the propagator e^{-|r|}: int_{|p| < 2} cos(p r) / (p^2 + 1) / pi
    r = 0.7
    ref = integrate.quad(lambda p: 2 * np.cos(p * r) / (p * p + 1) / math.pi, 0, 2)[0]
    assert shell.characteristic(r) == pytest.approx(ref, rel=1e-10)


def test_table_accuracy_is_stated_and_small():
    # power (d + 1) / 2: a t-density finite and non-zero at t = 1 (p = inf), which the
    # table's Newton steps reach (it warned of a division by zero, under pytest an error)
    tails = [massive_spectrum(1.0, d=d, power=(d + 1) / 2) for d in (2, 3, 4)]
    for sp in (massive_spectrum(1.0, d=3, cutoff=10.0), massive_spectrum(1.0, d=2, power=2),
               Spectrum.from_function(lambda p: np.exp(-p), 2, p_max=30.0), *tails):
        assert 0 < sp.table_error < 1 / sp.table_size
    # chi tables (d >= 2): far below the promise, also for a mass 1e-6 of the cutoff
    # (landmark panels) and a narrow bump (more cells per octave)
    for sp in (massive_spectrum(1.0, d=3, cutoff=10.0), massive_spectrum(1e-6, d=3, cutoff=1.0),
               massive_spectrum(1e-6, d=2, cutoff=1.0), massive_spectrum(1e-8, d=4, cutoff=1e8),
               massive_spectrum(1e-8, d=3, cutoff=1e8), *tails):
        assert 0 < sp.table_error < 1e-6
    bump = Spectrum.from_function(lambda p: np.exp(-((p - 5) / 0.01) ** 2), 2, p_max=10.0)
    assert 0 < bump.table_error < 1 / (8 * bump.table_size)
    assert bump.radius_table().size == 4 * 32 * 512 + 1
    assert massive_spectrum(1.0, d=1, cutoff=4.0).table_error == 0.0  # exact Cauchy


@pytest.mark.parametrize("sp", [massive_spectrum(1.0, d=3, cutoff=10.0),
                                massive_spectrum(0.5, d=2, power=2)], ids=repr)
def test_chi_table_gives_the_radius_law(sp):
    """The d >= 2 radius R(Q) = sqrt(Q) H(Q), Q ~ chi^2_d, with H read off the table as the
    core does (cell by frexp here, not by bits), against the exact CDF by scipy quad."""
    h = sp.radius_table()
    per_octave = (h.size - 1) // _core.CHI_OCTAVES
    q = np.random.default_rng(3).chisquare(sp.d, 400_000)
    mant, expo = np.frexp(q)  # q = mant 2^expo, mant in [1/2, 1)
    pos = (2 * mant - 1) * per_octave
    j = (expo - 1 - _core.CHI_LOWEST_OCTAVE) * per_octave + np.floor(pos).astype(int)
    assert j.min() >= 0 and j.max() < h.size - 1
    r = np.sqrt(q) * (h[j] + (pos - np.floor(pos)) * (h[j + 1] - h[j]))
    for radius in (0.3, 1.0, 2.0, 4.0, 8.0):
        exact = integrate.quad(lambda p: float(sp.radial_density(p)), 0, radius,
                               limit=200)[0]
        sampled = np.mean(r < radius)
        assert abs(sampled - exact) < 5 * math.sqrt(exact * (1 - exact) / q.size) + 1e-6


@pytest.mark.parametrize("d", [1, 2])
def test_stated_table_error_is_the_dense_maximum_at_a_gap(d):
    """A gap [1, 2] in the density: the worst point of a cell is where the tabulated
    radius crosses a gap edge, not its midpoint (it was reported 5x too small)."""
    from nnqft._radius_table import chi_nodes
    sp = Spectrum.from_function(lambda p: np.where((p < 1) | (p > 2), 1 / (1 + p * p), 0.0),
                                d, 4.0, table_size=1024)
    table, cdf = sp.radius_table(), sp._radial_cdf()
    f = np.linspace(0, 1, 65)
    if d == 1:  # t linear in u in each of the M cells of probability 1/M
        t = (table[:-1, None] + f * np.diff(table)[:, None]).ravel()
        exact = ((np.arange(1024)[:, None] + f) / 1024).ravel()
    else:  # the core's radius sqrt(Q) H(Q), H linear in Q between the nodes
        q = chi_nodes((table.size - 1) // _core.CHI_OCTAVES)
        qq = (q[:-1, None] + f * np.diff(q)[:, None]).ravel()
        r = np.sqrt(qq) * (table[:-1, None] + f * np.diff(table)[:, None]).ravel()
        t, exact = np.minimum(r / (r + cdf.scale), cdf.t_end), special.gammainc(d / 2, qq / 2)
    dense = np.max(np.abs(cdf.cdf(t) - exact))
    assert dense * 0.95 <= sp.table_error <= dense * 1.05 + 1e-9


def test_a_table_beyond_its_promise_is_refused():
    """Each cell carries 1/M of the mass, so a worse stated error is a failed table."""
    sp = massive_spectrum(1.0, d=2, cutoff=6.0)
    sp.radius_table()
    sp._table_error = 2 / sp.table_size  # as a density the quadrature cannot resolve gives
    with pytest.raises(ValueError, match="could not be tabulated"):
        nnqft.sample(spectral_arch(sp, width=3), X2, 100, orders=(2,))
    heavy = massive_spectrum(1.0, d=2, power=1.05)  # P(|q| > 1e16) = 2.5%: past doubles
    with pytest.raises(ValueError, match="could not be tabulated.*heavy"):
        nnqft.sample(spectral_arch(heavy, width=3), X2, 100, orders=(2,))


def test_from_table_matches_from_function():
    a = Spectrum.from_function(lambda p: 1 / (1 + p**2), 1, p_max=5.0, n_grid=101)
    p = np.linspace(0, 5, 101)
    assert a == Spectrum.from_table(p, 1 / (1 + p**2), 1)
    assert a != Spectrum.from_table(p, 1 / (1 + p**2), 2)


@pytest.mark.parametrize("call, match", [
    (lambda: massive_spectrum(-1.0, d=1), "mass"),
    (lambda: massive_spectrum(1.0, d=5), "d"),
    (lambda: massive_spectrum(1.0, d=0), "d"),
    (lambda: massive_spectrum(1.0, d=2), "does not normalise"),
    (lambda: massive_spectrum(0.0, d=2, cutoff=3.0), "integrable at p = 0"),
    # p^(d-1-2s) = p^-0.8 at p = 0: its table was all NaN, then 9% off in CDF
    (lambda: massive_spectrum(0.0, d=3, power=1.4, cutoff=50.0), "diverge at p = 0"),
    (lambda: massive_spectrum(1.0, d=1, regulator="soft"), "regulator"),
    (lambda: massive_spectrum(1.0, d=1, cutoff=0.0), "cutoff"),
    (lambda: Spectrum.from_table([0, 1, 2], [0, 0, 0], 1), "does not normalise"),
    (lambda: Spectrum.from_table([0, 1, 2], [1, -1, 0], 1), ">= 0"),
    (lambda: Spectrum.from_table([0, 2, 1], [1, 1, 1], 1), "increasing"),
    (lambda: Spectrum.from_function(lambda p: np.full_like(p, np.inf), 1, p_max=1.0), "finite"),
    (lambda: nnqft.Architecture("erf", spectrum=massive_spectrum(1.0, d=1)), "cos"),
    (lambda: nnqft.Architecture("cos", d_in=2, spectrum=massive_spectrum(1.0, d=1)), "d_in"),
    (lambda: nnqft.Architecture("erf", weight_dist="sign"), "cos"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- hostile inputs: each a clear error at the call that receives it, a nearby value works ----
@pytest.mark.parametrize("call, match", [
    (lambda: massive_spectrum(1e300, d=1), r"mass = 1e\+300 is outside \[1e-30, 1e\+30\]"),
    (lambda: massive_spectrum(1e-300, d=2, cutoff=1.0), r"mass = 1e-300 is outside"),
    (lambda: massive_spectrum(1.0, d=2, cutoff=1e300), r"cutoff = 1e\+300 is outside"),
    (lambda: massive_spectrum(1.0, d=1, cutoff=0.0), "cutoff must be > 0"),
    (lambda: gaussian_spectrum(1, 1e300), r"sigma = 1e\+300 is outside \[1e-30, 1e\+30\]"),
    (lambda: gaussian_spectrum(4, 1e-300), r"sigma = 1e-300 is outside"),
    (lambda: gaussian_spectrum(1, 0.0), "sigma must be > 0"),
    # m^(-2 power) = 1e+360: the density at p = 0 is not a double
    (lambda: massive_spectrum(1e-30, d=4, power=6.0), r"overflows double precision.*mass must lie"),
    # the Matern closed form's Gamma(nu) K_nu overflowed: c(r) was 0 instead of ~1
    (lambda: massive_spectrum(1.0, d=1, power=150.0), r"power must be <= 100"),
    (lambda: massive_spectrum(1.0, d=2, cutoff=3.0).mass(-1.0), r"shell must be >= 0"),
    (lambda: massive_spectrum(1.0, d=1).mass(math.nan), r"shell must be finite or \+inf"),
    (lambda: gaussian_spectrum(1).characteristic([0.5, np.nan]), r"r must not be NaN.*r\[1\]"),
    (lambda: Spectrum.from_function(lambda p: 1.0, 1, p_max=1.0),
     r"one value per momentum.*\(4097,\), got shape \(\)"),
    (lambda: Spectrum.from_function(lambda p: p[:-1], 1, p_max=1.0), r"got shape \(4096,\)"),
    (lambda: Spectrum.from_function(lambda p: -p, 1, p_max=1.0), ">= 0"),
    (lambda: Spectrum.from_function(lambda p: p, 1, p_max=1e300), r"p_max = 1e\+300 is outside"),
    (lambda: Spectrum.from_table([0, 1, 2], [1e-320, 1e-320, 0], 1), "subnormal"),
    (lambda: Spectrum.from_table([[0, 1], [2, 3]], [1, 1, 1, 0], 1), r"p must be a 1-D array"),
    (lambda: Spectrum.from_table([0, 1, 2, 3], [[1, 1], [1, 0]], 1), r"density must be a 1-D"),
    (lambda: Spectrum.from_table([0, 1e300, 2e300], [1, 1, 0], 1), r"p\[-1\] = 2e\+300 is outside"),
    (lambda: Spectrum.from_table([0, [1, 2]], [1, 1], 1), "rectangular"),
])
def test_hostile_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: gaussian_spectrum(1).characteristic("a"), "r must be a real numeric array"),
    (lambda: gaussian_spectrum(1).characteristic(1j), "r must be a real numeric array"),
    (lambda: Spectrum.from_function(lambda p: p + 1j, 1, p_max=1.0), "density.p. must be a real"),
    (lambda: Spectrum.from_function(3.0, 1, p_max=1.0), "density must be a callable"),
    (lambda: Spectrum.from_table([0, 1], [1j, 1], 1), "density must be a real numeric array"),
])
def test_hostile_type_is_refused(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_momentum_scales_inside_the_range_still_work():
    """1e-8 .. 1e8, absolutely and relative to each other, and the range's own ends."""
    for m in (1e-30, 1e-8, 1e8, 1e30):
        assert massive_spectrum(m, d=1).characteristic(1 / m) == pytest.approx(math.exp(-1))
        assert gaussian_spectrum(4, m).characteristic(1 / m) == pytest.approx(math.exp(-1 / 8))
    assert massive_spectrum(1e-8, d=2, cutoff=1.0).normaliser() == pytest.approx(
        0.5 * math.log1p(1e16), rel=1e-10)
    assert massive_spectrum(1e30, d=4, power=5.0).table_error < 1 / DEFAULT_TABLE_SIZE
    assert massive_spectrum(1.0, d=1, power=100.0).characteristic(0.1) == pytest.approx(
        1.0, abs=1e-3)
    assert massive_spectrum(1.0, d=2, cutoff=3.0).mass(0.0) == 0.0


def test_characteristic_at_infinite_radius_is_its_limit_zero():
    """Riemann-Lebesgue: every spectrum has a density (the quadrature raised OverflowError)."""
    for sp in (gaussian_spectrum(2), massive_spectrum(1.0, d=1),
               massive_spectrum(1.0, d=2, cutoff=3.0), massive_spectrum(1.0, d=3, power=2.0).truncated(2.0)):
        c = sp.characteristic([[0.0, np.inf], [-np.inf, 0.4]])
        assert c.shape == (2, 2)
        np.testing.assert_array_equal(c[[0, 1], [1, 0]], 0.0)
        assert c[0, 0] == pytest.approx(1.0 if math.isinf(sp.shell) else sp.mass())
        assert c[1, 1] == pytest.approx(sp.characteristic(0.4), rel=1e-13)


def test_from_table_extreme_densities_are_rescaled_not_nan():
    """1e308 overflowed the quadratures (NaN table error); only the shape matters."""
    p = np.array([0.0, 1.0, 2.0])
    ref = Spectrum.from_table(p, [1.0, 1.0, 0.0], 3)
    for scale in (1e308, 1.79e308, 3e-308):
        sp = Spectrum.from_table(p, [scale, scale, 0.0], 3)
        assert sp == ref
        assert math.isfinite(sp.table_error) and sp.table_error < 1 / sp.table_size
        np.testing.assert_allclose(sp.characteristic([0.0, 1.0]), ref.characteristic([0.0, 1.0]))
    np.testing.assert_array_equal(ref.density(p), [1.0, 1.0, 0.0])


# -- exact theory against independent formulas ----------------------------------------------
def test_exact_four_point_against_physics_md():
    """kappa4 = (sigma^4 / N)[E a^4 M4 - sum_3 C C], M4 from physics.md §1.5."""
    sp = massive_spectrum(1.0, d=2, cutoff=8.0)
    for dist, ea4 in (("gaussian", 3.0), ("sign", 1.0)):
        arch = spectral_arch(sp, width=5, weight_dist=dist, sigma_w=1.2, sigma_b=0.3)
        got = nnqft.exact(arch, X2, 4, connected=True)

        def c(v):
            return sp.characteristic(1.2 * np.linalg.norm(v))

        expect = []
        for t in itertools.combinations_with_replacement(range(len(X2)), 4):
            x1, x2, x3, x4 = X2[list(t)]
            m4 = (c(x1 + x2 - x3 - x4) + c(x1 - x2 + x3 - x4) + c(x1 - x2 - x3 + x4)) / 8
            cc = sum(c(X2[t[a]] - X2[t[b]]) * c(X2[t[e]] - X2[t[f]]) / 4
                     for a, b, e, f in ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)))
            expect.append(1.44**2 / 5 * (ea4 * m4 - cc))
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-15)


def test_kernel_of_the_massive_scalar_in_d1():
    arch = spectral_arch(massive_spectrum(1.5, d=1), sigma_w=(1.0, 2.0), sigma_b=0.5)
    r = np.abs(X1[:, None] - X1[None, :])
    np.testing.assert_allclose(nnqft.kernel(arch, X1), 0.25 + 2.0 * np.exp(-1.5 * r), rtol=1e-13)


# -- sampling ---------------------------------------------------------------------------
CASES = [
    (massive_spectrum(1.0, d=1), X1, "gaussian"),
    (massive_spectrum(2.0, d=1, cutoff=5.0, regulator="smooth"), X1, "sign"),
    (massive_spectrum(1.0, d=2, cutoff=6.0), X2, "gaussian"),
    (massive_spectrum(0.5, d=2, power=2), X2, "sign"),
    (massive_spectrum(1.0, d=3, cutoff=5.0), X3, "gaussian"),
    (Spectrum.from_function(lambda p: np.exp(-p), 3, p_max=25.0), X3, "sign"),
    # a mass tiny against the cutoff (its CDF lived in the last uniform panel: refused),
    # and a density with a gap [0, 1) and a narrow bump (refused at d >= 2 before)
    (massive_spectrum(1e-5, d=2, cutoff=3.0), X2, "gaussian"),
    (Spectrum.from_function(lambda p: (p >= 1) / (1 + p * p) + 9 * np.exp(-((p - 2) / 0.02) ** 2),
                            2, p_max=4.0, n_grid=8001), X2, "sign"),
]


@pytest.mark.parametrize("sp, x, dist", CASES, ids=lambda c: repr(c)[:40])
def test_sampled_against_exact(sp, x, dist):
    arch = spectral_arch(sp, width=3, weight_dist=dist, sigma_b=0.2)
    corr = nnqft.sample(arch, x, 60_000, orders=(2, 4, 6), seed=11)
    for n in (2, 4, 6):
        value, err = corr.connected(n)
        assert_z(value, err, nnqft.exact(arch, x, n, connected=True))


def test_conditional_estimator_and_shell_grid():
    """One pass over shells: every point bit-identical to its own run, and exact."""
    base = spectral_arch(massive_spectrum(1.0, d=1), width=6, sigma_b=0.0)
    archs = [base.replace(spectrum=base.spectrum.truncated(s)) for s in (0.5, 2.0, math.inf)]
    grid = nnqft.sampling.sample_grid(archs, X1, 4000, orders=(2, 4), estimator="conditional",
                                      seed=5)
    for a, c in zip(archs, grid, strict=True):
        single = nnqft.sample(a, X1, 4000, orders=(2, 4), estimator="conditional", seed=5)
        np.testing.assert_array_equal(single.mean(4), c.mean(4))
        for n in (2, 4):
            value, err = c.connected(n)
            assert_z(value, err, nnqft.exact(a, X1, n, connected=True))


def test_gaussian_spectrum_is_the_plain_cos_net_bit_for_bit():
    plain = nnqft.Architecture("cos", width=7, d_in=2, sigma_w=1.3)
    spectral = plain.replace(spectrum=gaussian_spectrum(2))
    a = nnqft.sample(plain, X2, 640, orders=(2, 4), seed=3)
    b = nnqft.sample(spectral, X2, 640, orders=(2, 4), seed=3)
    np.testing.assert_array_equal(a.mean(4), b.mean(4))
    np.testing.assert_allclose(nnqft.exact(plain, X2, 4), nnqft.exact(spectral, X2, 4),
                               rtol=1e-13)


def test_determinism_merging_and_files(tmp_path):
    arch = spectral_arch(massive_spectrum(1.0, d=3, cutoff=5.0), width=9)
    one = nnqft.sample(arch, X3, 2048, orders=(2, 4), seed=2, threads=1)
    two = nnqft.sample(arch, X3, 2048, orders=(2, 4), seed=2, threads=2)
    assert one == two
    left = nnqft.sample(arch, X3, 1024, orders=(2, 4), seed=2)
    right = nnqft.sample(arch, X3, 1024, orders=(2, 4), seed=2, start=1024)
    assert left + right == one
    other = arch.replace(spectrum=massive_spectrum(1.1, d=3, cutoff=5.0))
    with pytest.raises(ValueError, match="architecture"):
        _ = left + nnqft.sample(other, X3, 1024, orders=(2, 4), seed=2, start=1024)
    path = one.save(tmp_path / "spectral")
    back = nnqft.load(path)
    assert back.arch == arch and back == one


# -- the momentum-shell flow -------------------------------------------------------------
def test_shell_flow_sampled_against_exact(tmp_path):
    arch = spectral_arch(massive_spectrum(1.0, d=1), width=10, sigma_b=0.0)
    x = np.array([-0.6, -0.2, 0.2, 0.6])
    with pytest.warns(nnqft.NNQFTWarning):  # the e^{-|r|} kink slows the vertex quadrature
        flow = nnqft.shell_flow(arch, x, [0.5, 2.0, math.inf], n_networks=8000, seed=4)
    assert_z(flow.kernel, flow.kernel_errors, flow.exact_kernel)
    assert_z(flow.kappa4, flow.kappa4_errors, flow.exact_kappa4)
    # the shell kernel at r = 0: (sigma_a^2 / 2) (2 / pi) arctan(Λ)
    np.testing.assert_allclose(flow.exact_kernel[:2, 0], np.arctan([0.5, 2.0]) / math.pi,
                               rtol=1e-12)
    assert flow.covariance["u4"].shape == (3, 3)
    assert_z(flow.couplings["u4"], flow.errors["u4"], flow.exact_couplings["u4"])
    # Z = 2 N / (2 pi sigma_a^2), N = int dp / (p^2 + 1) = pi: Z = 1, m = 1
    assert flow.field_normalisation() == pytest.approx((1.0, 1.0, 1.0))
    # the LPA starts where its couplings were measured: at shells[1] = 2, u4 / Z^2 there
    lpa = flow.frg(1)
    np.testing.assert_array_equal(lpa.scale, [2.0])
    assert lpa.couplings["u4"][0] == pytest.approx(flow.couplings["u4"][1], rel=1e-12)
    with pytest.raises(ValueError, match="infinite"):
        flow.frg(2)
    np.testing.assert_allclose(flow.dimensionless("u4"), flow.couplings["u4"] * flow.shells**-3)
    back = nnqft.load(flow.save(tmp_path / "shells"))
    np.testing.assert_array_equal(back.kappa4, flow.kappa4)
    assert back.arch == arch
    # the plot: finite shells only, exact line, no minor labels on the short log axis
    from matplotlib.ticker import NullFormatter

    ax = flow.plot().axes[0]
    (exact_line,) = ax.get_lines()[-1:]
    np.testing.assert_array_equal(exact_line.get_xdata(), [0.5, 2.0])
    np.testing.assert_array_equal(exact_line.get_ydata(), flow.exact_couplings["u4"][:2])
    assert ax.get_ylabel() == "$u_{4}$"
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter)


def test_shell_flow_needs_a_spectrum():
    # d = 4: the box quadrature has no rules; refused before sampling (was a KeyError after)
    four = spectral_arch(massive_spectrum(0.5, d=4, cutoff=10.0))
    with pytest.raises(ValueError, match="d_in <= 3"):
        nnqft.shell_flow(four, np.full((2, 4), 0.3), [2.0], n_networks=10**9)
    with pytest.raises(ValueError, match="spectral"):
        nnqft.shell_flow(nnqft.Architecture("cos"), X1, [1.0, 2.0])
    with pytest.raises(ValueError, match="increasing"):
        nnqft.shell_flow(spectral_arch(massive_spectrum(1.0, d=1)), X1, [2.0, 1.0])
    # a string was shell 12, a nested list was flattened (the probe); sigmas share the rule
    one = spectral_arch(massive_spectrum(1.0, d=1))
    with pytest.raises(TypeError, match="sequence"):
        nnqft.shell_flow(one, X1, "12")
    with pytest.raises(ValueError, match="1-D"):
        nnqft.shell_flow(one, X1, [[1.0, 2.0]])
    with pytest.raises(TypeError, match="sequence"):
        nnqft.sigma_flow(nnqft.Architecture("erf"), X1, "12")


# -- infinite width ------------------------------------------------------------------------
def test_extrapolate_width_recovers_the_exact_line():
    from nnqft.infinite_width import extrapolate_width

    x = np.array([-0.5, 0.0, 0.5])
    base = spectral_arch(massive_spectrum(1.0, d=1), sigma_b=0.0)
    runs = [nnqft.sample(base.replace(width=w), x, 8000, orders=(2, 4), seed=w)
            for w in (2, 4, 8, 16)]
    kappa = extrapolate_width(runs[::-1], 4, connected=True)  # any order of the runs
    np.testing.assert_array_equal(kappa.widths, [2, 4, 8, 16])
    assert_z(kappa.infinite, kappa.infinite_errors, 0.0)  # kappa4 = pure 1/N
    slope = nnqft.exact(base.replace(width=1), x, 4, connected=True)
    assert_z(kappa.slope, kappa.slope_errors, slope)
    full = extrapolate_width(runs, 4, connected=False)
    assert_z(full.infinite, full.infinite_errors, nnqft.exact(base.replace(width=10**9), x, 4))
    assert kappa.ndof == 2 and kappa.chi2.shape == (15,)
    with pytest.raises(ValueError, match="width"):
        extrapolate_width([runs[0], runs[0]], 4)
    with pytest.raises(ValueError, match="differ only in width"):
        extrapolate_width([runs[0], nnqft.sample(nnqft.Architecture("cos", width=3), x, 64,
                                                 orders=(2, 4))], 4)


def test_two_point_precision_matches_the_sampled_errors():
    from nnqft.infinite_width import two_point_precision

    arch = spectral_arch(massive_spectrum(1.0, d=1), width=20, sigma_b=0.0)
    x = np.array([0.0, 1.0, 2.5])
    n = 20_000
    for estimator in ("plain", "conditional"):
        corr = nnqft.sample(arch, x, n, orders=(2,), estimator=estimator, seed=9)
        rel = two_point_precision(arch, np.zeros(2), x[1:], estimator)
        sampled = corr.stderr(2)[[1, 2]] / np.abs(corr.mean(2)[[1, 2]])
        np.testing.assert_allclose(sampled * math.sqrt(n), rel, rtol=0.25)
    # the relative error grows like 1 / K(r) = 2 e^{r} / sigma_a^2 at infinite width
    far = two_point_precision(arch.replace(width=10**6), np.zeros(2), np.array([4.0, 6.0]))
    assert far[1] / far[0] == pytest.approx(math.exp(2.0), rel=0.01)


# -- command line --------------------------------------------------------------------------
def test_cli_sample_and_shell_flow(tmp_path, capsys):
    from nnqft.cli import main

    out = tmp_path / "s.npz"
    assert main(["sample", "--activation", "cos", "--spectrum", "massive", "--uv-cutoff", "8",
                 "--x=0,0;0.5,0", "--width", "5", "--n-networks", "256", "--orders", "2,4",
                 "--weight-dist", "sign", "--out", str(out), "--no-progress"]) == 0
    corr = nnqft.load(out)
    assert corr.arch.spectrum == massive_spectrum(1.0, d=2, cutoff=8.0)
    assert corr.arch.weight_dist == "sign"
    flow = tmp_path / "f.npz"
    with pytest.warns(nnqft.NNQFTWarning):
        assert main(["flow", "--activation", "cos", "--spectrum", "massive", "--x=-0.5,0,0.5",
                     "--width", "5", "--n-networks", "256", "--shells", "1,inf",
                     "--cutoff", "3", "--out", str(flow), "--no-progress"]) == 0
    np.testing.assert_array_equal(nnqft.load(flow).shells, [1.0, math.inf])
    assert main(["flow", "--activation", "cos", "--spectrum", "massive", "--shells", "1,2",
                 "--out", str(tmp_path / "g.npz")]) == 2
    assert "finite vertex box" in capsys.readouterr().err
    # options that would be ignored are errors (a probe found them silently dropped)
    cos = ["--activation", "cos", "--x=0,0.5", "--n-networks", "16", "--no-progress"]
    assert main(["sample", *cos, "--mass", "3", "--out", str(tmp_path / "h.npz")]) == 2
    assert "--mass is an option of --spectrum massive" in capsys.readouterr().err
    assert main(["sample", *cos, "--spectrum", "gaussian", "--regulator", "smooth",
                 "--out", str(tmp_path / "i.npz")]) == 2
    assert "--spectrum gaussian" in capsys.readouterr().err
    assert main(["flow", *cos, "--spectrum", "massive", "--shells", "1,2", "--cutoff", "3",
                 "--sigmas", "0.5,1", "--out", str(tmp_path / "j.npz")]) == 2
    assert "--sigmas and --vary are options of the sigma flow" in capsys.readouterr().err
    assert not any(tmp_path.glob("[hij].npz"))


def test_sign_weights_on_the_plain_cos_net():
    """Without a spectrum, sign weights are +-sigma/sqrt(fan_in) in both layers."""
    arch = nnqft.Architecture("cos", width=3, d_in=2, weight_dist="sign", sigma_w=1.4,
                              sigma_b=0.3)
    a = 1.4 / math.sqrt(2)
    r = X2[:, None, :] - X2[None, :, :]
    np.testing.assert_allclose(nnqft.kernel(arch, X2),
                               0.09 + 0.98 * np.cos(a * r).prod(axis=-1), rtol=1e-13)
    corr = nnqft.sample(arch, X2, 40_000, orders=(2, 4), seed=8)
    for n in (2, 4):
        value, err = corr.connected(n)
        assert_z(value, err, nnqft.exact(arch, X2, n, connected=True))
    with pytest.raises(ValueError, match="Gaussian read-out"):
        nnqft.sample(arch, X2, 64, estimator="conditional")


# -- first-order reweighting ---------------------------------------------------------------
def test_quartic_reweighting_against_tree_level():
    from nnqft.reweighting import quartic_reweighting

    arch = spectral_arch(massive_spectrum(1.0, d=1, cutoff=10.0), width=1000, sigma_b=0.0)
    x = np.array([-0.5, 0.0, 0.5])
    r = quartic_reweighting(arch, x, 1.5, 30_000, seed=1, nodes=32, n_bins=32)
    # the tree level -int prod K (the O(1/N) remainder is ~3% at N = 1000, << the errors)
    assert_z(r.slope, r.slope_errors, r.tree)
    assert np.all(r.tree < 0) and np.mean(np.abs(r.slope / r.slope_errors)) > 4  # resolved
    assert_z(r.kappa4, r.kappa4_errors, nnqft.exact(arch, x, 4, connected=True))
    value, err = r.kappa4_at(0.5)
    np.testing.assert_allclose(value, r.kappa4 + 0.5 * r.slope)
    with pytest.raises(ValueError, match="box"):
        quartic_reweighting(arch, x, 0.0)
