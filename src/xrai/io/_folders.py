"""Folders of images (TIFF, EDF) as scans: file discovery, natural sort, the projections/flats/darks layout."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import DataError, check_range
from xrai.io._lazy import FrameStack
from xrai.io.scan import Scan

__all__ = ["DARK_NAMES", "FLAT_NAMES", "PROJECTION_NAMES", "image_files", "natural_key", "scan_from_folders"]

PROJECTION_NAMES = ("projections", "projection", "proj", "tomo", "sample", "data", "radios")
FLAT_NAMES = ("flats", "flat", "white", "whites", "flat_fields", "flatfields", "refs", "ref")
DARK_NAMES = ("darks", "dark", "dark_fields", "darkfields")


def natural_key(name: str) -> list[Any]:
    """Sort key in which ``img_2`` comes before ``img_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def image_files(spec: str | os.PathLike[str], suffixes: Sequence[str]) -> list[str]:
    """Image files named by ``spec``: a folder (its files with one of ``suffixes``), a glob, or one file."""
    s = os.fspath(spec)
    p = Path(s)
    if p.is_dir():
        files = [str(q) for q in p.iterdir() if q.is_file() and q.suffix.lower() in suffixes]
    elif any(ch in s for ch in "*?["):
        files = [f for f in glob.glob(s) if Path(f).is_file()]
    elif p.is_file():
        files = [s]
    else:
        raise DataError(f"{s}: no such file, folder or glob match")
    files.sort(key=lambda f: natural_key(Path(f).name))
    if not files:
        raise DataError(f"{s}: no {'/'.join(suffixes)} files found")
    return files


def find_subfolder(folder: Path, names: Sequence[str]) -> Path | None:
    """The first sub-folder of ``folder`` whose name (case-insensitive) is in ``names``."""
    subs = {q.name.lower(): q for q in folder.iterdir() if q.is_dir()}
    for n in names:
        if n in subs:
            return subs[n]
    return None


def resolve_angles(
    n: int, angles_rad: npt.ArrayLike | None, angle_range_deg: float, source: str
) -> npt.NDArray[np.float64]:
    """Given angles (checked against ``n``) or ``n`` angles evenly spaced over ``angle_range_deg`` (no endpoint)."""
    if angles_rad is not None:
        a = np.asarray(angles_rad, dtype=np.float64).reshape(-1)
        if a.size != n:
            raise DataError(f"{source}: {a.size} angles given for {n} projections")
        return a
    check_range("angle_range_deg", angle_range_deg, low=0, low_inclusive=False, high=720, unit="deg")
    angles: npt.NDArray[np.float64] = np.deg2rad(np.arange(n) * (angle_range_deg / n))
    return angles


def scan_from_folders(
    path: str | os.PathLike[str],
    *,
    flats: str | os.PathLike[str] | None,
    darks: str | os.PathLike[str] | None,
    open_stack: Callable[[str | os.PathLike[str]], FrameStack],
    angles_rad: npt.ArrayLike | None,
    angle_range_deg: float,
    require_references: bool,
    fmt: str,
    metadata: dict[str, Any],
) -> Scan:
    """A :class:`Scan` from a projections folder/file/glob and flats/darks folders (found by name if not given)."""
    p = Path(path)
    projections_spec: str | os.PathLike[str] = path
    if p.is_dir():
        sub = find_subfolder(p, PROJECTION_NAMES)
        if sub is not None:
            projections_spec = sub
            flats = flats if flats is not None else find_subfolder(p, FLAT_NAMES)
            darks = darks if darks is not None else find_subfolder(p, DARK_NAMES)
    if require_references:
        missing = [n for n, v in (("flats", flats), ("darks", darks)) if v is None]
        if missing:
            raise DataError(
                f"{os.fspath(path)}: no {' and no '.join(missing)} folder given or found "
                f"(sub-folders named e.g. {FLAT_NAMES[0]!r}, {DARK_NAMES[0]!r}); pass flats=/darks= or "
                f"require_references=False"
            )
    proj = open_stack(projections_spec)
    for name in ("pixel_size_m", "energy_kev", "distance_m"):
        value = metadata.get(name)
        if value is not None:
            check_range(name, value, low=0, low_inclusive=False)
    return Scan(
        projections=proj,
        flats=open_stack(flats) if flats is not None else None,
        darks=open_stack(darks) if darks is not None else None,
        angles_rad=resolve_angles(proj.shape[0], angles_rad, angle_range_deg, os.fspath(path)),
        source=os.fspath(path),
        format=fmt,
        **metadata,
    )
