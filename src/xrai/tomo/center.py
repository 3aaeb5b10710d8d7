"""Find the rotation axis of a parallel-beam scan: 0°/180° registration and an image-quality search.

The axis is returned as a column coordinate in pixels (a float, :mod:`xrai.geometry`): the value to pass as
``center`` to :func:`xrai.tomo.fbp.reconstruct_fbp`.

- ``"registration"``: the projection at ``θ + π`` is the mirror image of the one at ``θ`` about the axis column
  ``c``, ``p(θ + π, j) = p(θ, 2c - j)``. Cross-correlating one projection with the mirrored partner gives
  ``2c - (n - 1)`` to a fraction of a pixel (the correlation is evaluated on a fine grid of lags by band-limited
  DFT interpolation, as in Guizar-Sicairos et al. 2008). Scans of ``0..179°`` use the pair closest to 180° apart;
  full turns average several pairs.
- ``"quality"``: one slice is reconstructed for candidate centres and the one with the least negative-value
  energy wins (a wrong axis turns edges into arcs with negative lobes), coarse-to-fine on binned then full
  resolution, with a parabolic fit for the sub-pixel minimum. The ramp filtering is done once; only the
  back-projection is repeated.
- ``"auto"``: registration when a near-opposite pair exists, refined by a quality search within a few pixels of
  it; the confidence is high when both agree.

References
----------
M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image registration algorithms",
Opt. Lett. 33, 156–158 (2008). doi:10.1364/OL.33.000156

T. Donath, F. Beckmann and A. Schreyer, "Automated determination of the center of rotation in tomography data",
J. Opt. Soc. Am. A 23, 1048–1057 (2006). doi:10.1364/JOSAA.23.001048
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrai._backend import is_torch, to_numpy
from xrai._typing import Array
from xrai.errors import ConfigError, DataError, check_range
from xrai.geometry import centre_of
from xrai.ops.backproject import _backproject_guarded

__all__ = ["CenterResult", "find_center"]

Method = Literal["registration", "quality", "auto"]
#: Rows of the projections used by the registration (a band around the middle row).
_REGISTRATION_ROWS = 64
#: Gaussian smoothing (pixels) of the signals before their correlation.
_SMOOTH_PX = 1.0
#: The coarsest binning of the quality search keeps at least this many columns.
_MIN_BINNED_COLS = 64
#: Sinogram rows (angles) used by the quality search at most (evenly sub-sampled beyond).
_QUALITY_ANGLES = 720


@dataclass(frozen=True, slots=True, kw_only=True)
class CenterResult:
    """The rotation axis found by :func:`find_center`.

    Attributes
    ----------
    center
        Column coordinate of the rotation axis (pixels, float).
    confidence
        0 (a guess) to 1 (certain): the registration's correlation peak height, lowered by the angular mismatch
        of the pair used; for the quality search, how sharply the metric's minimum stands out; for ``"auto"``,
        also the agreement between the two.
    method
        ``"registration"``, ``"quality"`` or ``"auto"``.
    details
        Method-specific numbers: the pairs and their angles, the candidate centres and metric values, etc.
    """

    center: float
    confidence: float
    method: str
    details: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------------------------


def _shape(data: Any) -> tuple[int, ...]:
    shape = tuple(int(n) for n in data.shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise DataError(
            f"projections must be [angle, row, col] or a sinogram [angle, col], got shape {shape}"
        )
    return shape


def _band(n_rows: int, row: int | None, width: int) -> tuple[int, int]:
    mid = n_rows // 2 if row is None else row
    r0 = max(0, min(mid - width // 2, n_rows - width))
    return r0, min(n_rows, r0 + width)


def _get(data: Any, index: Any) -> npt.NDArray[np.float64]:
    if hasattr(data, "projections_rows") and isinstance(index, tuple) and len(index) == 3:
        # an xrai.io.Scan: read the rows, then select
        rows = index[1]
        slab = data.projections_rows(rows.start, rows.stop)
        return np.asarray(slab[index[0], :, index[2]], dtype=np.float64)
    part = data[index]
    return np.asarray(to_numpy(part) if is_torch(part) else part, dtype=np.float64)


# --------------------------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------------------------


def _opposite_pairs(angles: npt.NDArray[np.float64], max_pairs: int) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, mismatch_rad)`` with ``θ_j - θ_i`` closest to π, best first (at most ``max_pairs``)."""
    diff = angles[None, :] - angles[:, None] - np.pi
    mismatch = np.abs(np.angle(np.exp(1j * diff)))
    best_j = np.argmin(mismatch, axis=1)
    best = mismatch[np.arange(angles.size), best_j]
    order = np.argsort(best, kind="stable")
    tolerance = best[order[0]] + 1e-9
    good = [int(i) for i in order if best[i] <= tolerance]
    if len(good) > max_pairs:  # spread the pairs over the scan
        good = [good[k] for k in np.linspace(0, len(good) - 1, max_pairs).round().astype(int)]
    pairs = [(i, int(best_j[i]), float(best[i])) for i in good]
    return sorted(pairs, key=lambda t: t[2])


