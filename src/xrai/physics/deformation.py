"""Smooth deformation and rigid transformation of voxel volumes (for 4-D, i.e. time-resolved, samples).

A displacement field ``u`` has shape ``[ndim, *shape]``; its components follow the **array axes** (``(u_z, u_y,
u_x)`` for a volume ``[z, y, x]``) and are in voxels. :func:`deform` warps a volume backwards,

    ``out[p] = volume[p - u(p)]``,

so a constant field ``u = (0, 0, d)`` moves the content by ``+d`` voxels along ``x``. Labels are resampled with
nearest-neighbour interpolation (no new label values appear), densities and fractions linearly. numpy arrays go
through :func:`scipy.ndimage.map_coordinates`; torch tensors (CPU or CUDA) through
:func:`torch.nn.functional.grid_sample`, differentiable with respect to the volume and the field.

:func:`random_displacement_field` draws smooth random fields (Gaussian-filtered white noise, scaled to a
maximum displacement) and refuses fields that fold (Jacobian determinant ≤ 0), :func:`deformation_sequence`
plays a field over time with given amplitudes (e.g. breathing, a heartbeat), and :func:`rigid_transform` moves a
volume by a :class:`~xrai.physics.motion.Pose`.

Examples
--------
>>> import numpy as np
>>> from xrai.physics.deformation import deform, random_displacement_field
>>> labels = np.zeros((16, 16, 16), dtype=np.uint8); labels[4:12, 4:12, 4:12] = 1
>>> field = random_displacement_field(labels.shape, max_displacement_px=1.5, smoothness_px=4.0, rng=0)
>>> warped = deform(labels, field, kind="nearest")
>>> sorted(np.unique(warped).tolist()), warped.dtype
([0, 1], dtype('uint8'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng, is_torch
from xrai._typing import Array, RngLike
from xrai.errors import ConfigError, DataError, check_range
from xrai.units import to_canonical

if TYPE_CHECKING:
    from xrai.physics.motion import Pose
    from xrai.physics.volumes import VoxelSample

__all__ = [
    "deform",
    "deform_sample",
    "deformation_sequence",
    "jacobian_determinant",
    "random_displacement_field",
    "rigid_transform",
]

Kind = Literal["linear", "nearest"]


def _check_kind(kind: str) -> int:
    if kind not in ("linear", "nearest"):
        raise ConfigError(
            f"kind = {kind!r} is not allowed: must be 'linear' (densities) or 'nearest' (labels)"
        )
    return 1 if kind == "linear" else 0


def jacobian_determinant(displacement_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Determinant of the Jacobian of the backward map ``p ↦ p - u(p)`` at every voxel.

    Values ≤ 0 mean the deformation folds (is not invertible); 1 means volume-preserving locally.
    """
    u = np.asarray(displacement_px, dtype=np.float64)
    ndim = u.shape[0]
    if u.ndim != ndim + 1 or ndim not in (2, 3):
        raise DataError(f"displacement_px must be [ndim, *shape] with ndim 2 or 3, got shape {u.shape}")
    jac = np.empty((*u.shape[1:], ndim, ndim))
    for i in range(ndim):
        grads = np.gradient(u[i], axis=tuple(range(ndim)))
        for j in range(ndim):
            jac[..., i, j] = (1.0 if i == j else 0.0) - grads[j]
    det: npt.NDArray[np.float64] = np.linalg.det(jac)
    return det


