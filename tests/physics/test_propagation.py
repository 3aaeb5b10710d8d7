"""Wave propagation: invariants, analytic solutions, backends, sampling checks and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import fresnel

from xrai.errors import ApproximationWarning, ConfigError, SamplingWarning
from xrai.options import set_options
from xrai.physics.propagation import (
    check_propagation_sampling,
    complex_transmission,
    depth_of_field_m,
    effective_distance_m,
    gaussian_blur,
    magnification,
    min_fft_shape,
    min_pixel_size_m,
    multislice,
    polychromatic_intensity,
    propagate,
    propagator,
    slices_needed,
    source_blur_fwhm_m,
    wavelength_m,
    wavenumber_per_m,
)

try:
    import torch
except ImportError:  # the numpy tests still run; the torch ones are skipped
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
needs_cuda = pytest.mark.skipif(torch is None or not torch.cuda.is_available(), reason="no CUDA device")

RNG = np.random.default_rng(1234)


class _Constant:
    """A material with energy-independent δ and β (keeps the tests independent of the tables)."""

    def __init__(self, delta: float, beta: float) -> None:
        self._delta, self._beta = delta, beta

    def delta(self, energies_kev: object) -> np.ndarray:
        return np.full(np.shape(energies_kev), self._delta)

    def beta(self, energies_kev: object) -> np.ndarray:
        return np.full(np.shape(energies_kev), self._beta)


def _random_phase_object(shape: tuple[int, int], *, amplitude: bool = False) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    phase = gaussian_filter(RNG.standard_normal(shape), 2.0) * 20.0
    modulus = np.exp(-np.abs(gaussian_filter(RNG.standard_normal(shape), 3.0))) if amplitude else 1.0
    return (modulus * np.exp(1j * phase)).astype(np.complex128)


# ------------------------------------------------------------------------------------------------ invariants


@pytest.mark.parametrize("method", ["fresnel", "angular_spectrum"])
def test_pure_phase_propagation_conserves_energy(method: str) -> None:
    field = _random_phase_object((128, 96))
    out = propagate(field, distance_m=0.5, energy_kev=15.0, pixel_size_m=1e-6, method=method)
    assert out.dtype == np.complex128
    assert np.sum(np.abs(out) ** 2) == pytest.approx(np.sum(np.abs(field) ** 2), rel=1e-12)
    assert np.abs(out - field).max() > 0.1  # it did propagate


@pytest.mark.parametrize("method", ["fresnel", "angular_spectrum"])
def test_forward_then_backward_is_identity(method: str) -> None:
    field = _random_phase_object((64, 80), amplitude=True)
    kwargs = {"energy_kev": 20.0, "pixel_size_m": (1e-6, 0.8e-6), "method": method}
    there = propagate(field, distance_m=0.3, **kwargs)
    back = propagate(there, distance_m=-0.3, **kwargs)
    np.testing.assert_allclose(back, field, atol=1e-12)
    # padded propagation is also reversible inside the field of view away from the borders
    there = propagate(field, distance_m=0.01, pad=(128, 128), pad_mode="constant", pad_value=0, **kwargs)
    assert there.shape == field.shape


def test_beer_lambert_at_zero_distance_matches_xraylib_attenuation() -> None:
    """|T|² = exp(−μ t) with μ = ρ·CS_Total from xraylib: an independent check of β and k."""
    import xraylib

    density = 1.18
    energies = np.array([10.0, 20.0, 29.0])
    thickness = np.linspace(0, 2e-3, 50).reshape(5, 10)
    for energy in energies:
        delta = 1 - xraylib.Refractive_Index_Re("C5H8O2", energy, density)
        beta = xraylib.Refractive_Index_Im("C5H8O2", energy, density)
        field = complex_transmission(thickness, delta=delta, beta=beta, energy_kev=energy, dtype="float64")
        out = propagate(field, distance_m=0.0, energy_kev=energy, pixel_size_m=1e-6)
        mu_per_m = xraylib.CS_Total_CP("C5H8O2", energy) * density * 100.0
        np.testing.assert_allclose(np.abs(out) ** 2, np.exp(-mu_per_m * thickness), rtol=1e-6)
        np.testing.assert_allclose(
            np.angle(out), np.angle(np.exp(-1j * wavenumber_per_m(energy) * delta * thickness)), atol=1e-9
        )
    # polychromatic at z = 0: the weighted sum of Beer–Lambert terms
    image = polychromatic_intensity(
        {"pmma": thickness},
        energies_kev=energies,
        weights=[0.2, 0.5, 0.3],
        distance_m=0.0,
        pixel_size_m=1e-6,
        dtype="float64",
    )
    expected = sum(
        w * np.exp(-xraylib.CS_Total_CP("C5H8O2", e) * density * 100.0 * thickness)
        for w, e in zip([0.2, 0.5, 0.3], energies, strict=True)
    )
    np.testing.assert_allclose(image, expected, rtol=1e-6)


# --------------------------------------------------------------------------------------- analytic solutions


def test_fresnel_slit_diffraction_matches_fresnel_integrals() -> None:
    """A wide slit on a periodic grid against ½|Σ_k E(w₂ₖ) − E(w₁ₖ)|², E = C + iS (scipy.special.fresnel)."""
    n, pixel, energy = 16384, 1e-6, 10.0
    lam = wavelength_m(energy)
    fresnel_length_px = 64
    z = (fresnel_length_px * pixel) ** 2 / lam
    x = (np.arange(n) - (n - 1) / 2) * pixel
    a, b = -n / 4 * pixel, n / 4 * pixel  # edges between pixels
    aperture = ((x > a) & (x < b)).astype(np.complex128)[None, :]
    intensity = np.abs(propagate(aperture, distance_m=z, energy_kev=energy, pixel_size_m=pixel)[0]) ** 2

    def e(w: np.ndarray) -> np.ndarray:
        s, c = fresnel(w)
        return c + 1j * s

    scale = math.sqrt(2 / (lam * z))
    period = n * pixel
    amplitude = sum(
        e((b + k * period - x) * scale) - e((a + k * period - x) * scale) for k in range(-200, 201)
    )
    expected = np.abs(amplitude) ** 2 / 2
    near_edge = np.abs(x - b) < 200 * pixel
    assert np.abs(intensity - expected)[near_edge].max() < 1e-3
    assert expected[near_edge].max() == pytest.approx(1.3704, abs=2e-3)  # the classic first fringe, 1.37


def test_fresnel_scaling_theorem() -> None:
    """A diverging wave from a point source at D, propagated by z, equals the plane-wave image at z/M, ×M."""
    n, pixel, energy = 4096, 1e-6, 1.0
    lam = wavelength_m(energy)
    source, z = 0.4, 0.4
    m = magnification(source_distance_m=source, distance_m=z)
    assert m == 2.0 and effective_distance_m(z, source_distance_m=source) == pytest.approx(0.2)

    def sample(x: np.ndarray) -> np.ndarray:  # Gaussian beam envelope × weak phase/amplitude bump
        bump = np.exp(-(x**2) / (2 * (5e-6) ** 2))
        return np.exp(-(x**2) / (60e-6) ** 2) * np.exp((-0.2 + 0.8j) * bump)

    x = (np.arange(n) - (n - 1) / 2) * pixel
    spherical = sample(x) * np.exp(1j * math.pi * x**2 / (lam * source))
    cone = np.abs(propagate(spherical[None, :], distance_m=z, energy_kev=energy, pixel_size_m=pixel)[0]) ** 2
    fine = x / m  # the same indices on a grid of pixel/M
    plane = propagate(sample(fine)[None, :], distance_m=z / m, energy_kev=energy, pixel_size_m=pixel / m)[0]
    expected = np.abs(plane) ** 2 / m  # 1-D (cylindrical) wave: intensity falls as 1/M
    np.testing.assert_allclose(cone, expected, atol=1e-9 * 1 + 1e-6 * expected.max())
    # and the converging wave (wrong sign) does not satisfy it
    wrong = sample(x) * np.exp(-1j * math.pi * x**2 / (lam * source))
    bad = np.abs(propagate(wrong[None, :], distance_m=z, energy_kev=energy, pixel_size_m=pixel)[0]) ** 2
    assert np.abs(bad - expected).max() > 0.1 * expected.max()


def test_polychromatic_cone_beam_uses_the_effective_distance() -> None:
    thickness = {"a": _sphere_map(48, 10)}
    materials = {"a": _Constant(2e-6, 2e-9)}
    kwargs = {"energies_kev": [15.0, 20.0], "pixel_size_m": 1e-6, "dtype": "float64", "mollified": True}
    cone = polychromatic_intensity(thickness, materials, distance_m=0.3, source_distance_m=0.6, **kwargs)
    plane = polychromatic_intensity(thickness, materials, distance_m=0.2, **kwargs)
    np.testing.assert_allclose(cone, plane, rtol=1e-12)


def test_angular_spectrum_is_exact_for_a_tilted_plane_wave() -> None:
    """exp(i k x sin α) → exp(i k (x sin α + z cos α)); the Fresnel kernel only approximates cos α ≈ 1 − α²/2."""
    n, pixel, energy, z = 64, 1e-9, 1.0, 2e-6  # 1.24 nm wavelength, steep angles
    lam = wavelength_m(energy)
    k = 2 * math.pi / lam
    x = np.arange(n) * pixel
    f = 20 / (n * pixel)  # on the FFT grid
    sin_a = lam * f
    field = np.exp(1j * k * sin_a * x)[None, :] * np.ones((4, 1))
    exact = field * np.exp(1j * k * z * (math.sqrt(1 - sin_a**2) - 1))
    with set_options(on_undersampling="ignore"):
        out = propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel, method="angular_spectrum")
        paraxial = propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    np.testing.assert_allclose(out, exact, atol=1e-9)
    assert np.abs(paraxial - exact).max() > 1e-3
    # for X-ray angles the two kernels agree closely
    h_f = propagator((64, 64), distance_m=1.0, energy_kev=20.0, pixel_size_m=1e-6, dtype="float64")
    h_a = propagator(
        (64, 64),
        distance_m=1.0,
        energy_kev=20.0,
        pixel_size_m=1e-6,
        dtype="float64",
        method="angular_spectrum",
    )
    assert np.abs(h_f - h_a).max() < 1e-6


def test_auto_padding_matches_a_much_larger_grid() -> None:
    """pad='auto' + constant background reproduces an isolated object computed on a 4× larger grid."""
    n, pixel, energy, z = 64, 1e-6, 12.0, 0.5  # light diffracts ~26 pixels: it wraps round a 64-pixel grid
    t = np.zeros((n, n))
    t[20:44, 50:60] = 5e-6
    field = complex_transmission(t, delta=3e-6, beta=3e-9, energy_kev=energy, dtype="float64")
    big = np.ones((4 * n, 4 * n), dtype=np.complex128)
    big[3 * n // 2 : 5 * n // 2, 3 * n // 2 : 5 * n // 2] = field
    reference = propagate(big, distance_m=z, energy_kev=energy, pixel_size_m=pixel)[
        3 * n // 2 : 5 * n // 2, 3 * n // 2 : 5 * n // 2
    ]
    shape = min_fft_shape((n, n), distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    assert shape[0] > n
    padded = propagate(
        field, distance_m=z, energy_kev=energy, pixel_size_m=pixel, pad="auto", pad_mode="constant"
    )
    periodic = propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel, pad=None)
    err_padded = np.abs(padded - reference).max()
    assert err_padded < 1e-3
    assert np.abs(periodic - reference).max() > 10 * err_padded  # padding did matter


# ------------------------------------------------------------------------------------------------ multislice


def test_multislice_reduces_to_the_projection_approximation() -> None:
    t = _sphere_map(64, 20) * 0.5
    kwargs = {"delta": 1e-6, "beta": 1e-9, "energy_kev": 20.0, "pixel_size_m": 1e-6, "dtype": "float64"}
    single = propagate(
        complex_transmission(t, delta=1e-6, beta=1e-9, energy_kev=20.0, dtype="float64"),
        distance_m=0.1,
        energy_kev=20.0,
        pixel_size_m=1e-6,
    )
    one = multislice([t], slice_spacing_m=0.0, distance_m=0.1, **kwargs)
    np.testing.assert_allclose(one, single, atol=1e-12)
    # slices with no spacing multiply: the same as their summed thickness
    halves = multislice([t / 2, t / 2], slice_spacing_m=0.0, distance_m=0.1, **kwargs)
    np.testing.assert_allclose(halves, single, atol=1e-12)
    # trailing empty slices only add free space
    empty = np.zeros_like(t)
    longer = multislice([t, empty, empty], slice_spacing_m=0.01, distance_m=0.08, **kwargs)
    np.testing.assert_allclose(longer, single, atol=1e-12)


def test_multislice_converges_and_conserves_energy_for_a_thick_phase_object() -> None:
    """A 40 µm long fibre, tilted across 0.05 µm pixels, is far thicker than the depth of field p²/λ."""
    from xrai.physics.bodies import Cylinder, project_slices

    n, pixel, energy, depth, z0 = 64, 0.05e-6, 8.0, 40e-6, 2e-6
    fibre = [Cylinder(radius_m=0.4e-6, length_m=depth, axis=(0.04, 1.0, 0.0), material="a")]
    assert depth > 2 * depth_of_field_m(pixel, energy_kev=energy)  # projection approximation not valid
    needed = slices_needed(depth, pixel_size_m=pixel, energy_kev=energy)
    results = []
    for count in (needed, 2 * needed, 4 * needed, 8 * needed, 16 * needed):
        spacing = depth / count
        slices = project_slices(
            fibre, (n, n), pixel_size_m=pixel, n_slices=count, depth_m=depth, dtype="float64", sampling="area"
        )
        field = multislice(
            [s["a"] for s in slices],
            delta=1e-5,
            beta=0.0,
            energy_kev=energy,
            slice_spacing_m=spacing,
            distance_m=z0 + spacing / 2,  # the same detector plane for every slice count
            pixel_size_m=pixel,
            dtype="float64",
        )
        assert np.sum(np.abs(field) ** 2) == pytest.approx(n * n, rel=1e-10)
        results.append(field)
    steps = [np.abs(b - a).max() for a, b in itertools.pairwise(results)]
    assert all(later < earlier for earlier, later in itertools.pairwise(steps))  # converges
    assert steps[-1] < 0.05 * steps[0]
    first = steps[0]
    # the projection approximation is clearly different
    single = project_slices(fibre, (n, n), pixel_size_m=pixel, n_slices=1, depth_m=depth, dtype="float64")[0][
        "a"
    ]
    projected = propagate(
        complex_transmission(single, delta=1e-5, beta=0.0, energy_kev=energy, dtype="float64"),
        distance_m=z0 + depth / 2,
        energy_kev=energy,
        pixel_size_m=pixel,
    )
    assert np.abs(projected - results[-1]).max() > 3 * first


def test_thick_sample_warns_that_the_projection_approximation_fails() -> None:
    t = {"a": _sphere_map(32, 12) * 1e3}  # 24 mm thick at 0.1 µm pixels
    with pytest.warns(ApproximationWarning, match="multislice"):
        polychromatic_intensity(
            t, {"a": _Constant(0.0, 1e-12)}, energies_kev=[20.0], distance_m=0.0, pixel_size_m=1e-7
        )
    with pytest.raises(ConfigError, match="projection approximation"), set_options(on_undersampling="raise"):
        polychromatic_intensity(
            t, {"a": _Constant(0.0, 1e-12)}, energies_kev=[20.0], distance_m=0.0, pixel_size_m=1e-7
        )


def test_polychromatic_multislice_matches_monochromatic_multislice() -> None:
    slices = [{"a": _sphere_map(32, 8) * 0.5}, {"a": _sphere_map(32, 6) * 0.5}]
    materials = {"a": _Constant(2e-6, 1e-9)}
    image = polychromatic_intensity(
        slices,
        materials,
        energies_kev=[12.0, 18.0],
        weights=[1.0, 2.0],
        distance_m=0.02,
        slice_spacing_m=5e-6,
        pixel_size_m=1e-6,
        dtype="float64",
    )
    expected = sum(
        w
        * np.abs(
            multislice(
                [s["a"] for s in slices],
                delta=2e-6,
                beta=1e-9,
                energy_kev=e,
                slice_spacing_m=5e-6,
                distance_m=0.02,
                pixel_size_m=1e-6,
                dtype="float64",
            )
        )
        ** 2
        for w, e in ((1.0, 12.0), (2.0, 18.0))
    )
    np.testing.assert_allclose(image, expected, rtol=1e-12)


# ----------------------------------------------------------------------------------------- partial coherence


def test_gaussian_blur_has_the_requested_width_and_keeps_the_integral() -> None:
    image = np.zeros((101, 121))
    image[50, 60] = 1.0
    fwhm = 6e-6
    blurred = gaussian_blur(image, fwhm_m=(fwhm, 2 * fwhm), pixel_size_m=1e-6)
    rows, cols = np.mgrid[:101, :121]
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2))) / 1e-6
    assert blurred.sum() == pytest.approx(1.0, rel=1e-9)
    assert np.sum(blurred * (rows - 50) ** 2) == pytest.approx(sigma**2, rel=1e-6)
    assert np.sum(blurred * (cols - 60) ** 2) == pytest.approx(4 * sigma**2, rel=1e-6)
    flat = gaussian_blur(np.full((20, 30), 3.0), fwhm_m=5e-6, pixel_size_m=1e-6)
    np.testing.assert_allclose(flat, 3.0, rtol=1e-12)  # edge padding: no dark borders


def test_source_size_blurs_the_coherent_image_by_s_z_over_d() -> None:
    assert source_blur_fwhm_m(source_size_m=50e-6, source_distance_m=25.0, distance_m=0.5) == pytest.approx(
        1e-6
    )
    thickness = {"a": _sphere_map(64, 16)}
    materials = {"a": _Constant(2e-6, 2e-9)}
    kwargs = {
        "energies_kev": [20.0],
        "distance_m": 0.5,
        "pixel_size_m": 1e-6,
        "dtype": "float64",
        "mollified": True,
    }
    coherent = polychromatic_intensity(thickness, materials, source_distance_m=25.0, **kwargs)
    partial = polychromatic_intensity(
        thickness, materials, source_distance_m=25.0, source_size_m=100e-6, **kwargs
    )
    # detector-plane blur s z / D = 2 µm, i.e. 2 µm / M on the sample grid
    expected = gaussian_blur(
        coherent, fwhm_m=2e-6 / magnification(source_distance_m=25.0, distance_m=0.5), pixel_size_m=1e-6
    )
    np.testing.assert_allclose(partial, expected, rtol=1e-12)
    assert partial.std() < coherent.std()
    with pytest.raises(ConfigError, match="source_distance_m"):
        polychromatic_intensity(thickness, materials, source_size_m=1e-4, **kwargs)


# ------------------------------------------------------------------------------------------------- backends


def _sphere_map(n: int, radius_px: float) -> np.ndarray:
    c = np.arange(n) - (n - 1) / 2
    r2 = c[None, :] ** 2 + c[:, None] ** 2
    return 2e-6 * np.sqrt(np.maximum(radius_px**2 - r2, 0.0))


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mollified", [False, True])
def test_numpy_and_torch_agree(dtype: str, mollified: bool) -> None:
    t1 = _sphere_map(48, 12)
    t2 = np.roll(_sphere_map(48, 6), 7, axis=1) * 0.3
    materials = {"a": _Constant(2e-6, 2e-9), "b": _Constant(6e-6, 5e-8)}
    kwargs = {
        "energies_kev": [12.0, 16.0, 20.0],
        "weights": [0.3, 0.5, 0.2],
        "distance_m": 0.02,
        "pixel_size_m": 1e-6,
        "mollified": mollified,
        "dtype": dtype,
        "pad": 64,
    }
    ref = polychromatic_intensity({"a": t1, "b": t2}, materials, **kwargs)
    out = polychromatic_intensity({"a": torch.from_numpy(t1), "b": torch.from_numpy(t2)}, materials, **kwargs)
    assert isinstance(out, torch.Tensor) and out.dtype == getattr(torch, dtype)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(out.numpy(), ref, rtol=tol, atol=tol)
    field = complex_transmission(t1, delta=2e-6, beta=2e-9, energy_kev=15.0, dtype=dtype)
    tfield = complex_transmission(torch.from_numpy(t1), delta=2e-6, beta=2e-9, energy_kev=15.0, dtype=dtype)
    np.testing.assert_allclose(tfield.numpy(), field, rtol=tol, atol=tol)
    for method in ("fresnel", "angular_spectrum"):
        a = propagate(field, distance_m=0.05, energy_kev=15.0, pixel_size_m=1e-6, method=method, pad="auto")
        b = propagate(tfield, distance_m=0.05, energy_kev=15.0, pixel_size_m=1e-6, method=method, pad="auto")
        np.testing.assert_allclose(b.numpy(), a, rtol=tol, atol=tol)
    blurred = gaussian_blur(ref, fwhm_m=3e-6, pixel_size_m=1e-6)
    tblurred = gaussian_blur(torch.from_numpy(ref), fwhm_m=3e-6, pixel_size_m=1e-6)
    np.testing.assert_allclose(tblurred.numpy(), blurred, rtol=tol, atol=tol * 10)


@needs_cuda
def test_cuda_matches_numpy() -> None:
    t = _sphere_map(256, 60)
    materials = {"a": _Constant(2e-6, 2e-9)}
    kwargs = {
        "energies_kev": [12.0, 20.0],
        "distance_m": 0.1,
        "pixel_size_m": 1e-6,
        "dtype": "float64",
        "mollified": True,
    }
    ref = polychromatic_intensity({"a": t}, materials, **kwargs)
    out = polychromatic_intensity({"a": torch.from_numpy(t).cuda()}, materials, **kwargs)
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-10)


@needs_torch
def test_gradients_reach_the_thickness_maps() -> None:
    # strictly positive: gradcheck perturbs every pixel by ±eps
    t_um = torch.tensor(_sphere_map(12, 4) * 1e6 * 0.2 + 0.5, dtype=torch.float64, requires_grad=True)
    materials = {"a": _Constant(2e-6, 2e-8)}

    def image(t: torch.Tensor) -> torch.Tensor:
        return polychromatic_intensity(
            {"a": t * 1e-6},
            materials,
            energies_kev=[12.0, 20.0],
            weights=[1.0, 0.5],
            distance_m=0.05,
            pixel_size_m=1e-6,
            mollified=True,
            dtype="float64",
            source_distance_m=10.0,
            source_size_m=50e-6,
        )

    assert torch.autograd.gradcheck(image, (t_um,), eps=1e-6, atol=1e-6, rtol=1e-4)
    loss = image(t_um).square().sum()
    loss.backward()
    assert t_um.grad is not None and float(t_um.grad.abs().max()) > 0
    # multislice too
    t2 = torch.full((12, 12), 0.1, dtype=torch.float64, requires_grad=True)
    out = polychromatic_intensity(
        [{"a": t2 * 1e-6}, {"a": t_um * 1e-6}],
        materials,
        energies_kev=[15.0],
        distance_m=0.01,
        slice_spacing_m=1e-6,
        pixel_size_m=1e-6,
        dtype="float64",
    )
    out.sum().backward()
    assert t2.grad is not None and float(t2.grad.abs().max()) > 0


# ----------------------------------------------------------------------------------------------- sampling


def test_undersampled_propagation_warns_and_helpers_give_the_fix() -> None:
    shape, energy, z, pixel = (64, 64), 10.0, 1.0, 1e-6  # n p² = 6.4e-11 < λz = 1.24e-10
    field = np.ones(shape, dtype=np.complex64)
    with pytest.warns(SamplingWarning, match=r"under-sampled.*pad='auto'"):
        propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    with pytest.raises(ConfigError, match="n·p²"), set_options(on_undersampling="raise"):
        propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    with set_options(on_undersampling="ignore"):
        assert not check_propagation_sampling(shape, distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    # the remedies are silent
    propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel, mollified=True)
    propagate(field, distance_m=z, energy_kev=energy, pixel_size_m=pixel, pad="auto")
    needed = min_fft_shape(shape, distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    assert check_propagation_sampling(needed, distance_m=z, energy_kev=energy, pixel_size_m=pixel)
    p_min = min_pixel_size_m(64, distance_m=z, energy_kev=energy)
    assert 64 * p_min**2 == pytest.approx(wavelength_m(energy) * z)
    assert check_propagation_sampling(shape, distance_m=z, energy_kev=energy, pixel_size_m=p_min * 1.0001)
    # polychromatic: the lowest energy decides
    with pytest.warns(SamplingWarning):
        polychromatic_intensity(
            {"a": np.zeros(shape)},
            {"a": _Constant(1e-6, 1e-9)},
            energies_kev=[10.0, 40.0],
            distance_m=z,
            pixel_size_m=pixel,
        )


def test_phase_jumps_larger_than_pi_warn() -> None:
    t = np.zeros((32, 32))
    t[:, 16:] = 1e-3  # a 1 mm step: k δ t ≫ π
    with pytest.warns(SamplingWarning, match="phase"):
        polychromatic_intensity(
            {"a": t}, {"a": _Constant(1e-6, 0.0)}, energies_kev=[20.0], distance_m=1.0, pixel_size_m=1e-3
        )
    # at z = 0 nothing propagates, so nothing can alias
    polychromatic_intensity(
        {"a": t}, {"a": _Constant(1e-6, 0.0)}, energies_kev=[20.0], distance_m=0.0, pixel_size_m=1e-3
    )


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_input_names_the_field_and_value() -> None:
    good = {"a": np.zeros((8, 8))}
    materials = {"a": _Constant(1e-6, 1e-9)}
    kwargs = {"energies_kev": [20.0], "distance_m": 0.0, "pixel_size_m": 1e-6}
    with pytest.raises(ConfigError, match=r"thickness of 'a': minimum -1e-06 m"):
        polychromatic_intensity({"a": np.full((8, 8), -1e-6)}, materials, **kwargs)
    with pytest.raises(ConfigError, match=r"energies_kev = \[-5.0\]"):
        polychromatic_intensity(good, materials, energies_kev=[-5.0], distance_m=0.0, pixel_size_m=1e-6)
    with pytest.raises(ConfigError, match="weights has 2 values"):
        polychromatic_intensity(good, materials, weights=[1, 2], **kwargs)
    with pytest.raises(ConfigError, match=r"pixel_size_m = -1e-06"):
        polychromatic_intensity(good, materials, energies_kev=[20.0], distance_m=0.0, pixel_size_m=-1e-6)
    with pytest.raises(ConfigError, match="distance_m = nan"):
        propagate(np.ones((4, 4)), distance_m=float("nan"), energy_kev=20.0, pixel_size_m=1e-6)
    with pytest.raises(ConfigError, match="energy_kev = 0"):
        propagate(np.ones((4, 4)), distance_m=1.0, energy_kev=0, pixel_size_m=1e-6)
    with pytest.raises(ConfigError, match="method = 'exact'"):
        propagate(np.ones((4, 4)), distance_m=0.0, energy_kev=20.0, pixel_size_m=1e-6, method="exact")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pad = 2"):
        propagate(np.ones((4, 4)), distance_m=0.0, energy_kev=20.0, pixel_size_m=1e-6, pad=2)
    with pytest.raises(ConfigError, match="slice_spacing_m is None"):
        polychromatic_intensity([good, good], materials, **kwargs)
    with pytest.raises(ConfigError, match="expected"):
        polychromatic_intensity(
            {"a": np.zeros((8, 8)), "b": np.zeros((8, 9))}, {**materials, "b": materials["a"]}, **kwargs
        )
    with pytest.raises(ConfigError, match="thickness_m must be a mapping"):
        polychromatic_intensity(np.zeros((8, 8)), materials, **kwargs)  # type: ignore[arg-type]


def test_unknown_material_name_is_a_material_error() -> None:
    from xrai.errors import MaterialError

    with pytest.raises(MaterialError, match="unobtainium"):
        polychromatic_intensity(
            {"unobtainium": np.zeros((4, 4))}, energies_kev=[20.0], distance_m=0.0, pixel_size_m=1e-6
        )


@pytest.mark.parametrize("method", ["fresnel", "angular_spectrum"])
@pytest.mark.parametrize("pad", [None, (80, 72)])
def test_polychromatic_equals_the_sum_of_monochromatic_propagations(method: str, pad: object) -> None:
    """The optimised loop (support box, pruned FFTs, fused passes) against propagate() energy by energy."""
    t1 = np.zeros((48, 40))
    t1[5:30, 0:12] = 3e-6  # touches the left border: edge padding continues it
    t2 = np.roll(_sphere_map(48, 8), (6, 9), axis=(0, 1))[:, :40]
    materials = {"a": _Constant(2e-6, 2e-9), "b": _Constant(5e-6, 4e-8)}
    energies, weights = [11.0, 17.0, 23.0], [0.2, 0.0, 0.7]
    kwargs = {"distance_m": 0.03, "pixel_size_m": 1e-6, "method": method, "pad": pad}
    image = polychromatic_intensity(
        {"a": t1, "b": t2},
        materials,
        energies_kev=energies,
        weights=weights,
        dtype="float64",
        mollified=True,
        **kwargs,
    )
    expected = np.zeros_like(image)
    for energy, weight in zip(energies, weights, strict=True):
        field = complex_transmission(
            {"a": t1, "b": t2},
            delta={"a": 2e-6, "b": 5e-6},
            beta={"a": 2e-9, "b": 4e-8},
            energy_kev=energy,
            dtype="float64",
        )
        padded = field if pad is None else np.pad(field, ((16, 16), (16, 16)), mode="edge")
        out = propagate(padded, energy_kev=energy, mollified=True, **{**kwargs, "pad": None})
        out = out if pad is None else out[16:-16, 16:-16]
        expected += weight * np.abs(out) ** 2
    np.testing.assert_allclose(image, expected, rtol=1e-12, atol=1e-12)


def test_flat_field_equals_the_sum_of_weights() -> None:
    image = polychromatic_intensity(
        {"pmma": np.zeros((32, 32))},
        energies_kev=[10.0, 20.0, 30.0],
        weights=[0.5, 0.0, 2.0],
        distance_m=1.0,
        pixel_size_m=1e-6,
        mollified=True,
    )
    np.testing.assert_allclose(image, 2.5, rtol=1e-6)
