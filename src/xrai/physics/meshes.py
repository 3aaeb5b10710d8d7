"""Triangle meshes as samples: load OBJ/STL (trimesh), project to thickness, voxelise.

A closed (watertight), consistently oriented triangle mesh bounds a solid. Along a ray, the path length inside
the solid is the sum over the triangles the ray crosses of ``±t``, with ``t`` the depth of the crossing along
the ray and the sign ``+`` where the ray leaves the solid (outward normal along the ray) and ``-`` where it
enters. :func:`mesh_thickness` evaluates that sum for every detector pixel by rasterising every triangle onto
the detector (numba), with a *top-left* fill rule so that a ray through a shared edge or vertex is counted
exactly once; no ray-casting acceleration structure is needed and the result is exact for each sampled ray.
:func:`voxelize_mesh` uses the same crossings to fill a label volume.

Conventions
-----------
- Mesh vertices are ``(x, y, z)`` in the sample frame of :mod:`xrai.geometry` (``z`` the rotation axis), in units
  of ``mesh_unit_m`` metres (default 1: metres), with the rotation axis through the origin along ``z``.
- At rotation angle θ a point projects to column ``center_col + (x cos θ + y sin θ) / pixel`` and row
  ``center_row + z / pixel``; rays travel along ``(-sin θ, cos θ, 0)``. Thickness maps are ``[angle, row, col]``
  (``[row, col]`` for a scalar angle), in metres.
- ``supersample = S`` averages ``S × S`` rays per pixel (anti-aliasing); ``S = 1`` samples the pixel centre.

Examples
--------
>>> import numpy as np
>>> import trimesh
>>> cube = trimesh.creation.box(extents=(10e-6, 10e-6, 10e-6))
>>> t = mesh_thickness(cube, angles_rad=0.0, pixel_size_m=1e-6, n_rows=16, n_cols=16)
>>> t.shape, round(float(t[8, 8]) * 1e6, 6)                             # µm
((16, 16), 10.0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numba
import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, DataError, check_range
from xrai.units import to_canonical

if TYPE_CHECKING:
    import trimesh

__all__ = ["MeshLike", "load_mesh", "mesh_thickness", "voxelize_mesh"]

#: A :class:`trimesh.Trimesh` or a pair ``(vertices [n, 3], faces [m, 3])``.
MeshLike: TypeAlias = "trimesh.Trimesh | tuple[npt.ArrayLike, npt.ArrayLike]"


def load_mesh(path: str | os.PathLike[str]) -> trimesh.Trimesh:
    """Read a closed triangle mesh (OBJ, STL, PLY, OFF, ... through trimesh).

    Scenes are merged into one mesh; an inside-out mesh (negative volume) is flipped.

    Raises
    ------
    DataError
        If the file holds no triangles or the mesh is not watertight (its thickness would be undefined).
    """
    import trimesh

    try:
        mesh = trimesh.load(os.fspath(path), force="mesh", process=True)
    except (ValueError, OSError, KeyError, IndexError) as error:
        raise DataError(f"cannot read a triangle mesh from {os.fspath(path)!r}: {error}") from error
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError(f"{os.fspath(path)!r} holds no triangles")
    _check_closed(mesh, str(os.fspath(path)))
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _check_closed(mesh: Any, where: str) -> None:
    if not mesh.is_watertight:
        raise DataError(
            f"mesh {where} is not watertight (it has open edges), so its thickness is undefined: close it first, "
            "e.g. with trimesh.repair.fill_holes"
        )
    if not mesh.is_winding_consistent:
        raise DataError(f"mesh {where} has inconsistent face winding: fix it with trimesh.repair.fix_winding")


def _as_arrays(mesh: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    if isinstance(mesh, tuple | list):
        vertices = np.asarray(mesh[0], dtype=np.float64)
        faces = np.asarray(mesh[1], dtype=np.int64)
    else:
        _check_closed(mesh, repr(mesh.metadata.get("file_name", "")) if hasattr(mesh, "metadata") else "")
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        faces = np.asarray(mesh.faces, dtype=np.int64)
    if (
        vertices.ndim != 2
        or vertices.shape[1] != 3
        or faces.ndim != 2
        or faces.shape[1] != 3
        or len(faces) == 0
    ):
        raise DataError(
            f"mesh needs vertices [n, 3] and faces [m, 3], got {vertices.shape} and {faces.shape}"
        )
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise DataError(f"mesh faces index vertices 0..{len(vertices) - 1}, got {faces.min()}..{faces.max()}")
    if not np.all(np.isfinite(vertices)):
        raise DataError("mesh vertices must be finite")
    return vertices, faces


# --------------------------------------------------------------------------------------------------------------
# rasterisation kernels
# --------------------------------------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _owns_edge(ax: float, ay: float, bx: float, by: float) -> bool:
    """Top-left rule for a counter-clockwise edge a→b: points exactly on it belong to this triangle."""
    dy = by - ay
    return dy < 0.0 or (dy == 0.0 and bx - ax > 0.0)


@numba.njit(cache=True)
def _rasterise(
    pu: npt.NDArray[np.float64],
    pr: npt.NDArray[np.float64],
    depth: npt.NDArray[np.float64],
    sign: npt.NDArray[np.float64],
    n_rows: int,
    n_cols: int,
    supersample: int,
    out: npt.NDArray[np.float64],
    fill: npt.NDArray[np.int32],
    depth_origin: float,
    depth_count: int,
) -> None:
    """Visit every sample point covered by every triangle (pixel coordinates ``pu`` cols, ``pr`` rows).

    ``fill.size == 0``: accumulate ``sign * depth`` (averaged over the ``S²`` samples of a pixel) into ``out``.
    Otherwise (``supersample == 1``) add the occupancy step ``-sign`` into ``fill[row, k, col]`` at the first
    voxel ``k`` whose centre lies at or beyond the crossing (``k = ceil(depth - depth_origin)``).
    """
    n_tri = pu.shape[0]
    inv = 1.0 / supersample
    scale = inv * inv
    for t in range(n_tri):
        s = sign[t]
        if s == 0.0:
            continue
        ax, ay, bx, by, cx, cy = pu[t, 0], pr[t, 0], pu[t, 1], pr[t, 1], pu[t, 2], pr[t, 2]
        da, db, dc = depth[t, 0], depth[t, 1], depth[t, 2]
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if area == 0.0:
            continue
        if area < 0.0:  # make it counter-clockwise
            bx, by, cx, cy = cx, cy, bx, by
            db, dc = dc, db
            area = -area
        own_ab = _owns_edge(ax, ay, bx, by)
        own_bc = _owns_edge(bx, by, cx, cy)
        own_ca = _owns_edge(cx, cy, ax, ay)
        # sample k of pixel j sits at j - 1/2 + (k + 1/2) / S; bounding box in sample indices
        lo_u = min(ax, bx, cx)
        hi_u = max(ax, bx, cx)
        lo_r = min(ay, by, cy)
        hi_r = max(ay, by, cy)
        q0 = max(0, math.ceil((lo_u + 0.5) * supersample - 0.5))
        q1 = min(n_cols * supersample - 1, math.floor((hi_u + 0.5) * supersample - 0.5))
        w0 = max(0, math.ceil((lo_r + 0.5) * supersample - 0.5))
        w1 = min(n_rows * supersample - 1, math.floor((hi_r + 0.5) * supersample - 0.5))
        for w in range(w0, w1 + 1):
            y = (w + 0.5) * inv - 0.5
            for q in range(q0, q1 + 1):
                x = (q + 0.5) * inv - 0.5
                e_ab = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
                e_bc = (cx - bx) * (y - by) - (cy - by) * (x - bx)
                e_ca = (ax - cx) * (y - cy) - (ay - cy) * (x - cx)
                if e_ab < 0.0 or e_bc < 0.0 or e_ca < 0.0:
                    continue
                if (
                    (e_ab == 0.0 and not own_ab)
                    or (e_bc == 0.0 and not own_bc)
                    or (e_ca == 0.0 and not own_ca)
                ):
                    continue
                d = (e_bc * da + e_ca * db + e_ab * dc) / area
                row = w // supersample
                col = q // supersample
                if fill.size == 0:
                    out[row, col] += s * d * scale
                else:
                    k = math.ceil(d - depth_origin)
                    k = min(max(k, 0), depth_count)
                    fill[row, k, col] -= np.int32(s)


def _project(
    vertices: npt.NDArray[np.float64],
    faces: npt.NDArray[np.int64],
    angle: float,
    pixel: float,
    center_col: float,
    center_row: float,
) -> tuple[npt.NDArray[np.float64], ...]:
    """Pixel coordinates, depths (pixel units) and crossing signs of every triangle at ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    u = center_col + (x * c + y * s) / pixel
    r = center_row + z / pixel
    t = (-x * s + y * c) / pixel
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    sign = np.sign(normal[:, 0] * -s + normal[:, 1] * c)  # + where the ray leaves the solid
    return (
        np.ascontiguousarray(u[faces]),
        np.ascontiguousarray(r[faces]),
        np.ascontiguousarray(t[faces]),
        np.ascontiguousarray(sign, dtype=np.float64),
    )