def random_displacement_field(
    shape: Sequence[int],
    *,
    max_displacement_px: float,
    smoothness_px: float,
    rng: RngLike = None,
    dtype: str = "float32",
) -> npt.NDArray[np.floating[Any]]:
    """A smooth random displacement field ``[ndim, *shape]`` (voxels) for elastic deformation.

    Each component is white noise smoothed by a Gaussian of σ = ``smoothness_px``; the field is then scaled so
    that the largest displacement magnitude is exactly ``max_displacement_px``.

    Parameters
    ----------
    shape
        Volume shape ``(nz, ny, nx)`` or image shape ``(ny, nx)``.
    max_displacement_px
        Largest displacement magnitude (voxels), ≥ 0.
    smoothness_px
        Correlation length (voxels, σ of the Gaussian), > 0.
    rng
        Seed or numpy Generator.
    dtype
        ``"float32"`` (default) or ``"float64"``.

    Raises
    ------
    ConfigError
        If the field folds (a Jacobian determinant ≤ 0): ask for a smaller displacement or a smoother field.

    Examples
    --------
    >>> import numpy as np
    >>> u = random_displacement_field((8, 32, 32), max_displacement_px=2.0, smoothness_px=6.0, rng=1)
    >>> u.shape, round(float(np.linalg.norm(u, axis=0).max()), 4)
    ((3, 8, 32, 32), 2.0)
    """
    from scipy import ndimage

    dims = tuple(int(n) for n in shape)
    if len(dims) not in (2, 3) or any(n < 1 for n in dims) or list(dims) != [int(n) for n in shape]:
        raise ConfigError(
            f"shape = {tuple(shape)!r} is not allowed: must be (nz, ny, nx) or (ny, nx) of positive ints"
        )
    amplitude = check_range("max_displacement_px", max_displacement_px, low=0, unit="px")
    sigma = check_range("smoothness_px", smoothness_px, low=0, low_inclusive=False, unit="px")
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"dtype = {dtype!r} is not allowed: must be 'float32' or 'float64'")
    generator = as_rng(rng)
    field = np.stack(
        [ndimage.gaussian_filter(generator.standard_normal(dims), sigma=sigma, mode="reflect") for _ in dims]
    )
    peak = float(np.linalg.norm(field, axis=0).max())
    field *= amplitude / peak if peak > 0 else 0.0
    if amplitude > 0 and jacobian_determinant(field).min() <= 0:
        raise ConfigError(
            f"max_displacement_px = {max_displacement_px} with smoothness_px = {smoothness_px} folds the volume "
            "(Jacobian determinant <= 0): lower max_displacement_px or raise smoothness_px"
        )
    return field.astype(dtype)


def deform(volume: Array, displacement_px: Array, *, kind: Kind = "linear", fill_value: float = 0.0) -> Array:
    """Warp ``volume`` by a displacement field: ``out[p] = volume[p - u(p)]``.

    Parameters
    ----------
    volume
        Volume ``[z, y, x]`` or image ``[y, x]`` (numpy or torch).
    displacement_px
        Field ``[ndim, *volume.shape]`` in voxels, components in array-axis order (same backend as ``volume``).
    kind
        ``"linear"`` (densities, fractions) or ``"nearest"`` (labels: no new values).
    fill_value
        Value where ``p - u(p)`` falls outside the volume.

    Returns
    -------
    Array
        The warped volume, same shape, dtype and backend.
    """
    order = _check_kind(kind)
    shape = tuple(volume.shape)
    if len(shape) not in (2, 3) or tuple(displacement_px.shape) != (len(shape), *shape):
        raise DataError(
            f"displacement_px has shape {tuple(displacement_px.shape)}, expected {(len(shape), *shape)} for a volume "
            f"of shape {shape}"
        )
    if is_torch(volume):
        return _deform_torch(volume, displacement_px, order=order, fill_value=fill_value)
    from scipy import ndimage

    data = np.asarray(volume)
    grid = np.indices(shape, dtype=np.float64) - np.asarray(displacement_px, dtype=np.float64)
    warped = ndimage.map_coordinates(
        data if order == 0 else data.astype(np.float64),
        grid,
        order=order,
        mode="grid-constant",
        cval=fill_value,
    )
    return warped.astype(data.dtype, copy=False)


def _deform_torch(volume: Any, displacement: Any, *, order: int, fill_value: float) -> Any:
    import torch
    import torch.nn.functional as F

    shape = tuple(volume.shape)
    ndim = len(shape)
    floating = torch.is_floating_point(volume)
    work_dtype = volume.dtype if floating else torch.float32
    u = displacement.to(device=volume.device, dtype=work_dtype)
    axes = [torch.arange(n, device=volume.device, dtype=work_dtype) for n in shape]
    index = torch.stack(torch.meshgrid(*axes, indexing="ij")) - u  # [ndim, *shape], array-axis order
    sizes = torch.tensor([max(n - 1, 1) for n in shape], device=volume.device, dtype=work_dtype)
    normalised = 2.0 * index / sizes.reshape(ndim, *([1] * ndim)) - 1.0
    grid = normalised.flip(0).permute(*range(1, ndim + 1), 0)[None]  # [1, *shape, ndim] as (x, y[, z])
    source = volume.to(work_dtype) - fill_value
    mode = "bilinear" if order == 1 else "nearest"
    warped = F.grid_sample(source[None, None], grid, mode=mode, padding_mode="zeros", align_corners=True)[
        0, 0
    ]
    warped = warped + fill_value
    return warped if floating else warped.round().to(volume.dtype)


