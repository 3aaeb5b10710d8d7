"""Segmentation quality per organ: Dice, 95th-percentile Hausdorff distance, mean surface distance, volume error.

Distances are in metres (MONAI's surface-distance metrics with the voxel spacing), computed per label on the
bounding box of prediction ∪ truth (plus a margin), so a big volume with small organs stays cheap.

Conventions
-----------
- ``dice = 2 |P ∩ T| / (|P| + |T|)``; 1 when both are empty (nothing to find, nothing found).
- ``hd95_m``: the symmetric 95th-percentile Hausdorff distance between the surfaces; ``nan`` when either is
  empty. ``assd_m``: the average symmetric surface distance; ``nan`` when either is empty.
- ``volume_error = (|P| − |T|) / |T|`` (signed, relative); ``nan`` if the truth is empty.

References
----------
Taha, A. A. & Hanbury, A. (2015). Metrics for evaluating 3D medical image segmentation: analysis, selection,
and tool. *BMC Med. Imaging* 15, 29. https://doi.org/10.1186/s12880-015-0068-x
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from xrai.errors import ConfigError, DataError

__all__ = ["mean_dice", "segmentation_metrics"]


def _spacing(voxel_size_m: float | Sequence[float]) -> tuple[float, float, float]:
    if np.ndim(voxel_size_m) == 0:
        return (float(voxel_size_m),) * 3  # type: ignore[arg-type]
    sizes = tuple(float(v) for v in voxel_size_m)  # type: ignore[union-attr]
    if len(sizes) != 3 or min(sizes) <= 0:
        raise ConfigError(f"voxel_size_m = {voxel_size_m!r} is not allowed: give one positive size or three")
    return sizes  # type: ignore[return-value]


def segmentation_metrics(
    prediction: Any,
    truth: Any,
    *,
    label_names: Sequence[str] | None = None,
    labels: Iterable[int] | None = None,
    voxel_size_m: float | Sequence[float] = 1.0,
    distances: bool = True,
) -> list[dict[str, Any]]:
    """Per-label Dice, HD95, ASSD and volume error of a predicted label volume against the truth.

    Parameters
    ----------
    prediction, truth
        Integer label volumes ``[z, y, x]`` of the same shape.
    label_names
        Names of the labels (``name`` column).
    labels
        Labels to score; default: every non-zero label in either volume (or every named one).
    voxel_size_m
        Voxel edge in metres, or ``(Δz, Δy, Δx)``.
    distances
        Compute HD95 and ASSD (MONAI; the slow part).

    Returns
    -------
    list of dict
        ``label``, ``name``, ``dice``, ``hd95_m``, ``assd_m``, ``volume_error``, ``volume_pred_m3``,
        ``volume_true_m3`` per label.
    """
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    pred = np.asarray(prediction)
    true = np.asarray(truth)
    if pred.shape != true.shape or pred.ndim != 3:
        raise DataError(
            f"prediction {pred.shape} and truth {true.shape} must be 3-D volumes of the same shape"
        )
    spacing = _spacing(voxel_size_m)
    voxel_volume = spacing[0] * spacing[1] * spacing[2]
    if labels is None:
        if label_names is not None:
            wanted = list(range(1, len(label_names)))
        else:
            wanted = sorted((set(np.unique(pred).tolist()) | set(np.unique(true).tolist())) - {0})
    else:
        wanted = [int(v) for v in labels]
    rows = []
    for value in wanted:
        p = pred == value
        t = true == value
        n_p, n_t = int(p.sum()), int(t.sum())
        inter = int((p & t).sum())
        dice = 1.0 if n_p + n_t == 0 else 2.0 * inter / (n_p + n_t)
        hd95 = assd = math.nan
        if distances and n_p and n_t:
            union = p | t
            idx = np.nonzero(union)
            box = tuple(
                slice(max(int(i.min()) - 2, 0), min(int(i.max()) + 3, n))
                for i, n in zip(idx, union.shape, strict=True)
            )
            yp = torch.from_numpy(p[box][None, None].astype(np.float32))
            yt = torch.from_numpy(t[box][None, None].astype(np.float32))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hd95 = float(
                    compute_hausdorff_distance(
                        yp, yt, include_background=True, percentile=95, spacing=spacing
                    )
                )
                assd = float(
                    compute_average_surface_distance(
                        yp, yt, include_background=True, symmetric=True, spacing=spacing
                    )
                )
        name = (
            label_names[value] if label_names is not None and value < len(label_names) else f"label_{value}"
        )
        rows.append(
            {
                "label": value,
                "name": name,
                "dice": dice,
                "hd95_m": hd95,
                "assd_m": assd,
                "volume_error": (n_p - n_t) / n_t if n_t else math.nan,
                "volume_pred_m3": n_p * voxel_volume,
                "volume_true_m3": n_t * voxel_volume,
            }
        )
    return rows


def mean_dice(rows: Sequence[dict[str, Any]]) -> float:
    """Mean Dice over the rows of :func:`segmentation_metrics`."""
    if not rows:
        raise DataError("no rows to average")
    return float(np.mean([r["dice"] for r in rows]))
