"""The indirect detector: noise statistics, saturation, MTF, absorbed fraction, timing, parity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xraylib
from scipy import special

from xrai.errors import ConfigError
from xrai.physics.detector import (
    Camera,
    Detector,
    Optics,
    Scintillator,
    absorbed_fraction,
    airy_fwhm_m,
    camera_mean_counts,
    camera_readout,
    check_frame_timing,
    collection_efficiency,
    conversion_gain,
    detect,
    detector_psf,
    emission_depths,
    make_pixel_maps,
    mean_counts,
    seed_detector,
    zinger_electrons,
)

LSO = Scintillator(
    material="LSO:Tb", thickness_m=12e-6, light_yield_per_kev=36.0, emission_wavelength_m=545e-9
)


def simple_camera(**changes: object) -> Camera:
    base = Camera(
        n_rows=256,
        n_cols=256,
        pixel_size_m=10e-6,
        quantum_efficiency=1.0,
        electrons_per_count=1.0,
        full_well_electrons=1e6,
        bit_depth=24,
    )
    return dataclasses.replace(base, **changes)


def simple_detector(camera: Camera | None = None, **changes: object) -> Detector:
    base = Detector(
        scintillator=LSO,
        optics=Optics(magnification=10.0, numerical_aperture=0.28),
        camera=camera or simple_camera(),
        blur=False,
    )
    return dataclasses.replace(base, **changes)


# -- noise ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qe", [1.0, 0.4])
def test_camera_shot_noise_variance_equals_mean(qe: float) -> None:
    camera = simple_camera(quantum_efficiency=qe)
    photons = np.full((256, 256), 500.0)
    counts = camera_readout(photons, camera, exposure_s=0.01, rng=1, dtype="float64")
    mean = qe * 500.0
    assert counts.mean() == pytest.approx(mean, rel=2e-3)
    # Poisson thinning keeps Poisson statistics; rounding adds 1/12 count².
    assert counts.var() == pytest.approx(mean + 1 / 12, rel=0.03)


def test_read_noise_variance_and_offset() -> None:
    camera = simple_camera(read_noise_electrons=7.0, electrons_per_count=2.0, offset_counts=100.0)
    counts = camera_readout(np.zeros((256, 256)), camera, exposure_s=0.01, rng=2, dtype="float64")
    assert counts.mean() == pytest.approx(100.0, abs=0.05)
    assert counts.var() == pytest.approx((7.0 / 2.0) ** 2 + 1 / 12, rel=0.03)


def test_dark_current_is_poisson_in_exposure() -> None:
    camera = simple_camera(dark_current_e_per_s=2000.0)
    counts = camera_readout(np.zeros((256, 256)), camera, exposure_s=0.1, rng=3, dtype="float64")
    assert counts.mean() == pytest.approx(200.0, rel=3e-3)
    assert counts.var() == pytest.approx(200.0 + 1 / 12, rel=0.03)


def test_cascade_variance_monochromatic() -> None:
    # Poisson X-rays, each giving a Poisson number of photo-electrons with mean g: var = m (1 + g).
    detector = simple_detector(camera=simple_camera(quantum_efficiency=0.5))
    gains = conversion_gain(detector, [20.0])
    n_xray = 3000.0
    counts = detect(
        np.full((1, 256, 256), n_xray), detector, energies_kev=[20.0], exposure_s=0.01, rng=4, dtype="float64"
    )
    mean = n_xray * gains["electrons_per_xray"][0]
    g = gains["light_per_quantum"][0] * 0.5
    assert counts.mean() == pytest.approx(mean, rel=3e-3)
    assert counts.var() == pytest.approx(mean * (1 + g) + 1 / 12, rel=0.04)


def test_cascade_variance_polychromatic_matches_compound_poisson() -> None:
    detector = simple_detector()
    energies = np.array([12.0, 25.0])
    n = np.array([2000.0, 1500.0])
    gains = conversion_gain(detector, energies)
    absorbed = n * gains["absorbed"]
    g = gains["light_per_quantum"]
    expected_mean = float(np.sum(absorbed * g))
    expected_var = float(np.sum(absorbed * g * (1 + g)))  # Σ_E A_E (G_E + G_E²) for QE = 1
    photons = np.broadcast_to(n[:, None, None], (2, 256, 256))
    counts = detect(photons, detector, energies_kev=energies, exposure_s=0.01, rng=5, dtype="float64")
    assert counts.mean() == pytest.approx(expected_mean, rel=3e-3)
    assert counts.var() == pytest.approx(expected_var + 1 / 12, rel=0.04)


def test_mean_path_is_the_expectation_of_the_noisy_path() -> None:
    detector = seed_detector(shape=(64, 64), defects=False)
    rng = np.random.default_rng(6)
    photons = rng.uniform(1e4, 2e4, size=(2, 64, 64))  # well below full well
    energies = [15.0, 25.0]
    frames = np.stack(
        [
            detect(photons, detector, energies_kev=energies, exposure_s=0.02, rng=rng, dtype="float64")
            for _ in range(200)
        ]
    )
    expected = mean_counts(photons, detector, energies_kev=energies, exposure_s=0.02)
    standard_error = frames.std(axis=0) / np.sqrt(frames.shape[0])
    z = (frames.mean(axis=0) - expected) / standard_error
    assert abs(z.mean()) < 0.1
    assert np.percentile(np.abs(z), 99) < 3.5


# -- saturation ----------------------------------------------------------------------------------------------------


def test_saturation_at_full_well() -> None:
    camera = simple_camera(
        full_well_electrons=5000.0, electrons_per_count=2.0, offset_counts=50.0, bit_depth=16
    )
    counts = camera_readout(np.full((8, 8), 1e6), camera, exposure_s=0.01, rng=7)
    assert np.all(counts == 50.0 + 2500.0)
    assert camera.saturation_count == 2550.0
    mean = camera_mean_counts(np.full((8, 8), 1e6), camera, exposure_s=0.01)
    assert np.all(mean == 2550.0)


def test_saturation_at_bit_depth() -> None:
    camera = simple_camera(
        full_well_electrons=1e5, electrons_per_count=1.0, bit_depth=8, read_noise_electrons=3.0
    )
    counts = camera_readout(np.full((8, 8), 1e4), camera, exposure_s=0.01, rng=8)
    assert np.all(counts == 255)
    assert camera.max_count == 255


def test_seed_camera_dynamic_range_and_saturation() -> None:
    detector = seed_detector(shape=(32, 32), defects=False)
    camera = detector.camera
    assert camera.dynamic_range == pytest.approx(1600.0)
    assert camera.read_noise_electrons == pytest.approx(22.5)
    counts = detect(np.full((1, 32, 32), 1e8), detector, energies_kev=[20.0], exposure_s=0.01, rng=9)
    # full well 36 000 e⁻ / 10 e⁻ per count + 100 offset = 3700, ± read noise 2.25 counts
    assert counts.mean() == pytest.approx(3700.0, abs=0.5)
    assert counts.max() <= 3700 + 6 * 2.25
    assert detector.pixel_size_m == pytest.approx(1.22e-6)
    assert seed_detector(effective_pixel_size_m=None).pixel_size_m == pytest.approx(1.1e-6)


# -- optics: collection and MTF --------------------------------------------------------------------------------------


def test_collection_efficiency_small_na_limit() -> None:
    for na, n in [(0.05, 1.82), (0.1, 1.0)]:
        assert collection_efficiency(na, refractive_index=n) == pytest.approx(
            na**2 / (4 * n**2), rel=(na / n) ** 2 / 2
        )
    # A full hemisphere in air (NA = n = 1) collects half of the isotropic emission.
    assert collection_efficiency(1.0, refractive_index=1.0) == pytest.approx(0.5)


def test_diffraction_psf_is_the_airy_pattern() -> None:
    # A thin screen: diffraction alone. Sample finely (p = λ/(8 NA)) so the band-limited PSF is not aliased.
    na, wavelength = 0.28, 545e-9
    thin = dataclasses.replace(LSO, thickness_m=1e-9)
    detector = simple_detector(
        scintillator=thin, optics=Optics(magnification=10.0, numerical_aperture=na), blur=True
    )
    pixel = wavelength / (8 * na)
    size = 257
    psf = detector_psf(detector, size, pixel_size_m=pixel)
    r = np.hypot(*np.meshgrid((np.arange(size) - size // 2) * pixel, (np.arange(size) - size // 2) * pixel))
    v = 2 * np.pi * na * r / wavelength
    with np.errstate(invalid="ignore", divide="ignore"):
        airy = np.where(v > 0, (2 * special.j1(v) / v) ** 2, 1.0)
    airy *= psf.max() / airy.max()
    centre = slice(size // 2 - 40, size // 2 + 41)
    np.testing.assert_allclose(psf[centre, centre], airy[centre, centre], atol=3e-3 * psf.max())
    # FWHM of the profile ≈ 0.51 λ/NA
    profile = psf[size // 2, size // 2 :] / psf.max()
    k = int(np.flatnonzero(profile < 0.5)[0])
    half_width = (k - 1 + (profile[k - 1] - 0.5) / (profile[k - 1] - profile[k])) * pixel
    fwhm = 2 * half_width
    assert fwhm == pytest.approx(airy_fwhm_m(numerical_aperture=na, wavelength_m=wavelength), rel=0.02)


def test_edge_mtf_matches_analytic_diffraction_times_gaussian() -> None:
    na, wavelength, pixel, fwhm = 0.28, 545e-9, 0.4e-6, 2.0e-6
    thin = dataclasses.replace(LSO, thickness_m=1e-9)
    optics = Optics(magnification=10.0, numerical_aperture=na, extra_blur_fwhm_m=fwhm)
    camera = simple_camera(n_rows=8, n_cols=2048)
    detector = simple_detector(
        scintillator=thin, optics=optics, camera=camera, blur=True, effective_pixel_size_m=pixel
    )
    edge = np.zeros((1, 8, 2048))
    edge[..., 1024:] = 1e6
    esf = mean_counts(edge, detector, energies_kev=[20.0], exposure_s=1e-3)[4].astype(np.float64)
    lsf = np.diff(esf)[512:1536]  # the diffraction LSF has 1/x² tails: keep a wide window
    measured = np.abs(np.fft.rfft(lsf))
    measured /= measured[0]
    f = np.fft.rfftfreq(lsf.size, d=pixel)
    nu = np.minimum(f / (2 * na / wavelength), 1)
    diffraction = 2 / np.pi * (np.arccos(nu) - nu * np.sqrt(1 - nu**2))
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    expected = diffraction * np.exp(-2 * np.pi**2 * sigma**2 * f**2)
    np.testing.assert_allclose(measured, expected, atol=2e-3)


def test_thicker_screen_blurs_more() -> None:
    widths = []
    for thickness in (2e-6, 12e-6, 50e-6):
        det = seed_detector(shape=(8, 8), defects=False, effective_pixel_size_m=0.2e-6)
        det = dataclasses.replace(
            det, scintillator=dataclasses.replace(det.scintillator, thickness_m=thickness)
        )
        psf = detector_psf(det, 101)
        widths.append(np.sqrt(np.sum(psf * np.add.outer(np.arange(-50, 51) ** 2, np.arange(-50, 51) ** 2))))
    assert widths[0] < widths[1] < widths[2]


# -- scintillator --------------------------------------------------------------------------------------------------


def test_absorbed_fraction_against_xraylib_beer_lambert() -> None:
    energies = np.array([8.0, 12.0, 20.0, 30.0])
    rho, t = 7.4, 12e-6
    mu_total = np.array([xraylib.CS_Total_CP("Lu2SiO5", e) for e in energies]) * rho * 100
    mu_photo = np.array([xraylib.CS_Photo_CP("Lu2SiO5", e) for e in energies]) * rho * 100
    total = 1 - np.exp(-mu_total * t)
    np.testing.assert_allclose(absorbed_fraction(LSO, energies, kind="total"), total, rtol=1e-6)
    np.testing.assert_allclose(absorbed_fraction(LSO, energies), mu_photo / mu_total * total, rtol=1e-6)
    assert np.all(absorbed_fraction(LSO, energies) <= absorbed_fraction(LSO, energies, kind="total"))


def test_emission_depths_follow_the_exponential_absorption() -> None:
    depths, fractions = emission_depths(LSO, [20.0], n_layers=4)
    mu = xraylib.CS_Total_CP("Lu2SiO5", 20.0) * 7.4 * 100
    edges = np.linspace(0, 12e-6, 5)
    expected = -np.diff(np.exp(-mu * edges))
    np.testing.assert_allclose(fractions, expected / expected.sum(), rtol=1e-9)
    np.testing.assert_allclose(depths, (edges[:-1] + edges[1:]) / 2)


# -- timing and configuration errors -------------------------------------------------------------------------------


def test_exposure_longer_than_frame_period_names_both() -> None:
    camera = seed_detector(shape=(8, 8)).camera
    check_frame_timing(camera, exposure_s=0.04, frame_rate_hz=25.0)
    with pytest.raises(
        ConfigError, match=r"exposure_s = 0\.05 s .*1/frame_rate_hz = 0\.04 s.*frame_rate_hz = 25"
    ):
        check_frame_timing(camera, exposure_s=0.05, frame_rate_hz=25.0)
    with pytest.raises(ConfigError, match=r"frame_rate_hz = 100 Hz .*max_frame_rate_hz = 25"):
        check_frame_timing(camera, exposure_s=0.001, frame_rate_hz=100.0)
    with pytest.raises(ConfigError, match="exposure_s"):
        detect(
            np.ones((1, 8, 8)),
            seed_detector(shape=(8, 8)),
            energies_kev=[20.0],
            exposure_s=0.05,
            frame_rate_hz=25.0,
            rng=0,
        )


@pytest.mark.parametrize(
    ("make", "field", "value"),
    [
        (lambda: dataclasses.replace(LSO, thickness_m=-1e-6), "thickness_m", "-1e-06"),
        (lambda: Optics(magnification=10, numerical_aperture=1.2), "numerical_aperture", "1.2"),
        (lambda: simple_camera(quantum_efficiency=1.5), "quantum_efficiency", "1.5"),
        (lambda: simple_camera(bit_depth=0), "bit_depth", "0"),
        (lambda: simple_camera(binning=2.5), "binning", "2.5"),
    ],
)
def test_bad_configuration_names_field_and_value(make, field: str, value: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=rf"{field} = {value}"):
        make()


def test_photons_with_wrong_energy_axis_is_an_error() -> None:
    with pytest.raises(ConfigError, match="n_energies = 3"):
        mean_counts(np.ones((2, 8, 8)), simple_detector(), energies_kev=[10, 20, 30], exposure_s=0.01)


# -- fixed pattern, binning, zingers ---------------------------------------------------------------------------------


def test_pixel_maps_statistics_and_reproducibility() -> None:
    camera = simple_camera(
        prnu=0.02,
        dsnu_electrons=3.0,
        hot_pixel_fraction=0.01,
        hot_pixel_dark_current_e_per_s=1e4,
        dead_pixel_fraction=0.001,
    )
    maps = make_pixel_maps(camera, rng=11)
    assert maps.gain.std() == pytest.approx(0.02, rel=0.05)
    assert maps.offset_electrons.std() == pytest.approx(3.0, rel=0.05)
    assert np.mean(maps.dark_current_e_per_s > 0) == pytest.approx(0.01, rel=0.15)
    again = make_pixel_maps(camera, rng=11)
    np.testing.assert_array_equal(maps.gain, again.gain)
    counts = camera_readout(
        np.full(camera.shape, 1000.0),
        dataclasses.replace(camera, offset_counts=7.0),
        exposure_s=0.0,
        rng=12,
        pixel_maps=maps,
    )
    assert np.all(counts[maps.dead] == 7.0)


def test_prnu_cancels_in_flat_field_correction_but_nonlinearity_does_not() -> None:
    camera = simple_camera(
        prnu=0.05, nonlinear_pixel_fraction=0.5, nonlinearity_rms=0.05, full_well_electrons=1e5
    )
    maps = make_pixel_maps(camera, rng=13)
    flat = camera_mean_counts(np.full(camera.shape, 4e4), camera, exposure_s=0.0, pixel_maps=maps)
    sample = camera_mean_counts(np.full(camera.shape, 1e4), camera, exposure_s=0.0, pixel_maps=maps)
    ratio = sample / flat
    linear = maps.nonlinearity == 0
    np.testing.assert_allclose(ratio[linear], 0.25, rtol=1e-9)
    np.testing.assert_allclose(ratio[~linear], 0.25 ** (1 + maps.nonlinearity[~linear]), rtol=1e-9)


def test_binning_sums_blocks() -> None:
    camera = simple_camera(n_rows=64, n_cols=64)
    image = np.random.default_rng(14).uniform(0, 100, size=(64, 64))
    binned = camera_mean_counts(image, dataclasses.replace(camera, binning=2), exposure_s=0.0)
    assert binned.shape == (32, 32)
    np.testing.assert_allclose(binned, image.reshape(32, 2, 32, 2).sum(axis=(1, 3)))


def test_zingers_are_rare_saturating_clusters() -> None:
    rng = np.random.default_rng(15)
    counts = [
        np.count_nonzero(zinger_electrons((64, 64), mean_per_frame=3.0, full_well_electrons=1e4, rng=rng) > 0)
        for _ in range(300)
    ]
    assert 3.0 * 1.0 <= np.mean(counts) <= 3.0 * 4.0  # 1 to 4 pixels per event
    assert zinger_electrons((8, 8), mean_per_frame=0.0, full_well_electrons=1.0, rng=0).sum() == 0


# -- backends ------------------------------------------------------------------------------------------------------


def test_mean_counts_numpy_torch_parity_and_gradient() -> None:
    torch = pytest.importorskip("torch")
    detector = seed_detector(shape=(32, 48), defects=False)
    photons = np.random.default_rng(16).uniform(1e4, 3e4, size=(2, 32, 48))
    energies = [15.0, 25.0]
    reference = mean_counts(photons, detector, energies_kev=energies, exposure_s=0.01)
    tensor = torch.tensor(photons, dtype=torch.float64)
    result = mean_counts(tensor, detector, energies_kev=energies, exposure_s=0.01)
    np.testing.assert_allclose(result.numpy(), reference, rtol=1e-10)
    float32 = mean_counts(tensor.to(torch.float32), detector, energies_kev=energies, exposure_s=0.01)
    assert float32.dtype == torch.float32
    np.testing.assert_allclose(float32.numpy(), reference, rtol=1e-5)


def test_mean_counts_gradient_matches_finite_differences() -> None:
    torch = pytest.importorskip("torch")
    detector = seed_detector(shape=(12, 12))  # with defects: PRNU, nonlinear pixels
    maps = make_pixel_maps(dataclasses.replace(detector.camera, nonlinear_pixel_fraction=0.3), rng=17)
    photons = torch.tensor(np.random.default_rng(18).uniform(1e4, 3e4, size=(2, 12, 12)), requires_grad=True)

    def forward(x):  # type: ignore[no-untyped-def]
        return mean_counts(x, detector, energies_kev=[15.0, 25.0], exposure_s=0.01, pixel_maps=maps)

    assert torch.autograd.gradcheck(forward, (photons,), eps=1.0, atol=1e-6, rtol=1e-4)
