"""Small deterministic phantoms for tests, with their analytic projections or propagations where they exist.

All coordinates follow :mod:`xrai.geometry`: images ``[y, x]`` (volumes ``[z, y, x]``), pixel ``j`` of an axis
of ``n`` centred at ``j − (n − 1)/2`` (pixel units), the detector coordinate at angle θ is
``s = x cos θ + y sin θ`` and lands on column ``center_col + s`` (default ``center_col = (n_cols − 1)/2``).

=========================  ===================================================================================
phantom                    analytic companion
=========================  ===================================================================================
:func:`disc`               :func:`disc_sinogram`: exact strip-averaged chord lengths of the continuous disc
:func:`point`              :func:`point_columns`: the column where the point projects at every angle (a
                           straight line for a point on the axis, a sinusoid of amplitude ``r`` otherwise)
:func:`shepp_logan`        none (scikit-image's modified Shepp–Logan phantom, resampled; use
                           ``skimage.transform.radon`` as the independent reference)
:func:`gaussian_field`     :func:`gaussian_field_propagated`: exact paraxial (Fresnel) propagation
=========================  ===================================================================================

For the bigger, physical phantoms of the simulator (foams, fibres, 3-D Shepp–Logan with materials) see
:mod:`xrai.physics.phantoms`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, check_range

__all__ = [
    "disc",
    "disc_sinogram",
    "gaussian_field",
    "gaussian_field_propagated",
    "point",
    "point_columns",
    "shepp_logan",
]

#: h·c in keV·m (CODATA 2018): λ = HC_KEV_M / E. Repeated here so that this module does not depend on physics.
_HC_KEV_M = 1.239841842144513e-9


def _shape2(shape: Sequence[int], name: str = "shape") -> tuple[int, int]:
    dims = tuple(int(n) for n in shape)
    if len(dims) != 2 or any(n < 1 for n in dims):
        raise ConfigError(f"{name} = {tuple(shape)!r} is not allowed: must be (rows, cols) of positive ints")
    return dims[0], dims[1]


def _centred(n: int) -> npt.NDArray[np.float64]:
    return np.arange(n, dtype=np.float64) - (n - 1) / 2.0


def _angles(angles_rad: npt.ArrayLike) -> npt.NDArray[np.float64]:
    angles = np.atleast_1d(np.asarray(angles_rad, dtype=np.float64))
    if angles.ndim != 1 or not np.all(np.isfinite(angles)):
        raise ConfigError(f"angles_rad = {angles_rad!r} is not allowed: must be a 1-D array of finite angles")
    return angles


# ----------------------------------------------------------------------------------------------------------------
# Disc
# ----------------------------------------------------------------------------------------------------------------


def disc(
    shape: Sequence[int],
    *,
    radius_px: float,
    center_px: tuple[float, float] = (0.0, 0.0),
    value: float = 1.0,
    supersampling: int = 4,
    dtype: Any = np.float64,
) -> npt.NDArray[Any]:
    """A disc of radius ``radius_px`` (pixels) and value ``value`` in an image ``[y, x]`` of ``shape``.

    Parameters
    ----------
    shape
        (rows, cols) = (ny, nx).
    radius_px
        Radius in pixels (> 0).
    center_px
        Centre ``(y, x)`` in centred pixel coordinates (``(0, 0)`` = the middle of the image, the rotation axis).
    value
        Value inside the disc.
    supersampling
        Each pixel holds the fraction of its area inside the disc, estimated on ``supersampling²`` sub-pixels
        (1 = sampled at the pixel centre only).
    dtype
        Output dtype.

    Examples
    --------
    >>> image = disc((9, 9), radius_px=3.0, supersampling=1)
    >>> int(image.sum()), float(image[4, 4]), float(image[0, 0])
    (29, 1.0, 0.0)
    """
    ny, nx = _shape2(shape)
    radius = check_range("radius_px", radius_px, low=0, low_inclusive=False, unit="px")
    k = int(check_range("supersampling", supersampling, low=1, high=64))
    offsets = (np.arange(k, dtype=np.float64) + 0.5) / k - 0.5
    y = (_centred(ny)[:, None] + offsets[None, :]).reshape(-1) - float(center_px[0])
    x = (_centred(nx)[:, None] + offsets[None, :]).reshape(-1) - float(center_px[1])
    inside = (y[:, None] ** 2 + x[None, :] ** 2) <= radius * radius
    fraction = inside.reshape(ny, k, nx, k).mean(axis=(1, 3))
    return np.asarray(fraction * value, dtype=dtype)


def _chord_antiderivative(s: npt.NDArray[np.float64], radius: float) -> npt.NDArray[np.float64]:
    """∫₀ˢ 2√(r² − t²) dt for s clipped to [−r, r]: s√(r² − s²) + r² asin(s/r)."""
    c = np.clip(s, -radius, radius)
    return np.asarray(c * np.sqrt(radius * radius - c * c) + radius * radius * np.arcsin(c / radius))


def disc_sinogram(
    angles_rad: npt.ArrayLike,
    n_cols: int,
    *,
    radius_px: float,
    center_px: tuple[float, float] = (0.0, 0.0),
    value: float = 1.0,
    center_col: float | None = None,
    pixel_average: bool = True,
) -> npt.NDArray[np.float64]:
    """The exact parallel-beam sinogram ``[angle, col]`` of the continuous disc of :func:`disc`.

    Parameters
    ----------
    angles_rad
        Projection angles (rad).
    n_cols
        Detector columns (pixel = image pixel).
    radius_px, center_px, value
        As in :func:`disc`.
    center_col
        Column of the rotation axis (default ``(n_cols − 1)/2``).
    pixel_average
        ``True``: the chord length averaged over each column's width (what a strip-integral projector such as
        :class:`xrai.ops.projector.ParallelProjector` computes); ``False``: sampled at the column centre.

    Returns
    -------
    numpy.ndarray
        float64 ``[n_angles, n_cols]``, in pixel lengths times ``value``.

    Notes
    -----
    The disc's centre ``(y_c, x_c)`` projects to ``s_c = x_c cos θ + y_c sin θ``; its chord at detector
    coordinate ``s`` is ``2 √(r² − (s − s_c)²)`` and the column average is ``[G(b) − G(a)]`` with
    ``G(s) = s √(r² − s²) + r² asin(s/r)`` over the column's edges ``a, b`` (relative to ``s_c``). Every
    angle's row sums to the disc's area ``π r² · value`` while the detector covers the disc.

    Examples
    --------
    >>> import numpy as np
    >>> sino = disc_sinogram([0.0, 1.0], 32, radius_px=5.0)
    >>> bool(np.allclose(sino.sum(axis=1), np.pi * 25))
    True
    """
    angles = _angles(angles_rad)
    cols = int(check_range("n_cols", n_cols, low=1))
    radius = check_range("radius_px", radius_px, low=0, low_inclusive=False, unit="px")
    c = (cols - 1) / 2.0 if center_col is None else float(center_col)
    s_centre = float(center_px[1]) * np.cos(angles) + float(center_px[0]) * np.sin(angles)
    s = (np.arange(cols, dtype=np.float64) - c)[None, :] - s_centre[:, None]
    if pixel_average:
        chord = _chord_antiderivative(s + 0.5, radius) - _chord_antiderivative(s - 0.5, radius)
    else:
        chord = 2.0 * np.sqrt(np.clip(radius * radius - s * s, 0.0, None))
    return np.asarray(chord * value, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------------
# Point
# ----------------------------------------------------------------------------------------------------------------


def point(
    shape: Sequence[int],
    *,
    offset_px: Sequence[int] | None = None,
    value: float = 1.0,
    dtype: Any = np.float64,
) -> npt.NDArray[Any]:
    """One voxel of ``value`` in an otherwise empty image ``[y, x]`` or volume ``[z, y, x]``.

    Parameters
    ----------
    shape
        (ny, nx) or (nz, ny, nx).
    offset_px
        Integer shift of the voxel from the central voxel ``n // 2`` of every axis (a *shifted point*); default
        none. On an odd axis the central voxel lies on the rotation axis; on an even axis it lies half a pixel
        beside it.
    value, dtype
        The voxel's value and the array's dtype.

    Examples
    --------
    >>> point((3, 5), offset_px=(0, 1)).nonzero()
    (array([1]), array([3]))
    """
    dims = tuple(int(n) for n in shape)
    if len(dims) not in (2, 3) or any(n < 1 for n in dims):
        raise ConfigError(f"shape = {tuple(shape)!r} is not allowed: must be (ny, nx) or (nz, ny, nx)")
    offsets = (0,) * len(dims) if offset_px is None else tuple(int(o) for o in offset_px)
    if len(offsets) != len(dims):
        raise ConfigError(f"offset_px = {offset_px!r} is not allowed: needs {len(dims)} integers")
    index = tuple(n // 2 + o for n, o in zip(dims, offsets, strict=True))
    if any(not 0 <= i < n for i, n in zip(index, dims, strict=True)):
        raise ConfigError(
            f"offset_px = {offset_px!r} is not allowed: puts the point at {index}, outside {dims}"
        )
    out = np.zeros(dims, dtype=dtype)
    out[index] = value
    return out


def point_columns(
    angles_rad: npt.ArrayLike,
    *,
    shape: Sequence[int],
    offset_px: Sequence[int] | None = None,
    center_col: float | None = None,
    n_cols: int | None = None,
) -> npt.NDArray[np.float64]:
    """The detector column where the voxel of :func:`point` projects, at every angle (float, pixels).

    ``u(θ) = center_col + x cos θ + y sin θ`` with ``(y, x)`` the voxel's centred coordinates: a straight
    line for a voxel on the rotation axis, a sinusoid of amplitude ``√(x² + y²)`` otherwise. The centre of
    mass of every projection of the point lies there.

    Examples
    --------
    >>> point_columns([0.0, np.pi / 2], shape=(5, 5), offset_px=(0, 2)).tolist()
    [4.0, 2.0]
    """
    angles = _angles(angles_rad)
    dims = tuple(int(n) for n in shape)
    offsets = (0,) * len(dims) if offset_px is None else tuple(int(o) for o in offset_px)
    ny, nx = dims[-2:]
    y = ny // 2 + offsets[-2] - (ny - 1) / 2.0
    x = nx // 2 + offsets[-1] - (nx - 1) / 2.0
    cols = nx if n_cols is None else int(n_cols)
    c = (cols - 1) / 2.0 if center_col is None else float(center_col)
    return np.asarray(c + x * np.cos(angles) + y * np.sin(angles), dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------------
# Shepp–Logan
# ----------------------------------------------------------------------------------------------------------------


def shepp_logan(n: int = 64, *, dtype: Any = np.float64) -> npt.NDArray[Any]:
    """scikit-image's modified Shepp–Logan phantom (values 0 … 1) resampled to ``n × n`` with anti-aliasing.

    The phantom is the one of Shepp & Logan (1974), doi:10.1109/TNS.1974.6499235, with the higher contrast of
    Toft (1996) as scikit-image ships it; it fills the inscribed circle, so a parallel-beam scan of ``n``
    columns covers it at every angle.

    Examples
    --------
    >>> image = shepp_logan(32)
    >>> image.shape, bool(image.min() >= 0 and image.max() <= 1)
    ((32, 32), True)
    """
    size = int(check_range("n", n, low=4, high=4096))
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    image = shepp_logan_phantom()  # type: ignore[no-untyped-call]
    if image.shape != (size, size):
        image = resize(image, (size, size), order=1, anti_aliasing=True, mode="constant")  # type: ignore[no-untyped-call]
    return np.asarray(np.clip(image, 0.0, 1.0), dtype=dtype)


# ----------------------------------------------------------------------------------------------------------------
# Gaussian wave field
# ----------------------------------------------------------------------------------------------------------------


def gaussian_field(shape: Sequence[int], *, sigma_px: float, dtype: Any = np.complex128) -> npt.NDArray[Any]:
    """The complex field ``exp(−r²/(2σ²))`` centred on the image, ``r`` in pixels (a Gaussian beam waist).

    Examples
    --------
    >>> u = gaussian_field((5, 5), sigma_px=1.0)
    >>> complex(u[2, 2])
    (1+0j)
    """
    ny, nx = _shape2(shape)
    sigma = check_range("sigma_px", sigma_px, low=0, low_inclusive=False, unit="px")
    r2 = _centred(ny)[:, None] ** 2 + _centred(nx)[None, :] ** 2
    return np.asarray(np.exp(-r2 / (2.0 * sigma * sigma)), dtype=dtype)


def gaussian_field_propagated(
    shape: Sequence[int],
    *,
    sigma_px: float,
    distance_m: float,
    energy_kev: float,
    pixel_size_m: float,
) -> npt.NDArray[np.complex128]:
    """The exact Fresnel propagation of :func:`gaussian_field` over ``distance_m`` (constant phase omitted).

    Returns the complex128 field ``[y, x]`` sampled on the same pixels.

    Notes
    -----
    With the transfer function ``H = exp(−iπλz f²)`` (the convention of :func:`xrai.physics.propagation.propagate`,
    without ``exp(ikz)``), each axis of ``exp(−x²/(2σ²))`` becomes ``(σ/q) exp(−x²/(2q²))`` with the complex
    width ``q² = σ² + iλz/(2π)`` (in m²; Siegman, *Lasers*, 1986, ch. 16). It matches a periodic FFT
    propagation while the beam stays well inside the grid (``|q|`` a few times smaller than the field of view).
    """
    ny, nx = _shape2(shape)
    sigma_m = check_range("sigma_px", sigma_px, low=0, low_inclusive=False, unit="px") * pixel_size_m
    check_range("pixel_size_m", pixel_size_m, low=0, low_inclusive=False, unit="m")
    energy = check_range("energy_kev", energy_kev, low=0, low_inclusive=False, unit="keV")
    wavelength = _HC_KEV_M / energy
    q2 = sigma_m * sigma_m + 1j * wavelength * float(distance_m) / (2.0 * math.pi)
    y = _centred(ny) * pixel_size_m
    x = _centred(nx) * pixel_size_m
    r2 = y[:, None] ** 2 + x[None, :] ** 2
    return np.asarray((sigma_m * sigma_m / q2) * np.exp(-r2 / (2.0 * q2)), dtype=np.complex128)
