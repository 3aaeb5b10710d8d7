"""TIFF stacks in and out: projection folders with flats/darks folders, multi-page files, volume slices.

A *stack* is either a folder of single-image TIFF files (sorted naturally: ``p_2.tif`` before ``p_10.tif``), a glob
(``"scan/proj_*.tif"``), or one multi-page TIFF. Uncompressed files are memory-mapped, so reading a slab of rows
touches only those rows.

Examples
--------
>>> import numpy as np, tempfile
>>> from xrai.io import read_tiff_stack, write_tiff_stack
>>> folder = tempfile.mkdtemp()
>>> paths = write_tiff_stack(np.arange(24, dtype=np.float32).reshape(2, 3, 4), folder)
>>> read_tiff_stack(folder).rows(1, 2)[:, 0, 0].tolist()
[4.0, 16.0]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, DataError
from xrai.io._folders import image_files, scan_from_folders
from xrai.io._lazy import FileListStack, FrameStack, check_numeric_dtype
from xrai.io.scan import Scan

__all__ = ["read_tiff_scan", "read_tiff_stack", "write_tiff_stack"]

_SUFFIXES = (".tif", ".tiff")


def _tiff_shape(path: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return tuple(page.shape), np.dtype(page.dtype)
    except Exception as exc:
        raise DataError(f"{path}: cannot read TIFF header (corrupt or truncated file?): {exc}") from exc


def _tiff_read(path: str) -> np.ndarray:
    import tifffile

    try:
        return np.asarray(tifffile.memmap(path, mode="r"))
    except Exception:  # compressed or tiled: read it whole
        return np.asarray(tifffile.imread(path, key=0))


class TiffPagesStack(FrameStack):
    """The pages of one multi-page TIFF file as a lazy stack (one page read per frame)."""

    def __init__(self, path: str) -> None:
        import tifffile

        self.path = path
        try:
            with tifffile.TiffFile(path) as tif:
                pages = tif.pages
                n = len(pages)
                first = pages.first
                shape, dtype = tuple(first.shape), first.dtype
        except Exception as exc:
            raise DataError(f"{path}: cannot read TIFF (corrupt or truncated file?): {exc}") from exc
        if len(shape) != 2:
            raise DataError(f"{path}: TIFF pages have shape {shape}; expected 2-D grey images")
        super().__init__((n, shape[0], shape[1]), dtype, path)

    def _read(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        import tifffile

        try:
            with tifffile.TiffFile(self.path) as tif:
                return np.stack([tif.pages[int(i)].asarray()[rows, cols] for i in frames])
        except Exception as exc:
            raise DataError(
                f"{self.path}: cannot read TIFF pages (corrupt or truncated file?): {exc}"
            ) from exc


def read_tiff_stack(spec: str | os.PathLike[str]) -> FrameStack:
    """A lazy ``[frame, row, col]`` stack from a folder of TIFFs, a glob, or one (multi-page) TIFF file.

    Raises
    ------
    DataError
        No files, a file that is not a readable TIFF, or files of different shapes or dtypes (named).
    """
    files = image_files(spec, _SUFFIXES)
    if len(files) == 1:
        return TiffPagesStack(files[0])
    return FileListStack(files, read=_tiff_read, shape_of=_tiff_shape, source=os.fspath(spec))


def read_tiff_scan(
    path: str | os.PathLike[str],
    *,
    flats: str | os.PathLike[str] | None = None,
    darks: str | os.PathLike[str] | None = None,
    angles_rad: npt.ArrayLike | None = None,
    angle_range_deg: float = 180.0,
    pixel_size_m: float | None = None,
    energy_kev: float | None = None,
    distance_m: float | None = None,
    require_references: bool = True,
) -> Scan:
    """A scan from TIFF projections plus separate flats and darks.

    Parameters
    ----------
    path
        The projections (folder, glob or multi-page file), or a parent folder holding sub-folders named
        ``projections`` (or ``proj``, ``tomo``, ``data`` ...), ``flats`` (``flat``, ``white``, ``refs`` ...) and
        ``darks`` (``dark`` ...).
    flats, darks
        Their folders/globs/files, if not found as sub-folders of ``path``.
    angles_rad
        Rotation angle of every projection (rad). TIFF files carry none; if omitted, the ``n`` projections are
        taken as evenly spaced over ``angle_range_deg`` without the end point (``θ_i = i·range/n``).
    angle_range_deg
        Used only when ``angles_rad`` is omitted (180° or 360°).
    pixel_size_m, energy_kev, distance_m
        Instrument numbers to attach (TIFF files do not carry them).
    require_references
        Raise :class:`DataError` when flats or darks are not found.
    """
    meta = {"pixel_size_m": pixel_size_m, "energy_kev": energy_kev, "distance_m": distance_m}
    return scan_from_folders(
        path, flats=flats, darks=darks, open_stack=read_tiff_stack, angles_rad=angles_rad,
        angle_range_deg=angle_range_deg, require_references=require_references, fmt="tiff", metadata=meta,
    )  # fmt: skip


def write_tiff_stack(
    stack: Any,
    folder: str | os.PathLike[str],
    *,
    prefix: str = "slice_",
    start: int = 0,
    digits: int = 5,
    voxel_size_m: float | None = None,
    overwrite: bool = False,
    compression: str | None = None,
) -> list[str]:
    """Write a ``[frame, row, col]`` stack (a volume's ``z`` slices, or projections) as one TIFF per frame.

    Parameters
    ----------
    stack
        A numpy array, a lazy stack or a Zarr array: frames are read and written one at a time.
    folder
        Created if missing. Files are ``{prefix}{index:0{digits}d}.tif`` from ``start``.
    voxel_size_m
        Written into each file's description (JSON ``{"voxel_size_m": ...}``) and as the TIFF resolution
        (pixels per centimetre).
    overwrite
        Replace existing files of the same names (otherwise a :class:`DataError`).
    compression
        ``None`` (uncompressed, memory-mappable) or a tifffile codec such as ``"zlib"``.

    Returns
    -------
    list of str
        The files written.
    """
    import tifffile

    ndim = len(stack.shape)
    if ndim not in (2, 3):
        raise ConfigError(f"stack must be 2-D or 3-D, got shape {tuple(stack.shape)}")
    check_numeric_dtype(stack.dtype, source="stack")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    n = 1 if ndim == 2 else stack.shape[0]
    metadata: dict[str, Any] = {}
    resolution = None
    if voxel_size_m is not None:
        metadata["voxel_size_m"] = float(voxel_size_m)
        resolution = (1e-2 / float(voxel_size_m),) * 2
    paths: list[str] = []
    for i in range(n):
        p = out / f"{prefix}{start + i:0{digits}d}.tif"
        if p.exists() and not overwrite:
            raise DataError(f"{p}: file exists; pass overwrite=True to replace it")
        frame = np.asarray(stack if ndim == 2 else stack[i])
        tifffile.imwrite(
            p, frame, photometric="minisblack", compression=compression, resolution=resolution,
            resolutionunit="CENTIMETER" if resolution else None, description=json.dumps(metadata), metadata=None,
        )  # fmt: skip
        paths.append(str(p))
    return paths
