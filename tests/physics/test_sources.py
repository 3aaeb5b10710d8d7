"""Sources against the X-ray Data Booklet's synchrotron-radiation formulas and exact invariants."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import jv, kv

from xrai.errors import ApproximationWarning, ConfigError, DataError
from xrai.physics.sources import (
    DCM_BANDWIDTH,
    DMM_BANDWIDTH,
    BendingMagnet,
    Monochromatic,
    Source,
    TabulatedSource,
    Undulator,
    Wiggler,
    XRayTube,
    deflection_parameter,
    energy_grid,
)

SEED_BM = {"ring_energy_gev": 2.5, "field_t": 1.5, "current_a": 0.106, "distance_m": 30.0}


def bm(**changes: float) -> BendingMagnet:
    return BendingMagnet(**{**SEED_BM, **changes})


# X-ray Data Booklet (LBNL), section 2.1, eqs. (2)-(5): constants quoted to 4 digits.
def h2(y: np.ndarray) -> np.ndarray:
    return y**2 * kv(2 / 3, y / 2) ** 2


def g1(y: float) -> float:
    return y * quad(lambda t: kv(5 / 3, t), y, np.inf, limit=200)[0]


@pytest.mark.parametrize(("energy_gev", "field_t"), [(2.5, 1.5), (6.0, 0.6), (1.5, 1.3), (3.0, 1.4)])
def test_critical_energy(energy_gev: float, field_t: float) -> None:
    source = bm(ring_energy_gev=energy_gev, field_t=field_t)
    assert source.critical_energy_kev == pytest.approx(0.665 * energy_gev**2 * field_t, rel=5e-4)


def test_on_axis_flux_against_booklet_h2() -> None:
    source = bm()
    energies = np.array([0.5, 2.0, 6.0, 8.0, 15.0, 20.0, 30.0, 60.0])
    y = energies / source.critical_energy_kev
    booklet = 1.327e13 * 2.5**2 * 0.106 * h2(y)  # photons/s/mrad²/0.1%bw
    # The booklet's 1.327e13 is 3α/(4π²)·γ²/E²·(I/e)·1e-9 with older constants (CODATA 2018: 1.3255e13).
    np.testing.assert_allclose(source.on_axis_flux_density(energies), booklet, rtol=2e-3)


def test_vertical_integral_against_booklet_g1() -> None:
    source = bm()
    energies = np.array([0.3, 1.0, 6.0, 12.0, 25.0, 40.0, 80.0])
    y = energies / source.critical_energy_kev
    booklet = 2.457e13 * 2.5 * 0.106 * np.array([g1(v) for v in y])  # photons/s/mrad(θ)/0.1%bw
    np.testing.assert_allclose(source.vertically_integrated_flux(energies), booklet, rtol=5e-4)


def test_angular_distribution_is_even_peaked_and_narrows_with_energy() -> None:
    source = bm()
    psi = np.linspace(-1e-3, 1e-3, 201)
    for energy in (5.0, 20.0):
        profile = source.angular_flux_density(energy, psi)
        np.testing.assert_allclose(profile, profile[::-1], rtol=1e-12)
        assert profile.argmax() == 100 and np.all(np.diff(profile[100:]) < 0)
    # rms vertical opening angle shrinks with energy (harder photons are emitted closer to the plane)
    widths = []
    for energy in (5.0, 20.0):
        profile = source.angular_flux_density(energy, psi)
        widths.append(np.sqrt(np.sum(profile * psi**2) / profile.sum()))
    assert widths[1] < widths[0] < 1.0 / source.gamma


def test_off_plane_term_with_k13_matches_formula() -> None:
    source = bm()
    energy, psi = 10.0, 1.5 / source.gamma
    x2 = (source.gamma * psi) ** 2
    y = energy / source.critical_energy_kev
    xi = 0.5 * y * (1 + x2) ** 1.5
    shape = y**2 * (1 + x2) ** 2 * (kv(2 / 3, xi) ** 2 + x2 / (1 + x2) * kv(1 / 3, xi) ** 2)
    assert source.angular_flux_density(energy, psi) == pytest.approx(
        1.327e13 * 2.5**2 * 0.106 * shape, rel=2e-3
    )


def test_flux_scales_with_current_and_energy_squared() -> None:
    energies = np.array([5.0, 10.0, 20.0])
    base = bm().on_axis_flux_density(energies)
    np.testing.assert_allclose(bm(current_a=0.212).on_axis_flux_density(energies), 2 * base, rtol=1e-12)
    # Doubling E at a quarter of the field keeps E_c: the flux at the same y scales as E².
    twice = bm(ring_energy_gev=5.0, field_t=1.5 / 4)
    assert twice.critical_energy_kev == pytest.approx(bm().critical_energy_kev, rel=1e-12)
    np.testing.assert_allclose(twice.on_axis_flux_density(energies), 4 * base, rtol=1e-12)
    np.testing.assert_allclose(
        twice.vertically_integrated_flux(energies), 2 * bm().vertically_integrated_flux(energies), rtol=1e-9
    )


def test_spectrum_units_and_inverse_square_law() -> None:
    source = bm()
    energies = energy_grid(8, 30, 1)
    spectrum = source.spectrum(energies)
    assert spectrum.n_bins == 23 and np.all(spectrum.bin_widths_kev == 1.0)
    # midpoint estimate: F(E) [/mrad²/0.1%bw] × ΔE / (1e-3 E) / (1e-6 R²)
    estimate = source.on_axis_flux_density(energies) * 1.0 / (1e-3 * energies) / (1e-6 * 30.0**2)
    np.testing.assert_allclose(spectrum.photons_per_s_m2, estimate, rtol=5e-3)
    far = bm(distance_m=60.0).spectrum(energies)
    np.testing.assert_allclose(far.photons_per_s_m2, spectrum.photons_per_s_m2 / 4, rtol=1e-12)
    # bins add up: two half-width bins hold the photons of one full bin
    halves = source.spectrum([19.75, 20.25], bin_widths_kev=0.5)
    whole = source.spectrum([20.0], bin_widths_kev=1.0)
    assert halves.total_photons_per_s_m2 == pytest.approx(whole.total_photons_per_s_m2, rel=1e-9)


def test_photons_per_pixel() -> None:
    source = bm()
    energies = energy_grid(8, 30, 1)
    per_pixel = source.photons_per_pixel(energies, pixel_size_m=1.22e-6, exposure_s=2e-3)
    np.testing.assert_allclose(per_pixel, source.spectrum(energies).photons_per_s_m2 * (1.22e-6) ** 2 * 2e-3)


def test_vertical_offset_lowers_flux() -> None:
    source = bm()
    on, off = source.spectrum([10.0, 20.0]), source.spectrum([10.0, 20.0], vertical_offset_m=3e-3)
    assert np.all(off.photons_per_s_m2 < on.photons_per_s_m2)


def test_wiggler_is_2n_bending_magnets() -> None:
    wiggler = Wiggler(**SEED_BM, n_periods=20)
    energies = energy_grid(5, 50, 5)
    np.testing.assert_allclose(
        wiggler.on_axis_flux_density(energies), 40 * bm().on_axis_flux_density(energies)
    )
    np.testing.assert_allclose(
        wiggler.spectrum(energies).photons_per_s_m2, 40 * bm().spectrum(energies).photons_per_s_m2
    )
    strong = Wiggler(**SEED_BM, n_periods=20, period_m=0.1)  # K ≈ 14
    assert strong.k == pytest.approx(93.36 * 1.5 * 0.1, rel=1e-3)
    with pytest.warns(ApproximationWarning, match="K = "):
        Wiggler(**SEED_BM, n_periods=20, period_m=0.01)


def test_undulator_harmonic_energies_against_booklet() -> None:
    for k, period_m in ((0.5, 0.02), (1.2, 0.018), (2.0, 0.032)):
        und = Undulator(
            ring_energy_gev=2.5, current_a=0.1, period_m=period_m, n_periods=80, k=k, distance_m=30.0
        )
        for n in (1, 3, 5):
            expected = n * 0.950 * 2.5**2 / (period_m * 100 * (1 + k**2 / 2))
            assert und.harmonic_energy_kev(n) == pytest.approx(expected, rel=1e-3)
        # off axis the harmonic moves down: E(θ) = E(0) (1 + K²/2) / (1 + K²/2 + γ²θ²)
        theta = 1 / und.gamma
        ratio = (1 + k**2 / 2) / (2 + k**2 / 2)
        assert und.harmonic_energy_kev(1, theta_rad=theta) == pytest.approx(
            und.harmonic_energy_kev(1) * ratio
        )


def test_undulator_peak_flux_against_booklet() -> None:
    k, n_periods = 1.5, 100
    und = Undulator(
        ring_energy_gev=3.0, current_a=0.2, period_m=0.02, n_periods=n_periods, k=k, distance_m=30.0
    )
    for n in (1, 3, 5):
        x = n * k**2 / (4 * (1 + k**2 / 2))
        f_n = n**2 * k**2 / (1 + k**2 / 2) ** 2 * (jv((n - 1) / 2, x) - jv((n + 1) / 2, x)) ** 2
        expected = 1.744e14 * n_periods**2 * 3.0**2 * 0.2 * f_n
        assert und.peak_flux_density(n) == pytest.approx(expected, rel=2e-3)
        # the line peaks at E_n
        assert und.on_axis_flux_density(und.harmonic_energy_kev(n)) == pytest.approx(
            und.peak_flux_density(n), rel=1e-9
        )
    assert und.peak_flux_density(2) == 0.0 and und.harmonic_amplitude(4) == 0.0


def test_undulator_line_shape_and_bin_integral() -> None:
    und = Undulator(ring_energy_gev=2.5, current_a=0.1, period_m=0.02, n_periods=50, k=1.0, distance_m=30.0)
    e1 = und.harmonic_energy_kev(1)
    # first zeros of the finite-N line at E_1 (1 ± 1/N)
    zeros = und.on_axis_flux_density(np.array([e1 * (1 - 1 / 50), e1 * (1 + 1 / 50)]))
    assert np.all(zeros < 1e-20 * und.peak_flux_density(1))
    # analytic bin integration (sine integral) against brute-force quadrature of the on-axis density
    centres = energy_grid(1.0, 12.0, 0.25)
    spectrum = und.spectrum(centres)
    fine = np.linspace(centres[0] - 0.125, centres[-1] + 0.125, 400_001)
    density = und.on_axis_flux_density(fine) / (1e-3 * fine) / (1e-6 * 30.0**2)
    numeric = np.array(
        [
            np.trapezoid(
                density[(fine >= c - 0.125) & (fine <= c + 0.125)],
                fine[(fine >= c - 0.125) & (fine <= c + 0.125)],
            )
            for c in centres
        ]
    )
    strong = numeric > 1e-6 * numeric.max()
    np.testing.assert_allclose(spectrum.photons_per_s_m2[strong], numeric[strong], rtol=1e-3)
    # a whole line holds peak · 1e3 / (nN) photons/s/mrad²
    line = und.spectrum([e1], bin_widths_kev=[0.5 * e1]).total_photons_per_s_m2 * 1e-6 * 30.0**2
    assert line == pytest.approx(und.peak_flux_density(1) * 1e3 / 50, rel=1e-2)


def test_undulator_from_field() -> None:
    und = Undulator.from_field(
        field_t=0.5, period_m=0.02, ring_energy_gev=2.5, current_a=0.1, n_periods=50, distance_m=30.0
    )
    assert und.k == pytest.approx(0.934 * 0.5 * 2.0, rel=1e-3)  # K = 0.934 B[T] λ_u[cm]
    assert deflection_parameter(field_t=1.0, period_m=0.01) == pytest.approx(0.934, rel=1e-3)
    assert und.central_cone_rad() > 0


def test_monochromatic_line() -> None:
    line = Monochromatic(energy_kev=20.0, photons_per_s_m2=1e16, relative_bandwidth=DMM_BANDWIDTH)
    single = line.spectrum()
    assert single.n_bins == 1 and single.total_photons_per_s_m2 == 1e16
    assert single.bin_widths_kev[0] == pytest.approx(0.4)
    spread = line.spectrum(n_bins=31)
    assert spread.total_photons_per_s_m2 == pytest.approx(1e16)
    assert spread.mean_energy_kev == pytest.approx(20.0, rel=1e-12)
    sigma = np.sqrt(np.sum(spread.weights() * (spread.energies_kev - 20.0) ** 2))
    assert 2.3548 * sigma == pytest.approx(0.4, rel=2e-2)
    assert DCM_BANDWIDTH == 1e-4 and DMM_BANDWIDTH == 0.02


def test_monochromator_cuts_its_bandwidth_from_the_source() -> None:
    source = bm()
    line = Monochromatic.from_source(
        source, energy_kev=20.0, relative_bandwidth=DCM_BANDWIDTH, efficiency=0.9
    )
    expected = source.on_axis_flux_density(20.0) * (DCM_BANDWIDTH / 1e-3) / (1e-6 * 30.0**2) * 0.9
    assert line.photons_per_s_m2 == pytest.approx(float(expected), rel=1e-6)
    assert isinstance(source, Source)


def test_tabulated_source_reproduces_a_smooth_source() -> None:
    source = bm()
    table_energies = np.linspace(5.0, 40.0, 2001)
    table = TabulatedSource(
        energies_kev=table_energies, flux_density=source.on_axis_flux_density(table_energies), distance_m=30.0
    )
    energies = energy_grid(8, 30, 1)
    np.testing.assert_allclose(
        table.spectrum(energies).photons_per_s_m2, source.spectrum(energies).photons_per_s_m2, rtol=1e-5
    )
    per_kev = TabulatedSource(energies_kev=[1.0, 100.0], flux_density=[2e10, 2e10], unit="photons/s/m2/kev")
    np.testing.assert_allclose(
        per_kev.spectrum([10.0, 20.0], bin_widths_kev=0.5).photons_per_s_m2, [1e10, 1e10]
    )
    assert table.spectrum([200.0], bin_widths_kev=1.0).total_photons_per_s_m2 == 0.0


def test_tabulated_source_from_file(tmp_path: Path) -> None:
    path = tmp_path / "flux.txt"
    path.write_text("# energy flux\n10 1e13\n20 2e13\n30 1e13\n", encoding="utf-8")
    table = TabulatedSource.from_file(path, distance_m=10.0)
    assert table.name == "flux" and table.energies_kev.tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(DataError, match="does not exist"):
        TabulatedSource.from_file(tmp_path / "none.txt")


def test_xray_tube_with_spekpy() -> None:
    spekpy = pytest.importorskip("spekpy")
    tube = XRayTube(voltage_kv=100.0, current_a=1e-3, distance_m=0.5, anode="W")
    spectrum = tube.spectrum(energy_grid(1.5, 109.5, 1.0))
    # no photons above the tube voltage; tungsten K-alpha lines (59.3, 58.0 keV) stand out
    assert spectrum.photons_per_s_m2[spectrum.energies_kev > 100.5].sum() == 0.0
    at = lambda e: spectrum.photons_per_s_m2[np.argmin(abs(spectrum.energies_kev - e))]  # noqa: E731
    assert at(59.5) > 1.5 * at(55.5)
    # total against SpekPy's own fluence (photons/cm²/mAs at 1 m), scaled to 1 mA and 0.5 m
    reference = spekpy.Spek(kvp=100.0, th=12.0, dk=0.05, targ="W").get_flu() * 1e4 * 1.0 / 0.5**2
    assert spectrum.total_photons_per_s_m2 == pytest.approx(reference, rel=1e-3)


def test_bad_source_inputs_name_the_value() -> None:
    with pytest.raises(ConfigError, match=r"current_a = -0.1 is not allowed"):
        bm(current_a=-0.1)
    with pytest.raises(ConfigError, match=r"field_t = 0 is not allowed"):
        bm(field_t=0)
    with pytest.raises(ConfigError, match=r"ring_energy_gev = 50"):
        bm(ring_energy_gev=50)
    with pytest.raises(ConfigError, match=r"source_size_v_m = -1e-06"):
        bm(source_size_v_m=-1e-6)
    with pytest.raises(ConfigError, match="distance_m"):
        bm(distance_m=0.0)
    with pytest.raises(ConfigError, match="energies_kev"):
        bm().on_axis_flux_density([-1.0])
    with pytest.raises(ConfigError, match="lowest bin edge"):
        bm().spectrum([0.2], bin_widths_kev=1.0)
    with pytest.raises(ConfigError, match="n_periods = 0"):
        Wiggler(**SEED_BM, n_periods=0)
    with pytest.raises(ConfigError, match=r"k = -1"):
        Undulator(ring_energy_gev=2.5, current_a=0.1, period_m=0.02, n_periods=10, k=-1, distance_m=30)
    with pytest.raises(ConfigError, match="harmonic = 0"):
        Undulator(
            ring_energy_gev=2.5, current_a=0.1, period_m=0.02, n_periods=10, k=1, distance_m=30
        ).harmonic_energy_kev(0)
    with pytest.raises(ConfigError, match=r"relative_bandwidth = 0"):
        Monochromatic(energy_kev=20.0, photons_per_s_m2=1.0, relative_bandwidth=0)
    with pytest.raises(ConfigError, match="n_bins = 0"):
        Monochromatic(energy_kev=20.0, photons_per_s_m2=1.0).spectrum(n_bins=0)
    with pytest.raises(ConfigError, match="unit = 'ph'"):
        TabulatedSource(energies_kev=[1.0, 2.0], flux_density=[1.0, 1.0], unit="ph")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="voltage_kv = 300"):
        XRayTube(voltage_kv=300, current_a=1e-3, distance_m=1.0)
    with pytest.raises(ConfigError, match="anode = 'Fe'"):
        XRayTube(voltage_kv=60, current_a=1e-3, distance_m=1.0, anode="Fe")
    with pytest.raises(ConfigError, match="step_kev = 0"):
        energy_grid(8, 30, 0)


def test_no_warning_for_a_valid_seed_source() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bm().spectrum(energy_grid(8, 30, 1))
