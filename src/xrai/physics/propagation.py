"""X-ray wave propagation: transmission, Fresnel and angular-spectrum propagators, multislice, polychromatic images.

The sample is a set of projected-thickness maps, one per material (from :mod:`xrai.physics.bodies` or a voxel
projector). In the projection approximation a unit plane wave leaves the sample as

.. math:: T(x, y) = \\exp\\Big(-k \\sum_m t_m(x, y)\\,(\\beta_m + i\\delta_m)\\Big), \\qquad k = 2\\pi/\\lambda,

(the phase sign of syris: a wave ``exp(+ikz)`` and ``n = 1 - δ + iβ``) and reaches a detector at distance ``z``
as ``u_z = F⁻¹[F[T] · H]`` with the Fresnel transfer function

.. math:: H(f_x, f_y) = \\exp\\big(-i\\pi\\lambda z (f_x^2 + f_y^2)\\big),

``f = m / (n p)`` on the unshifted FFT grid (``m`` the wrapped integer index, numpy's ``fftfreq``), the constant
phase ``exp(ikz)`` omitted. This is exactly syris's propagator [1]_, including its optional Gaussian "mollifier"
that suppresses the aliased frequencies (``mollified=True``, see :func:`mollifier_sigma_px`). The exact
angular-spectrum kernel ``exp(ikz(√(1 − λ²f²) − 1))`` is available with ``method="angular_spectrum"``.

Conventions
-----------
- Arrays ``[..., row, col]``; pixel ``j`` centred at ``(j − (n − 1)/2) p`` (:mod:`xrai.geometry`).
- ``pixel_size_m`` is a float or a ``(row, col)`` pair; energies in keV; distances in m (negative = backwards).
- numpy arrays run on scipy.fft (all CPUs, in place, complex64 in float32 mode); torch tensors (CPU or CUDA) run
  out of place on ``torch.fft`` so that gradients reach the thickness maps.
- Precision: float32/complex64 by default, float64/complex128 with ``xrai.options.set_options(dtype="float64")``
  or ``dtype="float64"``.
- Sampling: the unmollified transfer function is aliased unless every axis satisfies ``n p² ≥ λ|z|``
  (:func:`min_fft_shape`, :func:`min_pixel_size_m`); a violation gives a :class:`~xrai.errors.SamplingWarning`
  (or a :class:`~xrai.errors.ConfigError` with ``on_undersampling="raise"``). The projection approximation
  needs a sample thinner than the depth of field ``p²/λ`` (:func:`depth_of_field_m`); beyond it an
  :class:`~xrai.errors.ApproximationWarning` recommends multislice (:func:`slices_needed`).

References
----------
.. [1] T. Faragó et al., "syris: a flexible and efficient framework for X-ray imaging experiments simulation",
   J. Synchrotron Rad. 24, 1283–1295 (2017). doi:10.1107/S1600577517012255
.. [2] D. M. Paganin, *Coherent X-Ray Optics*, Oxford University Press (2006), ch. 1–2 (projection
   approximation, Fresnel diffraction, Fresnel scaling theorem). doi:10.1093/acprof:oso/9780198567288.001.0001
.. [3] D. G. Voelz and M. C. Roggemann, "Digital simulation of scalar optical diffraction: revisiting chirp
   function sampling criteria and consequences", Appl. Opt. 48, 6132–6142 (2009). doi:10.1364/AO.48.006132
.. [4] J. M. Cowley and A. F. Moodie, "The scattering of electrons by atoms and crystals. I. A new theoretical
   approach", Acta Cryst. 10, 609–619 (1957). doi:10.1107/S0365110X57002194 (multislice)

Examples
--------
>>> import numpy as np
>>> from xrai.physics.propagation import complex_transmission, propagate
>>> t = np.zeros((64, 64)); t[24:40, 24:40] = 5e-6                  # 5 µm thick square
>>> u0 = complex_transmission(t, delta=1e-6, beta=1e-9, energy_kev=20.0)
>>> u = propagate(u0, distance_m=0.1, energy_kev=20.0, pixel_size_m=1e-6)
>>> u.shape, u.dtype
((64, 64), dtype('complex64'))
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, complex_dtype_for, device_of, is_torch, real_dtype
from xrai._typing import Array
from xrai.errors import ApproximationWarning, ConfigError, SamplingWarning, check_range
from xrai.ops.fft import fft2, fftfreq, ifft2, next_fast_len

__all__ = [
    "HC_KEV_M",
    "Method",
    "RefractiveMaterial",
    "check_propagation_sampling",
    "complex_transmission",
    "depth_of_field_m",
    "effective_distance_m",
    "gaussian_blur",
    "magnification",
    "min_fft_shape",
    "min_pixel_size_m",
    "mollifier_cutoff_px",
    "mollifier_sigma_px",
    "multislice",
    "polychromatic_intensity",
    "propagate",
    "propagator",
    "slices_needed",
    "source_blur_fwhm_m",
    "wavelength_m",
    "wavenumber_per_m",
]

#: h·c in keV·m (CODATA 2018, the value syris uses): λ = HC_KEV_M / E.
HC_KEV_M: Final = 1.239841842144513e-9

Method = Literal["fresnel", "angular_spectrum"]
PadMode = Literal["edge", "constant"]
PixelSize = float | tuple[float, float]
_FWHM_PER_SIGMA: Final = 2.0 * math.sqrt(2.0 * math.log(2.0))


class RefractiveMaterial(Protocol):
    """Anything with δ(E) and β(E), e.g. :class:`xrai.physics.materials.Material`."""

    def delta(self, energies_kev: Any) -> Any: ...

    def beta(self, energies_kev: Any) -> Any: ...


# ----------------------------------------------------------------------------------------------------------------
# Small physics helpers
# ----------------------------------------------------------------------------------------------------------------


def wavelength_m(energy_kev: float) -> float:
    """Photon wavelength λ = hc/E in m for an energy in keV.

    Examples
    --------
    >>> round(wavelength_m(12.398419843320026) * 1e10, 6)      # 1 Å
    1.0
    """
    return HC_KEV_M / check_range("energy_kev", energy_kev, low=0, low_inclusive=False, unit="keV")


def wavenumber_per_m(energy_kev: float) -> float:
    """Wavenumber k = 2π/λ in 1/m for an energy in keV."""
    return 2.0 * math.pi / wavelength_m(energy_kev)


def _pixel_pair(pixel_size_m: PixelSize) -> tuple[float, float]:
    if isinstance(pixel_size_m, tuple | list):
        if len(pixel_size_m) != 2:
            raise ConfigError(f"pixel_size_m = {pixel_size_m!r} must be a number or a (row, col) pair")
        values = (pixel_size_m[0], pixel_size_m[1])
    else:
        values = (pixel_size_m, pixel_size_m)
    return (
        check_range("pixel_size_m", values[0], low=0, low_inclusive=False, unit="m"),
        check_range("pixel_size_m", values[1], low=0, low_inclusive=False, unit="m"),
    )


def _check_distance(distance_m: float) -> float:
    value = check_range("distance_m", distance_m, unit="m")
    if not math.isfinite(value):
        raise ConfigError(f"distance_m = {distance_m!r} is not allowed: must be finite")
    return value


def _energies(energies_kev: Any) -> npt.NDArray[np.float64]:
    energies = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    if energies.ndim != 1 or energies.size == 0:
        raise ConfigError(f"energies_kev must be a non-empty 1-D sequence, got shape {energies.shape}")
    if not np.all(np.isfinite(energies) & (energies > 0)):
        raise ConfigError(f"energies_kev = {energies.tolist()} is not allowed: every energy must be > 0 keV")
    return energies


def magnification(*, source_distance_m: float, distance_m: float) -> float:
    """Geometric magnification M = (D + z)/D of a point source at ``source_distance_m`` D before the sample.

    Examples
    --------
    >>> magnification(source_distance_m=30.0, distance_m=0.3)
    1.01
    """
    d = check_range("source_distance_m", source_distance_m, low=0, low_inclusive=False, unit="m")
    return (d + _check_distance(distance_m)) / d


def effective_distance_m(distance_m: float, *, source_distance_m: float | None) -> float:
    """Propagation distance z/M of the equivalent plane-wave problem (Fresnel scaling theorem).

    A sample lit by a point source at distance D and imaged at distance z behind it gives the plane-wave image
    at the defocus ``z/M``, magnified by ``M = (D + z)/D`` (and dimmed by ``1/M²``) [2]_. ``None`` = plane wave.
    """
    if source_distance_m is None:
        return _check_distance(distance_m)
    return distance_m / magnification(source_distance_m=source_distance_m, distance_m=distance_m)


def source_blur_fwhm_m(*, source_size_m: float, source_distance_m: float, distance_m: float) -> float:
    """FWHM (m, detector plane) of the penumbral blur from a source of FWHM ``s`` at distance D: ``s·z/D``.

    Examples
    --------
    >>> round(source_blur_fwhm_m(source_size_m=100e-6, source_distance_m=30.0, distance_m=0.3) * 1e6, 6)
    1.0
    """
    s = check_range("source_size_m", source_size_m, low=0, unit="m")
    d = check_range("source_distance_m", source_distance_m, low=0, low_inclusive=False, unit="m")
    return s * abs(_check_distance(distance_m)) / d


def depth_of_field_m(pixel_size_m: float, *, energy_kev: float) -> float:
    """Depth of field p²/λ (m): the sample thickness up to which the projection approximation holds.

    Notes
    -----
    Within a slab of thickness Δz, diffraction moves a feature of size p by about λΔz/p; the projection
    approximation neglects that as long as it stays below one pixel, i.e. Δz ≤ p²/λ (Paganin 2006 [2]_, §2.2).
    """
    p = check_range("pixel_size_m", pixel_size_m, low=0, low_inclusive=False, unit="m")
    return p * p / wavelength_m(energy_kev)


def slices_needed(depth_m: float, *, pixel_size_m: float, energy_kev: float) -> int:
    """Number of multislice slices for a sample of extent ``depth_m`` along the beam: ⌈depth / (p²/λ)⌉ ≥ 1."""
    depth = check_range("depth_m", depth_m, low=0, unit="m")
    return max(1, math.ceil(depth / depth_of_field_m(pixel_size_m, energy_kev=energy_kev)))


# ----------------------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------------------


def min_pixel_size_m(n: int, *, distance_m: float, energy_kev: float) -> float:
    """Smallest pixel size (m) for which the Fresnel transfer function on ``n`` pixels is not aliased.

    Notes
    -----
    The chirp ``exp(−iπλz f²)`` is sampled at ``Δf = 1/(n p)``; its local frequency ``λ|z| f`` stays below the
    Nyquist limit ``n p/2`` up to ``f = 1/(2p)`` iff ``n p² ≥ λ|z|``, i.e. ``p ≥ √(λ|z|/n)`` (Voelz & Roggemann
    [3]_). Physically: the finest fringes diffract over ``λ|z|/p``, which must fit in the field of view.
    """
    count = int(check_range("n", n, low=1))
    return math.sqrt(wavelength_m(energy_kev) * abs(_check_distance(distance_m)) / count)


def min_fft_shape(
    shape: tuple[int, ...], *, distance_m: float, energy_kev: float | Sequence[float], pixel_size_m: PixelSize
) -> tuple[int, int]:
    """The smallest fast FFT shape (rows, cols) that propagates ``shape`` without aliasing or wrap-around.

    Per axis ``N ≥ n + 2w`` with the diffraction half-width ``w = λ|z|/(2p²)`` pixels (the largest λ of
    ``energy_kev``): the chirp is sampled (``N p² ≥ λ|z|``) and light diffracted out of the field of view, even
    from its far side, does not wrap back into it (a linear, not circular, convolution). Lengths are rounded up
    to 5-smooth numbers.

    Examples
    --------
    >>> min_fft_shape((256, 256), distance_m=2.0, energy_kev=10.0, pixel_size_m=0.4e-6)
    (1875, 1875)
    """
    lam = wavelength_m(float(np.min(_energies(energy_kev))))
    z = abs(_check_distance(distance_m))
    out = []
    for n, p in zip(shape[-2:], _pixel_pair(pixel_size_m), strict=True):
        if n <= 1:  # nothing propagates along an axis of one pixel
            out.append(int(n))
            continue
        w = lam * z / (2.0 * p * p)
        out.append(next_fast_len(math.ceil(n + 2.0 * w)))
    return out[0], out[1]


def _report(message: str, category: type[Warning], stacklevel: int) -> None:
    from xrai.options import get_options

    action = get_options().on_undersampling
    if action == "raise":
        raise ConfigError(message)
    if action == "warn":
        warnings.warn(message, category, stacklevel=stacklevel + 1)


def check_propagation_sampling(
    shape: tuple[int, ...],
    *,
    distance_m: float,
    energy_kev: float | Sequence[float],
    pixel_size_m: PixelSize,
    mollified: bool = False,
    stacklevel: int = 2,
) -> bool:
    """Check that the transfer function on an FFT grid of ``shape`` is sampled; warn or raise if not.

    Returns ``True`` when every axis longer than one pixel satisfies ``n p² ≥ λ|z|`` (or ``mollified``: the mollifier removes the
    aliased frequencies). Otherwise, following ``xrai.options`` ``on_undersampling``, emits a
    :class:`~xrai.errors.SamplingWarning` (``"warn"``), raises :class:`~xrai.errors.ConfigError` (``"raise"``) or
    stays silent (``"ignore"``), and returns ``False``. The message names the padded shape and the pixel size that
    would be needed.
    """
    if mollified or distance_m == 0:
        return True
    energies = _energies(energy_kev)
    lam = wavelength_m(float(energies.min()))
    z = abs(_check_distance(distance_m))
    pixels = _pixel_pair(pixel_size_m)
    bad = [
        (n, p) for n, p in zip(shape[-2:], pixels, strict=True) if n > 1 and n * p * p < lam * z * (1 - 1e-12)
    ]
    if not bad:
        return True
    n, p = bad[0]
    needed = min_fft_shape(
        shape, distance_m=distance_m, energy_kev=float(energies.min()), pixel_size_m=pixel_size_m
    )
    _report(
        f"Fresnel propagator under-sampled: n·p² = {n} × ({p:.4g} m)² = {n * p * p:.4g} m² < λ·|z| = "
        f"{lam:.4g} m × {z:.4g} m = {lam * z:.4g} m² (E = {energies.min():g} keV); high frequencies alias. "
        f"Use pad='auto' (FFT shape {needed}), mollified=True, or a pixel size >= "
        f"{math.sqrt(lam * z / n):.4g} m",
        SamplingWarning,
        stacklevel + 1,
    )
    return False


# ----------------------------------------------------------------------------------------------------------------
# Transfer functions
# ----------------------------------------------------------------------------------------------------------------


def mollifier_cutoff_px(n: int, *, distance_m: float, energy_kev: float, pixel_size_m: float) -> int:
    """syris's alias cut-off (frequency pixels): ``⌊min(n, max(1, 2np·sin(atan(np/2|z|))/λ))⌋``.

    It is the frequency index whose diffraction angle carries light across the whole field of view ``n p``.
    """
    lam = wavelength_m(energy_kev)
    z = abs(_check_distance(distance_m))
    if z == 0:
        return int(n)
    value = n * 2.0 * pixel_size_m * math.sin(math.atan(n * pixel_size_m / (2.0 * z))) / lam
    return math.floor(min(n, max(1.0, value)))


def mollifier_sigma_px(n: int, *, distance_m: float, energy_kev: float, pixel_size_m: float) -> float:
    """Standard deviation (frequency pixels) of syris's Gaussian mollifier: ``cutoff / (2√(2 ln 10))``.

    The mollifier ``exp(−m²/(2σ²))`` falls to 10⁻⁴ at the cut-off :func:`mollifier_cutoff_px`.

    Examples
    --------
    >>> round(mollifier_sigma_px(256, distance_m=2.0, energy_kev=10.0, pixel_size_m=0.4e-6), 6)
    9.785803
    """
    cutoff = mollifier_cutoff_px(n, distance_m=distance_m, energy_kev=energy_kev, pixel_size_m=pixel_size_m)
    return cutoff / (2.0 * math.sqrt(2.0 * math.log(10.0)))


def _axis_factor(
    n: int, p: float, *, distance_m: float, energy_kev: float, mollified: bool
) -> npt.NDArray[np.complex128]:
    """One axis of the separable Fresnel kernel (float64 maths), in FFT order."""
    m = fftfreq(n) * n
    f = m / (n * p)
    phase = -math.pi * wavelength_m(energy_kev) * distance_m * f * f
    factor = np.exp(1j * phase)
    if mollified and distance_m != 0:
        sigma = mollifier_sigma_px(n, distance_m=distance_m, energy_kev=energy_kev, pixel_size_m=p)
        factor *= np.exp(-(m * m) / (2.0 * sigma * sigma))
    return np.asarray(factor, dtype=np.complex128)


# A kernel is ("separable", h_rows, h_cols) or ("full", H), numpy complex128, in FFT order.
_Kernel = tuple[Any, ...]


def _kernel(
    shape: tuple[int, int],
    pixels: tuple[float, float],
    *,
    distance_m: float,
    energy_kev: float,
    method: str,
    mollified: bool,
) -> _Kernel:
    rows = _axis_factor(
        shape[0], pixels[0], distance_m=distance_m, energy_kev=energy_kev, mollified=mollified
    )
    cols = _axis_factor(
        shape[1], pixels[1], distance_m=distance_m, energy_kev=energy_kev, mollified=mollified
    )
    if method == "fresnel":
        return ("separable", rows, cols)
    if method != "angular_spectrum":
        raise ConfigError(f"method = {method!r} is not allowed: must be 'fresnel' or 'angular_spectrum'")
    lam = wavelength_m(energy_kev)
    fy = fftfreq(shape[0], d=pixels[0])
    fx = fftfreq(shape[1], d=pixels[1])
    a = lam * lam * (fy[:, None] ** 2 + fx[None, :] ** 2)
    propagating = a < 1.0
    root = np.sqrt(np.where(propagating, 1.0 - a, 0.0))
    # k z (√(1−a) − 1) written without cancellation; evanescent waves (a ≥ 1) are dropped.
    phase = -2.0 * math.pi / lam * distance_m * a / (1.0 + root)
    full = np.where(propagating, np.exp(1j * phase), 0.0)
    if mollified:
        full *= np.abs(rows)[:, None] * np.abs(cols)[None, :]
    return ("full", full)


def propagator(
    shape: tuple[int, int],
    *,
    distance_m: float,
    energy_kev: float,
    pixel_size_m: PixelSize,
    method: Method = "fresnel",
    mollified: bool = False,
    xp: Any = None,
    dtype: Any = None,
    device: Any = None,
) -> Array:
    """The transfer function H on the unshifted FFT grid of ``shape`` (complex, ``[row, col]``).

    Parameters
    ----------
    shape
        FFT shape (rows, cols).
    distance_m
        Propagation distance z (m); negative propagates backwards.
    energy_kev
        Photon energy (keV).
    pixel_size_m
        Pixel size (m), a number or a (row, col) pair.
    method
        ``"fresnel"``: ``exp(−iπλz(f_x² + f_y²))`` (syris); ``"angular_spectrum"``: ``exp(ikz(√(1 − λ²f²) − 1))``.
    mollified
        Multiply by syris's Gaussian mollifier ``exp(−(m_x² + m_y²)/(2σ²))`` (:func:`mollifier_sigma_px`).
    xp, dtype, device
        Array namespace (default numpy), real dtype (default ``xrai.options``) and device of the result.

    Returns
    -------
    Array
        Complex64 (float32 mode) or complex128 array of ``shape``.
    """
    xp = xp if xp is not None else array_namespace()
    cdtype = complex_dtype_for(xp, real_dtype(xp, dtype))
    kernel = _kernel(
        (int(shape[0]), int(shape[1])),
        _pixel_pair(pixel_size_m),
        distance_m=_check_distance(distance_m),
        energy_kev=energy_kev,
        method=method,
        mollified=mollified,
    )
    full = kernel[1][:, None] * kernel[2][None, :] if kernel[0] == "separable" else kernel[1]
    np_dtype = np.complex64 if cdtype == xp.complex64 else np.complex128
    return xp.asarray(full.astype(np_dtype), device=device)


# ----------------------------------------------------------------------------------------------------------------
# Transmission
# ----------------------------------------------------------------------------------------------------------------


def complex_transmission(
    thickness_m: Array | Mapping[str, Array],
    *,
    delta: float | Mapping[str, float],
    beta: float | Mapping[str, float],
    energy_kev: float,
    dtype: Any = None,
) -> Array:
    """Exit wave of a unit plane wave in the projection approximation: ``T = exp(−k Σ_m t_m (β_m + iδ_m))``.

    Parameters
    ----------
    thickness_m
        Projected thickness (m), one array ``[..., row, col]`` or a mapping material → array.
    delta, beta
        Refractive index decrement δ and absorption index β (one number, or a mapping like ``thickness_m``).
    energy_kev
        Photon energy (keV).
    dtype
        Real working precision, ``"float32"`` or ``"float64"`` (default: ``xrai.options``, float32).

    Returns
    -------
    Array
        Complex array (complex64 or complex128) on the namespace/device of the thickness; differentiable in
        torch. ``|T|² = exp(−Σ μ_m t_m)`` with ``μ = 4πβ/λ`` (Beer–Lambert).

    Examples
    --------
    >>> import numpy as np
    >>> t = complex_transmission(np.full((2, 2), 1e-3), delta=1e-6, beta=1e-9, energy_kev=20.0)
    >>> round(float(abs(t[0, 0]) ** 2), 6)  # exp(-4π β t / λ)
    0.816516
    """
    k = wavenumber_per_m(energy_kev)
    if isinstance(thickness_m, Mapping):
        names = list(thickness_m)
        maps = [thickness_m[name] for name in names]
        deltas = [float(_lookup(delta, name, "delta")) for name in names]
        betas = [float(_lookup(beta, name, "beta")) for name in names]
    else:
        maps = [thickness_m]
        deltas = [float(delta)]  # type: ignore[arg-type]
        betas = [float(beta)]  # type: ignore[arg-type]
    if not maps:
        raise ConfigError("thickness_m is an empty mapping: give at least one material")
    xp = array_namespace(*maps)
    rdtype = _working_dtype(xp, dtype)
    maps = [xp.asarray(t, dtype=rdtype) for t in maps]
    attenuation = _weighted_sum(xp, maps, [-k * b for b in betas])
    phase = _weighted_sum(xp, maps, [-k * d for d in deltas])
    return _polar(xp, xp.exp(attenuation), phase)


def _lookup(value: float | Mapping[str, float], name: str, what: str) -> float:
    if isinstance(value, Mapping):
        if name not in value:
            raise ConfigError(f"{what} has no value for material {name!r} (has {sorted(value)})")
        return value[name]
    return value


def _working_dtype(xp: Any, dtype: Any) -> Any:
    """The real dtype to compute in: ``dtype`` if given, else the ``xrai.options`` default."""
    return real_dtype(xp, dtype)


def _weighted_sum(xp: Any, maps: Sequence[Array], coefficients: Sequence[float]) -> Array:
    total = maps[0] * coefficients[0]
    for t, c in zip(maps[1:], coefficients[1:], strict=True):
        total = total + t * c
    return total


def _polar(xp: Any, amplitude: Array, phase: Array) -> Array:
    """amplitude · exp(i·phase), real inputs → complex (torch.polar keeps autograd; numpy uses SIMD cos/sin)."""
    if is_torch(amplitude):
        return sys.modules["torch"].polar(amplitude, phase)
    if isinstance(amplitude, np.ndarray):
        out = np.empty(amplitude.shape, dtype=np.result_type(amplitude.dtype, np.complex64))
        np.multiply(amplitude, np.cos(phase), out=out.real)
        np.multiply(amplitude, np.sin(phase), out=out.imag)
        return out
    return amplitude * xp.cos(phase) + 1j * (amplitude * xp.sin(phase))


# ----------------------------------------------------------------------------------------------------------------
# Propagation of one field
# ----------------------------------------------------------------------------------------------------------------


def _padding(shape: tuple[int, int], pad: Any, fft_shape: tuple[int, int] | None) -> tuple[int, int]:
    if pad is None or pad is False:
        return shape
    if isinstance(pad, str):
        if pad != "auto" or fft_shape is None:
            raise ConfigError(
                f"pad = {pad!r} is not allowed: must be None, 'auto', an int or a (rows, cols) pair"
            )
        target = fft_shape
    elif isinstance(pad, int):
        target = (pad, pad)
    else:
        target = (int(pad[0]), int(pad[1]))
    if target[0] < shape[0] or target[1] < shape[1]:
        raise ConfigError(
            f"pad = {pad!r} is not allowed: the padded shape must be >= the field shape {shape}"
        )
    return target


def _pad(x: Array, target: tuple[int, int], mode: str, value: complex) -> Array:
    """Centre ``x`` in an array of ``target`` shape (last two axes), padding with edge values or a constant."""
    n0, n1 = x.shape[-2:]
    if (n0, n1) == target:
        return x
    r0, c0 = (target[0] - n0) // 2, (target[1] - n1) // 2
    if mode not in ("edge", "constant"):
        raise ConfigError(f"pad_mode = {mode!r} is not allowed: must be 'edge' or 'constant'")
    if isinstance(x, np.ndarray):
        widths = [(0, 0)] * (x.ndim - 2) + [(r0, target[0] - n0 - r0), (c0, target[1] - n1 - c0)]
        if mode == "edge":
            return np.pad(x, widths, mode="edge")
        return np.pad(x, widths, mode="constant", constant_values=value)
    xp = array_namespace(x)
    device = device_of(x)
    if mode == "edge":
        rows = xp.asarray(np.clip(np.arange(target[0]) - r0, 0, n0 - 1), device=device)
        cols = xp.asarray(np.clip(np.arange(target[1]) - c0, 0, n1 - 1), device=device)
        return xp.take(xp.take(x, rows, axis=x.ndim - 2), cols, axis=x.ndim - 1)
    out = xp.full((*x.shape[:-2], *target), value, dtype=x.dtype, device=device)
    out[..., r0 : r0 + n0, c0 : c0 + n1] = x
    return out


def _crop(x: Array, shape: tuple[int, int]) -> Array:
    n0, n1 = x.shape[-2:]
    if (n0, n1) == shape:
        return x
    r0, c0 = (n0 - shape[0]) // 2, (n1 - shape[1]) // 2
    return x[..., r0 : r0 + shape[0], c0 : c0 + shape[1]]


def _apply_kernel(spectrum: Array, kernel: Sequence[Any]) -> Array:
    """spectrum · H, in place (returns the same array)."""
    if isinstance(spectrum, np.ndarray):
        if kernel[0] == "separable":
            _mul_separable(spectrum, kernel[1], kernel[2])
        else:
            spectrum *= kernel[1]
        return spectrum
    # torch: in place is autograd-safe here (the FFT's backward does not need its output) and saves an image
    if kernel[0] == "separable":
        spectrum *= kernel[1][:, None]
        spectrum *= kernel[2][None, :]
    else:
        spectrum *= kernel[1]
    return spectrum


def _kernel_on(kernel: _Kernel, like: Array, cdtype: Any) -> _Kernel:
    """Move a numpy complex128 kernel to the namespace, dtype and device of ``like``."""
    if isinstance(like, np.ndarray):
        np_dtype = np.complex64 if like.dtype in (np.float32, np.complex64) else np.complex128
        return (kernel[0], *(np.ascontiguousarray(k, dtype=np_dtype) for k in kernel[1:]))
    xp = array_namespace(like)
    np_dtype = np.complex64 if cdtype == xp.complex64 else np.complex128
    return (kernel[0], *(xp.asarray(k.astype(np_dtype), device=device_of(like)) for k in kernel[1:]))


def _propagate_spectrum(field: Array, kernel: _Kernel, *, in_place: bool) -> Array:
    """ifft2(fft2(field) · H) for a field already on the FFT grid."""
    spectrum = fft2(field, overwrite_x=in_place)
    spectrum = _apply_kernel(spectrum, kernel)
    return ifft2(spectrum, overwrite_x=True)


def propagate(
    field: Array,
    *,
    distance_m: float,
    energy_kev: float,
    pixel_size_m: PixelSize,
    method: Method = "fresnel",
    mollified: bool = False,
    pad: Literal["auto"] | int | tuple[int, int] | None = None,
    pad_mode: PadMode = "edge",
    pad_value: complex = 1.0,
) -> Array:
    """Propagate a monochromatic complex wave field by ``distance_m`` in free space.

    Parameters
    ----------
    field
        Complex field ``[..., row, col]`` (numpy or torch; real input is promoted). Not modified.
    distance_m
        Propagation distance (m); negative propagates backwards (the exact inverse when not mollified).
    energy_kev
        Photon energy (keV).
    pixel_size_m
        Pixel size (m), a number or a (row, col) pair.
    method
        ``"fresnel"`` (syris's transfer function) or ``"angular_spectrum"`` (exact, non-paraxial).
    mollified
        Apply syris's Gaussian mollifier (suppresses aliased high frequencies; then no sampling warning).
    pad
        ``None`` (periodic, syris), ``"auto"`` (:func:`min_fft_shape`), or the FFT shape (int or pair).
        The field is centred in the padded grid and cropped back afterwards.
    pad_mode, pad_value
        ``"edge"`` repeats the border values; ``"constant"`` fills with ``pad_value`` (1 = unobstructed beam).

    Returns
    -------
    Array
        The propagated field, the shape of ``field``, complex64 (or complex128 for float64/complex128 input).

    Warns
    -----
    SamplingWarning
        The transfer function is aliased on the (padded) grid (see :func:`check_propagation_sampling`).
    """
    pixels = _pixel_pair(pixel_size_m)
    z = _check_distance(distance_m)
    wavelength_m(energy_kev)  # validates the energy
    xp = array_namespace(field)
    shape = (int(field.shape[-2]), int(field.shape[-1]))
    auto = (
        min_fft_shape(shape, distance_m=z, energy_kev=energy_kev, pixel_size_m=pixels)
        if pad == "auto"
        else None
    )
    target = _padding(shape, pad, auto)
    check_propagation_sampling(
        target, distance_m=z, energy_kev=energy_kev, pixel_size_m=pixels, mollified=mollified, stacklevel=2
    )
    cdtype = xp.complex128 if field.dtype in (xp.float64, xp.complex128) else xp.complex64
    work = xp.astype(field, cdtype) if field.dtype != cdtype else field
    padded = _pad(work, target, pad_mode, pad_value)
    kernel = _kernel(target, pixels, distance_m=z, energy_kev=energy_kev, method=method, mollified=mollified)
    kernel = _kernel_on(kernel, padded, cdtype)
    own_copy = padded is not field  # scipy may then overwrite it
    out = _propagate_spectrum(padded, kernel, in_place=own_copy)
    return _crop(out, shape)


# ----------------------------------------------------------------------------------------------------------------
# numpy hot-loop kernels
# ----------------------------------------------------------------------------------------------------------------


def _mul_separable(spectrum: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """spectrum[..., i, j] *= rows[i] · cols[j], in place."""
    kernels = _numba_kernels()
    if kernels is not None and spectrum.ndim == 2 and spectrum.flags.c_contiguous:
        kernels[0](spectrum, rows, cols)
        return
    spectrum *= rows[:, None]
    spectrum *= cols


def _numba_kernels() -> tuple[Any, Any] | None:
    """Fused multi-threaded numba kernels for the two memory-bound passes (``None`` where numba is missing)."""
    try:
        from xrai.physics import _propagation_numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    return _propagation_numba.mul_separable, _propagation_numba.accumulate_intensity


# ----------------------------------------------------------------------------------------------------------------
# Partial coherence: Gaussian blur of an intensity
# ----------------------------------------------------------------------------------------------------------------


def gaussian_blur(image: Array, *, fwhm_m: float | tuple[float, float], pixel_size_m: PixelSize) -> Array:
    """Convolve a real image ``[..., row, col]`` with a Gaussian of FWHM ``fwhm_m`` (m; a number or a pair).

    The convolution runs in Fourier space (transfer function ``exp(−2π²σ²f²)``) on a grid padded by 4σ with
    edge values, so the borders do not wrap. Differentiable in torch.
    """
    pixels = _pixel_pair(pixel_size_m)
    fwhm = fwhm_m if isinstance(fwhm_m, tuple | list) else (fwhm_m, fwhm_m)
    sigmas = [
        check_range("fwhm_m", f, low=0, unit="m") / _FWHM_PER_SIGMA / p
        for f, p in zip(fwhm, pixels, strict=True)
    ]
    if max(sigmas) == 0:
        return image
    shape = (int(image.shape[-2]), int(image.shape[-1]))
    target = tuple(
        next_fast_len(n + 2 * math.ceil(4 * s)) if s > 0 else n for n, s in zip(shape, sigmas, strict=True)
    )
    padded = _pad(image, (target[0], target[1]), "edge", 0.0)
    fy = fftfreq(target[0])
    fx = np.fft.rfftfreq(target[1])
    h = np.exp(-2 * math.pi**2 * (sigmas[0] ** 2 * fy[:, None] ** 2 + sigmas[1] ** 2 * fx[None, :] ** 2))
    if isinstance(padded, np.ndarray):
        import scipy.fft

        from xrai.ops.fft import default_workers

        spectrum = scipy.fft.rfft2(padded, workers=default_workers())
        spectrum *= h.astype(padded.dtype)
        out = scipy.fft.irfft2(spectrum, s=target, workers=default_workers(), overwrite_x=True)
    else:
        xp = array_namespace(padded)
        spectrum = xp.fft.rfft2(padded)
        kernel = xp.asarray(
            h.astype(np.float64 if padded.dtype == xp.float64 else np.float32), device=device_of(padded)
        )
        out = xp.fft.irfft2(spectrum * kernel, s=target)
    return _crop(out, shape)


# ----------------------------------------------------------------------------------------------------------------
# Multislice (monochromatic)
# ----------------------------------------------------------------------------------------------------------------


def multislice(
    slices_m: Sequence[Array | Mapping[str, Array]],
    *,
    delta: float | Mapping[str, float],
    beta: float | Mapping[str, float],
    energy_kev: float,
    slice_spacing_m: float,
    distance_m: float,
    pixel_size_m: PixelSize,
    method: Method = "fresnel",
    mollified: bool = False,
    pad: Literal["auto"] | int | tuple[int, int] | None = None,
    pad_mode: PadMode = "edge",
    dtype: Any = None,
) -> Array:
    """Exit wave of a thick sample by the multislice method: transmit, propagate, transmit, ... propagate.

    Parameters
    ----------
    slices_m
        Projected thickness of each slice (an array, or a mapping material → array), ordered along the beam.
    delta, beta
        Optical constants (a number, or a mapping material → number).
    energy_kev
        Photon energy (keV).
    slice_spacing_m
        Distance between consecutive slice planes (m): the slab thickness, each slab lumped into a plane at its
        centre (as :func:`xrai.physics.bodies.project_slices` cuts them).
    distance_m
        Distance from the last slice plane (the centre of the last slab) to the detector (m).
    pixel_size_m, method, mollified, pad, pad_mode
        As in :func:`propagate`.
    dtype
        Real working precision (default ``xrai.options``).

    Returns
    -------
    Array
        Complex field at the detector, the shape of one slice.

    Notes
    -----
    ``u₀ = T₀``, ``u_k = T_k · P_Δ[u_{k−1}]``, detector field ``P_z[u_{K−1}]`` (Cowley & Moodie [4]_). Lumping
    each slab at its centre plane makes the splitting error second order in Δ. Each slab must satisfy the
    projection approximation, Δ ≤ p²/λ (:func:`depth_of_field_m`); a coarser spacing gives an
    :class:`~xrai.errors.ApproximationWarning`. One slice reduces to the projection approximation. For a sample
    of depth D cut into K slabs, the detector lies ``distance_m + (K − 1)Δ/2`` behind the sample's centre plane.
    """
    if len(slices_m) == 0:
        raise ConfigError("slices_m is empty: give at least one slice")
    spacing = check_range("slice_spacing_m", slice_spacing_m, low=0, unit="m")
    pixels = _pixel_pair(pixel_size_m)
    z = _check_distance(distance_m)
    if len(slices_m) > 1 and spacing > depth_of_field_m(min(pixels), energy_kev=energy_kev):
        _report(
            f"slice_spacing_m = {spacing:g} m exceeds the depth of field p²/λ = "
            f"{depth_of_field_m(min(pixels), energy_kev=energy_kev):.4g} m: use thinner slices",
            ApproximationWarning,
            2,
        )
    transmissions = [
        complex_transmission(s, delta=delta, beta=beta, energy_kev=energy_kev, dtype=dtype) for s in slices_m
    ]
    shape = (int(transmissions[0].shape[-2]), int(transmissions[0].shape[-1]))
    biggest = max(abs(z), spacing)
    auto = (
        min_fft_shape(shape, distance_m=biggest, energy_kev=energy_kev, pixel_size_m=pixels)
        if pad == "auto"
        else None
    )
    target = _padding(shape, pad, auto)
    for d in {z, spacing}:
        check_propagation_sampling(
            target,
            distance_m=d,
            energy_kev=energy_kev,
            pixel_size_m=pixels,
            mollified=mollified,
            stacklevel=2,
        )
    cdtype = transmissions[0].dtype
    step = _kernel(
        target, pixels, distance_m=spacing, energy_kev=energy_kev, method=method, mollified=mollified
    )
    last = _kernel(target, pixels, distance_m=z, energy_kev=energy_kev, method=method, mollified=mollified)
    field = _pad(transmissions[0], target, pad_mode, 1.0)
    step = _kernel_on(step, field, cdtype)
    last = _kernel_on(last, field, cdtype)
    for t in transmissions[1:]:
        field = _propagate_spectrum(field, step, in_place=isinstance(field, np.ndarray))
        padded_t = _pad(t, target, pad_mode, 1.0)
        if isinstance(field, np.ndarray):
            field *= padded_t
        else:
            field = field * padded_t
    field = _propagate_spectrum(field, last, in_place=len(transmissions) > 1 or target != shape)
    return _crop(field, shape)


# ----------------------------------------------------------------------------------------------------------------
# Polychromatic intensity
# ----------------------------------------------------------------------------------------------------------------


def polychromatic_intensity(
    thickness_m: Mapping[str, Array] | Sequence[Mapping[str, Array]],
    materials: Mapping[str, RefractiveMaterial | str] | None = None,
    *,
    energies_kev: Any,
    weights: Any = None,
    distance_m: float,
    pixel_size_m: PixelSize,
    method: Method = "fresnel",
    mollified: bool = False,
    pad: Literal["auto"] | int | tuple[int, int] | None = None,
    pad_mode: PadMode = "edge",
    slice_spacing_m: float | None = None,
    source_distance_m: float | None = None,
    source_size_m: float | tuple[float, float] = 0.0,
    dtype: Any = None,
) -> Array:
    """Intensity behind a sample, summed incoherently over energies: ``I = Σ_E w_E |P_z[T_E]|²``.

    Parameters
    ----------
    thickness_m
        Projected thickness maps (m), a mapping material name → array ``[row, col]`` (projection approximation),
        or a sequence of such mappings, one per slice along the beam (multislice, needs ``slice_spacing_m``).
        numpy arrays or torch tensors (CPU/CUDA; gradients flow back to them).
    materials
        Material name → object with ``delta(energies_kev)`` and ``beta(energies_kev)`` (e.g.
        :class:`xrai.physics.materials.Material`) or another name; names not given are looked up with
        :func:`xrai.physics.materials.get_material`.
    energies_kev
        Photon energies (keV), 1-D.
    weights
        Weight of each energy (default 1 each, the unit flat spectrum of syris's example). Pass the product
        spectrum × filter transmission × detector response, e.g. ``spectrum.weights() * response``. An energy of
        weight 0 is skipped.
    distance_m
        Sample–detector distance z (m); for multislice, from the last slice.
    pixel_size_m
        Pixel size of the thickness maps (m, sample plane), a number or a (row, col) pair.
    method, mollified, pad, pad_mode
        As in :func:`propagate`; ``mollified=True`` with ``method="fresnel"`` and ``pad=None`` is syris's
        default ``propagate``.
    slice_spacing_m
        Distance between slices (m), multislice only.
    source_distance_m
        Source–sample distance D (m) for a point-like source: the incident wave is spherical and the image is
        computed by the Fresnel scaling theorem at ``z/M``, ``M = (D + z)/D``. ``None`` = plane wave.
    source_size_m
        Source FWHM (m; a number or a (vertical, horizontal) pair): the intensity is blurred by a Gaussian of
        FWHM ``s·z/D`` in the detector plane (``s·z/(D + z)`` on the sample grid). Needs ``source_distance_m``.
    dtype
        Real working precision, ``"float32"`` (default via ``xrai.options``) or ``"float64"``.

    Returns
    -------
    Array
        Intensity ``[row, col]`` on the sample-plane grid, relative to the unobstructed beam of each energy (a
        flat field equals ``Σ w``). With ``source_distance_m`` the detector pixel is ``M · pixel_size_m`` and the
        ``1/M²`` fall-off of the spherical wave is left to the flat field.

    Warns
    -----
    SamplingWarning
        The propagator is aliased (:func:`check_propagation_sampling`) or the transmission phase jumps by more
        than π between neighbouring pixels.
    ApproximationWarning
        A single slice thicker than the depth of field ``p²/λ``: use multislice (:func:`slices_needed`).

    Examples
    --------
    >>> import numpy as np
    >>> from xrai.physics.bodies import Sphere, project_bodies
    >>> t = project_bodies([Sphere(radius_m=16e-6, material="pmma")], (64, 64), pixel_size_m=1e-6)
    >>> image = polychromatic_intensity(t, energies_kev=np.arange(15, 25), distance_m=0.05,
    ...                                 pixel_size_m=1e-6, mollified=True)
    >>> image.shape, image.dtype
    ((64, 64), dtype('float32'))
    """
    from xrai.physics import _polychromatic as engine

    slices = engine.as_slices(thickness_m)
    names = list(slices[0])
    for s in slices[1:]:
        if list(s) != names:
            raise ConfigError(f"every slice must have the same materials {names}, got {list(s)}")
    energies = _energies(energies_kev)
    w = np.ones_like(energies) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != energies.shape:
        raise ConfigError(f"weights has {w.size} values but energies_kev has {energies.size}")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise ConfigError(f"weights = {w.tolist()} is not allowed: every weight must be finite and >= 0")
    pixels = _pixel_pair(pixel_size_m)
    z_detector = _check_distance(distance_m)
    multi = len(slices) > 1
    if multi and slice_spacing_m is None:
        raise ConfigError(f"{len(slices)} slices given but slice_spacing_m is None: give the slice spacing")
    spacing = (
        0.0 if slice_spacing_m is None else check_range("slice_spacing_m", slice_spacing_m, low=0, unit="m")
    )
    z = effective_distance_m(z_detector, source_distance_m=source_distance_m)
    sizes = source_size_m if isinstance(source_size_m, tuple | list) else (source_size_m, source_size_m)
    if max(sizes) > 0 and source_distance_m is None:
        raise ConfigError(
            f"source_size_m = {source_size_m!r} needs source_distance_m (the source–sample distance)"
        )

    maps0 = [slices[0][name] for name in names]
    xp = array_namespace(*maps0)
    rdtype = _working_dtype(xp, dtype)
    cdtype = complex_dtype_for(xp, rdtype)
    shape = (int(maps0[0].shape[-2]), int(maps0[0].shape[-1]))
    for s in slices:
        for name in names:
            if tuple(s[name].shape) != shape:
                raise ConfigError(
                    f"thickness map of {name!r} has shape {tuple(s[name].shape)}, expected {shape}"
                )
            engine.check_thickness(name, s[name])
    deltas, betas = engine.optical_constants(names, materials, energies)
    active = np.flatnonzero(w > 0)
    lowest = float(energies[active].min()) if active.size else float(energies.min())

    biggest = max(abs(z), spacing)
    auto = (
        min_fft_shape(shape, distance_m=biggest, energy_kev=lowest, pixel_size_m=pixels)
        if pad == "auto"
        else None
    )
    target = _padding(shape, pad, auto)
    for d in {z, spacing} - {0.0}:
        check_propagation_sampling(
            target, distance_m=d, energy_kev=lowest, pixel_size_m=pixels, mollified=mollified, stacklevel=2
        )
    engine.check_sample_sampling(
        slices, names, deltas, energies, active, pixels, spacing, multi, z != 0 or multi
    )

    padded = [[xp.astype(_pad(s[name], target, pad_mode, 0.0), rdtype) for name in names] for s in slices]
    if isinstance(maps0[0], np.ndarray) and not multi:
        total = engine.intensity_numpy(
            padded[0], deltas, betas, energies, w, active, shape, target, pixels, z, method, mollified
        )
    else:
        total = engine.intensity_generic(
            padded,
            deltas,
            betas,
            energies,
            w,
            active,
            shape,
            target,
            pixels,
            z,
            spacing,
            method,
            mollified,
            cdtype,
        )
    if max(sizes) > 0:
        assert source_distance_m is not None
        fwhm = tuple(
            source_blur_fwhm_m(source_size_m=s, source_distance_m=source_distance_m, distance_m=z_detector)
            / magnification(source_distance_m=source_distance_m, distance_m=z_detector)
            for s in sizes
        )
        total = gaussian_blur(total, fwhm_m=(fwhm[0], fwhm[1]), pixel_size_m=pixels)
    return total
