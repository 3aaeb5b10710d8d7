"""Screening a batch of reconstructed specimens: unsupervised anomaly scores, an inclusion detector, outliers.

High-throughput imaging finds the few unusual specimens in a large batch (1510 fly pupae scanned in a week, 55 of
them parasitised by a wasp). This module does it without labels:

- :func:`screening_features`: a label-free feature vector of one reconstructed volume ``[z, y, x]`` (body shape,
  intensity distribution inside the body, and the largest dense inclusion from :func:`detect_inclusion`), every
  feature dimensionless so that units, offset and scaling of the reconstruction do not matter.
- :class:`NormalModel` / :func:`fit_normal_model`: a robust Gaussian model of *normal* specimens (Minimum
  Covariance Determinant, FAST-MCD with reweighting), an anomaly score (the robust Mahalanobis distance) and a
  calibrated threshold for a chosen false-alarm rate.
- :func:`screen_batch` / :func:`screen_features`: score, flag and a human-readable reason per specimen.
- :func:`detect_inclusion`: a compact region inside the body that is denser than the host tissue around it
  (e.g. a parasitoid larva in a fly pupa), with its volume and centroid.
- :func:`batch_outliers`: robust z-scores (median / MAD) for any morphometric table, per group if asked.

The reference model can come from the batch itself (MCD ignores up to half of the rows) or from normal
specimens imaged before, or from simulations (``xrai.pipeline.screening_reference`` renders normal phantoms).

Method (volume → features)
--------------------------
1. **Body mask**: Otsu's threshold of the volume smoothed by a Gaussian (σ = 1 voxel), closing, the largest
   connected component, holes filled. The medium level ``b`` is the median outside the dilated mask and inside
   the inscribed cylinder (the field of view); the noise level is the MAD there.
2. **Normalisation**: ``n = (v − b) / (t − b)`` with ``t`` the *dense tissue level*, the highest histogram mode of
   the body interior that holds at least 15 % of it. ``n`` is 0 in the medium and 1 in the dense host tissue,
   whatever the units (μ in 1/m, δ, grey values) or the contrast mechanism.
3. **Denoising**: total variation (Chambolle 2004) with a weight proportional to the measured noise, which
   flattens regions and keeps their edges (a parasitoid is only 4–6 % denser than the host's developing tissue).
4. **Inclusion** (:func:`detect_inclusion`): along the body's long axis, the host level ``L(a)`` of every slab is
   an upper quantile of the slab's interior values (running maximum over neighbouring slabs). A voxel is a
   candidate if ``n > 1 + δ`` (dense) and ``n > L(a) + Δ`` (denser than the host tissue *at this position*); an
   opening removes specks, the largest component is the core, ``L`` is re-estimated without it (twice), and the
   final region grows from the core by a marker watershed on the gradient magnitude (the boundary lands at the
   steepest edge, i.e. half-way between the inclusion and whatever tissue is next to it).

Features (:data:`SCREENING_FEATURES`): ``elongation`` and ``flatness`` (ratios of the principal axes of the body),
``ellipsoid_fill`` (body volume over the volume of its moment ellipsoid), ``interior_q10/q50/q90`` (quantiles of
``n`` in the body interior), ``dense_fraction`` (fraction of the interior with ``n > 1 + δ``),
``inclusion_volume_fraction`` (inclusion volume / body volume) and ``inclusion_contrast`` (inclusion level minus
the host level around it, in units of the body contrast).

Notes
-----
Robust Mahalanobis distance of a feature vector ``x`` to the normal model (location ``μ``, scatter ``Σ``)::

    d²(x) = (x − μ)ᵀ Σ⁻¹ (x − μ)

``μ, Σ`` are the reweighted MCD estimates (Rousseeuw & Van Driessen 1999): the ``h`` rows (90 % by default) with
the smallest covariance determinant, scaled for consistency at the normal distribution, then the classical
estimates of the rows with ``d² ≤ χ²_{p, 0.975}``, corrected for the truncated tails (Croux & Haesbroeck 1999).
Each feature's variance is floored at ``min_std²`` (a difference smaller than that is never called abnormal; it
also keeps features that are exactly 0 in all normal specimens usable).

The threshold for a false-alarm rate ``α`` must account for the reference being small: with 30 reference rows
and 9 features the χ² quantile would flag about a quarter of normal specimens. The distance of a *new* normal
observation is affine invariant, so its distribution depends only on ``n``, ``p`` and the estimator; we simulate
it once per ``(n, p, h)`` and fit the scaled-F form of Hardin & Rocke (2005),

    d² ≈ κ · p · F(p, ν),   threshold d²_α = κ p F⁻¹(1 − α; p, ν),

which tends to ``χ²_{p, 1−α}`` for large ``n`` (κ → 1, ν → ∞). Checked: the realised false-alarm rate on fresh
Gaussian data stays within a factor 1.6 of ``α`` for ``n`` from 30 to 300 (``tests/analysis/test_screening.py``).

Batch outliers: the modified z-score ``z = (x − median) / (1.4826 · MAD)`` (Iglewicz & Hoaglin 1993), flagged when
``|z| > 3.5``; with MAD = 0 the mean absolute deviation times 1.2533 is the scale.

References
----------
Rousseeuw, P. J. & Van Driessen, K. (1999). A fast algorithm for the minimum covariance determinant estimator.
*Technometrics* 41, 212. https://doi.org/10.1080/00401706.1999.10485670

Croux, C. & Haesbroeck, G. (1999). Influence function and efficiency of the minimum covariance determinant
scatter matrix estimator. *J. Multivariate Anal.* 71, 161. https://doi.org/10.1006/jmva.1999.1839

Hardin, J. & Rocke, D. M. (2005). The distribution of robust distances. *J. Comput. Graph. Stat.* 14, 928.
https://doi.org/10.1198/106186005X77685

Chambolle, A. (2004). An algorithm for total variation minimization and applications. *J. Math. Imaging Vis.*
20, 89. https://doi.org/10.1023/B:JMIV.0000011325.36760.1e

Otsu, N. (1979). A threshold selection method from gray-level histograms. *IEEE Trans. Syst. Man Cybern.* 9, 62.
https://doi.org/10.1109/TSMC.1979.4310076

Iglewicz, B. & Hoaglin, D. C. (1993). *How to Detect and Handle Outliers.* ASQC Quality Press.

Examples
--------
>>> import numpy as np
>>> rows = [{"id": i, "volume": 1.0 + 0.01 * (i % 5)} for i in range(20)]
>>> rows[7]["volume"] = 2.0
>>> [r.index for r in batch_outliers(rows, features=["volume"]) if r.flagged]
[7]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from xrai._backend import as_rng, to_numpy
from xrai._typing import RngLike
from xrai.errors import ConfigError, DataError, check_range

__all__ = [
    "DEFAULT_MIN_STD",
    "INCLUSION_FEATURES",
    "SCREENING_FEATURES",
    "Inclusion",
    "NormalModel",
    "OutlierReport",
    "ScreeningResult",
    "batch_outliers",
    "detect_inclusion",
    "fit_normal_model",
    "screen_batch",
    "screen_features",
    "screening_features",
]

#: Features of :func:`screening_features` used by the normal model (all dimensionless).
SCREENING_FEATURES: tuple[str, ...] = (
    "elongation",
    "flatness",
    "ellipsoid_fill",
    "interior_q10",
    "interior_q50",
    "interior_q90",
    "dense_fraction",
    "inclusion_volume_fraction",
    "inclusion_contrast",
)
#: The features that come from :func:`detect_inclusion`.
INCLUSION_FEATURES: tuple[str, ...] = ("inclusion_volume_fraction", "inclusion_contrast")

#: Smallest standard deviation the normal model assumes per feature: differences below it are not abnormal.
DEFAULT_MIN_STD: Mapping[str, float] = {
    "elongation": 0.05,
    "flatness": 0.02,
    "ellipsoid_fill": 0.01,
    "interior_q10": 0.02,
    "interior_q50": 0.01,
    "interior_q90": 0.01,
    "dense_fraction": 0.01,
    "inclusion_volume_fraction": 0.003,
    "inclusion_contrast": 0.01,
}

_MAD_TO_STD = 1.482602218505602  # 1 / Φ⁻¹(3/4)
_MEANAD_TO_STD = 1.2533141373155001  # √(π/2)


# --------------------------------------------------------------------------------------------------------------
# Volume preparation: body mask, normalisation, denoising, body axis
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class _Prepared:
    # All arrays cover a box around the body (``box`` in the full volume).
    n: npt.NDArray[np.float32]  # denoised, normalised volume (0 = medium, 1 = dense tissue)
    body: npt.NDArray[np.bool_]
    interior: npt.NDArray[np.bool_]
    inner: npt.NDArray[np.bool_]
    axis_coord: npt.NDArray[np.float32]  # coordinate along the body's long axis (voxels)
    axes_vox: tuple[float, float, float]  # principal axis lengths of the body, largest first
    noise: float  # noise of the denoised n (std, from the medium)
    raw_noise: float  # noise of the raw normalised volume
    box: tuple[slice, ...]  # where the arrays above lie in the full volume
    shape: tuple[int, int, int]  # shape of the full volume


def _as_volume(volume: Any, name: str = "volume") -> npt.NDArray[np.float32]:
    vol = np.asarray(to_numpy(volume) if not isinstance(volume, np.ndarray) else volume)
    if vol.ndim != 3:
        raise DataError(f"{name} must be a 3-D volume [z, y, x]; got shape {vol.shape}")
    if min(vol.shape) < 8:
        raise DataError(f"{name} shape {vol.shape} is too small: every axis needs at least 8 voxels")
    if not (np.issubdtype(vol.dtype, np.floating) or np.issubdtype(vol.dtype, np.integer)):
        raise DataError(f"{name} must be real-valued; got dtype {vol.dtype}")
    vol = vol.astype(np.float32, copy=False)
    if not np.all(np.isfinite(vol)):
        raise DataError(f"{name} contains {int(np.count_nonzero(~np.isfinite(vol)))} non-finite voxels")
    return vol


def _robust_std(values: npt.NDArray[Any]) -> float:
    if values.size == 0:
        return 0.0
    med = np.median(values)
    return float(_MAD_TO_STD * np.median(np.abs(values - med)))


def _dense_mode(values: npt.NDArray[Any], *, min_mass: float = 0.15, bins: int = 64) -> float:
    """The highest histogram mode that holds at least ``min_mass`` of the values (the dense host tissue)."""
    lo, hi = np.quantile(values, [0.005, 0.995])
    if not hi > lo:
        return float(np.median(values))
    hist, edges = np.histogram(values, bins=bins, range=(float(lo), float(hi)))
    smooth = ndimage.gaussian_filter1d(hist.astype(np.float64), 1.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    total = smooth.sum()
    best = -1
    for i in range(bins):
        left_ok = i == 0 or smooth[i] >= smooth[i - 1]
        right_ok = i == bins - 1 or smooth[i] >= smooth[i + 1]
        if not (left_ok and right_ok) or smooth[i] <= 0:
            continue
        left, right = i, i
        while left > 0 and smooth[left - 1] <= smooth[left]:
            left -= 1
        while right < bins - 1 and smooth[right + 1] <= smooth[right]:
            right += 1
        if smooth[left : right + 1].sum() >= min_mass * total and (best < 0 or centres[i] > centres[best]):
            best = i
    if best < 0:
        best = int(np.argmax(smooth))
    return float(centres[best])


def _ball(radius: int) -> npt.NDArray[np.bool_]:
    r = np.arange(-radius, radius + 1)
    return np.asarray((r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2) <= radius**2)


def _body_mask(smooth: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    from skimage.filters import threshold_otsu

    step = max(1, round((smooth.size / 2.0e5) ** (1 / 3)))
    sample = smooth[::step, ::step, ::step]
    if float(sample.max()) <= float(sample.min()):
        raise DataError("volume is constant: no specimen to screen")
    mask = smooth > threshold_otsu(sample)  # type: ignore[no-untyped-call]
    # The specimen is the brighter class; a volume darker inside than around would be inverted here.
    mask = ndimage.binary_closing(mask, structure=_ball(2))
    labels, count = ndimage.label(mask)
    if count == 0:
        raise DataError("no specimen found: Otsu's threshold leaves no foreground")
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(np.argmax(sizes))
    return np.asarray(ndimage.binary_fill_holes(mask))


def _medium_trend(volume: npt.NDArray[np.float32], medium: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """A quadratic polynomial in (z, y, x) fitted robustly to the medium: the slowly varying bias to remove.

    The medium should be uniform; what varies smoothly in it (flat-field drift, a low-frequency offset) varies
    through the specimen too. Two passes of least squares, the second without residuals beyond 3 σ (rings,
    streaks, the specimen's blurred edge).
    """
    shape = volume.shape
    idx = np.flatnonzero(medium.ravel())
    if idx.size > 8000:
        idx = idx[:: idx.size // 8000]
    coords = np.unravel_index(idx, shape)
    z, y, x = ((c - (s - 1) / 2.0) / max(s / 2.0, 1.0) for c, s in zip(coords, shape, strict=True))
    design = np.stack([np.ones_like(z), z, y, x, z * z, y * y, x * x, z * y, z * x, y * x], axis=1)
    values = volume.ravel()[idx].astype(np.float64)
    keep = np.ones(values.size, dtype=bool)
    coef = np.zeros(design.shape[1])
    for _ in range(2):
        a = design[keep]
        gram = a.T @ a + 1e-9 * np.eye(a.shape[1])
        coef = np.linalg.solve(gram, a.T @ values[keep])
        residual = values - design @ coef
        keep = np.abs(residual) <= 3.0 * max(_robust_std(residual), 1e-30)
    gz, gy, gx = (
        ((np.arange(s) - (s - 1) / 2.0) / max(s / 2.0, 1.0)).astype(np.float32).reshape(shape_)
        for s, shape_ in zip(shape, ((-1, 1, 1), (1, -1, 1), (1, 1, -1)), strict=True)
    )
    c = coef.astype(np.float32)
    trend = (
        c[0] + c[1] * gz + c[2] * gy + c[3] * gx + c[4] * gz * gz + c[5] * gy * gy + c[6] * gx * gx
        + c[7] * gz * gy + c[8] * gz * gx + c[9] * gy * gx
    )  # fmt: skip
    return np.broadcast_to(trend, shape).astype(np.float32)


def _prepare(
    volume: npt.NDArray[np.float32], *, erosion_vox: float, denoise_weight: float, detrend: bool = True
) -> _Prepared:
    from skimage.restoration import denoise_tv_chambolle

    smooth = ndimage.gaussian_filter(volume, 1.0)
    body_full = _body_mask(smooth)
    n_body = int(body_full.sum())
    if n_body < 64:
        raise DataError(f"specimen mask has only {n_body} voxels: too small to screen (need >= 64)")
    if body_full.all():
        raise DataError("specimen mask fills the whole volume: no medium around the specimen")
    nz, ny, nx = volume.shape
    yy = np.arange(ny) - (ny - 1) / 2.0
    xx = np.arange(nx) - (nx - 1) / 2.0
    in_fov = (np.hypot(yy[:, None], xx[None, :]) < min(ny, nx) / 2.0 - 1.0)[None, :, :]
    outside = ndimage.distance_transform_edt(~body_full)
    medium = (outside > 3.0) & in_fov
    if medium.sum() < 64:
        medium = outside > 1.0
    if medium.sum() < 16:
        raise DataError("too little medium around the specimen to measure the background level")
    if detrend:
        shell = medium & (outside <= max(6.0, 0.15 * min(volume.shape)))
        trend = _medium_trend(volume, shell if shell.sum() >= 200 else medium)
        volume = volume - trend
        smooth = smooth - trend
    medium_level = float(np.median(volume[medium]))
    # Everything else works in a box around the body.
    box = ndimage.find_objects(body_full.astype(np.uint8))[0]
    box = tuple(
        slice(max(s.start - 4, 0), min(s.stop + 4, n)) for s, n in zip(box, volume.shape, strict=True)
    )
    body = body_full[box]
    dist = ndimage.distance_transform_edt(body)
    interior = dist > erosion_vox
    if interior.sum() < 32:
        interior = dist > 1.0
    tissue_level = _dense_mode(smooth[box][interior])
    contrast = tissue_level - medium_level
    if not abs(contrast) > 0:
        raise DataError("the specimen has no contrast against the medium")
    raw_noise = _robust_std((volume[medium] - medium_level) / contrast)
    x = (volume[box] - medium_level) / contrast
    # Total variation denoising: flat regions, sharp edges.
    if denoise_weight > 0 and raw_noise > 0:
        n = denoise_tv_chambolle(x, weight=denoise_weight * raw_noise)  # type: ignore[no-untyped-call]
    else:
        n = ndimage.gaussian_filter(x, 0.7)
    level = _dense_mode(n[interior])
    if level > 0.2:  # re-anchor on the denoised data (the mode sharpens)
        n = n / np.float32(level)
    noise = _robust_std(n[~ndimage.binary_dilation(body, iterations=2)])
    # Principal axes of the body.
    coords = np.argwhere(body).astype(np.float64)
    centre = coords.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov((coords - centre).T))
    order = np.argsort(eigval)[::-1]
    axes = tuple(float(2.0 * math.sqrt(5.0 * max(eigval[k], 0.0))) for k in order)
    long_axis = eigvec[:, order[0]].astype(np.float32)
    gz, gy, gx = (
        (np.arange(s, dtype=np.float32) - np.float32(c)).reshape(shape_)
        for s, c, shape_ in zip(body.shape, centre, ((-1, 1, 1), (1, -1, 1), (1, 1, -1)), strict=True)
    )
    axis_coord = (long_axis[0] * gz + long_axis[1] * gy + long_axis[2] * gx).astype(np.float32)
    return _Prepared(
        n=np.asarray(n, dtype=np.float32),
        body=body,
        interior=interior,
        inner=dist > 1.0,
        axis_coord=axis_coord,
        axes_vox=(axes[0], axes[1], axes[2]),
        noise=noise,
        raw_noise=raw_noise,
        box=box,
        shape=(nz, ny, nx),
    )


# --------------------------------------------------------------------------------------------------------------
# Inclusion detector
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Inclusion:
    """A compact region inside the body that is denser than the host tissue around it.

    Attributes
    ----------
    found
        A candidate region exists (of any size).
    flagged
        ``volume_fraction >= min_volume_fraction`` (e.g. "parasitoid found").
    volume_vox
        Volume in voxels, corrected for partial volume (0 if none): voxels within 2 of the region count by
        where their value lies between the host level around them (0) and the inclusion's level (1).
    volume_fraction
        Region volume over the body volume.
    volume_m3
        ``volume_vox`` in m³ (``nan`` without ``voxel_size_m``).
    mask_voxels
        Voxels of the segmented region (``mask``).
    centroid_vox
        Centroid as voxel indices ``(z, y, x)`` (``nan`` if none).
    centroid_m
        Centroid in metres with voxel centres at ``(j − (n−1)/2) Δ`` (:mod:`xrai.geometry`; ``nan`` without
        ``voxel_size_m``).
    contrast
        Median level of the region minus the host level around it, in units of the body contrast (dense host
        tissue − medium).
    body_volume_vox
        Voxels of the body mask.
    mask
        Boolean region ``[z, y, x]`` (``None`` unless asked for).
    """

    found: bool
    flagged: bool
    volume_vox: float
    volume_fraction: float
    volume_m3: float
    mask_voxels: int
    centroid_vox: tuple[float, float, float]
    centroid_m: tuple[float, float, float]
    contrast: float
    body_volume_vox: int
    mask: npt.NDArray[np.bool_] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no mask)."""
        out: dict[str, Any] = {
            "found": self.found,
            "flagged": self.flagged,
            "volume_vox": self.volume_vox,
            "volume_fraction": self.volume_fraction,
            "volume_m3": self.volume_m3,
            "mask_voxels": self.mask_voxels,
            "contrast": self.contrast,
            "body_volume_vox": self.body_volume_vox,
        }
        for axis, c, cm in zip("zyx", self.centroid_vox, self.centroid_m, strict=True):
            out[f"centroid_{axis}_vox"] = c
            out[f"centroid_{axis}_m"] = cm
        return out


def _slab_levels(
    n: npt.NDArray[np.float32],
    region: npt.NDArray[np.bool_],
    axis_coord: npt.NDArray[np.float32],
    *,
    quantile: float,
    halfwidth: int,
) -> npt.NDArray[np.float32]:
    """Host level of every voxel: a quantile of ``n`` in its 1-voxel slab across the long axis (running max)."""
    pos = np.rint(axis_coord[region]).astype(np.int64)
    values = n[region]
    if pos.size == 0:
        return np.full(n.shape, np.inf, dtype=np.float32)
    lo = int(pos.min())
    index = pos - lo
    n_slabs = int(index.max()) + 1
    order = np.argsort(index, kind="stable")
    sorted_index, sorted_values = index[order], values[order]
    bounds = np.searchsorted(sorted_index, np.arange(n_slabs + 1))
    levels = np.full(n_slabs, np.nan)
    for i in range(n_slabs):
        segment = sorted_values[bounds[i] : bounds[i + 1]]
        if segment.size >= 10:
            levels[i] = np.quantile(segment, quantile)
    ok = np.flatnonzero(~np.isnan(levels))
    if ok.size == 0:
        levels[:] = float(np.quantile(values, quantile))
    else:
        levels = np.interp(np.arange(n_slabs), ok, levels[ok])
    if halfwidth > 0:
        levels = ndimage.maximum_filter1d(levels, 2 * halfwidth + 1, mode="nearest")
    return np.asarray(np.interp(axis_coord - lo, np.arange(n_slabs), levels), dtype=np.float32)


def _centroid_m(
    centroid_vox: tuple[float, float, float], shape: tuple[int, ...], voxel_size_m: float | None
) -> tuple[float, float, float]:
    if voxel_size_m is None or not all(math.isfinite(c) for c in centroid_vox):
        return (math.nan, math.nan, math.nan)
    return tuple(  # type: ignore[return-value]
        (c - (s - 1) / 2.0) * voxel_size_m for c, s in zip(centroid_vox, shape, strict=True)
    )


def _empty_inclusion(prep: _Prepared, voxel_size_m: float | None, return_mask: bool) -> Inclusion:
    nan3 = (math.nan, math.nan, math.nan)
    return Inclusion(
        found=False, flagged=False, volume_vox=0.0, volume_fraction=0.0,
        volume_m3=0.0 if voxel_size_m is not None else math.nan, mask_voxels=0, centroid_vox=nan3,
        centroid_m=nan3, contrast=0.0, body_volume_vox=int(prep.body.sum()),
        mask=np.zeros(prep.shape, dtype=bool) if return_mask else None,
    )  # fmt: skip


def _grow(
    core: npt.NDArray[np.bool_],
    n: npt.NDArray[np.float32],
    host: npt.NDArray[np.float32],
    grad: npt.NDArray[np.float32],
    inner: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Grow a core by a marker watershed on the gradient magnitude.

    The boundary lands at the steepest edge, i.e. half-way between the inclusion and whatever tissue lies next to
    it (fat or hemolymph); voxels below the host level, outside the body's inner part or more than 6 voxels from
    the core are background markers.
    """
    from skimage.segmentation import watershed

    host_level = float(np.median(host[core]))
    near_core = ndimage.binary_dilation(core, iterations=6)
    box = ndimage.find_objects(near_core.astype(np.uint8))[0]
    background = ((n[box] < host_level) | ~inner[box] | ~near_core[box]) & ~core[box]
    markers = np.zeros(background.shape, dtype=np.int32)
    markers[background] = 1
    markers[core[box]] = 2
    grown = np.zeros(core.shape, dtype=bool)
    grown[box] = watershed(grad[box], markers) == 2  # type: ignore[no-untyped-call]
    return grown


def _detect(
    prep: _Prepared,
    *,
    voxel_size_m: float | None,
    min_contrast: float,
    dense_margin: float,
    host_quantile: float,
    min_volume_fraction: float,
    return_mask: bool,
) -> Inclusion:
    n, interior = prep.n, prep.interior
    body_vox = int(prep.body.sum())
    halfwidth = max(1, round(0.035 * prep.axes_vox[0]))
    margin = max(min_contrast, prep.noise)
    dense = (n > 1.0 + dense_margin) & interior
    excluded = np.zeros_like(interior)
    labels = np.zeros(n.shape, dtype=np.int32)
    sizes = np.zeros(1, dtype=np.int64)
    for _ in range(3):
        # Host level per slab, without the current core (a large inclusion would raise its own reference).
        host = _slab_levels(
            n, interior & ~excluded, prep.axis_coord, quantile=host_quantile, halfwidth=halfwidth
        )
        candidate = ndimage.binary_opening(dense & (n > host + margin), structure=_ball(1))
        labels, count = ndimage.label(candidate)
        if count == 0:
            return _empty_inclusion(prep, voxel_size_m, return_mask)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        excluded = ndimage.binary_dilation(labels == int(np.argmax(sizes)), iterations=1)
    grad = ndimage.gaussian_gradient_magnitude(n, 1.0)
    region: npt.NDArray[np.bool_] | None = None
    for label in np.argsort(sizes)[::-1][:3]:
        if sizes[label] == 0:
            break
        grown = _grow(labels == label, n, host, grad, prep.inner)
        # The inclusion's interior must be denser than the dense host tissue (a pocket of hemolymph that
        # noise lifted above the seed threshold is not).
        eroded = ndimage.binary_erosion(grown)
        if float(np.median(n[eroded if eroded.any() else grown])) > 1.0 + dense_margin:
            region = grown
            break
    if region is None:
        return _empty_inclusion(prep, voxel_size_m, return_mask)
    # Partial-volume volume: every voxel near the region counts by where its value lies between the host
    # level around it (0) and the inclusion's plateau (1). Blur conserves the excess mass, so this recovers
    # blurred rims and tapering parts that a threshold would cut off.
    host = _slab_levels(
        n, interior & ~ndimage.binary_dilation(region, iterations=1), prep.axis_coord,
        quantile=host_quantile, halfwidth=halfwidth,
    )  # fmt: skip
    # The inclusion's plateau level: the median of its eroded core (the rim is blurred into the host).
    eroded = ndimage.binary_erosion(region)
    level = float(np.median(n[eroded if eroded.sum() >= 8 else region]))
    near = ndimage.binary_dilation(region, iterations=3) & prep.inner
    fraction_of_voxel = np.clip((n[near] - host[near]) / np.maximum(level - host[near], 1e-3), 0.0, 1.0)
    volume_vox = float(fraction_of_voxel.sum())
    offset = [s.start for s in prep.box]
    centroid = tuple(float(c) + o for c, o in zip(ndimage.center_of_mass(region), offset, strict=True))
    voxel_volume = voxel_size_m**3 if voxel_size_m is not None else math.nan
    fraction = volume_vox / body_vox
    mask = None
    if return_mask:
        mask = np.zeros(prep.shape, dtype=bool)
        mask[prep.box] = region
    return Inclusion(
        found=True,
        flagged=fraction >= min_volume_fraction,
        volume_vox=volume_vox,
        volume_fraction=fraction,
        volume_m3=volume_vox * voxel_volume,
        mask_voxels=int(region.sum()),
        centroid_vox=(centroid[0], centroid[1], centroid[2]),
        centroid_m=_centroid_m((centroid[0], centroid[1], centroid[2]), prep.shape, voxel_size_m),
        contrast=float(level - np.median(host[region])),
        body_volume_vox=body_vox,
        mask=mask,
    )


def _check_common(
    *,
    voxel_size_m: float | None,
    min_contrast: float,
    dense_margin: float,
    host_quantile: float,
    min_volume_fraction: float,
    erosion_vox: float,
    denoise_weight: float,
) -> None:
    if voxel_size_m is not None:
        check_range("voxel_size_m", voxel_size_m, low=0.0, low_inclusive=False, unit="m")
    check_range("min_contrast", min_contrast, low=0.0, high=1.0)
    check_range("dense_margin", dense_margin, low=-0.5, high=0.5)
    check_range("host_quantile", host_quantile, low=0.5, high=0.99)
    check_range("min_volume_fraction", min_volume_fraction, low=0.0, high=1.0)
    check_range("erosion_vox", erosion_vox, low=0.0, high=10.0)
    check_range("denoise_weight", denoise_weight, low=0.0, high=10.0)


def detect_inclusion(
    volume: npt.ArrayLike,
    *,
    voxel_size_m: float | None = None,
    min_contrast: float = 0.03,
    dense_margin: float = 0.01,
    host_quantile: float = 0.75,
    min_volume_fraction: float = 0.01,
    erosion_vox: float = 2.0,
    denoise_weight: float = 1.0,
    return_mask: bool = False,
) -> Inclusion:
    """Find the largest compact region inside the specimen that is denser than the host tissue around it.

    Built for parasitoid larvae in insect pupae: a larva is soft tissue a few per cent denser than the host's
    own dense tissue, lying in the abdomen among fat body and hemolymph. See the module notes for the method.

    Parameters
    ----------
    volume
        Reconstructed volume ``[z, y, x]`` (any units and offset; the specimen brighter than the medium).
    voxel_size_m
        Voxel edge in metres, for ``volume_m3`` and ``centroid_m``.
    min_contrast
        Smallest excess over the local host level, in units of the body contrast (dense tissue − medium), that
        a voxel needs to seed an inclusion (raised to the denoised noise level when that is larger).
    dense_margin
        Seeds must also exceed ``1 + dense_margin`` (the dense host tissue level is 1).
    host_quantile
        Quantile of a slab's interior values that defines the host level at that position along the body.
    min_volume_fraction
        Inclusion volume over body volume from which ``flagged`` is true.
    erosion_vox
        The interior is the body minus a shell this thick (voxels), which removes the cuticle / skin.
    denoise_weight
        Total-variation weight in units of the measured noise (0: a light Gaussian instead).
    return_mask
        Include the region as a boolean volume.

    Returns
    -------
    Inclusion
        Volume (voxels, fraction of the body, m³), centroid (voxels and m), contrast, flag.

    Raises
    ------
    DataError
        If the volume is not 3-D, holds non-finite values or shows no specimen.
    ConfigError
        If a parameter is out of range (the message names it and echoes the value).
    """
    _check_common(
        voxel_size_m=voxel_size_m, min_contrast=min_contrast, dense_margin=dense_margin,
        host_quantile=host_quantile, min_volume_fraction=min_volume_fraction, erosion_vox=erosion_vox,
        denoise_weight=denoise_weight,
    )  # fmt: skip
    vol = _as_volume(volume)
    prep = _prepare(vol, erosion_vox=erosion_vox, denoise_weight=denoise_weight)
    return _detect(
        prep, voxel_size_m=voxel_size_m, min_contrast=min_contrast, dense_margin=dense_margin,
        host_quantile=host_quantile, min_volume_fraction=min_volume_fraction, return_mask=return_mask,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Per-specimen feature vector
# --------------------------------------------------------------------------------------------------------------


def screening_features(
    volume: npt.ArrayLike,
    *,
    voxel_size_m: float | None = None,
    min_contrast: float = 0.03,
    dense_margin: float = 0.01,
    host_quantile: float = 0.75,
    min_volume_fraction: float = 0.01,
    erosion_vox: float = 2.0,
    denoise_weight: float = 1.0,
) -> dict[str, Any]:
    """The label-free screening feature vector of one reconstructed specimen.

    Parameters
    ----------
    volume
        Reconstructed volume ``[z, y, x]`` with one specimen, brighter than its medium.
    voxel_size_m, min_contrast, dense_margin, host_quantile, min_volume_fraction, erosion_vox, denoise_weight
        As in :func:`detect_inclusion`.

    Returns
    -------
    dict
        The :data:`SCREENING_FEATURES` (floats, dimensionless) plus the inclusion details
        (``inclusion_found``, ``inclusion_flagged``, ``inclusion_volume_vox``, ``inclusion_volume_m3``,
        ``inclusion_centroid_{z,y,x}_vox`` / ``_m``), ``body_volume_vox`` and ``noise_level`` (noise of the
        volume in units of the body contrast). JSON-able.
    """
    _check_common(
        voxel_size_m=voxel_size_m, min_contrast=min_contrast, dense_margin=dense_margin,
        host_quantile=host_quantile, min_volume_fraction=min_volume_fraction, erosion_vox=erosion_vox,
        denoise_weight=denoise_weight,
    )  # fmt: skip
    vol = _as_volume(volume)
    prep = _prepare(vol, erosion_vox=erosion_vox, denoise_weight=denoise_weight)
    inclusion = _detect(
        prep, voxel_size_m=voxel_size_m, min_contrast=min_contrast, dense_margin=dense_margin,
        host_quantile=host_quantile, min_volume_fraction=min_volume_fraction, return_mask=False,
    )  # fmt: skip
    a1, a2, a3 = prep.axes_vox
    values = prep.n[prep.interior]
    q10, q50, q90 = (float(v) for v in np.quantile(values, [0.1, 0.5, 0.9]))
    body_vox = int(prep.body.sum())
    ellipsoid = math.pi / 6.0 * a1 * a2 * a3
    features: dict[str, Any] = {
        "elongation": a1 / max(a2, 1e-9),
        "flatness": a2 / max(a3, 1e-9),
        "ellipsoid_fill": body_vox / ellipsoid if ellipsoid > 0 else math.nan,
        "interior_q10": q10,
        "interior_q50": q50,
        "interior_q90": q90,
        "dense_fraction": float(np.mean(values > 1.0 + 2.0 * max(min_contrast, prep.noise))),
        "inclusion_volume_fraction": inclusion.volume_fraction,
        "inclusion_contrast": inclusion.contrast,
        "inclusion_found": inclusion.found,
        "inclusion_flagged": inclusion.flagged,
        "inclusion_volume_vox": inclusion.volume_vox,
        "inclusion_volume_m3": inclusion.volume_m3,
        "body_volume_vox": body_vox,
        "noise_level": prep.raw_noise,
    }
    for axis, c, cm in zip("zyx", inclusion.centroid_vox, inclusion.centroid_m, strict=True):
        features[f"inclusion_centroid_{axis}_vox"] = c
        features[f"inclusion_centroid_{axis}_m"] = cm
    return features


# --------------------------------------------------------------------------------------------------------------
# Normal model: robust location / scatter (FAST-MCD), Mahalanobis score, calibrated threshold
# --------------------------------------------------------------------------------------------------------------


def _logdet(cov: npt.NDArray[np.float64]) -> float:
    sign, value = np.linalg.slogdet(cov)
    return float(value) if sign > 0 else -math.inf


def _mahalanobis2(
    x: npt.NDArray[np.float64], location: npt.NDArray[np.float64], cov: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    diff = x - location
    solved = np.linalg.solve(cov, diff.T).T
    return np.asarray(np.einsum("ij,ij->i", diff, solved))


def _c_steps(
    x: npt.NDArray[np.float64],
    subset: npt.NDArray[np.intp],
    h: int,
    ridge: npt.NDArray[np.float64],
    steps: int,
) -> tuple[npt.NDArray[np.intp], float]:
    det = math.inf
    for _ in range(steps):
        loc = x[subset].mean(axis=0)
        cov = np.cov(x[subset], rowvar=False, bias=True) + ridge
        new_det = _logdet(cov)
        subset_new = np.argsort(_mahalanobis2(x, loc, cov), kind="stable")[:h]
        if np.array_equal(np.sort(subset_new), np.sort(subset)) or new_det >= det:
            det = min(det, new_det)
            break
        subset, det = subset_new, new_det
    return subset, det


def _fast_mcd(
    x: npt.NDArray[np.float64],
    *,
    h: int,
    ridge: npt.NDArray[np.float64],
    rng: np.random.Generator,
    trials: int,
) -> npt.NDArray[np.intp]:
    """Indices of the ``h`` rows with (approximately) the smallest covariance determinant (FAST-MCD)."""
    n, p = x.shape
    candidates: list[tuple[float, npt.NDArray[np.intp]]] = []
    for _ in range(trials):
        start = rng.choice(n, size=min(p + 1, n), replace=False)
        loc = x[start].mean(axis=0)
        cov = np.cov(x[start], rowvar=False, bias=True) + ridge
        subset = np.argsort(_mahalanobis2(x, loc, cov), kind="stable")[:h]
        subset, det = _c_steps(x, subset, h, ridge, steps=2)
        candidates.append((det, subset))
    candidates.sort(key=lambda item: item[0])
    best_det, best = math.inf, candidates[0][1]
    for _, subset in candidates[:10]:
        subset, det = _c_steps(x, subset, h, ridge, steps=100)
        if det < best_det:
            best_det, best = det, subset
    return best


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class NormalModel:
    """A robust Gaussian model of normal specimens in feature space.

    Build it with :func:`fit_normal_model`. ``score`` gives the robust Mahalanobis distance ``d``; a specimen is
    anomalous when ``d > threshold(false_alarm_rate)``.

    Attributes
    ----------
    features
        Feature names, in column order.
    location
        Robust mean ``μ`` (reweighted MCD).
    covariance
        Robust scatter ``Σ`` with each variance floored at ``min_std²``.
    min_std
        The floor of each feature's standard deviation.
    n_reference
        Rows the model was fitted on.
    n_support
        Rows kept by the reweighting step (``m`` in the threshold formula).
    """

    features: tuple[str, ...]
    location: npt.NDArray[np.float64]
    covariance: npt.NDArray[np.float64]
    min_std: npt.NDArray[np.float64]
    n_reference: int
    n_support: int
    calibration_scale: float = 1.0
    calibration_dof: float = math.inf

    @property
    def std(self) -> npt.NDArray[np.float64]:
        """Per-feature standard deviation of the model (square root of the diagonal of ``covariance``)."""
        return np.sqrt(np.diag(self.covariance))

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The model's feature columns of ``rows`` as a float matrix ``[row, feature]``."""
        return _matrix(rows, self.features)

    def score(self, rows: Sequence[Mapping[str, Any]] | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Robust Mahalanobis distance ``d`` (not squared) of every row (dicts or a ``[row, feature]`` matrix)."""
        x = self._as_matrix(rows)
        return np.sqrt(np.maximum(_mahalanobis2(x, self.location, self.covariance), 0.0))

    def z_scores(self, rows: Sequence[Mapping[str, Any]] | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per-feature standardised deviation ``(x − μ) / σ`` of every row."""
        return (self._as_matrix(rows) - self.location) / self.std

    def threshold(self, false_alarm_rate: float = 0.01) -> float:
        """Distance ``d`` above which a normal specimen is flagged with probability ``false_alarm_rate``.

        ``d² = κ p F⁻¹(1 − α; p, ν)`` with ``κ, ν`` calibrated for this estimator and reference size by
        simulation (module notes); ``ν = ∞`` reads ``κ χ²⁻¹(1 − α; p)``.
        """
        from scipy import stats

        check_range("false_alarm_rate", false_alarm_rate, low=0.0, high=0.5, low_inclusive=False)
        p = len(self.features)
        if math.isinf(self.calibration_dof):
            d2 = self.calibration_scale * float(stats.chi2.ppf(1.0 - false_alarm_rate, p))
        else:
            d2 = (
                self.calibration_scale
                * p
                * float(stats.f.ppf(1.0 - false_alarm_rate, p, self.calibration_dof))
            )
        return math.sqrt(d2)

    def _as_matrix(self, rows: Sequence[Mapping[str, Any]] | npt.ArrayLike) -> npt.NDArray[np.float64]:
        if isinstance(rows, Sequence) and rows and isinstance(rows[0], Mapping):
            return _matrix(rows, self.features)  # type: ignore[arg-type]
        x = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        if x.shape[1] != len(self.features):
            raise DataError(f"rows have {x.shape[1]} columns; the model has {len(self.features)} features")
        return x

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for the knowledge base); :meth:`from_dict` restores it exactly."""
        return {
            "features": list(self.features),
            "location": self.location.tolist(),
            "covariance": self.covariance.tolist(),
            "min_std": self.min_std.tolist(),
            "n_reference": self.n_reference,
            "n_support": self.n_support,
            "calibration_scale": self.calibration_scale,
            "calibration_dof": None if math.isinf(self.calibration_dof) else self.calibration_dof,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormalModel:
        """The model stored by :meth:`to_dict`."""
        try:
            features = tuple(str(f) for f in data["features"])
            p = len(features)
            location = np.asarray(data["location"], dtype=np.float64).reshape(p)
            covariance = np.asarray(data["covariance"], dtype=np.float64).reshape(p, p)
            min_std = np.asarray(data["min_std"], dtype=np.float64).reshape(p)
            return cls(
                features=features, location=location, covariance=covariance, min_std=min_std,
                n_reference=int(data["n_reference"]), n_support=int(data["n_support"]),
                calibration_scale=float(data.get("calibration_scale", 1.0)),
                calibration_dof=math.inf if data.get("calibration_dof") is None else float(data["calibration_dof"]),
            )  # fmt: skip
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"not a stored NormalModel: {exc}") from None


def _matrix(rows: Sequence[Mapping[str, Any]], features: Sequence[str]) -> npt.NDArray[np.float64]:
    out = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, name in enumerate(features):
            if name not in row:
                raise DataError(f"row {i} has no feature {name!r}")
            try:
                out[i, j] = float(row[name])
            except (TypeError, ValueError):
                raise DataError(f"row {i} feature {name!r} = {row[name]!r} is not a number") from None
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"row {i} feature {features[j]!r} = {out[i, j]} is not finite")
    return out


def fit_normal_model(
    rows: Sequence[Mapping[str, Any]] | npt.ArrayLike,
    *,
    features: Sequence[str] | None = None,
    min_std: float | Mapping[str, float] | Sequence[float] | npt.NDArray[np.float64] | None = None,
    support_fraction: float | None = None,
    trials: int = 50,
    rng: RngLike = None,
) -> NormalModel:
    """Fit a robust normal model (reweighted FAST-MCD) to feature rows of normal (or mostly normal) specimens.

    Parameters
    ----------
    rows
        Feature rows (dicts, e.g. from :func:`screening_features`), or a matrix ``[row, feature]`` (then give
        ``features`` to name the columns).
    features
        Columns to model; default :data:`SCREENING_FEATURES` for dicts.
    min_std
        Floor of each feature's standard deviation: one number for all, a mapping per feature, a sequence in
        feature order, or ``None``
        (:data:`DEFAULT_MIN_STD` for known features, ``1e-6 · (1 + |median|)`` for others).
    support_fraction
        Fraction ``h / n`` of rows in the MCD subset (at least ``(n + p + 1) / (2n)``); default 0.9: robust to
        up to ~10 % anomalous rows, efficient for a reference of normal specimens. Use 0.5–0.75 for a batch that
        may hold more anomalies.
    trials
        Random starts of FAST-MCD.
    rng
        Seed or generator for the random starts.

    Returns
    -------
    NormalModel

    Raises
    ------
    ConfigError
        Too few rows for the number of features (need at least ``p + 3``), or a parameter out of range.
    """
    if isinstance(rows, Sequence) and rows and isinstance(rows[0], Mapping):
        names = tuple(SCREENING_FEATURES if features is None else features)
        x = _matrix(rows, names)  # type: ignore[arg-type]
    else:
        x = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        names = tuple(f"feature_{j}" for j in range(x.shape[1])) if features is None else tuple(features)
        if x.ndim != 2 or x.shape[1] != len(names):
            raise DataError(f"rows have shape {x.shape}; expected [row, {len(names)} features]")
        if not np.all(np.isfinite(x)):
            raise DataError("rows contain non-finite values")
    if not names:
        raise ConfigError("features = () is not allowed: give at least one feature")
    n, p = x.shape
    if n < p + 3:
        raise ConfigError(
            f"number of reference rows = {n} is not allowed: need at least {p + 3} for {p} features"
        )
    check_range("trials", trials, low=1, high=100000)
    if support_fraction is not None:
        check_range("support_fraction", support_fraction, low=0.5, high=1.0)
    fraction = 0.9 if support_fraction is None else support_fraction
    h = min(n, max(math.ceil(fraction * n), (n + p + 1) // 2))
    floor = _min_std_vector(names, x, min_std)
    gen = as_rng(rng)
    # Work in robustly standardised coordinates (numerics); the floor becomes a tiny ridge on the diagonal.
    centre = np.median(x, axis=0)
    scale = np.maximum(_MAD_TO_STD * np.median(np.abs(x - centre), axis=0), floor)
    u = (x - centre) / scale
    ridge = np.diag((floor / scale) ** 2 * 1e-3 + 1e-9)
    loc, cov, keep = _robust_estimate(u, h=h, ridge=ridge, rng=gen, trials=trials)
    location = centre + scale * loc
    covariance = cov * np.outer(scale, scale)
    variances = np.diag(covariance).copy()
    covariance = covariance + np.diag(np.maximum(floor**2 - variances, 0.0))
    kappa, dof = _calibration(n, p, h, trials)
    return NormalModel(
        features=names,
        location=location,
        covariance=covariance,
        min_std=floor,
        n_reference=n,
        n_support=int(keep.sum()),
        calibration_scale=kappa,
        calibration_dof=dof,
    )


def _robust_estimate(
    u: npt.NDArray[np.float64],
    *,
    h: int,
    ridge: npt.NDArray[np.float64],
    rng: np.random.Generator,
    trials: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Reweighted MCD: location, scatter (consistent at the normal distribution) and the rows kept."""
    from scipy import stats

    n, p = u.shape
    subset = np.arange(n) if h >= n else _fast_mcd(u, h=h, ridge=ridge, rng=rng, trials=trials)
    loc = u[subset].mean(axis=0)
    cov = np.cov(u[subset], rowvar=False, bias=True).reshape(p, p) + ridge
    d2 = _mahalanobis2(u, loc, cov)
    median = float(np.median(d2))
    if median > 0:
        cov *= median / float(stats.chi2.ppf(0.5, p))
    # Reweighting: classical estimates of the rows within the 97.5 % χ² quantile.
    cutoff = float(stats.chi2.ppf(0.975, p))
    keep = _mahalanobis2(u, loc, cov) <= cutoff
    if keep.sum() > p + 1:
        loc = u[keep].mean(axis=0)
        # Consistency at the normal distribution: rows beyond the cut-off are missing from the tails
        # (Croux & Haesbroeck 1999): E[cov | d² <= q] = Σ · P(χ²_{p+2} <= q) / P(χ²_p <= q).
        cov = np.cov(u[keep], rowvar=False).reshape(p, p) * (0.975 / float(stats.chi2.cdf(cutoff, p + 2)))
        cov += ridge
    else:
        keep = np.zeros(n, dtype=bool)
        keep[subset] = True
    return loc, cov, keep


_CALIBRATION_CACHE: dict[tuple[int, int, int, int], tuple[float, float]] = {}


def _calibration(n: int, p: int, h: int, trials: int) -> tuple[float, float]:
    """Scale ``κ`` and denominator degrees of freedom ``ν`` of ``d² ≈ κ p F(p, ν)`` for a new normal row.

    The robust distance of a new observation is affine invariant, so its distribution depends only on ``n``,
    ``p`` and the estimator: we simulate it (40 standard normal reference sets of ``n`` rows, 250 new rows
    each) and match the median and the 95 % quantile of a scaled F distribution (the form of Hardin & Rocke
    2005). Deterministic (fixed seed) and cached per ``(n, p, h, trials)``.
    """
    key = (n, p, h, trials)
    if key in _CALIBRATION_CACHE:
        return _CALIBRATION_CACHE[key]
    from scipy import optimize, stats

    gen = np.random.default_rng([20260, n, p, h, trials])
    ridge = np.eye(p) * 1e-9
    samples = []
    for _ in range(40):
        x = gen.standard_normal((n, p))
        loc, cov, _ = _robust_estimate(x, h=h, ridge=ridge, rng=gen, trials=trials)
        samples.append(_mahalanobis2(gen.standard_normal((250, p)), loc, cov))
    d2 = np.concatenate(samples)
    q50, q95 = (float(v) for v in np.quantile(d2, [0.5, 0.95]))

    def ratio(log_dof: float) -> float:
        dof = math.exp(log_dof)
        return float(stats.f.ppf(0.95, p, dof) / stats.f.ppf(0.5, p, dof))

    target = q95 / q50
    limit = float(stats.chi2.ppf(0.95, p) / stats.chi2.ppf(0.5, p))
    if target <= limit * 1.0001:
        dof = math.inf
        kappa = q50 / float(stats.chi2.ppf(0.5, p))
    else:
        lo, hi = math.log(0.5), math.log(1e6)
        dof = 0.5 if ratio(lo) < target else math.exp(optimize.brentq(lambda t: ratio(t) - target, lo, hi))
        kappa = q50 / (p * float(stats.f.ppf(0.5, p, dof)))
    _CALIBRATION_CACHE[key] = (kappa, dof)
    return kappa, dof


def _min_std_vector(
    names: Sequence[str],
    x: npt.NDArray[np.float64],
    min_std: float | Mapping[str, float] | Sequence[float] | npt.NDArray[np.float64] | None,
) -> npt.NDArray[np.float64]:
    default = 1e-6 * (1.0 + np.abs(np.median(x, axis=0)))
    out = np.empty(len(names), dtype=np.float64)
    if min_std is not None and not isinstance(min_std, Mapping) and np.ndim(min_std) == 1:
        values = np.asarray(min_std, dtype=np.float64)
        if values.size != len(names):
            raise ConfigError(f"min_std has {values.size} entries; there are {len(names)} features")
        for j, name in enumerate(names):
            out[j] = check_range(f"min_std[{name!r}]", values[j], low=0.0, low_inclusive=False)
        return out
    for j, name in enumerate(names):
        if isinstance(min_std, Mapping):
            value = min_std.get(name, DEFAULT_MIN_STD.get(name, default[j]))
        elif min_std is None:
            value = DEFAULT_MIN_STD.get(name, default[j])
        else:
            value = min_std
        out[j] = check_range(f"min_std[{name!r}]", value, low=0.0, low_inclusive=False)
    return out


# --------------------------------------------------------------------------------------------------------------
# Screening a batch
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ScreeningResult:
    """The screening verdict for one specimen.

    Attributes
    ----------
    index
        Position in the batch.
    score
        Robust Mahalanobis distance to the normal model.
    threshold
        Distance above which specimens are flagged (for the requested false-alarm rate).
    flagged
        ``score > threshold``.
    reason
        Human-readable: the features that deviate most, with their values, the normal range and z-scores; and
        the inclusion, when one was found.
    z_scores
        Per-feature ``(x − μ) / σ``.
    features
        The specimen's feature row.
    """

    index: int
    score: float
    threshold: float
    flagged: bool
    reason: str
    z_scores: Mapping[str, float] = field(default_factory=dict)
    features: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "index": self.index,
            "score": self.score,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "reason": self.reason,
            "z_scores": dict(self.z_scores),
            "features": dict(self.features),
        }


def _reason(
    row: Mapping[str, Any], model: NormalModel, z: npt.NDArray[np.float64], flagged: bool, z_report: float
) -> str:
    order = np.argsort(-np.abs(z))
    parts: list[str] = []
    for j in order:
        if abs(z[j]) < z_report and parts:
            break
        if abs(z[j]) < z_report and not flagged:
            break
        name = model.features[j]
        parts.append(
            f"{name} = {float(row[name]):.4g} (normal {model.location[j]:.4g} ± {model.std[j]:.2g}, "
            f"z = {z[j]:+.1f})"
        )
        if len(parts) >= 3:
            break
    text = "; ".join(parts) if parts else "all features within the normal range"
    if row.get("inclusion_found"):
        text += (
            f"; dense inclusion of {int(row.get('inclusion_volume_vox', 0))} voxels "
            f"({100 * float(row.get('inclusion_volume_fraction', 0.0)):.1f} % of the body)"
        )
    return text


def screen_features(
    rows: Sequence[Mapping[str, Any]],
    *,
    reference: NormalModel | Sequence[Mapping[str, Any]] | None = None,
    features: Sequence[str] | None = None,
    false_alarm_rate: float = 0.01,
    min_std: float | Mapping[str, float] | None = None,
    z_report: float = 3.0,
    rng: RngLike = 0,
) -> list[ScreeningResult]:
    """Score feature rows against a normal model and flag the anomalous ones.

    Parameters
    ----------
    rows
        One feature dict per specimen (:func:`screening_features`).
    reference
        A :class:`NormalModel`; feature rows of normal specimens to fit one on; or ``None`` to fit it robustly on
        ``rows`` themselves (MCD subset of 75 %: works while fewer than about a quarter are anomalous).
    features
        Features when a model is fitted here; default :data:`SCREENING_FEATURES`.
    false_alarm_rate
        Probability that a normal specimen is flagged (sets the threshold, :meth:`NormalModel.threshold`).
    min_std
        Floor of each feature's standard deviation when a model is fitted here (:func:`fit_normal_model`).
    z_report
        Features with ``|z|`` above this are named in the reason.
    rng
        Seed or generator for FAST-MCD when a model is fitted here.

    Returns
    -------
    list of ScreeningResult
        In the order of ``rows``.
    """
    check_range("false_alarm_rate", false_alarm_rate, low=0.0, high=0.5, low_inclusive=False)
    check_range("z_report", z_report, low=0.0)
    if not rows:
        return []
    if isinstance(reference, NormalModel):
        model = reference
    elif reference is None:  # the batch may hold anomalies: a more robust subset
        model = fit_normal_model(rows, features=features, min_std=min_std, support_fraction=0.75, rng=rng)
    else:
        model = fit_normal_model(reference, features=features, min_std=min_std, rng=rng)
    scores = model.score(rows)
    zs = model.z_scores(rows)
    limit = model.threshold(false_alarm_rate)
    results = []
    for i, row in enumerate(rows):
        flagged = bool(scores[i] > limit)
        results.append(
            ScreeningResult(
                index=i,
                score=float(scores[i]),
                threshold=limit,
                flagged=flagged,
                reason=_reason(row, model, zs[i], flagged, z_report),
                z_scores={name: float(zs[i, j]) for j, name in enumerate(model.features)},
                features=dict(row),
            )
        )
    return results


def screen_batch(
    volumes: Sequence[npt.ArrayLike],
    *,
    reference: NormalModel | Sequence[Mapping[str, Any]] | None = None,
    features: Sequence[str] | None = None,
    false_alarm_rate: float = 0.01,
    voxel_size_m: float | None = None,
    min_std: float | Mapping[str, float] | None = None,
    z_report: float = 3.0,
    rng: RngLike = 0,
) -> list[ScreeningResult]:
    """Screen a batch of reconstructed volumes: :func:`screening_features` of each, then :func:`screen_features`.

    Parameters
    ----------
    volumes
        Reconstructed volumes ``[z, y, x]``, one specimen each.
    reference
        A :class:`NormalModel` (e.g. from simulated normal specimens), reference feature rows, or ``None`` to
        fit the model on the batch itself (robustly; needs at least ``p + 3`` specimens).
    features, false_alarm_rate, min_std, z_report, rng
        As in :func:`screen_features`.
    voxel_size_m
        Voxel size for the inclusion's volume and centroid in metres.

    Returns
    -------
    list of ScreeningResult
        One per volume, with score, flag and reason.
    """
    check_range("false_alarm_rate", false_alarm_rate, low=0.0, high=0.5, low_inclusive=False)
    rows = [screening_features(v, voxel_size_m=voxel_size_m) for v in volumes]
    return screen_features(
        rows, reference=reference, features=features, false_alarm_rate=false_alarm_rate, min_std=min_std,
        z_report=z_report, rng=rng,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Batch outliers of a morphometric table
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlierReport:
    """Robust z-scores of one row of a table and the features that make it an outlier.

    Attributes
    ----------
    index
        Row position in the table.
    flagged
        Some feature has ``|z| > threshold``.
    outlying
        Names of those features, most extreme first.
    z_scores
        Robust z-score of every checked feature (``nan`` where the row has no finite value).
    reason
        Human-readable, e.g. ``"eyes_volume_m3 = 2.1e-10 (z = +6.3 vs median 1.5e-10)"``.
    """

    index: int
    flagged: bool
    outlying: tuple[str, ...]
    z_scores: Mapping[str, float]
    reason: str


def batch_outliers(
    rows: Sequence[Mapping[str, Any]],
    *,
    features: Sequence[str] | None = None,
    threshold: float = 3.5,
    group_key: str | None = None,
    min_group_size: int = 5,
) -> list[OutlierReport]:
    """Flag rows whose features lie far from the batch (or their group) by robust z-scores.

    Parameters
    ----------
    rows
        A table: one dict per specimen (e.g. :func:`xrai.analysis.morphometrics.wide_features` rows).
    features
        Numeric columns to check; default every column whose values are all numbers (booleans excluded), minus
        ``group_key``.
    threshold
        Flag ``|z| > threshold``; 3.5 is Iglewicz & Hoaglin's recommendation.
    group_key
        Column naming each row's group (e.g. a fish line); z-scores are then computed within groups, so the
        groups' real differences are not called outliers.
    min_group_size
        Groups (or the batch) smaller than this cannot give a robust scale: their z-scores are ``nan`` and
        nothing in them is flagged (the reason says so).

    Returns
    -------
    list of OutlierReport
        One per row, in order.

    Notes
    -----
    ``z = (x − median) / s`` with ``s = 1.4826 · MAD``, or ``1.2533 · mean |x − median|`` when the MAD is 0;
    a feature with ``s = 0`` (constant in the group) gives ``z = 0`` for equal values and ``±inf`` otherwise.
    """
    check_range("threshold", threshold, low=0.0, low_inclusive=False)
    check_range("min_group_size", min_group_size, low=3)
    if not rows:
        return []
    if group_key is not None and any(group_key not in row for row in rows):
        missing = next(i for i, row in enumerate(rows) if group_key not in row)
        raise DataError(f"row {missing} has no group column {group_key!r}")
    if features is None:
        names = [
            key
            for key in rows[0]
            if key != group_key
            and all(
                isinstance(row.get(key), int | float | np.number) and not isinstance(row.get(key), bool)
                for row in rows
            )
        ]
    else:
        names = list(features)
        for name in names:
            for i, row in enumerate(rows):
                if name not in row:
                    raise DataError(f"row {i} has no feature {name!r}")
    if not names:
        raise ConfigError("no numeric feature columns to check: pass features=[...]")
    x = np.full((len(rows), len(names)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            value = row[name]
            if value is None:
                continue
            try:
                x[i, j] = float(value)
            except (TypeError, ValueError):
                raise DataError(f"row {i} feature {name!r} = {value!r} is not a number") from None
    groups = [None] * len(rows) if group_key is None else [row[group_key] for row in rows]
    z = np.full_like(x, np.nan)
    medians = np.full_like(x, np.nan)
    for group in dict.fromkeys(groups):
        members = np.array([g == group for g in groups])
        if members.sum() < min_group_size:
            continue  # too few rows for a robust scale: z stays nan, nothing is flagged
        block = x[members]
        med = np.nanmedian(block, axis=0)
        dev = np.abs(block - med)
        scale = _MAD_TO_STD * np.nanmedian(dev, axis=0)
        fallback = _MEANAD_TO_STD * np.nanmean(dev, axis=0)
        scale = np.where(scale > 0, scale, fallback)
        with np.errstate(divide="ignore", invalid="ignore"):
            zb = np.where(
                scale > 0, (block - med) / scale, np.where(block == med, 0.0, np.sign(block - med) * np.inf)
            )
        z[members] = zb
        medians[members] = med
    reports = []
    for i in range(len(rows)):
        zi = z[i]
        over = [j for j in np.argsort(-np.nan_to_num(np.abs(zi), nan=-1.0)) if np.abs(zi[j]) > threshold]
        reason = "; ".join(
            f"{names[j]} = {x[i, j]:.4g} (z = {zi[j]:+.1f} vs median {medians[i, j]:.4g})" for j in over
        )
        if np.all(np.isnan(zi)) and not reason:
            reason = f"not checked: fewer than min_group_size = {min_group_size} rows in its group"
        reports.append(
            OutlierReport(
                index=i,
                flagged=bool(over),
                outlying=tuple(names[j] for j in over),
                z_scores={name: float(zi[j]) for j, name in enumerate(names)},
                reason=reason or "within the batch",
            )
        )
    return reports
