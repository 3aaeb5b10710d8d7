"""Label volumes in and out: NIfTI, TIFF, Zarr and NumPy (Amira ``.am``: a clear error asking for an export).

Every reader returns ``(labels [z, y, x], voxel_size_m (z, y, x), label_names or None)``; every writer takes the
same. The format follows the file name: ``.nii`` / ``.nii.gz`` (NIfTI-1 through nibabel), ``.tif`` / ``.tiff``
(one multi-page TIFF, the metadata as JSON in the description), ``.zarr`` (a Zarr v3 volume as
:mod:`xrai.io.zarr_volume` writes it, label names in the attributes), ``.npy``.

Axis conventions: xrai volumes are ``[z, y, x]``; NIfTI stores ``(i, j, k) = (x, y, z)`` with voxel sizes in mm,
so the writer transposes and the reader transposes back (a NIfTI viewer then shows the volume upright).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xrai.errors import ConfigError, DataError

__all__ = ["read_labels", "write_labels"]


def _format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in ((".nii.gz", "nifti"), (".nii", "nifti"), (".tiff", "tiff"), (".tif", "tiff")):
        if name.endswith(suffix):
            return fmt
    for suffix, fmt in ((".zarr", "zarr"), (".npy", "npy"), (".am", "amira")):
        if name.endswith(suffix):
            return fmt
    raise ConfigError(
        f"cannot tell the label format of {str(path)!r}: use .nii, .nii.gz, .tif, .tiff, .zarr, .npy or .am"
    )


def _triple(voxel_size_m: float | Sequence[float]) -> tuple[float, float, float]:
    v = np.broadcast_to(np.asarray(voxel_size_m, dtype=np.float64), (3,))
    if np.any(v <= 0) or not np.all(np.isfinite(v)):
        raise ConfigError(f"voxel_size_m = {voxel_size_m!r} is not allowed: sizes must be positive")
    return (float(v[0]), float(v[1]), float(v[2]))


def write_labels(
    path: str | os.PathLike[str],
    labels: Any,
    *,
    voxel_size_m: float | Sequence[float] = 1.0,
    label_names: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an integer label volume ``[z, y, x]``; the format follows the suffix (see the module docs)."""
    out = Path(path)
    fmt = _format(out)
    lab = np.asarray(labels)
    if lab.ndim != 3 or not np.issubdtype(lab.dtype, np.integer):
        raise DataError(
            f"labels must be an integer volume [z, y, x]; got shape {lab.shape}, dtype {lab.dtype}"
        )
    if out.exists() and not overwrite:
        raise DataError(f"{out}: exists; pass overwrite=True to replace it")
    voxel = _triple(voxel_size_m)
    names = list(label_names) if label_names is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "nifti":
        import nibabel

        affine = np.diag([voxel[2] * 1e3, voxel[1] * 1e3, voxel[0] * 1e3, 1.0])
        image = nibabel.Nifti1Image(np.ascontiguousarray(lab.transpose(2, 1, 0)), affine)
        image.header.set_xyzt_units("mm")
        if names is not None:
            image.header["descrip"] = b"xrai labels"
            image.header.extensions.append(
                nibabel.nifti1.Nifti1Extension("comment", json.dumps({"label_names": names}).encode())
            )
        nibabel.save(image, out)
    elif fmt == "tiff":
        import tifffile

        meta = {"voxel_size_m": list(voxel), "axes": "zyx", "label_names": names}
        tifffile.imwrite(out, lab, photometric="minisblack", description=json.dumps(meta), metadata=None)
    elif fmt == "zarr":
        from xrai.io.zarr_volume import write_volume_zarr

        attrs = {"label_names": names} if names is not None else {}
        write_volume_zarr(out, lab, voxel_size_m=voxel, attrs=attrs, overwrite=overwrite)
    elif fmt == "npy":
        np.save(out, lab)
    else:
        raise ConfigError(f"{out}: writing Amira files is not supported; write .nii.gz, .tif or .zarr")
    return out


def read_labels(
    path: str | os.PathLike[str],
) -> tuple[np.ndarray, tuple[float, float, float], list[str] | None]:
    """Read a label volume: ``(labels [z, y, x], voxel_size_m (z, y, x), label_names or None)``."""
    src = Path(path)
    fmt = _format(src)
    if not src.exists():
        raise DataError(f"{src}: no such file")
    if fmt == "nifti":
        import nibabel

        image = nibabel.load(src)
        data = np.asarray(image.dataobj)
        if data.ndim != 3:
            raise DataError(f"{src}: NIfTI volume has {data.ndim} dimensions; expected 3")
        zooms = image.header.get_zooms()[:3]
        unit = image.header.get_xyzt_units()[0]
        scale = {"mm": 1e-3, "micron": 1e-6, "meter": 1.0}.get(unit, 1e-3)
        names = None
        for ext in image.header.extensions:
            try:
                names = json.loads(ext.get_content().decode()).get("label_names")
            except (ValueError, AttributeError, UnicodeDecodeError):
                continue
        labels = np.ascontiguousarray(data.transpose(2, 1, 0))
        voxel = (zooms[2] * scale, zooms[1] * scale, zooms[0] * scale)
    elif fmt == "tiff":
        import tifffile

        with tifffile.TiffFile(src) as tif:
            labels = tif.asarray()
            description = tif.pages[0].description if tif.pages else ""
        if labels.ndim == 2:  # one page: tifffile drops the page axis of a single-slice [1, y, x] volume
            labels = labels[None]
        try:
            meta = json.loads(description) if description else {}
        except ValueError:
            meta = {}
        voxel = tuple(meta.get("voxel_size_m", (1.0, 1.0, 1.0)))
        names = meta.get("label_names")
    elif fmt == "zarr":
        from xrai.io.zarr_volume import read_volume_zarr

        volume = read_volume_zarr(src)
        labels = np.asarray(volume[...])
        voxel = volume.voxel_size_m
        names = volume.attrs.get("label_names")
    elif fmt == "npy":
        labels = np.load(src, allow_pickle=False)
        voxel, names = (1.0, 1.0, 1.0), None
    else:
        labels, voxel, names = _read_amira(src)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{src}: not an integer label volume (shape {labels.shape}, dtype {labels.dtype})")
    return labels, _triple(voxel), names


def _read_amira(src: Path) -> tuple[np.ndarray, tuple[float, float, float], list[str] | None]:
    # The only Python reader (ahds) does not build on current Pythons; ask for an export instead.
    raise ConfigError(
        f"{src}: Amira .am label fields are not supported (no installable reader); export the labels from "
        "Amira/Avizo or Biomedisa as TIFF or NIfTI and read those"
    )