def _subpixel_shift(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Shift ``d`` with ``b(j) ≈ a(j + d)`` along the last axis (rows summed), and the normalised peak height.

    Linear (zero-padded) cross-correlation of the column differences of the rows; the integer peak is refined on
    a 0.01-pixel grid of lags by evaluating the band-limited correlation directly from its spectrum, then by a
    parabola.
    """
    a = np.atleast_2d(a)
    b = np.atleast_2d(b)
    # Column differences: a constant background (or a mean subtracted) would add a triangle to the correlation
    # that pulls the peak towards zero lag; differences of a shifted signal are the shifted differences.
    a = np.diff(a, axis=-1)
    b = np.diff(b, axis=-1)
    n = a.shape[-1]
    m = 2 * n
    fa = np.fft.rfft(a, m)
    fb = np.fft.rfft(b, m)
    # a Gaussian low-pass (σ = 1 pixel on each signal) makes the sampled edges close to band-limited, so the
    # interpolated correlation peak is unbiased
    low_pass = np.exp(-((2 * np.pi * np.fft.rfftfreq(m) * _SMOOTH_PX) ** 2))
    spectrum = (fb * np.conj(fa)).sum(axis=0) * low_pass
    corr = np.fft.irfft(spectrum, m)
    k = int(np.argmax(corr))
    lag0 = k if k <= m // 2 else k - m
    # Parseval: energies of the smoothed signals, for a correlation coefficient in [-1, 1]
    coeff = np.full(spectrum.size, 2.0)
    coeff[0] = 1.0
    if m % 2 == 0:
        coeff[-1] = 1.0
    energy_a = float((coeff * low_pass * (np.abs(fa) ** 2).sum(axis=0)).sum()) / m
    energy_b = float((coeff * low_pass * (np.abs(fb) ** 2).sum(axis=0)).sum()) / m
    norm = math.sqrt(energy_a * energy_b)
    # band-limited evaluation of corr(lag) = irfft(spectrum)(lag) on a fine grid around the integer peak
    lags = lag0 + np.linspace(-1.0, 1.0, 201)
    freqs = np.arange(spectrum.size)
    phases = np.exp(2j * np.pi * np.outer(lags, freqs) / m)
    fine = (phases * (coeff * spectrum)).real.sum(axis=1) / m
    i = int(np.argmax(fine))
    best = float(lags[i])
    peak = float(fine[i]) / norm if norm > 0 else 0.0
    if 0 < i < lags.size - 1:
        y0, y1, y2 = fine[i - 1], fine[i], fine[i + 1]
        denominator = y0 - 2 * y1 + y2
        if denominator < 0:
            best += 0.5 * (y0 - y2) / denominator * (lags[1] - lags[0])
    # corr(lag) peaks where b(j) = a(j - lag): the shift d = -lag
    return -best, peak


def _find_by_registration(data: Any, angles: npt.NDArray[np.float64], row: int | None) -> CenterResult:
    shape = _shape(data)
    n_cols = shape[-1]
    step = float(np.median(np.abs(np.diff(np.sort(angles))))) if angles.size > 1 else np.pi
    pairs = _opposite_pairs(angles, max_pairs=8)
    if not pairs or pairs[0][2] > max(3 * step, math.radians(5)):
        raise DataError(
            "registration needs two projections about 180° apart; the closest pair is "
            f"{math.degrees(pairs[0][2]) if pairs else float('nan'):.2f}° away from 180° — use method='quality'"
        )
    band: tuple[slice, ...] = () if len(shape) == 2 else (slice(*_band(shape[1], row, _REGISTRATION_ROWS)),)
    estimates, peaks = [], []
    for i, j, _ in pairs:
        a = _get(data, (i, *band, slice(None)))
        b = _get(data, (j, *band, slice(None)))[..., ::-1]
        d, peak = _subpixel_shift(a, b)
        estimates.append(0.5 * (d + n_cols - 1))
        peaks.append(peak)
    center = float(np.median(estimates))
    spread = float(np.std(estimates)) if len(estimates) > 1 else 0.0
    mismatch = pairs[0][2]
    confidence = float(np.clip(np.median(peaks), 0, 1)) / (1.0 + spread) / (1.0 + math.degrees(mismatch) / 2)
    return CenterResult(
        center=center,
        confidence=round(confidence, 4),
        method="registration",
        details={
            "pairs": [(i, j) for i, j, _ in pairs],
            "angle_mismatch_deg": math.degrees(mismatch),
            "estimates": estimates,
            "peak_correlation": peaks,
        },
    )


# --------------------------------------------------------------------------------------------------------------
# image-quality search
# --------------------------------------------------------------------------------------------------------------


def _negativity(image: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> float:
    """Energy of the negative values relative to the total energy, inside the reconstruction circle."""
    values = image[mask].astype(np.float64)
    total = float(np.sum(values * values))
    return float(np.sum(np.minimum(values, 0.0) ** 2)) / total if total > 0 else 0.0


class _SliceScorer:
    """Filters a sinogram once; scores the slice back-projected about any centre (binned by ``factor``)."""

    def __init__(
        self, sinogram: npt.NDArray[np.float64], angles: npt.NDArray[np.float64], factor: int
    ) -> None:
        from xrai.tomo.fbp import _filter_slab, _pad_length, angular_weights, fourier_filter

        n = sinogram.shape[1] // factor
        binned = sinogram[:, : n * factor].reshape(sinogram.shape[0], n, factor).mean(axis=2)
        n_pad = _pad_length(n, True)
        self.factor = factor
        self.n = n
        self.angles = angles
        self.weights = angular_weights(angles)
        self.q = _filter_slab(
            binned[:, None, :].astype(np.float32), fourier_filter(n_pad, "shepp-logan"), n_pad, np.float32
        )
        coords = np.arange(n) - centre_of(n)
        self.mask = (coords[:, None] ** 2 + coords[None, :] ** 2) < (0.95 * centre_of(n)) ** 2

    def __call__(self, center: float) -> float:
        # column c of the full detector is column (c - (factor - 1) / 2) / factor of the binned one
        c = (center - 0.5 * (self.factor - 1)) / self.factor
        image = _backproject_guarded(
            self.q, angles_rad=self.angles, weights=self.weights, center_col=c, n_x=self.n, n_y=self.n
        )[0]
        return _negativity(image, self.mask)


def _scan(scorer: _SliceScorer, centres: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.array([scorer(float(c)) for c in centres])


def _parabola_minimum(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    i = int(np.argmin(y))
    if 0 < i < x.size - 1:
        y0, y1, y2 = y[i - 1], y[i], y[i + 1]
        denominator = y0 - 2 * y1 + y2
        if denominator > 0:
            offset = 0.5 * (y0 - y2) / denominator
            return float(x[i] + offset * (x[i + 1] - x[i]))
    return float(x[i])


def _find_by_quality(
    data: Any,
    angles: npt.NDArray[np.float64],
    row: int | None,
    search: tuple[float, float],
) -> CenterResult:
    shape = _shape(data)
    n_cols = shape[-1]
    if len(shape) == 2:
        sinogram = _get(data, (slice(None), slice(None)))
    else:
        r0, r1 = _band(shape[1], row, 1)
        sinogram = _get(data, (slice(None), slice(r0, r1), slice(None)))[:, 0, :]
    # A full turn reconstructs a wrong axis as a doubled, blurred (positive) image rather than as arcs with
    # negative lobes: score on one half turn only.
    half_turn = np.flatnonzero(angles - angles.min() < np.pi - 1e-9)
    use = half_turn
    if use.size > _QUALITY_ANGLES:
        use = use[np.linspace(0, use.size - 1, _QUALITY_ANGLES).round().astype(int)]
    sinogram, sub_angles = sinogram[use], angles[use]
    lo, hi = search
    history: list[tuple[float, float]] = []
    # coarse to fine: binned sinograms (bins of `factor` columns) scanned in steps of one binned pixel
    factor = 1
    while n_cols // (factor * 2) >= _MIN_BINNED_COLS and factor < 16:
        factor *= 2
    coarsest = factor
    while factor > 1:
        if hi - lo > 4 * factor:
            centres = np.arange(lo, hi + 1e-9, float(factor))
            scores = _scan(_SliceScorer(sinogram, sub_angles, factor), centres)
            history += list(zip(centres.tolist(), scores.tolist(), strict=True))
            best = float(centres[int(np.argmin(scores))])
            lo, hi = max(search[0], best - factor), min(search[1], best + factor)
        factor //= 2
    fine = _SliceScorer(sinogram, sub_angles, 1)
    centres = np.arange(math.floor(lo), math.ceil(hi) + 1e-9, 1.0)
    scores = _scan(fine, centres)
    history += list(zip(centres.tolist(), scores.tolist(), strict=True))
    # sub-pixel: a parabola through the integer minimum and its neighbours, then one through ±1/4 pixel
    estimate = _parabola_minimum(centres, scores)
    best = float(centres[int(np.argmin(scores))])
    estimate = float(np.clip(estimate, best - 0.5, best + 0.5))
    centres = estimate + np.array([-0.25, 0.0, 0.25])
    scores = _scan(fine, centres)
    history += list(zip(centres.tolist(), scores.tolist(), strict=True))
    center = float(np.clip(_parabola_minimum(centres, scores), estimate - 0.5, estimate + 0.5))
    all_scores = np.array([s for _, s in history])
    floor = float(scores.min())
    # confidence: how far the minimum stands below the typical metric value of wrong centres
    contrast = (float(np.median(all_scores)) - floor) / max(float(np.median(all_scores)), 1e-12)
    return CenterResult(
        center=center,
        confidence=round(float(np.clip(contrast * 2.0, 0.0, 1.0)), 4),
        method="quality",
        details={
            "metric": "negativity",
            "search": search,
            "candidates": history,
            "coarsest_binning": coarsest,
        },
    )


# --------------------------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------------------------


def find_center(
    projections: Array,
    *,
    angles_rad: Any,
    method: Method = "auto",
    row: int | None = None,
    search_range: tuple[float, float] | None = None,
) -> CenterResult:
    """Find the rotation axis column of a parallel-beam scan.

    Parameters
    ----------
    projections
        Line integrals ``[angle, row, col]`` or a sinogram ``[angle, col]`` (numpy, torch, or a lazily read
        array-like such as an h5py dataset; only the rows used are read). Flat-field corrected data works best;
        raw intensities also work for the registration.
    angles_rad
        Rotation angles (rad).
    method
        ``"registration"`` (0°/180° pair), ``"quality"`` (slice sharpness search) or ``"auto"`` (both).
    row
        Detector row used (the middle row of the band for the registration, the slice for the quality search);
        default the middle row.
    search_range
        ``(first, last)`` candidate columns of the quality search; default the middle half of the detector
        (``"auto"``: ±4 pixels around the registration result).

    Returns
    -------
    CenterResult
        ``center`` (column, float), ``confidence`` (0..1), ``method`` and ``details``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrai.ops.projector import ParallelProjector
    >>> angles = np.linspace(0, np.pi, 181)  # 0..180° inclusive
    >>> image = np.zeros((64, 64)); image[20:30, 35:50] = 1.0; image[40:44, 10:20] = 2.0
    >>> sino = ParallelProjector((64, 64), angles, n_cols=80, center_col=41.3).forward(image)
    >>> result = find_center(sino, angles_rad=angles, method="registration")
    >>> bool(abs(result.center - 41.3) < 0.25)
    True
    """
    shape = _shape(projections)
    n_cols = shape[-1]
    angles = np.asarray(angles_rad, dtype=np.float64).reshape(-1)
    if angles.size != shape[0]:
        raise ConfigError(f"angles_rad has {angles.size} values but the projections have {shape[0]} angles")
    if method not in ("registration", "quality", "auto"):
        raise ConfigError(f"method = {method!r} is not allowed: must be 'registration', 'quality' or 'auto'")
    if row is not None and len(shape) == 3:
        row = int(check_range("row", row, low=0, high=shape[1] - 1))
    if search_range is not None:
        lo, hi = (float(v) for v in search_range)
        if not 0 <= lo < hi <= n_cols - 1:
            raise ConfigError(
                f"search_range = {search_range!r} is not allowed: must satisfy 0 <= first < last <= {n_cols - 1}"
            )
    if method == "registration":
        return _find_by_registration(projections, angles, row)
    if method == "quality":
        default = (0.25 * (n_cols - 1), 0.75 * (n_cols - 1))
        return _find_by_quality(projections, angles, row, search_range or default)
    try:
        first = _find_by_registration(projections, angles, row)
    except DataError:
        default = (0.25 * (n_cols - 1), 0.75 * (n_cols - 1))
        result = _find_by_quality(projections, angles, row, search_range or default)
        return CenterResult(
            center=result.center, confidence=result.confidence, method="auto", details=result.details
        )
    window = search_range or (max(0.0, first.center - 4.0), min(n_cols - 1.0, first.center + 4.0))
    second = _find_by_quality(projections, angles, row, window)
    agreement = 1.0 / (1.0 + abs(second.center - first.center))
    confidence = float(np.clip(max(first.confidence, second.confidence) * agreement + 0.0, 0.0, 1.0))
    return CenterResult(
        center=second.center,
        confidence=round(confidence, 4),
        method="auto",
        details={"registration": first, "quality": second},
    )
