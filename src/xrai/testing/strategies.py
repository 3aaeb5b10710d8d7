"""Hypothesis strategies for xrai's inputs: energies, pixel sizes, materials, angles, arrays, geometries, units.

Use them in your own property-based tests::

    from hypothesis import given
    from xrai.testing import strategies as xst

    @given(xst.parallel_geometries(), xst.energies_kev())
    def test_something(geometry, energy_kev): ...

Array strategies draw their *shape* and a *seed* from Hypothesis and fill the array with a seeded numpy
generator (fast for images of thousands of pixels, reproducible from the failing example Hypothesis prints);
pass ``elements=`` to let Hypothesis draw every element instead. Everything a strategy returns is valid input
for xrai (a config passes its range checks), so a failure points at the code under test.

Requires ``hypothesis`` (a test dependency, not a runtime one); xrai's physics is imported only when a
strategy that needs it is drawn from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "UNIT_SPELLINGS",
    "angles_rad",
    "energies_kev",
    "experiments",
    "label_volumes",
    "materials",
    "parallel_geometries",
    "pixel_sizes_m",
    "projection_stacks",
    "scan_configs",
    "seeds",
    "unit_strings",
    "unit_values",
    "volumes",
]

#: Canonical unit (pint spelling, as in :data:`xrai.units.CANONICAL_UNITS`) → spellings a user may write and
#: their factor to the canonical unit. Written out by hand, independently of pint, so that a round trip through
#: :func:`xrai.units.to_canonical` is checked against numbers that did not come from the same library.
UNIT_SPELLINGS: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "m": (("m", 1.0), ("cm", 1e-2), ("mm", 1e-3), ("um", 1e-6), ("µm", 1e-6), ("μm", 1e-6), ("nm", 1e-9)),
    "s": (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("min", 60.0), ("h", 3600.0)),
    "rad": (("rad", 1.0), ("mrad", 1e-3), ("urad", 1e-6), ("deg", math.pi / 180.0)),
    "mrad": (("mrad", 1.0), ("rad", 1e3), ("urad", 1e-3)),
    "deg": (("deg", 1.0), ("rad", 180.0 / math.pi), ("mrad", 0.18 / math.pi)),
    "keV": (("keV", 1.0), ("eV", 1e-3), ("MeV", 1e3)),
    "eV": (("eV", 1.0), ("keV", 1e3), ("meV", 1e-3)),
    "GeV": (("GeV", 1.0), ("MeV", 1e-3), ("TeV", 1e3)),
    "g/cm**3": (("g/cm**3", 1.0), ("g/cm3", 1.0), ("kg/m**3", 1e-3), ("kg/m3", 1e-3), ("mg/cm3", 1e-3)),
    "T": (("T", 1.0), ("mT", 1e-3), ("uT", 1e-6), ("kT", 1e3)),
    "A": (("A", 1.0), ("mA", 1e-3), ("uA", 1e-6)),
    "mA": (("mA", 1.0), ("A", 1e3), ("uA", 1e-3)),
    "Hz": (("Hz", 1.0), ("kHz", 1e3), ("MHz", 1e6)),
    "m**2": (("m**2", 1.0), ("m2", 1.0), ("cm2", 1e-4), ("mm2", 1e-6), ("um2", 1e-12)),
}


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``numpy.random.default_rng`` (shrink towards 0)."""
    return st.integers(min_value=0, max_value=2**32 - 1)


# ----------------------------------------------------------------------------------------------------------------
# Physical scalars
# ----------------------------------------------------------------------------------------------------------------


def _log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    if not 0 < low <= high:
        raise ValueError(f"bounds ({low!r}, {high!r}) are not allowed: need 0 < low <= high")
    lo, hi = math.log10(low), math.log10(high)
    return st.floats(min_value=lo, max_value=hi).map(lambda e: float(min(max(10.0**e, low), high)))


