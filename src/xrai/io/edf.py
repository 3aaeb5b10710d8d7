"""ESRF Data Format (EDF) images and scans, through fabio (https://github.com/silx-kit/fabio).

Two scan layouts are read:

* a folder with sub-folders ``projections``/``flats``/``darks`` of ``.edf`` files (as for TIFF), or explicit
  ``flats=``/``darks=`` folders or globs;
* the classic ESRF layout, one folder holding ``<prefix>NNNN.edf`` projections, ``refHST*.edf`` (or ``ref*``)
  flats and ``dark*.edf`` darks, with an optional ``<prefix>.info`` text file (``TOMO_N``, ``ScanRange`` in
  degrees, ``PixelSize`` in µm, ``Energy`` in keV, ``Distance`` in mm) that supplies the angles and metadata.

A multi-frame EDF file is read as a stack of its frames.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from xrai.io import read_edf, write_edf
>>> path = os.path.join(tempfile.mkdtemp(), "img.edf")
>>> write_edf(path, np.arange(6, dtype=np.uint16).reshape(2, 3), header={"Energy": "20"})
>>> read_edf(path).tolist()
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import DataError
from xrai.io._folders import (
    DARK_NAMES,
    FLAT_NAMES,
    PROJECTION_NAMES,
    find_subfolder,
    image_files,
    natural_key,
    scan_from_folders,
)
from xrai.io._lazy import FileListStack, FrameStack
from xrai.io.scan import Scan

__all__ = ["read_edf", "read_edf_scan", "read_edf_stack", "write_edf"]

_SUFFIXES = (".edf",)


def read_edf(path: str | os.PathLike[str], frame: int = 0) -> np.ndarray:
    """One image of an EDF file as a numpy array (``frame`` for multi-frame files)."""
    import fabio

    p = os.fspath(path)
    try:
        with fabio.open(p) as img:
            if not 0 <= frame < img.nframes:
                raise DataError(f"{p}: frame {frame} requested, the file has {img.nframes}")
            _check_complete(img, frame, p)
            data = np.asarray(img.data if frame == 0 else img.getframe(frame).data)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{p}: cannot read EDF frame {frame} (corrupt or truncated file?): {exc}") from exc
    if data.ndim != 2:
        raise DataError(f"{p}: EDF frame {frame} has shape {data.shape}; expected a 2-D image")
    return data


def _check_complete(img: Any, frame: int, path: str) -> None:
    """fabio pads a truncated data block with zeros (and only logs it): compare the block's end to the file size."""
    frames = getattr(img, "_frames", None)
    if not frames or frame >= len(frames):
        return
    block = frames[frame]
    start, size = getattr(block, "start", None), getattr(block, "blobsize", None)
    if start is None or size is None:
        return
    file_size = os.path.getsize(path)
    if int(start) + int(size) > file_size:
        raise DataError(
            f"{path}: truncated EDF file: frame {frame} needs bytes {start}..{int(start) + int(size)}, "
            f"the file has {file_size}"
        )