def deformation_sequence(
    volume: npt.ArrayLike, displacement_px: npt.ArrayLike, *, amplitudes: npt.ArrayLike, kind: Kind = "linear"
) -> npt.NDArray[Any]:
    """The volume deformed by ``a * displacement_px`` for every amplitude ``a``: ``[time, *volume.shape]``.

    Examples
    --------
    >>> import numpy as np
    >>> volume = np.zeros((1, 8, 8)); volume[0, 3:5, 3:5] = 1.0
    >>> u = np.zeros((3, 1, 8, 8)); u[2] = 1.0                         # one voxel along x
    >>> frames = deformation_sequence(volume, u, amplitudes=[0.0, 2.0])
    >>> frames[1, 0, 3].tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    """
    _check_kind(kind)
    scales = np.atleast_1d(np.asarray(amplitudes, dtype=np.float64))
    if scales.ndim != 1 or not np.all(np.isfinite(scales)):
        raise ConfigError(
            f"amplitudes = {amplitudes!r} is not allowed: must be a 1-D array of finite numbers"
        )
    data = np.asarray(volume)
    field = np.asarray(displacement_px, dtype=np.float64)
    return np.stack([deform(data, a * field, kind=kind) for a in scales])


def deform_sample(sample: VoxelSample, displacement_px: npt.ArrayLike) -> VoxelSample:
    """A :class:`~xrai.physics.volumes.VoxelSample` whose labels are warped (nearest neighbour) by the field."""
    from xrai.physics.volumes import VoxelSample

    labels = deform(sample.labels, np.asarray(displacement_px), kind="nearest")
    return VoxelSample(labels=labels, materials=sample.materials, voxel_size_m=sample.voxel_size_m)


def rigid_transform(
    volume: npt.ArrayLike,
    pose: Pose,
    *,
    voxel_size_m: float | str,
    kind: Kind = "linear",
    fill_value: float = 0.0,
) -> npt.NDArray[Any]:
    """Move a volume ``[z, y, x]`` rigidly: ``out(p) = volume(pose⁻¹(p))``, about the volume centre.

    The pose acts on ``(x, y, z)`` coordinates in metres with the origin at the volume centre (the rotation axis
    of :mod:`xrai.physics.volumes`), so a rotation about ``(0, 0, 1)`` turns the sample about the tomographic
    axis and a translation moves it by ``translation_m``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrai.physics.motion import Pose
    >>> volume = np.zeros((1, 5, 5)); volume[0, 2, 3] = 1.0            # one voxel at x = +1
    >>> moved = rigid_transform(volume, Pose(translation_m=(0.0, 2.0, 0.0)), voxel_size_m=1.0)
    >>> np.argwhere(moved > 0.5).tolist()                                 # now at y = +2
    [[0, 4, 3]]
    """
    from scipy import ndimage

    order = _check_kind(kind)
    data = np.asarray(volume)
    if data.ndim != 3:
        raise DataError(f"volume must be [z, y, x], got shape {data.shape}")
    voxel = check_range(
        "voxel_size_m", to_canonical(voxel_size_m, name="voxel_size_m"), low=0, low_inclusive=False, unit="m"
    )
    flip = np.eye(3)[::-1]  # (x, y, z) <-> (z, y, x)
    inverse = pose.inverse()
    matrix = flip @ inverse.rotation @ flip
    centre = (np.asarray(data.shape, dtype=np.float64) - 1.0) / 2.0
    offset = centre - matrix @ centre + flip @ inverse.translation_m / voxel
    source = data if order == 0 else data.astype(np.float64)
    moved: npt.NDArray[Any] = ndimage.affine_transform(
        source, matrix, offset=offset, order=order, mode="grid-constant", cval=fill_value
    )
    return moved.astype(data.dtype, copy=False)