def energies_kev(min_kev: float = 5.0, max_kev: float = 100.0) -> st.SearchStrategy[float]:
    """Photon energies (keV), uniform in ``[min_kev, max_kev]`` (default the hard X-ray range 5–100 keV)."""
    return st.floats(min_value=min_kev, max_value=max_kev, allow_nan=False, allow_infinity=False)


def pixel_sizes_m(min_m: float = 1e-7, max_m: float = 1e-4) -> st.SearchStrategy[float]:
    """Pixel sizes (m), log-uniform in ``[min_m, max_m]`` (default 0.1 µm to 100 µm)."""
    return _log_uniform(min_m, max_m)


def materials() -> st.SearchStrategy[str]:
    """Names of the built-in material library (:data:`xrai.physics.materials.LIBRARY`)."""

    def library() -> st.SearchStrategy[str]:
        from xrai.physics.materials import LIBRARY

        return st.sampled_from(sorted(LIBRARY))

    return st.deferred(library)


def angles_rad(
    min_size: int = 1,
    max_size: int = 32,
    *,
    evenly_spaced: bool | None = None,
) -> st.SearchStrategy[npt.NDArray[np.float64]]:
    """1-D float64 arrays of projection angles (rad).

    Parameters
    ----------
    min_size, max_size
        Number of angles.
    evenly_spaced
        ``True``: ``n`` angles evenly spaced over a half or a full turn (no end point) from a random start;
        ``False``: arbitrary finite angles in ``[−2π, 2π]``, unsorted, repeats allowed; ``None``: either.
    """
    size = st.integers(min_value=min_size, max_value=max_size)

    even = st.builds(
        lambda n, turn, start: start + np.arange(n, dtype=np.float64) * (turn / n),
        size,
        st.sampled_from([math.pi, 2.0 * math.pi]),
        st.floats(min_value=-math.pi, max_value=math.pi),
    )
    finite = st.floats(min_value=-2 * math.pi, max_value=2 * math.pi, allow_nan=False, allow_infinity=False)
    arbitrary = size.flatmap(lambda n: hnp.arrays(np.float64, n, elements=finite))
    if evenly_spaced is True:
        return even
    if evenly_spaced is False:
        return arbitrary
    return st.one_of(even, arbitrary)


# ----------------------------------------------------------------------------------------------------------------
# Arrays
# ----------------------------------------------------------------------------------------------------------------


def _filled(
    shape: tuple[int, ...], seed: int, dtype: Any, *, nonnegative: bool, scale: float
) -> npt.NDArray[Any]:
    rng = np.random.default_rng(seed)
    values = rng.random(shape) if nonnegative else rng.standard_normal(shape)
    return np.asarray(values * scale, dtype=dtype)


def _array_strategy(
    shape: st.SearchStrategy[tuple[int, ...]],
    dtype: Any,
    *,
    nonnegative: bool,
    scale: float,
    elements: st.SearchStrategy[Any] | None,
) -> st.SearchStrategy[npt.NDArray[Any]]:
    if elements is not None:
        return hnp.arrays(dtype, shape, elements=elements)
    return st.builds(
        lambda s, seed: _filled(s, seed, dtype, nonnegative=nonnegative, scale=scale), shape, seeds()
    )


