"""The lab frame, the axis orders and pixel coordinates, defined once for all of xrai.

Lab frame (right-handed)
    ``z_lab`` points along the beam (source to detector); ``y_lab`` is vertical and is the rotation axis of a
    tomography stage; ``x_lab`` is horizontal, transverse to the beam.

Detector
    Images and projection stacks are indexed ``[angle, row, col]``: rows run along ``y_lab`` (the rotation axis),
    columns along ``x_lab``. A single image is ``[row, col]``.

Sample / volume
    Volumes are indexed ``[z, y, x]`` in the *sample* frame: ``z`` is the rotation axis (it runs with the detector
    rows), and at rotation angle 0 the volume ``x`` axis runs with the detector columns and ``y`` with the beam.
    At angle θ a voxel at centred coordinates ``(x, y)`` projects onto the detector coordinate
    ``s = x cos θ + y sin θ`` (the Radon convention used by TomoPy and ASTRA's parallel geometry), i.e. the rays
    travel along ``(-sin θ, cos θ)`` in the sample's ``(x, y)`` plane.

Pixel centres
    On an axis of ``n`` pixels of size ``p`` the centre of pixel ``j`` lies at ``(j - (n - 1) / 2) * p``: the
    optical axis passes through the middle of the array, between two pixels when ``n`` is even (the syris
    convention). The rotation axis position is given as a column coordinate in pixels (a float); the default is
    the detector centre ``(n_cols - 1) / 2``.

ML tensors
    ``[batch, channel, z, y, x]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, check_range

__all__ = [
    "IMAGE_AXES",
    "ML_AXES",
    "PROJECTION_AXES",
    "VOLUME_AXES",
    "ParallelBeamGeometry",
    "centre_of",
    "pixel_centres",
]

PROJECTION_AXES: Final = ("angle", "row", "col")
IMAGE_AXES: Final = ("row", "col")
VOLUME_AXES: Final = ("z", "y", "x")
ML_AXES: Final = ("batch", "channel", "z", "y", "x")


def centre_of(n: int) -> float:
    """Index coordinate of the centre of an axis of ``n`` pixels: ``(n - 1) / 2``."""
    return (n - 1) / 2.0


def pixel_centres(n: int, pixel_size_m: float = 1.0) -> npt.NDArray[np.float64]:
    """Physical coordinates (m) of the centres of ``n`` pixels of size ``pixel_size_m``, centred on 0.

    Examples
    --------
    >>> pixel_centres(4, 1.0).tolist()
    [-1.5, -0.5, 0.5, 1.5]
    """
    return (np.arange(n, dtype=np.float64) - centre_of(n)) * pixel_size_m


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelBeamGeometry:
    """A parallel-beam tomography geometry.

    Parameters
    ----------
    angles_rad
        Rotation angle of every projection (rad).
    n_rows, n_cols
        Detector size in pixels (rows along the rotation axis).
    pixel_size_m
        Effective (sample-plane) pixel size (m).
    center_col
        Column coordinate (pixels, float) where the rotation axis projects; ``None`` = detector centre.
    """

    angles_rad: npt.NDArray[np.float64] = field(repr=False)
    n_rows: int
    n_cols: int
    pixel_size_m: float = 1.0
    center_col: float | None = None

    def __post_init__(self) -> None:
        angles = np.asarray(self.angles_rad, dtype=np.float64)
        if angles.ndim != 1 or angles.size == 0:
            raise ConfigError(f"angles_rad must be a non-empty 1-D array, got shape {angles.shape}")
        object.__setattr__(self, "angles_rad", angles)
        for name in ("n_rows", "n_cols"):
            check_range(name, getattr(self, name), low=1)
        check_range("pixel_size_m", self.pixel_size_m, low=0, low_inclusive=False, unit="m")

    @property
    def rotation_center(self) -> float:
        """Column coordinate of the rotation axis (pixels)."""
        return centre_of(self.n_cols) if self.center_col is None else float(self.center_col)

    @property
    def projection_shape(self) -> tuple[int, int, int]:
        """Shape of the projection stack ``[angle, row, col]``."""
        return (self.angles_rad.size, self.n_rows, self.n_cols)
