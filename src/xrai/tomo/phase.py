"""Phase retrieval from propagation-based phase-contrast images: Paganin (one distance) and CTF (one or more).

Conventions (those of :mod:`xrai.physics`): the object multiplies the wave by ``exp(i φ - B)`` with
``φ = -k ∫ δ dz`` and ``B = k ∫ β dz`` (``k = 2π/λ``, refractive index ``n = 1 - δ + iβ``), so a material with
``δ > 0`` has ``φ < 0``; free-space propagation over ``z`` multiplies the spectrum by
``exp(-i π λ z |f|²)`` (``f`` in cycles/m). The *attenuation-equivalent* ``μT = 2B = (4π β / λ) ∫ dz`` is what
absorption tomography reconstructs, so both functions return it by default: a volume reconstructed from it is
the linear attenuation coefficient μ (1/m), and ``thickness = μT / μ``.

Inputs are flat-field corrected intensities (transmission, 1 = open beam) ``[..., row, col]``; any leading axes
(angles) are batch axes processed in blocks. Images are padded before the FFT (edge values, to the next fast
length of twice the size) so the filter does not wrap around. numpy (scipy.fft) and torch (CPU/CUDA) inputs.

References
----------
Paganin, D., Mayo, S. C., Gureyev, T. E., Miller, P. R., Wilkins, S. W. (2002). Simultaneous phase and amplitude
extraction from a single defocused image of a homogeneous object. J. Microscopy 206, 33-40.
doi:10.1046/j.1365-2818.2002.01010.x

Cloetens, P., Ludwig, W., Baruchel, J., Van Dyck, D., Van Landuyt, J., Guigay, J. P., Schlenker, M. (1999).
Holotomography: quantitative phase tomography with micrometer resolution using hard synchrotron radiation
x rays. Appl. Phys. Lett. 75, 2912. doi:10.1063/1.125225

Zabler, S., Cloetens, P., Guigay, J.-P., Baruchel, J., Schlenker, M. (2005). Optimization of phase contrast
imaging using hard x rays. Rev. Sci. Instrum. 76, 073705. doi:10.1063/1.1960797
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, device_of, is_torch, real_dtype
from xrai._typing import Array
from xrai.errors import ConfigError, DataError, check_range

__all__ = [
    "paganin_filter",
    "paganin_margin_px",
    "retrieve_phase_ctf",
    "retrieve_phase_paganin",
    "wavelength_m",
]

#: h c in keV·m (CODATA 2018): λ[m] = HC_KEV_M / E[keV]
HC_KEV_M = 1.239841984e-9
_BLOCK_BYTES = 8 << 20

PhaseOutput = Literal["attenuation", "phase"]


def wavelength_m(energy_kev: float) -> float:
    """X-ray wavelength (m) for a photon energy in keV: ``λ = h c / E``.

    Examples
    --------
    >>> round(wavelength_m(12.398419843) * 1e10, 6)
    1.0
    """
    check_range("energy_kev", energy_kev, low=0, low_inclusive=False, unit="keV")
    return HC_KEV_M / float(energy_kev)


def _next_fast_len(n: int) -> int:
    import scipy.fft

    return int(scipy.fft.next_fast_len(int(n), real=True))


def _padded_shape(shape: tuple[int, int], pad: bool) -> tuple[int, int]:
    if not pad:
        return shape
    return (_next_fast_len(2 * shape[0]), _next_fast_len(2 * shape[1]))


def _edge_pad(xp: Any, x: Array, out_shape: tuple[int, int]) -> tuple[Array, tuple[int, int]]:
    """Pad the last two axes to ``out_shape`` by repeating the edge values (centred); returns the offsets."""
    if not is_torch(x):
        lo_r, lo_c = (out_shape[0] - x.shape[-2]) // 2, (out_shape[1] - x.shape[-1]) // 2
        widths = [(0, 0)] * (x.ndim - 2) + [
            (lo_r, out_shape[0] - x.shape[-2] - lo_r),
            (lo_c, out_shape[1] - x.shape[-1] - lo_c),
        ]
        return np.pad(x, widths, mode="edge"), (lo_r, lo_c)
    offsets = []
    for axis, m in ((-2, out_shape[0]), (-1, out_shape[1])):
        n = x.shape[axis]
        lo = (m - n) // 2
        offsets.append(lo)
        if m == n:
            continue
        idx = np.clip(np.arange(-lo, m - lo), 0, n - 1)
        x = xp.take(x, xp.asarray(idx, device=device_of(x)), axis=axis)
    return x, (offsets[0], offsets[1])


def _freq2(xp: Any, shape: tuple[int, int], pixel_size_m: float, dtype: Any, device: Any) -> Array:
    """``|f|²`` (cycles²/m²) on the ``rfft2`` grid of a ``shape`` image."""
    fy = np.fft.fftfreq(shape[0], d=pixel_size_m)
    fx = np.fft.rfftfreq(shape[1], d=pixel_size_m)
    f2 = fy[:, None] ** 2 + fx[None, :] ** 2
    return xp.asarray(f2, dtype=dtype, device=device)


def _block_size(pshape: tuple[int, int], per_image: int = 1) -> int:
    """Images per FFT block: a padded complex block of about ``_BLOCK_BYTES`` (cache-friendly, bounded memory)."""
    return max(1, _BLOCK_BYTES // (pshape[0] * pshape[1] * 8 * per_image))


def _fft_filter_blocks(
    x: Array,
    *,
    pad: bool,
    make_filter: Callable[[Any, tuple[int, int], Any, Any], Array],
    post: Callable[[Array], Array] | None = None,
) -> Array:
    """``post(ifft(filter · fft(x)))`` on the last two axes, in blocks over the leading axes.

    ``make_filter(xp, padded_shape, dtype, device)`` returns the real filter on the ``rfft2`` grid.
    """
    xp = array_namespace(x)
    shape = (x.shape[-2], x.shape[-1])
    pshape = _padded_shape(shape, pad)
    lead = tuple(x.shape[:-2])
    n_img = int(np.prod(lead)) if lead else 1
    flat = xp.reshape(x, (n_img, *shape))
    filt = make_filter(xp, pshape, x.dtype, device_of(x))
    out = xp.empty((n_img, *shape), dtype=x.dtype, device=device_of(x))
    block = _block_size(pshape)
    for a in range(0, n_img, block):
        b = min(n_img, a + block)
        padded, (r0, c0) = _edge_pad(xp, flat[a:b], pshape)
        spec = _rfft2(xp, padded)
        spec *= filt
        res = _irfft2(xp, spec, pshape)[:, r0 : r0 + shape[0], c0 : c0 + shape[1]]
        out[a:b] = res if post is None else post(res)
    return xp.reshape(out, (*lead, *shape)) if lead else out[0]


def _rfft2(xp: Any, x: Array) -> Array:
    if is_torch(x):
        return xp.fft.rfft2(x)
    import scipy.fft

    return scipy.fft.rfft2(x, workers=-1, overwrite_x=True)


def _irfft2(xp: Any, x: Array, shape: tuple[int, int]) -> Array:
    if is_torch(x):
        return xp.fft.irfft2(x, s=shape)
    import scipy.fft

    return scipy.fft.irfft2(x, s=shape, workers=-1, overwrite_x=True)


def _as_float(x: Array, dtype: Any, name: str) -> Array:
    if not is_torch(x):
        x = np.asarray(x)
        if x.dtype.kind not in "uif":
            raise DataError(f"{name}: dtype {x.dtype} is not allowed: must be integer or real float")
    elif x.dtype.is_complex:
        raise DataError(f"{name}: dtype {x.dtype} is not allowed: must be real")
    xp = array_namespace(x)
    if x.ndim < 2:
        raise DataError(f"{name} must be images [..., row, col], got shape {tuple(x.shape)}")
    if dtype is None and xp.isdtype(x.dtype, "real floating"):
        return x
    return xp.astype(x, real_dtype(xp, dtype))


def paganin_filter(
    shape: tuple[int, int], *, delta_beta: float, energy_kev: float, distance_m: float, pixel_size_m: float
) -> npt.NDArray[np.float64]:
    """The Paganin low-pass ``1 / (1 + π λ z (δ/β) |f|²)`` on the ``rfft2`` grid of a ``shape`` image."""
    lam = wavelength_m(energy_kev)
    f2 = _freq2(np, shape, pixel_size_m, np.float64, "cpu")
    filt: npt.NDArray[np.float64] = 1.0 / (1.0 + np.pi * lam * distance_m * delta_beta * f2)
    return filt


def paganin_margin_px(
    *, delta_beta: float, energy_kev: float, distance_m: float, pixel_size_m: float, tolerance: float = 1e-3
) -> int:
    """Rows of context a slab needs on each side for the Paganin filter to be exact to ``tolerance``.

    The filter's point-spread function is ``K0(r/σ) / (2π σ²)`` with ``σ = sqrt(π λ z δ/β) / (2π)``, which
    decays like ``exp(-r/σ)``; the margin is ``σ · ln(1/tolerance)`` in pixels (rounded up). Read
    ``[r0 - m, r1 + m)`` (clipped to the detector), retrieve, and keep ``[r0, r1)`` when processing by rows.

    Examples
    --------
    >>> paganin_margin_px(delta_beta=1000, energy_kev=20, distance_m=0.1, pixel_size_m=1e-6)
    154
    """
    _check_common(energy_kev, distance_m, pixel_size_m)
    check_range("delta_beta", delta_beta, low=0, low_inclusive=False)
    check_range("tolerance", tolerance, low=0, low_inclusive=False, high=1, high_inclusive=False)
    sigma_m = np.sqrt(np.pi * wavelength_m(energy_kev) * distance_m * delta_beta) / (2 * np.pi)
    return int(np.ceil(sigma_m * np.log(1.0 / tolerance) / pixel_size_m))


def _check_common(energy_kev: float, distance_m: float, pixel_size_m: float) -> None:
    check_range("energy_kev", energy_kev, low=0, low_inclusive=False, unit="keV")
    check_range("distance_m", distance_m, low=0, unit="m")
    check_range("pixel_size_m", pixel_size_m, low=0, low_inclusive=False, unit="m")


def retrieve_phase_paganin(
    projections: Array,
    *,
    delta_beta: float,
    energy_kev: float,
    distance_m: float,
    pixel_size_m: float,
    pad: bool = True,
    output: PhaseOutput = "attenuation",
    min_transmission: float = 1e-6,
    dtype: Any = None,
) -> Array:
    """Single-distance phase retrieval for a homogeneous object (Paganin et al. 2002).

    Parameters
    ----------
    projections
        Flat-field corrected intensities ``[..., row, col]`` (transmission, 1 = open beam), numpy or torch.
    delta_beta
        The ratio δ/β of the (single) material, a positive number (e.g. from
        ``xrai.physics.materials``; about 1000 for soft matter at 20 keV).
    energy_kev
        Photon energy (keV).
    distance_m
        Sample-to-detector propagation distance (m); for a cone beam, the effective (defocus) distance.
    pixel_size_m
        Effective (sample-plane) pixel size (m).
    pad
        Pad each image (edge values) to the next fast length of twice its size, so the filter does not wrap
        around the image borders.
    output
        ``"attenuation"`` (default): the attenuation-equivalent ``μT`` (dimensionless, ready for the
        reconstruction of μ); ``"phase"``: the phase shift ``φ = -(δ/β) μT / 2`` (rad, negative for matter).
    min_transmission
        The filtered intensity is clipped below at this value before the logarithm (finite output).
    dtype
        Output dtype (default: the input's floating dtype, or the options' default for integer input).

    Returns
    -------
    Array
        Same shape and backend as ``projections``. The projected thickness (m) is ``μT / μ`` with
        ``μ = 4π β / λ``.

    Notes
    -----
    From the transport-of-intensity equation for a homogeneous object,

    .. math:: \\mu T(\\mathbf r) = -\\ln \\mathcal F^{-1}\\left[\\frac{\\mathcal F[I_z / I_0]}
              {1 + \\pi \\lambda z (\\delta/\\beta) |\\mathbf f|^2}\\right],

    valid in the near field (Fresnel number ``a²/(λz) ≫ 1`` for the smallest feature ``a``).

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((32, 32), 0.8)
    >>> mu_t = retrieve_phase_paganin(flat, delta_beta=1000, energy_kev=20, distance_m=0.1, pixel_size_m=1e-6)
    >>> bool(np.allclose(mu_t, -np.log(0.8)))
    True
    """
    _check_common(energy_kev, distance_m, pixel_size_m)
    check_range("delta_beta", delta_beta, low=0, low_inclusive=False)
    check_range("min_transmission", min_transmission, low=0, low_inclusive=False, high=1)
    if output not in ("attenuation", "phase"):
        raise ConfigError(f"output = {output!r} is not allowed: must be 'attenuation' or 'phase'")
    x = _as_float(projections, dtype, "projections")
    xp = array_namespace(x)
    lam = wavelength_m(energy_kev)
    coeff = np.pi * lam * float(distance_m) * float(delta_beta)

    def make(xp_: Any, pshape: tuple[int, int], dt: Any, dev: Any) -> Array:
        return 1.0 / (1.0 + coeff * _freq2(xp_, pshape, pixel_size_m, dt, dev))

    scale = -0.5 * float(delta_beta) if output == "phase" else 1.0

    def post(filtered: Array) -> Array:
        mu_t = -xp.log(xp.clip(filtered, min_transmission, None))
        return mu_t if scale == 1.0 else scale * mu_t

    return _fft_filter_blocks(x, pad=pad, make_filter=make, post=post)


def retrieve_phase_ctf(
    intensities: Array,
    *,
    distances_m: float | Sequence[float],
    energy_kev: float,
    pixel_size_m: float,
    delta_beta: float | None = None,
    alpha: float = 1e-8,
    pad: bool = True,
    output: PhaseOutput = "phase",
    dtype: Any = None,
) -> Array:
    """Phase retrieval with the contrast transfer function of a weak object, from one or more distances.

    Parameters
    ----------
    intensities
        Flat-field corrected intensities. With ``D > 1`` distances: ``[D, ..., row, col]`` (the first axis is the
        distance, e.g. ``[D, angle, row, col]``, all images registered to the same magnification); with one
        distance: ``[..., row, col]``.
    distances_m
        The propagation distance(s) (m), in the order of the first axis.
    energy_kev
        Photon energy (keV).
    pixel_size_m
        Effective pixel size (m).
    delta_beta
        δ/β of a homogeneous object (then ``B = -φ / (δ/β)`` and one distance suffices). ``None``: with one
        distance, a pure phase object (``B = 0``); with two or more, phase and absorption are solved for
        independently at every frequency (least squares).
    alpha
        Tikhonov regularisation added to the normal equations (dimensionless; guards the zero crossings of
        ``sin χ`` and the zero frequency).
    pad
        Edge-pad each image to twice its size (next fast length) before the FFT.
    output
        ``"phase"`` (default): ``φ`` (rad, negative for matter); ``"attenuation"``: ``μT = 2B``
        (dimensionless).
    dtype
        Output dtype (default: the input's floating dtype).

    Returns
    -------
    Array
        ``[..., row, col]`` (the distance axis removed), same backend as the input.

    Notes
    -----
    For a weak object (``|φ|, B ≪ 1``, or slowly varying), the intensity spectrum at distance ``z`` is

    .. math:: \\tilde I_z(\\mathbf f) = \\delta(\\mathbf f) - 2\\cos\\chi_z\\,\\tilde B + 2\\sin\\chi_z\\,\\tilde\\varphi,
              \\qquad \\chi_z = \\pi\\lambda z |\\mathbf f|^2 .

    With a homogeneous object, ``B̃ = -(β/δ) φ̃`` and least squares over the distances gives

    .. math:: \\tilde\\varphi = \\frac{\\sum_z (\\tilde I_z - \\delta)(\\sin\\chi_z + (\\beta/\\delta)\\cos\\chi_z)}
              {2 \\sum_z (\\sin\\chi_z + (\\beta/\\delta)\\cos\\chi_z)^2 + \\alpha}

    (Cloetens et al. 1999; Zabler et al. 2005). Without ``δ/β`` and with ``D >= 2`` the 2×2 normal equations for
    ``(φ̃, B̃)`` are solved at every frequency.
    """
    check_range("energy_kev", energy_kev, low=0, low_inclusive=False, unit="keV")
    check_range("pixel_size_m", pixel_size_m, low=0, low_inclusive=False, unit="m")
    check_range("alpha", alpha, low=0)
    if output not in ("attenuation", "phase"):
        raise ConfigError(f"output = {output!r} is not allowed: must be 'attenuation' or 'phase'")
    if delta_beta is not None:
        check_range("delta_beta", delta_beta, low=0, low_inclusive=False)
    dists = np.atleast_1d(np.asarray(distances_m, dtype=np.float64))
    for z in dists:
        check_range("distances_m", float(z), low=0, low_inclusive=False, unit="m")
    x = _as_float(intensities, dtype, "intensities")
    xp = array_namespace(x)
    multi = np.ndim(distances_m) > 0 and dists.size > 1
    if multi and x.shape[0] != dists.size:
        raise DataError(
            f"intensities have {x.shape[0]} images on the first axis for {dists.size} distances_m"
        )
    if not multi:
        x = x[None, ...]
    if x.ndim < 3:
        raise DataError(f"intensities must be [..., row, col], got shape {tuple(x.shape[1:])}")
    if delta_beta is None and dists.size == 1 and alpha == 0:
        raise ConfigError(
            "alpha = 0 is not allowed for a pure phase object (sin χ = 0 at f = 0): use alpha > 0"
        )
    lam = wavelength_m(energy_kev)
    r = None if delta_beta is None else 1.0 / float(delta_beta)

    shape = (x.shape[-2], x.shape[-1])
    pshape = _padded_shape(shape, pad)
    dev = device_of(x)
    f2 = _freq2(np, pshape, pixel_size_m, np.float64, "cpu")
    chis = [np.pi * lam * z * f2 for z in dists]
    s = [np.sin(c) for c in chis]
    c = [np.cos(c) for c in chis]
    if r is not None:
        kern = [si + r * ci for si, ci in zip(s, c, strict=True)]
        denom = 2.0 * sum(k * k for k in kern) + alpha
        phase_w = [k / denom for k in kern]  # φ̃ = Σ w_z Ĩ_z
        absorb_w = [-r * w for w in phase_w]  # B̃ = -(β/δ) φ̃
    elif dists.size == 1:
        denom = 2.0 * s[0] * s[0] + alpha
        phase_w = [s[0] / denom]
        absorb_w = [np.zeros_like(s[0])]
    else:
        # unknowns (φ̃, B̃); model Ĩ_z = a_z φ̃ + b_z B̃ with a = 2 sin χ, b = -2 cos χ
        a = [2.0 * si for si in s]
        b = [-2.0 * ci for ci in c]
        saa = sum(ai * ai for ai in a) + alpha
        sbb = sum(bi * bi for bi in b) + alpha
        sab = sum(ai * bi for ai, bi in zip(a, b, strict=True))
        det = saa * sbb - sab * sab
        det = np.where(np.abs(det) > 0, det, np.finfo(np.float64).tiny)
        phase_w = [(sbb * ai - sab * bi) / det for ai, bi in zip(a, b, strict=True)]
        absorb_w = [(saa * bi - sab * ai) / det for ai, bi in zip(a, b, strict=True)]
    weights = phase_w if output == "phase" else [2.0 * w for w in absorb_w]
    w_dev = [xp.asarray(w, dtype=x.dtype, device=dev) for w in weights]

    lead = tuple(x.shape[1:-2])
    n_img = int(np.prod(lead)) if lead else 1
    flat = xp.reshape(x, (dists.size, n_img, *shape))
    out = xp.empty((n_img, *shape), dtype=x.dtype, device=dev)
    block = _block_size(pshape, dists.size)
    for i0 in range(0, n_img, block):
        i1 = min(n_img, i0 + block)
        acc = None
        for d in range(dists.size):
            padded, (r0, c0) = _edge_pad(xp, flat[d, i0:i1] - 1.0, pshape)
            term = _rfft2(xp, padded) * w_dev[d]
            acc = term if acc is None else acc + term
        res = _irfft2(xp, acc, pshape)
        out[i0:i1] = res[:, r0 : r0 + shape[0], c0 : c0 + shape[1]]
    return xp.reshape(out, (*lead, *shape)) if lead else out[0]