def mesh_thickness(
    mesh: MeshLike,
    *,
    angles_rad: float | npt.ArrayLike,
    pixel_size_m: float | str,
    n_rows: int,
    n_cols: int,
    center_col: float | None = None,
    center_row: float | None = None,
    mesh_unit_m: float = 1.0,
    supersample: int = 1,
    dtype: str | None = None,
) -> npt.NDArray[np.floating[Any]]:
    """Projected thickness (m) of a closed triangle mesh at the rotation angle(s) ``angles_rad``.

    Parameters
    ----------
    mesh
        A watertight :class:`trimesh.Trimesh` (see :func:`load_mesh`) or ``(vertices, faces)`` of a closed,
        outward-oriented (counter-clockwise seen from outside) triangle mesh.
    angles_rad
        Rotation angle(s) about ``z`` (rad): a scalar gives ``[row, col]``, a 1-D array ``[angle, row, col]``.
    pixel_size_m
        Detector pixel size in the sample plane (m).
    n_rows, n_cols
        Detector size (pixels).
    center_col, center_row
        Pixel coordinates onto which the rotation axis (``x = y = 0``) and ``z = 0`` project; default the
        detector centre.
    mesh_unit_m
        Length of one mesh unit in metres (e.g. ``1e-6`` for a mesh in µm).
    supersample
        Rays per pixel along each axis, averaged (anti-aliasing), >= 1.
    dtype
        ``"float32"`` or ``"float64"`` of the result; default from :func:`xrai.options.get_options`.

    Returns
    -------
    numpy.ndarray
        Thickness in m, ``[angle, row, col]`` or ``[row, col]``.

    Notes
    -----
    For a closed surface :math:`\\partial V` crossed by the ray at depths :math:`t_i` with outward normals
    :math:`n_i`, the path length inside :math:`V` is :math:`\\sum_i \\operatorname{sign}(n_i \\cdot d)\\, t_i`.
    The depth at a sample point is interpolated linearly (barycentrically) on the triangle, which is exact for a
    planar triangle.
    """
    from xrai._backend import real_dtype

    vertices, faces = _as_arrays(mesh)
    pixel = check_range(
        "pixel_size_m", to_canonical(pixel_size_m, name="pixel_size_m"), low=0, low_inclusive=False, unit="m"
    )
    unit = check_range("mesh_unit_m", mesh_unit_m, low=0, low_inclusive=False, unit="m")
    rows = int(check_range("n_rows", n_rows, low=1))
    cols = int(check_range("n_cols", n_cols, low=1))
    sub = _check_supersample(supersample)
    angles = np.asarray(angles_rad, dtype=np.float64)
    if angles.ndim > 1 or not np.all(np.isfinite(angles)):
        raise ConfigError(f"angles_rad = {angles_rad!r} is not allowed: must be a finite scalar or 1-D array")
    c_col = 0.5 * (cols - 1) if center_col is None else float(center_col)
    c_row = 0.5 * (rows - 1) if center_row is None else float(center_row)
    out = np.zeros((angles.size, rows, cols), dtype=np.float64)
    no_fill = np.zeros((0, 0, 0), dtype=np.int32)
    for a, angle in enumerate(np.atleast_1d(angles)):
        pu, pr, depth, sign = _project(vertices * unit, faces, float(angle), pixel, c_col, c_row)
        _rasterise(pu, pr, depth, sign, rows, cols, sub, out[a], no_fill, 0.0, 0)
    out *= pixel
    result = out.astype(real_dtype(np, dtype))
    return result[0] if angles.ndim == 0 else result