def _edf_shape(path: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    import fabio

    try:
        with fabio.open(path) as img:
            return tuple(img.shape), np.dtype(img.dtype)
    except Exception as exc:
        raise DataError(f"{path}: cannot read EDF header (corrupt or truncated file?): {exc}") from exc


class EdfFramesStack(FrameStack):
    """The frames of one multi-frame EDF file, read on demand."""

    def __init__(self, path: str) -> None:
        import fabio

        self.path = path
        try:
            with fabio.open(path) as img:
                n, shape, dtype = img.nframes, tuple(img.shape), np.dtype(img.dtype)
        except Exception as exc:
            raise DataError(f"{path}: cannot read EDF (corrupt or truncated file?): {exc}") from exc
        if len(shape) != 2:
            raise DataError(f"{path}: EDF frames have shape {shape}; expected 2-D images")
        super().__init__((n, shape[0], shape[1]), dtype, path)

    def _read(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        return np.stack([read_edf(self.path, frame=int(i))[rows, cols] for i in frames])


def read_edf_stack(spec: str | os.PathLike[str]) -> FrameStack:
    """A lazy ``[frame, row, col]`` stack from a folder of EDF files, a glob, or one (multi-frame) EDF file."""
    files = image_files(spec, _SUFFIXES)
    if len(files) == 1:
        return EdfFramesStack(files[0])
    return FileListStack(files, read=read_edf, shape_of=_edf_shape, source=os.fspath(spec))


def write_edf(
    path: str | os.PathLike[str], image: npt.ArrayLike, *, header: dict[str, Any] | None = None
) -> None:
    """Write one 2-D image as an EDF file with optional header keys (values are written as text)."""
    import fabio.edfimage

    data = np.asarray(image)
    if data.ndim != 2:
        raise DataError(f"{os.fspath(path)}: EDF image must be 2-D, got shape {data.shape}")
    hdr = {str(k): str(v) for k, v in (header or {}).items()}
    fabio.edfimage.EdfImage(data=data, header=hdr).write(os.fspath(path))


def _parse_info(folder: Path) -> dict[str, float]:
    """Numbers from an ESRF ``<prefix>.info`` file (``KEY= value`` lines), if there is exactly one."""
    infos = sorted(folder.glob("*.info"))
    if len(infos) != 1:
        return {}
    values: dict[str, float] = {}
    for line in infos[0].read_text(errors="replace").splitlines():
        m = re.match(r"\s*([A-Za-z_]+)\s*=\s*([-+0-9.eE]+)", line)
        if m:
            try:
                values[m.group(1)] = float(m.group(2))
            except ValueError:
                continue
    return values


def read_edf_scan(
    path: str | os.PathLike[str],
    *,
    flats: str | os.PathLike[str] | None = None,
    darks: str | os.PathLike[str] | None = None,
    angles_rad: npt.ArrayLike | None = None,
    angle_range_deg: float | None = None,
    pixel_size_m: float | None = None,
    energy_kev: float | None = None,
    distance_m: float | None = None,
    require_references: bool = True,
) -> Scan:
    """A scan from EDF projections plus flats and darks (sub-folders, explicit, or the ESRF one-folder layout).

    Parameters are those of :func:`xrai.io.tiff.read_tiff_scan`. In the ESRF one-folder layout, values missing
    from the call are taken from the ``.info`` file: ``ScanRange`` (deg) for ``angle_range_deg`` (default 180),
    ``PixelSize`` (µm), ``Energy`` (keV), ``Distance`` (mm).
    """
    p = Path(path)
    info: dict[str, float] = {}
    one_folder = p.is_dir() and flats is None and darks is None
    if one_folder and find_subfolder(p, PROJECTION_NAMES + FLAT_NAMES + DARK_NAMES) is None:
        # ESRF one-folder layout: split the folder's .edf files by name
        info = _parse_info(p)
        files = image_files(p, _SUFFIXES)
        refs = [f for f in files if Path(f).name.lower().startswith("ref")]
        dks = [f for f in files if Path(f).name.lower().startswith("dark")]
        proj = [f for f in files if f not in refs and f not in dks]
        if not proj:
            raise DataError(f"{p}: no projection .edf files (only refs/darks)")
        path = _FileList(p, proj)
        flats = _FileList(p, refs) if refs else None
        darks = _FileList(p, dks) if dks else None
    meta = {
        "pixel_size_m": pixel_size_m if pixel_size_m is not None else (info["PixelSize"] * 1e-6 if "PixelSize" in info else None),
        "energy_kev": energy_kev if energy_kev is not None else info.get("Energy"),
        "distance_m": distance_m if distance_m is not None else (info["Distance"] * 1e-3 if "Distance" in info else None),
    }  # fmt: skip
    meta = {k: (v if v is None or v > 0 else None) for k, v in meta.items()}
    rng = angle_range_deg if angle_range_deg is not None else info.get("ScanRange", 180.0)
    return scan_from_folders(
        path, flats=flats, darks=darks, open_stack=_open_stack, angles_rad=angles_rad,
        angle_range_deg=rng, require_references=require_references, fmt="edf", metadata=meta,
    )  # fmt: skip


class _FileList(os.PathLike[str]):
    """An explicit list of files standing in for a folder (the ESRF one-folder layout)."""

    def __init__(self, folder: Path, files: list[str]) -> None:
        self.folder = folder
        self.files = sorted(files, key=lambda f: natural_key(Path(f).name))

    def __fspath__(self) -> str:
        return str(self.folder)


def _open_stack(spec: Any) -> FrameStack:
    if isinstance(spec, _FileList):
        if len(spec.files) == 1:
            return EdfFramesStack(spec.files[0])
        return FileListStack(spec.files, read=read_edf, shape_of=_edf_shape, source=os.fspath(spec))
    return read_edf_stack(spec)
