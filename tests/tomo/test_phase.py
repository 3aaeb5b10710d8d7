"""Phase retrieval on a homogeneous sphere imaged through an independent Fresnel propagator written here."""

from __future__ import annotations

import numpy as np
import pytest

from xrai.errors import ConfigError, DataError
from xrai.tomo import paganin_margin_px, retrieve_phase_ctf, retrieve_phase_paganin, wavelength_m

ENERGY_KEV = 20.0
LAM = 1.239841984e-9 / ENERGY_KEV  # m
K = 2 * np.pi / LAM
DELTA, BETA = 5.8e-7, 4.3e-10  # PMMA-like at 20 keV
PIXEL = 1e-6
N = 256
RADIUS = 50e-6


def sphere_thickness(
    n: int = N, radius: float = RADIUS, centre_px: tuple[float, float] | None = None
) -> np.ndarray:
    """Projected thickness (m) of a sphere, averaged over 4×4 sub-pixels (no aliasing at the rim)."""
    ss = 4
    cy, cx = ((n - 1) / 2, (n - 1) / 2) if centre_px is None else centre_px
    y = (np.arange(n * ss) + 0.5) / ss - 0.5 - cy
    x = (np.arange(n * ss) + 0.5) / ss - 0.5 - cx
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) * PIXEL**2
    t = 2 * np.sqrt(np.clip(radius**2 - r2, 0, None))
    return t.reshape(n, ss, n, ss).mean(axis=(1, 3))