def _check_supersample(supersample: int) -> int:
    if isinstance(supersample, bool) or not isinstance(supersample, int | np.integer) or supersample < 1:
        raise ConfigError(f"supersample = {supersample!r} is not allowed: must be an integer >= 1")
    return int(supersample)


def voxelize_mesh(
    mesh: MeshLike,
    *,
    voxel_size_m: float | str,
    shape: Sequence[int],
    mesh_unit_m: float = 1.0,
) -> npt.NDArray[np.bool_]:
    """Boolean volume ``[z, y, x]`` of the voxels whose centres lie inside a closed mesh.

    The volume is centred on the origin (voxel centres at ``(i - (n - 1) / 2) * voxel_size_m`` on every axis), as
    the rotation axis of :mod:`xrai.physics.volumes` passes through the volume centre; combine several meshes
    with :meth:`xrai.physics.volumes.VoxelSample.from_masks`.

    Examples
    --------
    >>> import trimesh
    >>> cube = trimesh.creation.box(extents=(4.0, 4.0, 4.0))
    >>> int(voxelize_mesh(cube, voxel_size_m=1.0, shape=(6, 6, 6)).sum())    # 4 × 4 × 4 voxel centres
    64
    """
    vertices, faces = _as_arrays(mesh)
    voxel = check_range(
        "voxel_size_m", to_canonical(voxel_size_m, name="voxel_size_m"), low=0, low_inclusive=False, unit="m"
    )
    unit = check_range("mesh_unit_m", mesh_unit_m, low=0, low_inclusive=False, unit="m")
    dims = tuple(int(n) for n in shape)
    if len(dims) != 3 or any(n < 1 for n in dims):
        raise ConfigError(f"shape = {tuple(shape)!r} is not allowed: must be (nz, ny, nx) of positive ints")
    nz, ny, nx = dims
    # rays along +y (angle 0): columns = x, rows = z, depth = y (in voxels from the volume centre)
    pu, pr, depth, sign = _project(vertices * unit, faces, 0.0, voxel, 0.5 * (nx - 1), 0.5 * (nz - 1))
    fill = np.zeros((nz, ny + 1, nx), dtype=np.int32)
    _rasterise(pu, pr, depth, sign, nz, nx, 1, np.zeros((0, 0)), fill, -0.5 * (ny - 1), ny)
    inside: npt.NDArray[np.bool_] = np.cumsum(fill, axis=1)[:, :ny, :] > 0
    return inside
