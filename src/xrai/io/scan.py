"""The common, lazily read tomography scan: projections, flats, darks, angles and the instrument numbers.

Every reader (:mod:`xrai.io.nxtomo`, :mod:`xrai.io.dxchange`, :mod:`xrai.io.tiff`, :mod:`xrai.io.edf`) returns a
:class:`Scan`. Its image stacks are :class:`~xrai.io._lazy.FrameStack` objects: nothing is read until indexed, and
:meth:`Scan.rows` reads a slab of detector rows (the unit of work of a slice-by-slice reconstruction).

Examples
--------
>>> import numpy as np
>>> from xrai.io import Scan
>>> scan = Scan.from_arrays(np.ones((4, 3, 5)), flats=np.full((2, 3, 5), 2.0), darks=np.zeros((1, 3, 5)),
...                         angles_rad=np.linspace(0, np.pi, 4, endpoint=False))
>>> scan.rows(1, 2).projections.shape
(4, 1, 5)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import DataError
from xrai.io._lazy import ArrayStack, FrameStack

__all__ = ["Scan", "read_scan"]


def _as_stack(x: Any, name: str) -> FrameStack | None:
    if x is None or isinstance(x, FrameStack):
        return x
    return ArrayStack(x, source=f"<{name}>")


@dataclass(eq=False, kw_only=True)
class Scan:
    """A tomography scan, read lazily.

    Attributes
    ----------
    projections
        Sample images ``[angle, row, col]`` (lazy; raw counts in the stored dtype).
    flats
        Open-beam (flat, white) images ``[n_flats, row, col]``, or ``None`` if the scan has none.
    darks
        Dark images ``[n_darks, row, col]``, or ``None``.
    angles_rad
        Rotation angle of every projection (rad), shape ``(n_angles,)``.
    flat_positions
        Where each flat was taken, as a fractional projection index (``-0.5`` = before the first projection,
        ``n_angles - 0.5`` = after the last; interleaved flats in between), or ``None`` if unknown. Pass it to
        :func:`xrai.tomo.flat_field_correct` to interpolate flats taken before/after/during the scan.
    pixel_size_m
        Effective (sample-plane) pixel size (m), ``None`` if the file does not say.
    energy_kev
        Photon energy (keV), ``None`` if unknown or polychromatic.
    distance_m
        Sample-to-detector propagation distance (m), ``None`` if unknown.
    configuration
        Free metadata (e.g. the simulator's configuration), parsed from the file's JSON; ``{}`` if none.
    source
        The file or folder read, used in error messages.
    format
        ``"nxtomo"``, ``"dxchange"``, ``"tiff"``, ``"edf"`` or ``"memory"``.
    """

    projections: FrameStack
    flats: FrameStack | None
    darks: FrameStack | None
    angles_rad: npt.NDArray[np.float64] = field(repr=False)
    flat_positions: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    pixel_size_m: float | None = None
    energy_kev: float | None = None
    distance_m: float | None = None
    configuration: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"
    format: str = "memory"
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.angles_rad = np.asarray(self.angles_rad, dtype=np.float64).reshape(-1)
        n, rows, cols = self.projections.shape
        if self.angles_rad.size != n:
            raise DataError(
                f"{self.source}: {self.angles_rad.size} rotation angles for {n} projections "
                f"({self.projections.source})"
            )
        if not np.all(np.isfinite(self.angles_rad)):
            raise DataError(f"{self.source}: rotation angles contain NaN or inf")
        for name in ("flats", "darks"):
            stack = getattr(self, name)
            if stack is not None and stack.shape[1:] != (rows, cols):
                raise DataError(
                    f"{self.source}: {name} {stack.source} have frames of shape {stack.shape[1:]}, "
                    f"the projections {self.projections.source} have {(rows, cols)}"
                )
            if stack is not None and stack.shape[0] == 0:
                raise DataError(f"{self.source}: {name} {stack.source} hold no frames")
        if self.flat_positions is not None:
            self.flat_positions = np.asarray(self.flat_positions, dtype=np.float64).reshape(-1)
            n_flats = 0 if self.flats is None else self.flats.shape[0]
            if self.flat_positions.size != n_flats:
                raise DataError(
                    f"{self.source}: {self.flat_positions.size} flat positions for {n_flats} flats"
                )

    # -- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        projections: npt.ArrayLike,
        *,
        flats: npt.ArrayLike | None,
        darks: npt.ArrayLike | None,
        angles_rad: npt.ArrayLike,
        **metadata: Any,
    ) -> Scan:
        """A scan over in-memory arrays (e.g. a simulation's output); metadata as keyword arguments."""
        proj = _as_stack(projections, "projections")
        assert proj is not None
        return cls(
            projections=proj,
            flats=_as_stack(flats, "flats"),
            darks=_as_stack(darks, "darks"),
            angles_rad=np.asarray(angles_rad, dtype=np.float64),
            **metadata,
        )

    # -- properties -----------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the projection stack ``(n_angles, n_rows, n_cols)``."""
        return self.projections.shape

    @property
    def n_rows(self) -> int:
        return self.projections.shape[1]

    @property
    def n_cols(self) -> int:
        return self.projections.shape[2]

    def require_references(self) -> tuple[FrameStack, FrameStack]:
        """``(flats, darks)``, or a :class:`DataError` naming the scan when either is missing."""
        missing = [name for name in ("flats", "darks") if getattr(self, name) is None]
        if missing:
            raise DataError(
                f"{self.source}: no {' and no '.join(missing)} found; flat-field correction needs both"
            )
        assert self.flats is not None and self.darks is not None
        return self.flats, self.darks

    # -- chunked reading ------------------------------------------------------------------------------------
    def projections_rows(self, r0: int, r1: int) -> np.ndarray:
        """Projections of detector rows ``r0 <= row < r1``: ``[angle, r1 - r0, col]``, read from disk now."""
        return self.projections.rows(r0, r1)

    def rows(self, r0: int, r1: int) -> Scan:
        """A scan restricted to detector rows ``[r0, r1)``, with every stack read into memory.

        Only the rows asked for are read (the unit of chunked, slice-by-slice processing).
        """

        def slab(stack: FrameStack | None) -> FrameStack | None:
            if stack is None:
                return None
            return ArrayStack(stack.rows(r0, r1), source=f"{stack.source}[:, {r0}:{r1}]")

        proj = slab(self.projections)
        assert proj is not None
        return replace(self, projections=proj, flats=slab(self.flats), darks=slab(self.darks), _closers=[])

    def iter_rows(self, chunk_rows: int) -> Any:
        """Yield ``(r0, r1, scan_slab)`` for consecutive slabs of at most ``chunk_rows`` rows."""
        if chunk_rows < 1:
            raise DataError(f"chunk_rows = {chunk_rows} is not allowed: must be >= 1")
        for r0 in range(0, self.n_rows, chunk_rows):
            r1 = min(r0 + chunk_rows, self.n_rows)
            yield r0, r1, self.rows(r0, r1)

    # -- resources ------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the files this scan keeps open (lazy stacks are unusable afterwards)."""
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Scan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_configuration(text: Any, *, source: str) -> dict[str, Any]:
    """Parse a JSON configuration string stored in a file (bytes or str); a :class:`DataError` if invalid."""
    if text is None:
        return {}
    if isinstance(text, bytes | np.bytes_):
        text = bytes(text).decode("utf-8")
    if isinstance(text, np.ndarray):
        text = text.item()
        if isinstance(text, bytes):
            text = text.decode("utf-8")
    try:
        value = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: configuration is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise DataError(f"{source}: configuration must be a JSON object, got {type(value).__name__}")
    return value


_HDF5_SUFFIXES = (".nxs", ".nx", ".h5", ".hdf5", ".hdf", ".nx5", ".cxi")
_TIFF_SUFFIXES = (".tif", ".tiff")


def read_scan(path: str | os.PathLike[str], **options: Any) -> Scan:
    """Read a scan from any supported format, chosen by content (HDF5) or suffix (folders, TIFF, EDF).

    Parameters
    ----------
    path
        An HDF5 file (NeXus NXtomo, including Diamond-style files with external links, or DXchange
        ``/exchange``), a folder with ``projections``/``flats``/``darks`` sub-folders of TIFF or EDF images
        (see :func:`xrai.io.tiff.read_tiff_scan`), or a multi-page TIFF.
    **options
        Passed to the format's reader (e.g. ``angles_rad=`` for TIFF folders, ``entry=`` for NeXus).

    Returns
    -------
    Scan
        Lazy; use it as a context manager (or call ``close()``) to close the file.

    Raises
    ------
    DataError
        The file is missing, truncated, corrupt or of an unknown layout (the message names file and dataset).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        kinds = {q.suffix.lower() for q in p.rglob("*") if q.is_file()}
        if kinds & {".edf"}:
            from xrai.io.edf import read_edf_scan

            return read_edf_scan(p, **options)
        from xrai.io.tiff import read_tiff_scan

        return read_tiff_scan(p, **options)
    suffix = p.suffix.lower()
    if suffix in _TIFF_SUFFIXES:
        from xrai.io.tiff import read_tiff_scan

        return read_tiff_scan(p, **options)
    if suffix == ".edf":
        from xrai.io.edf import read_edf_scan

        return read_edf_scan(p, **options)
    if suffix in _HDF5_SUFFIXES or _is_hdf5(p):
        from xrai.io._hdf5 import open_hdf5

        with open_hdf5(p) as f:
            is_dxchange = "exchange" in f and "data" in f["exchange"]
        if is_dxchange:
            from xrai.io.dxchange import read_dxchange

            return read_dxchange(p, **options)
        from xrai.io.nxtomo import read_nxtomo

        return read_nxtomo(p, **options)
    raise DataError(f"{p}: unknown scan format (suffix {suffix!r}); expected HDF5/NeXus, TIFF or EDF")


def _is_hdf5(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"
