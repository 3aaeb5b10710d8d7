"""Binned X-ray spectra at the sample: photons per second per square metre in each energy bin.

A :class:`Spectrum` is what every source in :mod:`xrai.physics.sources` produces and what the rest of the
simulator consumes: bin centres ``energies_kev``, bin widths ``bin_widths_kev`` and the photon flux density
``photons_per_s_m2`` *integrated over each bin* at the sample position (not per keV, not per 0.1 % bandwidth).
From it follow photons per pixel (``photons_per_pixel``), the normalised weights for a polychromatic
simulation (``weights``) and the spectrum behind a filter (``filtered``, Beer–Lambert with xraylib's μ).

Files: :meth:`Spectrum.to_csv` writes, and :func:`load_spectrum` reads, a text table with columns
``energy_kev, photons_per_s_m2[, bin_width_kev]`` (comma or whitespace separated, ``#`` comments).

Examples
--------
>>> s = Spectrum.from_table([10.0, 20.0, 30.0], [1e15, 2e15, 1e15])
>>> s.weights().tolist()
[0.25, 0.5, 0.25]
>>> behind = s.filtered("Al", thickness_m=0.7e-3)
>>> bool(behind.photons_per_s_m2[0] < 0.01 * s.photons_per_s_m2[0])   # 10 keV: e^{-4.95} through 0.7 mm Al
True
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xrai.errors import ConfigError, DataError, check_range

if TYPE_CHECKING:
    from xrai.physics.materials import Material

__all__ = ["KEV_TO_J", "Spectrum", "bin_edges", "bin_widths", "load_spectrum"]

#: Joule per keV.
KEV_TO_J = 1.602_176_634e-16


def bin_widths(energies_kev: ArrayLike) -> NDArray[np.float64]:
    """Default bin widths (keV) for bin centres: bins centred on them that neither overlap nor leave gaps on
    a uniform grid.

    Each bin reaches half-way to its *nearer* neighbour on both sides, so on a uniform grid the width is the
    step; on a non-uniform grid the bins stay centred and disjoint (with gaps where the step changes; give
    ``bin_widths_kev`` explicitly there if the bins should tile). A single energy has no defined width:
    :class:`ConfigError`.
    """
    centres = _check_centres(energies_kev)
    if centres.size == 1:
        raise ConfigError(
            f"energies_kev = {centres.tolist()} is a single energy: give bin_widths_kev explicitly"
        )
    gaps = np.diff(centres)
    left = np.concatenate([gaps[:1], gaps])
    right = np.concatenate([gaps, gaps[-1:]])
    widths: NDArray[np.float64] = np.minimum(left, right)
    return widths


def bin_edges(energies_kev: ArrayLike, bin_widths_kev: ArrayLike | None = None) -> NDArray[np.float64]:
    """Lower and upper bin edges, shape ``(2, n)``, from centres and widths (keV)."""
    centres = _check_centres(energies_kev)
    widths = bin_widths(centres) if bin_widths_kev is None else _check_widths(bin_widths_kev, centres)
    return np.stack([centres - 0.5 * widths, centres + 0.5 * widths])


def _check_centres(energies_kev: ArrayLike) -> NDArray[np.float64]:
    try:
        centres = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    except (TypeError, ValueError):
        raise ConfigError(f"energies_kev = {energies_kev!r} is not an array of numbers") from None
    if centres.ndim != 1 or centres.size == 0:
        raise ConfigError(f"energies_kev must be a non-empty 1-D array, got shape {centres.shape}")
    if not np.all(np.isfinite(centres)) or np.any(centres <= 0):
        raise ConfigError(f"energies_kev = {centres.tolist()} must be finite and > 0 keV")
    if np.any(np.diff(centres) <= 0):
        raise ConfigError(f"energies_kev = {centres.tolist()} must be strictly increasing")
    return centres


def _check_widths(bin_widths_kev: ArrayLike, centres: NDArray[np.float64]) -> NDArray[np.float64]:
    widths = np.broadcast_to(np.asarray(bin_widths_kev, dtype=np.float64), centres.shape).copy()
    if not np.all(np.isfinite(widths)) or np.any(widths <= 0):
        raise ConfigError(f"bin_widths_kev = {widths.tolist()} must be finite and > 0 keV")
    return widths


def _readonly(array: NDArray[np.float64]) -> NDArray[np.float64]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Spectrum:
    """Photon flux density per energy bin at the sample.

    Parameters
    ----------
    energies_kev
        Bin centres in keV, 1-D, strictly increasing.
    photons_per_s_m2
        Photons per second per square metre in each bin (integrated over the bin), >= 0, same shape.
    bin_widths_kev
        Bin widths in keV (scalar or per bin); by default from the spacing of the centres (see
        :func:`bin_widths`). Required for a single bin.
    name
        A label for tables and plots.

    Notes
    -----
    Arrays are stored as read-only float64 copies. Two spectra are equal when all arrays are equal.
    """

    energies_kev: NDArray[np.float64]
    photons_per_s_m2: NDArray[np.float64]
    bin_widths_kev: NDArray[np.float64] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        centres = _check_centres(self.energies_kev)
        try:
            photons = np.asarray(self.photons_per_s_m2, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(
                f"photons_per_s_m2 = {self.photons_per_s_m2!r} is not an array of numbers"
            ) from None
        if photons.shape != centres.shape:
            raise ConfigError(
                f"photons_per_s_m2 has shape {photons.shape}, energies_kev has shape {centres.shape}: "
                "they must match"
            )
        if not np.all(np.isfinite(photons)) or np.any(photons < 0):
            bad = photons[~np.isfinite(photons) | (photons < 0)][:5].tolist()
            raise ConfigError(f"photons_per_s_m2 contains {bad}: must be finite and >= 0")
        widths = (
            bin_widths(centres)
            if self.bin_widths_kev is None
            else _check_widths(self.bin_widths_kev, centres)
        )
        edges = np.stack([centres - 0.5 * widths, centres + 0.5 * widths])
        if np.any(edges[1, :-1] > edges[0, 1:] * (1 + 1e-9)):
            raise ConfigError(f"bin_widths_kev = {widths.tolist()} make neighbouring bins overlap")
        object.__setattr__(self, "energies_kev", _readonly(centres.copy()))
        object.__setattr__(self, "photons_per_s_m2", _readonly(photons.copy()))
        object.__setattr__(self, "bin_widths_kev", _readonly(widths))
        object.__setattr__(self, "name", str(self.name))

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_table(
        cls,
        energies_kev: ArrayLike,
        values: ArrayLike,
        *,
        bin_widths_kev: ArrayLike | None = None,
        per_kev: bool = False,
        name: str = "",
    ) -> Spectrum:
        """A spectrum from a table of energies (keV) and photon flux densities.

        Parameters
        ----------
        energies_kev
            Bin centres in keV.
        values
            Photons/s/m² per bin, or per keV if ``per_kev`` (then multiplied by the bin widths).
        bin_widths_kev
            Bin widths; by default from the spacing of the centres.
        per_kev
            Whether ``values`` are a spectral density per keV.
        name
            A label.
        """
        centres = _check_centres(energies_kev)
        widths = bin_widths(centres) if bin_widths_kev is None else _check_widths(bin_widths_kev, centres)
        photons = np.asarray(values, dtype=np.float64)
        if per_kev:
            if photons.shape != centres.shape:
                raise ConfigError(f"values has shape {photons.shape}, energies_kev has {centres.shape}")
            photons = photons * widths
        return cls(energies_kev=centres, photons_per_s_m2=photons, bin_widths_kev=widths, name=name)

    # -- derived quantities ----------------------------------------------------------------------------------

    @property
    def n_bins(self) -> int:
        """Number of energy bins."""
        return int(self.energies_kev.size)

    @property
    def edges_kev(self) -> NDArray[np.float64]:
        """Lower and upper bin edges in keV, shape ``(2, n_bins)``."""
        widths = self._widths()
        return np.stack([self.energies_kev - 0.5 * widths, self.energies_kev + 0.5 * widths])

    @property
    def total_photons_per_s_m2(self) -> float:
        """Photon flux density summed over all bins (photons/s/m²)."""
        return float(self.photons_per_s_m2.sum())

    @property
    def power_w_m2(self) -> float:
        """Energy flux density (W/m²), Σ Nᵢ Eᵢ."""
        return float(np.sum(self.photons_per_s_m2 * self.energies_kev) * KEV_TO_J)

    @property
    def mean_energy_kev(self) -> float:
        """Photon-number-weighted mean energy (keV)."""
        return float(np.sum(self.weights() * self.energies_kev))

    def per_kev(self) -> NDArray[np.float64]:
        """Spectral photon flux density in photons/s/m²/keV (per-bin value divided by the bin width)."""
        return self.photons_per_s_m2 / self._widths()

    def weights(self) -> NDArray[np.float64]:
        """Fraction of the photons in each bin (float64, sums to 1).

        Raises :class:`DataError` for a spectrum without photons.
        """
        total = self.photons_per_s_m2.sum()
        if not total > 0:
            raise DataError(f"spectrum {self.name!r} has no photons: cannot normalise its weights")
        weights: NDArray[np.float64] = self.photons_per_s_m2 / total
        return weights

    def photons_per_pixel(
        self, *, pixel_size_m: float | tuple[float, float], exposure_s: float
    ) -> NDArray[np.float64]:
        """Mean photons per pixel per bin during one exposure: N = Φ · p² · t (float64, shape ``(n_bins,)``).

        Parameters
        ----------
        pixel_size_m
            Pixel size at the sample in m (effective pixel size), or ``(row, col)`` sizes.
        exposure_s
            Exposure time in s.
        """
        if isinstance(pixel_size_m, tuple | list):
            if len(pixel_size_m) != 2:
                raise ConfigError(f"pixel_size_m = {pixel_size_m!r} must be a number or a (row, col) pair")
            area = check_range(
                "pixel_size_m", pixel_size_m[0], low=0, low_inclusive=False, unit="m"
            ) * check_range("pixel_size_m", pixel_size_m[1], low=0, low_inclusive=False, unit="m")
        else:
            area = check_range("pixel_size_m", pixel_size_m, low=0, low_inclusive=False, unit="m") ** 2
        exposure = check_range("exposure_s", exposure_s, low=0, unit="s")
        return self.photons_per_s_m2 * (area * exposure)

    # -- transformations -------------------------------------------------------------------------------------

    def scaled(self, factor: float) -> Spectrum:
        """The spectrum times ``factor`` (>= 0), e.g. a mirror reflectivity or a beam-sharing fraction."""
        factor = check_range("factor", factor, low=0)
        return self._replace(self.photons_per_s_m2 * factor)

    def multiplied(self, transmission: ArrayLike, *, label: str = "") -> Spectrum:
        """The spectrum times a per-bin transmission (0..1 usually; shape ``(n_bins,)``)."""
        factors = np.asarray(transmission, dtype=np.float64)
        if factors.shape != self.energies_kev.shape:
            raise ConfigError(
                f"transmission has shape {factors.shape}, the spectrum has {self.energies_kev.shape} bins"
            )
        if not np.all(np.isfinite(factors)) or np.any(factors < 0):
            raise ConfigError(f"transmission {factors[:5].tolist()}... must be finite and >= 0")
        name = f"{self.name} + {label}" if label and self.name else (label or self.name)
        return self._replace(self.photons_per_s_m2 * factors, name=name)

    def filtered(
        self,
        material: str | Material,
        *,
        thickness_m: float,
        kind: Literal["total", "photo"] = "total",
    ) -> Spectrum:
        """The spectrum behind a slab of ``material`` of ``thickness_m``: Beer–Lambert, T = exp(−μ d).

        Parameters
        ----------
        material
            A :class:`~xrai.physics.materials.Material` or a library name (``"Al"``, ``"pmma"``).
        thickness_m
            Slab thickness in m (>= 0).
        kind
            ``"total"`` (default; scattered photons are lost from the beam) or ``"photo"``.

        Notes
        -----
        μ is evaluated at the bin centres; a bin much wider than the scale on which μ varies (an absorption
        edge inside a bin) is not resolved.
        """
        from xrai.physics.materials import get_material

        mat = get_material(material)
        thickness = check_range("thickness_m", thickness_m, low=0, unit="m")
        mu = mat.linear_attenuation_per_m(self.energies_kev, kind=kind)
        label = f"{thickness * 1e3:g} mm {mat.name}"
        return self.multiplied(np.exp(-mu * thickness), label=label)

    def rebinned(self, energies_kev: ArrayLike, *, bin_widths_kev: ArrayLike | None = None) -> Spectrum:
        """Redistribute the photons onto new bins, conserving the photon count in every overlap.

        The spectral density is taken as constant inside each old bin (photons outside the new bins are
        dropped).
        """
        centres = _check_centres(energies_kev)
        widths = bin_widths(centres) if bin_widths_kev is None else _check_widths(bin_widths_kev, centres)
        old = self.edges_kev
        old_edges = np.concatenate([old[0], old[1, -1:]])
        if np.any(old[1, :-1] < old[0, 1:] - 1e-12):  # gaps between old bins: integrate bin by bin
            cumulative = _cumulative_with_gaps(old, self.photons_per_s_m2)
        else:
            cumulative = (old_edges, np.concatenate([[0.0], np.cumsum(self.photons_per_s_m2)]))
        low = np.interp(centres - 0.5 * widths, *cumulative)
        high = np.interp(centres + 0.5 * widths, *cumulative)
        return Spectrum(
            energies_kev=centres,
            photons_per_s_m2=np.maximum(high - low, 0.0),
            bin_widths_kev=widths,
            name=self.name,
        )

    def with_name(self, name: str) -> Spectrum:
        """The same spectrum under another name."""
        return self._replace(self.photons_per_s_m2, name=name)

    # -- files -----------------------------------------------------------------------------------------------

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write ``energy_kev, photons_per_s_m2, bin_width_kev`` (CSV with a ``#`` header); return the path."""
        file = Path(path)
        header = f"xrai spectrum {self.name}\nenergy_kev,photons_per_s_m2,bin_width_kev"
        table = np.column_stack([self.energies_kev, self.photons_per_s_m2, self._widths()])
        np.savetxt(file, table, delimiter=",", header=header, fmt="%.10g")
        return file

    # -- helpers ---------------------------------------------------------------------------------------------

    def _widths(self) -> NDArray[np.float64]:
        assert self.bin_widths_kev is not None  # set in __post_init__
        return self.bin_widths_kev

    def _replace(self, photons: NDArray[np.float64], *, name: str | None = None) -> Spectrum:
        return Spectrum(
            energies_kev=self.energies_kev,
            photons_per_s_m2=photons,
            bin_widths_kev=self.bin_widths_kev,
            name=self.name if name is None else name,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spectrum):
            return NotImplemented
        return (
            self.name == other.name
            and np.array_equal(self.energies_kev, other.energies_kev)
            and np.array_equal(self.photons_per_s_m2, other.photons_per_s_m2)
            and np.array_equal(self._widths(), other._widths())
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Spectrum(name={self.name!r}, {self.n_bins} bins {self.energies_kev[0]:g}–{self.energies_kev[-1]:g} keV, "
            f"total {self.total_photons_per_s_m2:.4g} photons/s/m², mean {self._mean_or_nan():.4g} keV)"
        )

    def _mean_or_nan(self) -> float:
        total = self.photons_per_s_m2.sum()
        return float(np.sum(self.photons_per_s_m2 * self.energies_kev) / total) if total > 0 else math.nan


def _cumulative_with_gaps(
    edges: NDArray[np.float64], photons: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Piecewise-linear cumulative photon count over bins that may leave gaps between them."""
    points = np.empty(2 * photons.size)
    values = np.empty(2 * photons.size)
    running = 0.0
    for i, count in enumerate(photons.tolist()):
        points[2 * i] = edges[0, i]
        values[2 * i] = running
        running += count
        points[2 * i + 1] = edges[1, i]
        values[2 * i + 1] = running
    return points, values


def load_spectrum(
    path: str | os.PathLike[str], *, per_kev: bool = False, name: str | None = None
) -> Spectrum:
    """Read a spectrum from a text table: ``energy_kev, photons_per_s_m2[, bin_width_kev]``.

    Columns are separated by commas or whitespace; lines starting with ``#`` are comments (the header written
    by :meth:`Spectrum.to_csv` included). With ``per_kev`` the second column is photons/s/m²/keV.

    Raises
    ------
    DataError
        Missing file, non-numeric content or a wrong number of columns (the message names the file).
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"spectrum file {str(file)!r} does not exist")
    text = file.read_text(encoding="utf-8")
    rows: list[list[float]] = []
    title = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("# xrai spectrum"):
            title = stripped[len("# xrai spectrum") :].strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.replace(",", " ").split()
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            raise DataError(f"{file}:{number}: {line!r} is not a row of numbers") from None
    if not rows:
        raise DataError(f"spectrum file {str(file)!r} contains no rows")
    widths_found = {len(r) for r in rows}
    if len(widths_found) != 1 or widths_found.pop() not in (2, 3):
        raise DataError(
            f"spectrum file {str(file)!r} must have 2 or 3 columns (energy_kev, photons_per_s_m2[, bin_width_kev])"
        )
    table = np.asarray(rows, dtype=np.float64)
    widths = table[:, 2] if table.shape[1] == 3 else None
    try:
        return Spectrum.from_table(
            table[:, 0], table[:, 1], bin_widths_kev=widths, per_kev=per_kev, name=name or title or file.stem
        )
    except ConfigError as exc:
        raise DataError(f"spectrum file {str(file)!r}: {exc}") from None