def projection_stacks(
    *,
    max_angles: int = 16,
    max_rows: int = 8,
    max_cols: int = 32,
    min_cols: int = 2,
    dtype: Any = np.float32,
    nonnegative: bool = True,
    scale: float = 1.0,
    elements: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[npt.NDArray[Any]]:
    """Projection stacks ``[angle, row, col]`` (line integrals: non-negative by default, ``scale`` × U(0, 1)).

    ``elements`` (a Hypothesis strategy) draws every value instead of the seeded generator.
    """
    shape = st.tuples(st.integers(1, max_angles), st.integers(1, max_rows), st.integers(min_cols, max_cols))
    return _array_strategy(shape, dtype, nonnegative=nonnegative, scale=scale, elements=elements)


def volumes(
    *,
    ndim: int = 3,
    min_side: int = 1,
    max_side: int = 16,
    dtype: Any = np.float32,
    nonnegative: bool = True,
    scale: float = 1.0,
    elements: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[npt.NDArray[Any]]:
    """Volumes ``[z, y, x]`` (``ndim=3``) or slices ``[y, x]`` (``ndim=2``) of floats (``scale`` × U(0, 1))."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim = {ndim!r} is not allowed: must be 2 or 3")
    shape = st.tuples(*[st.integers(min_side, max_side)] * ndim)
    return _array_strategy(shape, dtype, nonnegative=nonnegative, scale=scale, elements=elements)


def _boxes_volume(shape: tuple[int, ...], seed: int, n_labels: int, dtype: Any) -> npt.NDArray[Any]:
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=dtype)
    for label in range(1, n_labels + 1):
        lo = [int(rng.integers(0, n)) for n in shape]
        hi = [int(rng.integers(a + 1, n + 1)) for a, n in zip(lo, shape, strict=True)]
        labels[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = label
    return labels


def label_volumes(
    *,
    max_side: int = 16,
    max_labels: int = 5,
    dtype: Any = np.uint8,
) -> st.SearchStrategy[npt.NDArray[Any]]:
    """Integer label volumes ``[z, y, x]``: background 0 and up to ``max_labels`` overlapping boxes 1, 2, …

    Later labels overwrite earlier ones, so a label may be partly or wholly hidden (as in real segmentations).
    """
    shape = st.tuples(*[st.integers(1, max_side)] * 3)
    return st.builds(
        lambda s, seed, n: _boxes_volume(s, seed, n, dtype), shape, seeds(), st.integers(0, max_labels)
    )


# ----------------------------------------------------------------------------------------------------------------
# Geometry and configuration
# ----------------------------------------------------------------------------------------------------------------


def parallel_geometries(
    *,
    max_angles: int = 16,
    max_rows: int = 8,
    max_cols: int = 32,
    centered: bool | None = None,
) -> st.SearchStrategy[Any]:
    """:class:`xrai.geometry.ParallelBeamGeometry` instances (pixel sizes 0.1–100 µm).

    ``centered=True`` keeps the rotation axis at the detector centre (``center_col=None``); ``False`` always
    draws an off-centre axis within ±25 % of the width; ``None`` either.
    """
    from xrai.geometry import ParallelBeamGeometry

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        n_cols = draw(st.integers(1, max_cols))
        center_col: float | None = None
        if centered is False or (centered is None and draw(st.booleans())):
            half = (n_cols - 1) / 2.0
            center_col = draw(
                st.floats(min_value=half - 0.25 * n_cols, max_value=half + 0.25 * n_cols, allow_nan=False)
            )
        return ParallelBeamGeometry(
            angles_rad=draw(angles_rad(1, max_angles)),
            n_rows=draw(st.integers(1, max_rows)),
            n_cols=n_cols,
            pixel_size_m=draw(pixel_sizes_m()),
            center_col=center_col,
        )

    return build()


def _canonical(name: str) -> str:
    from xrai.units import canonical_unit

    return canonical_unit(name)


def unit_values(
    name: str, *, min_value: float = 1e-3, max_value: float = 1e3
) -> st.SearchStrategy[tuple[str, float]]:
    """Pairs ``(text, canonical)``: a string such as ``"12.5 mm"`` with a unit compatible with parameter
    ``name`` (by its suffix, :mod:`xrai.units`), and its value in the canonical unit, computed from
    :data:`UNIT_SPELLINGS` (not by pint).

    Raises :class:`xrai.errors.UnitError` (when called) if ``name`` carries no unit suffix.
    """
    spellings = UNIT_SPELLINGS[_canonical(name)]
    magnitude = _log_uniform(min_value, max_value)
    return st.builds(lambda m, unit: (f"{m!r} {unit[0]}", m * unit[1]), magnitude, st.sampled_from(spellings))


def unit_strings(name: str, *, min_value: float = 1e-3, max_value: float = 1e3) -> st.SearchStrategy[str]:
    """Strings such as ``"0.65 um"`` with a unit compatible with parameter ``name`` (see :func:`unit_values`).

    Examples
    --------
    >>> from xrai.units import to_canonical
    >>> text = unit_strings("pixel_size_m").example()      # doctest: +SKIP
    >>> to_canonical(text, name="pixel_size_m")           # doctest: +SKIP
    """
    return unit_values(name, min_value=min_value, max_value=max_value).map(lambda pair: pair[0])


def scan_configs(
    *,
    kinds: Sequence[str] = ("tomography", "radiography", "cine"),
    max_frame_rate_hz: float = 25.0,
    max_projections: int = 3000,
) -> st.SearchStrategy[Any]:
    """Valid scan descriptions of :mod:`xrai.physics.acquisition`: ``TomographyScan``, ``RadiographyScan`` or
    ``CineTomographyScan``, with frame rates up to ``max_frame_rate_hz`` (25 Hz: the seed's PCO.dimax) and an
    exposure that fits in the frame period.
    """

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        from xrai.physics import acquisition as acq

        kind = draw(st.sampled_from(list(kinds)))
        counts: dict[str, Any] = {
            name: draw(st.integers(0, 20))
            for name in ("n_darks", "n_flats_before", "n_flats_after", "n_darks_after")
        }
        start = draw(st.floats(min_value=-360.0, max_value=360.0, allow_nan=False))
        if kind == "cine":
            per_tomogram = draw(st.integers(1, 50))
            rate = draw(st.floats(min_value=1e-3, max_value=max_frame_rate_hz / per_tomogram))
            exposure = draw(
                st.none() | st.floats(min_value=1e-6, max_value=1.0).map(lambda f: f / (rate * per_tomogram))
            )
            return acq.CineTomographyScan(
                n_tomograms=draw(st.integers(1, 20)),
                projections_per_tomogram=per_tomogram,
                tomograms_per_s=rate,
                angular_range_deg=draw(st.sampled_from([180.0, 360.0])),
                exposure_s=exposure,
                start_angle_deg=start,
                sub_frames=draw(st.none() | st.integers(1, 16)),
                **counts,
            )
        frame_rate = draw(st.floats(min_value=0.1, max_value=max_frame_rate_hz))
        exposure = draw(st.floats(min_value=1e-4, max_value=1.0)) / frame_rate
        if kind == "radiography":
            return acq.RadiographyScan(
                n_frames=draw(st.integers(1, 10_000)),
                exposure_s=exposure,
                frame_rate_hz=frame_rate,
                angle_deg=start,
                sub_frames=draw(st.integers(1, 16)),
                **counts,
            )
        flat_every = draw(st.integers(0, 200))
        return acq.TomographyScan(
            n_projections=draw(st.integers(1, max_projections)),
            angular_range_deg=draw(
                st.sampled_from([180.0, 360.0]) | st.floats(min_value=1.0, max_value=720.0)
            ),
            rotation=draw(st.sampled_from(["step", "continuous"])),
            exposure_s=exposure,
            frame_rate_hz=frame_rate,
            flat_every=flat_every,
            n_flats_interleaved=draw(st.integers(0, 5)) if flat_every else 0,
            start_angle_deg=start,
            sub_frames=draw(st.none() | st.integers(1, 16)),
            **counts,
        )

    return build()


def experiments(*, max_frame_rate_hz: float = 25.0) -> st.SearchStrategy[Any]:
    """Valid virtual experiments (:class:`xrai.physics.experiment.Experiment`) with every section drawn: beam,
    sample (of every kind), detector (with camera overrides), propagation geometry, imperfections and scan.

    Drawing is cheap (nothing is simulated); the detector is the seed's, whose camera delivers
    ``max_frame_rate_hz`` (25 Hz) unless the drawn override raises it.
    """

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        from xrai.physics import acquisition as acq
        from xrai.physics import experiment as ex

        small = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
        unit_interval = st.floats(min_value=0.0, max_value=0.1, allow_nan=False)
        beam = ex.BeamConfig(
            energies_kev=draw(
                st.none() | st.lists(energies_kev(1.0, 150.0), min_size=1, max_size=5).map(tuple)
            ),
            flux_scale=draw(_log_uniform(1e-3, 1e3)),
            source_blur=draw(st.booleans()),
        )
        kind: Any = draw(st.sampled_from(["wax_on_needle", "sphere", "shepp_logan", "none"]))
        sample = ex.SampleConfig(
            kind=kind,
            scale=draw(st.floats(min_value=0.1, max_value=3.0)),
            radius_m=draw(_log_uniform(1e-6, 1e-3)),
            material=draw(materials()),
            volume_shape=draw(st.tuples(*[st.integers(1, 64)] * 3)),
            voxel_size_m=draw(st.none() | pixel_sizes_m()),
            sampling=draw(st.sampled_from(["area", "point"])),
            supersampling=draw(st.integers(1, 8)),
            velocity_m_s=draw(st.tuples(small, small, small)),
            deformation_max_px=draw(st.floats(min_value=0.0, max_value=10.0))
            if kind == "shepp_logan"
            else 0.0,
            deformation_smoothness_px=draw(st.floats(min_value=0.5, max_value=32.0)),
            deformation_period_s=draw(_log_uniform(1e-3, 10.0)),
        )
        rate = draw(st.sampled_from([max_frame_rate_hz, 10 * max_frame_rate_hz]))
        pixel_choice: st.SearchStrategy[Any] = st.sampled_from(["preset", "nominal"]) | pixel_sizes_m(
            1e-7, 1e-3
        )
        detector = ex.DetectorConfig(
            shape=draw(st.none() | st.tuples(st.integers(1, 2016), st.integers(1, 2016))),
            effective_pixel_size_m=draw(pixel_choice),
            defects=draw(st.booleans()),
            blur=draw(st.booleans()),
            camera={} if rate == max_frame_rate_hz else {"max_frame_rate_hz": rate},
        )
        source_distance = draw(st.none() | st.floats(min_value=1.0, max_value=200.0))
        size = st.floats(min_value=0.0, max_value=1e-3)
        geometry = acq.Propagation(
            distance_m=draw(st.floats(min_value=0.0, max_value=10.0)),
            method=draw(st.sampled_from(["fresnel", "angular_spectrum"])),
            mollified=draw(st.booleans()),
            pad=draw(st.sampled_from([None, "auto"])),
            source_distance_m=source_distance,
            source_size_m=(0.0, 0.0) if source_distance is None else draw(st.tuples(size, size)),
        )
        imperfections = acq.Imperfections(
            axis_offset_px=draw(st.floats(min_value=-50.0, max_value=50.0)),
            axis_tilt_rad=draw(st.floats(min_value=-0.05, max_value=0.05)),
            drift_px_per_s=draw(st.tuples(small, small)),
            drift_random_walk_px=draw(unit_interval),
            beam_lifetime_s=draw(st.none() | _log_uniform(1.0, 1e6)),
            beam_fluctuation_rms=draw(unit_interval),
            flat_structure_rms=draw(unit_interval),
            flat_drift_px_per_s=draw(small),
            zingers_per_frame=draw(st.floats(min_value=0.0, max_value=10.0)),
            camera_defects=draw(st.booleans()),
        )
        return ex.Experiment(
            name=draw(st.text(max_size=20)),
            description=draw(st.text(max_size=40)),
            beam=beam,
            sample=sample,
            detector=detector,
            geometry=geometry,
            scan=draw(scan_configs(max_frame_rate_hz=rate)),
            imperfections=imperfections,
            seed=draw(st.integers(0, 2**31 - 1)),
        )

    return build()