def fresnel_intensity(
    thickness: np.ndarray, distance_m: float, delta: float = DELTA, beta: float = BETA
) -> np.ndarray:
    """|exit wave propagated by the Fresnel transfer function|², on a 2× grid padded with open beam."""
    n = thickness.shape[0]
    field = np.exp(-1j * K * delta * thickness - K * beta * thickness)
    big = np.ones((2 * n, 2 * n), dtype=complex)
    big[n // 2 : n // 2 + n, n // 2 : n // 2 + n] = field
    f = np.fft.fftfreq(2 * n, d=PIXEL)
    h = np.exp(-1j * np.pi * LAM * distance_m * (f[:, None] ** 2 + f[None, :] ** 2))
    out = np.fft.ifft2(np.fft.fft2(big) * h)
    return np.abs(out[n // 2 : n // 2 + n, n // 2 : n // 2 + n]) ** 2


def test_wavelength() -> None:
    assert wavelength_m(ENERGY_KEV) == pytest.approx(LAM, rel=1e-12)
    assert wavelength_m(12.398419843) == pytest.approx(1e-10, rel=1e-9)


@pytest.mark.parametrize("distance_m", [0.05, 0.1, 0.3])
def test_paganin_recovers_the_projected_thickness_of_a_sphere(distance_m: float) -> None:
    t_true = sphere_thickness()
    intensity = fresnel_intensity(t_true, distance_m)
    assert intensity.max() > 1.3  # strong edge enhancement: phase contrast dominates the image
    mu_t = retrieve_phase_paganin(intensity, delta_beta=DELTA / BETA, energy_kev=ENERGY_KEV,
                                  distance_m=distance_m, pixel_size_m=PIXEL)  # fmt: skip
    mu = 4 * np.pi * BETA / LAM
    t = mu_t / mu
    inside = t_true > 0.3 * 2 * RADIUS
    centre = t[N // 2 - 1 : N // 2 + 1, N // 2 - 1 : N // 2 + 1].mean()
    assert centre == pytest.approx(2 * RADIUS, rel=0.02)
    assert np.sqrt(np.mean((t - t_true)[inside] ** 2)) < 0.02 * 2 * RADIUS
    assert t.sum() == pytest.approx(t_true.sum(), rel=0.01)  # the volume of the sphere
    # the plain minus-log of the same image is far off (phase contrast is not attenuation)
    assert np.max(np.abs(-np.log(intensity) / mu - t_true)) > 0.5 * 2 * RADIUS
    phase = retrieve_phase_paganin(intensity, delta_beta=DELTA / BETA, energy_kev=ENERGY_KEV,
                                   distance_m=distance_m, pixel_size_m=PIXEL, output="phase")  # fmt: skip
    np.testing.assert_allclose(phase, -K * DELTA * t, rtol=1e-5, atol=1e-9)


def test_paganin_at_zero_distance_is_minus_log() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(0.3, 1.0, (3, 20, 30))
    out = retrieve_phase_paganin(img, delta_beta=500, energy_kev=30, distance_m=0.0, pixel_size_m=1e-6)
    np.testing.assert_allclose(out, -np.log(img), rtol=1e-10)


def test_padding_prevents_wrap_around() -> None:
    # a large sphere cut by the left border of the field of view (simulated on a 3x larger field, then cropped):
    # without padding, the FFT wraps its thick left part onto the open beam at the right border
    m = 3 * N
    t_big = sphere_thickness(n=m, radius=150e-6, centre_px=(m / 2, N + 20.0))
    crop = (slice(N, 2 * N), slice(N, 2 * N))
    t_true, intensity = t_big[crop], fresnel_intensity(t_big, 0.1)[crop]
    kwargs = {"delta_beta": DELTA / BETA, "energy_kev": ENERGY_KEV, "distance_m": 0.1, "pixel_size_m": PIXEL}
    mu = 4 * np.pi * BETA / LAM
    padded = retrieve_phase_paganin(intensity, **kwargs) / mu
    unpadded = retrieve_phase_paganin(intensity, pad=False, **kwargs) / mu
    right = (slice(None), slice(N - 40, N))  # open beam next to the border the object wraps onto
    assert np.max(np.abs(padded - t_true)[right]) < 0.01 * t_true.max()
    assert np.max(np.abs(unpadded - t_true)[right]) > 0.3 * t_true.max()
    assert np.max(np.abs(padded - t_true)) < np.max(np.abs(unpadded - t_true))


def test_row_slabs_with_the_margin_equal_the_whole_image() -> None:
    t_true = sphere_thickness()
    intensity = fresnel_intensity(t_true, 0.01)
    kwargs = {"delta_beta": DELTA / BETA, "energy_kev": ENERGY_KEV, "distance_m": 0.01, "pixel_size_m": PIXEL}
    whole = retrieve_phase_paganin(intensity, **kwargs)
    margin = paganin_margin_px(**kwargs, tolerance=1e-3)
    # sigma = sqrt(pi lambda z delta/beta) / 2 pi = 8.2 px here; margin = sigma ln(1000)
    assert margin == int(
        np.ceil(np.sqrt(np.pi * LAM * 0.01 * DELTA / BETA) / (2 * np.pi) * np.log(1e3) / PIXEL)
    )
    r0, r1 = 120, 136

    def slab(m: int) -> np.ndarray:
        a, b = r0 - m, r1 + m
        assert a > 0 and b < N  # a real slab, not the whole image
        return retrieve_phase_paganin(intensity[a:b], **kwargs)[r0 - a : r1 - a]

    assert np.max(np.abs(slab(margin) - whole[r0:r1])) < 1e-3 * np.max(whole)
    assert np.max(np.abs(slab(3) - whole[r0:r1])) > 1e-2 * np.max(
        whole
    )  # too little context is visibly wrong


def weak_object(scale: float = 0.02) -> np.ndarray:
    return scale * sphere_thickness()


def test_ctf_multi_distance_homogeneous() -> None:
    t = weak_object()  # max phase ~0.12 rad: weak
    distances = [0.05, 0.1, 0.2, 0.4]
    stack = np.stack([fresnel_intensity(t, z) for z in distances])
    phi_true = -K * DELTA * t
    phi = retrieve_phase_ctf(stack, distances_m=distances, energy_kev=ENERGY_KEV, pixel_size_m=PIXEL,
                             delta_beta=DELTA / BETA)  # fmt: skip
    assert np.sqrt(np.mean((phi - phi_true) ** 2)) < 0.01 * np.abs(phi_true).max()
    mu_t = retrieve_phase_ctf(stack, distances_m=distances, energy_kev=ENERGY_KEV, pixel_size_m=PIXEL,
                              delta_beta=DELTA / BETA, output="attenuation")  # fmt: skip
    np.testing.assert_allclose(mu_t, -2 * (BETA / DELTA) * phi, rtol=1e-6, atol=1e-12)
    # one distance with delta/beta is enough for a homogeneous object
    one = retrieve_phase_ctf(stack[1], distances_m=0.1, energy_kev=ENERGY_KEV, pixel_size_m=PIXEL,
                             delta_beta=DELTA / BETA)  # fmt: skip
    assert np.sqrt(np.mean((one - phi_true) ** 2)) < 0.01 * np.abs(phi_true).max()


def test_ctf_phase_and_absorption_without_delta_beta() -> None:
    t = weak_object()
    distances = [0.05, 0.1, 0.2, 0.4]
    stack = np.stack([fresnel_intensity(t, z) for z in distances])
    common = {"distances_m": distances, "energy_kev": ENERGY_KEV, "pixel_size_m": PIXEL}
    phi = retrieve_phase_ctf(stack, **common)
    phi_true = -K * DELTA * t
    assert np.sqrt(np.mean((phi - phi_true) ** 2)) < 0.04 * np.abs(phi_true).max()
    mu_t = retrieve_phase_ctf(stack, output="attenuation", **common)
    mu_t_true = 2 * K * BETA * t
    centre = (slice(N // 2 - 2, N // 2 + 2),) * 2
    assert mu_t[centre].mean() == pytest.approx(mu_t_true[centre].mean(), rel=0.05)


def test_numpy_torch_parity() -> None:
    torch = pytest.importorskip("torch")
    intensity = fresnel_intensity(sphere_thickness(n=64, radius=12e-6), 0.1)[None].repeat(2, axis=0)
    kwargs = {"delta_beta": DELTA / BETA, "energy_kev": ENERGY_KEV, "pixel_size_m": PIXEL}
    ref = retrieve_phase_paganin(intensity, distance_m=0.1, **kwargs)
    got = retrieve_phase_paganin(torch.from_numpy(intensity), distance_m=0.1, **kwargs)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-14)
    ref32 = retrieve_phase_paganin(intensity.astype(np.float32), distance_m=0.1, **kwargs)
    got32 = retrieve_phase_paganin(torch.from_numpy(intensity.astype(np.float32)), distance_m=0.1, **kwargs)
    assert got32.dtype == torch.float32 and ref32.dtype == np.float32
    np.testing.assert_allclose(got32.numpy(), ref32, rtol=1e-4, atol=1e-6)
    stack = np.stack([intensity, intensity])
    ref_ctf = retrieve_phase_ctf(stack, distances_m=[0.1, 0.2], **kwargs)
    got_ctf = retrieve_phase_ctf(torch.from_numpy(stack), distances_m=[0.1, 0.2], **kwargs)
    np.testing.assert_allclose(got_ctf.numpy(), ref_ctf, rtol=1e-10, atol=1e-14)


def test_bad_parameters_are_named() -> None:
    img = np.ones((8, 8))
    common = {"energy_kev": 20.0, "pixel_size_m": 1e-6}
    with pytest.raises(ConfigError, match=r"delta_beta = -3 is not allowed"):
        retrieve_phase_paganin(img, delta_beta=-3, distance_m=0.1, **common)
    with pytest.raises(ConfigError, match=r"energy_kev = 0 is not allowed: must be > 0 keV"):
        retrieve_phase_paganin(img, delta_beta=100, distance_m=0.1, energy_kev=0, pixel_size_m=1e-6)
    with pytest.raises(ConfigError, match=r"distance_m = -0.1 is not allowed"):
        retrieve_phase_paganin(img, delta_beta=100, distance_m=-0.1, **common)
    with pytest.raises(ConfigError, match=r"output = 'thickness' is not allowed"):
        retrieve_phase_paganin(img, delta_beta=100, distance_m=0.1, output="thickness", **common)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"2 images on the first axis for 3 distances_m"):
        retrieve_phase_ctf(np.ones((2, 8, 8)), distances_m=[0.1, 0.2, 0.3], **common)
    with pytest.raises(DataError, match=r"projections must be images"):
        retrieve_phase_paganin(np.ones(8), delta_beta=100, distance_m=0.1, **common)
