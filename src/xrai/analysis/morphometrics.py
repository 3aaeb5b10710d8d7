"""3-D morphometrics of labelled structures: volume, surface, centroid, principal axes, intensity, sphericity.

:func:`measure_labels` turns a label volume ``[z, y, x]`` into a table: one row (a plain ``dict``) per label,
with physical units in the column names (``volume_m3``, ``surface_area_m2``, ``centroid_z_m``, ...).
:func:`wide_features` flattens such a table to one row per specimen (``eyes_volume_m3``, ...) for group
statistics. Tables are lists of dicts (no pandas needed); :func:`write_csv` / :func:`read_csv` store them, and
:func:`write_parquet` does when pyarrow is installed.

Definitions
-----------
- **Volume** ``V = N Δz Δy Δx`` (voxel count times voxel volume).
- **Surface area** of the marching-cubes mesh (Lorensen & Cline 1987; scikit-image) of the mask smoothed by a
  Gaussian of ``smoothing_sigma_vox`` (0.8 by default). On a binary mask marching cubes overestimates a
  sphere's area by 8–12 % (the staircase); the light smoothing brings spheres of radius ≥ 8 voxels within 1 %,
  at the cost of rounding sharp edges (a 20-voxel cube loses about 7 % of its area) and slightly shrinking
  structures thinner than about 2 voxels. Use ``smoothing_sigma_vox=0`` for boxy, axis-aligned shapes.
- **Centroid** in metres, with voxel centres at ``(j - (n-1)/2) Δ`` (:mod:`xrai.geometry`).
- **Principal axes**: eigenvectors of the covariance of the voxel-centre coordinates; the axis lengths are
  those of the ellipsoid with the same second moments, ``ℓ_i = 2 √(5 λ_i)`` (a solid ellipsoid with semi-axes
  ``a_i`` has variances ``a_i² / 5``), largest first.
- **Sphericity** ``Ψ = π^{1/3} (6 V)^{2/3} / A`` (Wadell 1935): 1 for a sphere, smaller otherwise.

References
----------
Lorensen, W. E. & Cline, H. E. (1987). Marching cubes. *SIGGRAPH Comput. Graph.* 21(4), 163.
https://doi.org/10.1145/37402.37422

Wadell, H. (1935). Volume, shape, and roundness of quartz particles. *J. Geol.* 43, 250.
https://doi.org/10.1086/624298

Examples
--------
>>> import numpy as np
>>> z, y, x = np.ogrid[-20:21, -20:21, -20:21]
>>> labels = ((z / 15.0) ** 2 + (y / 10.0) ** 2 + (x / 6.0) ** 2 <= 1).astype(np.uint8)
>>> row = measure_labels(labels, voxel_size_m=1e-6)[0]
>>> round(row["volume_m3"] / (4 / 3 * np.pi * 15 * 10 * 6 * 1e-18), 1)
1.0
>>> [round(row[f"axis_length_{i}_m"] * 1e6) for i in (1, 2, 3)]
[30, 20, 12]
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from xrai.errors import ConfigError, DataError, check_range

__all__ = [
    "MORPHOMETRIC_FEATURES",
    "measure_labels",
    "read_csv",
    "wide_features",
    "write_csv",
    "write_parquet",
]

#: Shape features that :func:`wide_features` takes by default (position and orientation are pose, not shape).
MORPHOMETRIC_FEATURES: tuple[str, ...] = (
    "volume_m3",
    "surface_area_m2",
    "sphericity",
    "axis_length_1_m",
    "axis_length_2_m",
    "axis_length_3_m",
)


def _spacing(voxel_size_m: float | Sequence[float]) -> tuple[float, float, float]:
    if isinstance(voxel_size_m, int | float | np.number):
        size = check_range("voxel_size_m", float(voxel_size_m), low=0.0, low_inclusive=False, unit="m")
        return (size, size, size)
    sizes = tuple(float(s) for s in voxel_size_m)
    if len(sizes) != 3:
        raise ConfigError(f"voxel_size_m = {voxel_size_m!r} is not allowed: give one size or three (z, y, x)")
    for axis, s in zip("zyx", sizes, strict=True):
        check_range(f"voxel_size_m[{axis}]", s, low=0.0, low_inclusive=False, unit="m")
    return (sizes[0], sizes[1], sizes[2])


def _surface_area_m2(
    mask: npt.NDArray[np.bool_], spacing: tuple[float, float, float], sigma_vox: float
) -> float:
    from skimage import measure

    padded = np.pad(mask.astype(np.float32), 2)
    if sigma_vox > 0:
        padded = ndimage.gaussian_filter(padded, sigma_vox)
    if padded.max() <= 0.5 or padded.min() >= 0.5:
        return 0.0
    verts, faces, _, _ = measure.marching_cubes(padded, 0.5, spacing=spacing)  # type: ignore[no-untyped-call]
    return float(measure.mesh_surface_area(verts, faces))  # type: ignore[no-untyped-call]


def measure_labels(
    labels: npt.ArrayLike,
    *,
    voxel_size_m: float | Sequence[float] = 1.0,
    image: npt.ArrayLike | None = None,
    label_names: Sequence[str] | None = None,
    labels_to_measure: Iterable[int] | None = None,
    smoothing_sigma_vox: float = 0.8,
    surface: bool = True,
) -> list[dict[str, Any]]:
    """Measure every labelled structure in a label volume.

    Parameters
    ----------
    labels
        Integer label volume ``[z, y, x]``; 0 is background and is not measured.
    voxel_size_m
        Voxel edge in metres, or ``(Δz, Δy, Δx)``.
    image
        Intensity volume of the same shape, for ``mean_intensity`` and ``std_intensity`` (else ``nan``).
    label_names
        ``label_names[k]`` names label ``k`` (the ``name`` column); default ``"label_k"``.
    labels_to_measure
        Labels to report (a label that is absent gets a row with zero volume and ``nan`` shape); default:
        every label present, or every named label when ``label_names`` is given.
    smoothing_sigma_vox
        Gaussian σ (voxels) applied to each mask before marching cubes (see the module notes).
    surface
        Compute surface area and sphericity (the slowest part); ``nan`` if ``False``.

    Returns
    -------
    list of dict
        One row per label with ``label``, ``name``, ``voxel_count``, ``volume_m3``, ``surface_area_m2``,
        ``sphericity``, ``centroid_{z,y,x}_m``, ``axis_length_{1,2,3}_m`` (largest first),
        ``axis_{1,2,3}_{z,y,x}`` (unit vectors), ``mean_intensity``, ``std_intensity``.
    """
    lab = np.asarray(labels)
    if lab.ndim != 3 or not np.issubdtype(lab.dtype, np.integer):
        raise DataError(
            f"labels must be an integer volume [z, y, x]; got shape {lab.shape}, dtype {lab.dtype}"
        )
    spacing = _spacing(voxel_size_m)
    check_range("smoothing_sigma_vox", smoothing_sigma_vox, low=0.0, high=5.0)
    img = None
    if image is not None:
        img = np.asarray(image)
        if img.shape != lab.shape:
            raise DataError(f"image shape {img.shape} differs from labels shape {lab.shape}")
    if labels_to_measure is None:
        if label_names is not None:
            wanted = list(range(1, len(label_names)))
        else:
            wanted = [int(v) for v in np.unique(lab) if v != 0]
    else:
        wanted = [int(v) for v in labels_to_measure]
    voxel_volume = spacing[0] * spacing[1] * spacing[2]
    centres = [(np.arange(n) - (n - 1) / 2.0) * d for n, d in zip(lab.shape, spacing, strict=True)]
    objects = ndimage.find_objects(lab) if lab.size else []
    rows: list[dict[str, Any]] = []
    for value in wanted:
        name = (
            label_names[value]
            if label_names is not None and 0 <= value < len(label_names)
            else f"label_{value}"
        )
        row: dict[str, Any] = {"label": value, "name": name}
        box = objects[value - 1] if 0 < value <= len(objects) else None
        mask = (lab[box] == value) if box is not None else np.zeros((0, 0, 0), dtype=bool)
        count = int(mask.sum())
        row["voxel_count"] = count
        row["volume_m3"] = count * voxel_volume
        nan = float("nan")
        if count == 0 or box is None:
            row.update(
                {
                    "surface_area_m2": nan, "sphericity": nan,
                    **{f"centroid_{a}_m": nan for a in "zyx"},
                    **{f"axis_length_{i}_m": nan for i in (1, 2, 3)},
                    **{f"axis_{i}_{a}": nan for i in (1, 2, 3) for a in "zyx"},
                    "mean_intensity": nan, "std_intensity": nan,
                }
            )  # fmt: skip
            rows.append(row)
            continue
        idx = np.nonzero(mask)
        coords = np.stack([centres[k][box[k]][idx[k]] for k in range(3)], axis=1)
        centroid = coords.mean(axis=0)
        if surface:
            area = _surface_area_m2(mask, spacing, smoothing_sigma_vox)
            row["surface_area_m2"] = area
            row["sphericity"] = (
                (math.pi ** (1 / 3) * (6 * row["volume_m3"]) ** (2 / 3) / area) if area > 0 else nan
            )
        else:
            row["surface_area_m2"] = nan
            row["sphericity"] = nan
        for a, c in zip("zyx", centroid, strict=True):
            row[f"centroid_{a}_m"] = float(c)
        cov = np.cov(coords - centroid, rowvar=False, bias=True) if count > 1 else np.zeros((3, 3))
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1]
        for i, k in enumerate(order, start=1):
            row[f"axis_length_{i}_m"] = float(2.0 * math.sqrt(5.0 * max(eigval[k], 0.0)))
            vec = eigvec[:, k] * (1.0 if eigvec[np.argmax(np.abs(eigvec[:, k])), k] >= 0 else -1.0)
            for a, comp in zip("zyx", vec, strict=True):
                row[f"axis_{i}_{a}"] = float(comp)
        if img is not None:
            values = img[box][mask].astype(np.float64)
            row["mean_intensity"] = float(values.mean())
            row["std_intensity"] = float(values.std())
        else:
            row["mean_intensity"] = nan
            row["std_intensity"] = nan
        rows.append(row)
    return rows


def wide_features(
    rows: Sequence[Mapping[str, Any]],
    *,
    features: Sequence[str] = MORPHOMETRIC_FEATURES,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Flatten one specimen's per-label table to one row: ``{"<name>_<feature>": value, ...}``.

    ``extra`` (e.g. ``{"specimen": "f001", "line": "HdrR"}``) is put first.
    """
    out: dict[str, Any] = dict(extra or {})
    for row in rows:
        for feature in features:
            if feature not in row:
                raise ConfigError(f"feature {feature!r} is not in the table; columns are {sorted(row)}")
            out[f"{row['name']}_{feature}"] = row[feature]
    return out


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write a table (list of dicts) as CSV; the columns are the union of the rows' keys, in first-seen order."""
    path = Path(path)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return path


def _parse(value: str) -> Any:
    if value == "":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    if value in ("True", "False"):
        return value == "True"
    return value


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Read a CSV table written by :func:`write_csv` (numbers come back as int/float)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"table {str(path)!r} does not exist")
    with path.open(newline="") as fh:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def write_parquet(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write a table as Parquet (needs pyarrow; raises :class:`~xrai.errors.ConfigError` without it)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "write_parquet needs pyarrow (pip install pyarrow); use write_csv instead"
        ) from None
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
