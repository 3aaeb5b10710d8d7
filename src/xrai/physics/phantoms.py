"""Procedural phantoms: random blobs, porous foam, fibres, layers and a 3-D Shepp–Logan-like head.

Every generator takes the output ``shape`` (``[z, y, x]``, or ``[y, x]`` where 2-D makes sense), keyword-only
options with the unit in the name (``_px`` = voxels), and an ``rng`` (seed or :class:`numpy.random.Generator`)
for everything random, so the same seed gives the same phantom. Volume fractions are *exact* where the name says
so: the threshold is chosen by rank, not by a formula. Bad options raise :class:`~xrai.errors.ConfigError`
naming the option and echoing the value.

The geometric phantoms return boolean masks (``True`` = material); combine them into a multi-material sample
with :meth:`xrai.physics.volumes.VoxelSample.from_masks`. :func:`layered` returns labels ``1..n`` (0 = empty)
and :func:`shepp_logan_3d` a complete :class:`~xrai.physics.volumes.VoxelSample` with real materials.

Examples
--------
>>> from xrai.physics.phantoms import porous_foam, random_blobs
>>> from xrai.physics.volumes import VoxelSample
>>> blobs = random_blobs((32, 32, 32), blob_size_px=8.0, volume_fraction=0.3, rng=0)
>>> round(float(blobs.mean()), 3)
0.3
>>> foam = porous_foam((32, 32, 32), porosity=0.8, cell_size_px=10.0, rng=1)
>>> round(float(1 - foam.mean()), 3)
0.8
>>> sample = VoxelSample.from_masks({"al": foam}, voxel_size_m=2e-6)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numba
import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng
from xrai._typing import RngLike
from xrai.errors import ConfigError, check_range
from xrai.units import to_canonical

if TYPE_CHECKING:
    from xrai.physics.volumes import MaterialLike, VoxelSample

__all__ = [
    "SHEPP_LOGAN_3D",
    "SHEPP_LOGAN_LABELS",
    "SHEPP_LOGAN_MATERIALS",
    "fibres",
    "layered",
    "porous_foam",
    "random_blobs",
    "shepp_logan_3d",
]


def _check_shape(shape: Sequence[int], *, dims: tuple[int, ...] = (2, 3)) -> tuple[int, ...]:
    try:
        out = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"shape = {shape!r} is not allowed: must be a tuple of positive ints") from None
    if (
        len(out) not in dims
        or any(n < 1 for n in out)
        or any(n != m for n, m in zip(out, shape, strict=True))
    ):
        names = " or ".join({2: "(ny, nx)", 3: "(nz, ny, nx)"}[d] for d in dims)
        raise ConfigError(f"shape = {tuple(shape)!r} is not allowed: must be {names} of positive ints")
    return out


def _select_fraction(score: npt.NDArray[Any], fraction: float) -> npt.NDArray[np.bool_]:
    """Mask of the ``round(fraction * size)`` largest values of ``score`` (an exact volume fraction)."""
    flat = score.ravel()
    k = round(fraction * flat.size)
    mask = np.zeros(flat.size, dtype=bool)
    if k > 0:
        mask[np.argpartition(flat, flat.size - k)[flat.size - k :]] = True
    return mask.reshape(score.shape)


# --------------------------------------------------------------------------------------------------------------
# Blobs
# --------------------------------------------------------------------------------------------------------------


def random_blobs(
    shape: Sequence[int],
    *,
    blob_size_px: float = 10.0,
    volume_fraction: float = 0.5,
    periodic: bool = False,
    rng: RngLike = None,
) -> npt.NDArray[np.bool_]:
    """Random rounded blobs: smoothed white noise thresholded at an exact volume fraction.

    Parameters
    ----------
    shape
        ``(nz, ny, nx)`` or ``(ny, nx)``.
    blob_size_px
        Typical blob diameter (voxels), > 0: the Gaussian smoothing has σ = ``blob_size_px / 4``.
    volume_fraction
        Fraction of voxels inside the blobs, in [0, 1]; exact to one voxel.
    periodic
        Smooth with periodic boundaries, so the phantom tiles seamlessly.
    rng
        Seed or numpy Generator.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` inside the blobs.

    Examples
    --------
    >>> blobs = random_blobs((64, 64), blob_size_px=6.0, volume_fraction=0.25, rng=2)
    >>> blobs.shape, int(blobs.sum())
    ((64, 64), 1024)
    """
    from scipy import ndimage

    dims = _check_shape(shape)
    size = check_range("blob_size_px", blob_size_px, low=0, low_inclusive=False, unit="px")
    fraction = check_range("volume_fraction", volume_fraction, low=0, high=1)
    noise = as_rng(rng).standard_normal(dims, dtype=np.float32)
    field = ndimage.gaussian_filter(noise, sigma=size / 4.0, mode="wrap" if periodic else "reflect")
    return _select_fraction(field, fraction)


# --------------------------------------------------------------------------------------------------------------
# Foam (Voronoi cells)
# --------------------------------------------------------------------------------------------------------------


def porous_foam(
    shape: Sequence[int],
    *,
    porosity: float = 0.8,
    cell_size_px: float = 12.0,
    open_cells: bool = False,
    rng: RngLike = None,
) -> npt.NDArray[np.bool_]:
    """A foam: the walls (closed cells) or struts (open cells) of a random Voronoi tessellation.

    Cell centres are uniform random (a Poisson–Voronoi foam). A voxel's distance to the nearest Voronoi face
    (closed cells) or edge (open cells) ranks it; the solid is the ``1 - porosity`` fraction nearest to the faces
    or edges, so walls have nearly uniform thickness and the porosity is exact.

    Parameters
    ----------
    shape
        ``(nz, ny, nx)`` or ``(ny, nx)``.
    porosity
        Void fraction in [0, 1], exact to one voxel.
    cell_size_px
        Mean cell diameter (voxels), > 1: the seed density is one per sphere (disc) of that diameter.
    open_cells
        Keep only the struts along the cell edges (open-cell foam) instead of the walls (closed-cell foam).
    rng
        Seed or numpy Generator.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` in the solid.

    Notes
    -----
    The distance from a point :math:`p` to the bisector face of its nearest seed :math:`s_1` and another seed
    :math:`s_j` is :math:`(|p - s_j|^2 - |p - s_1|^2) / (2 |s_j - s_1|)`; closed cells rank by the smallest over
    :math:`j`, open cells by the second smallest (both faces meeting at an edge are near).

    References
    ----------
    A. M. Kraynik, D. A. Reinelt and F. van Swol, "Structure of random foam", Phys. Rev. Lett. 93, 208301
    (2004). doi:10.1103/PhysRevLett.93.208301

    Examples
    --------
    >>> foam = porous_foam((48, 48), porosity=0.7, cell_size_px=12.0, rng=3)
    >>> round(float(foam.mean()), 3)
    0.3
    """
    from scipy.spatial import cKDTree

    dims = _check_shape(shape)
    void = check_range("porosity", porosity, low=0, high=1)
    cell = check_range("cell_size_px", cell_size_px, low=1, low_inclusive=False, unit="px")
    generator = as_rng(rng)
    ndim = len(dims)
    cell_volume = (math.pi / 6 * cell**3) if ndim == 3 else (math.pi / 4 * cell**2)
    low = -cell * np.ones(ndim)
    high = np.asarray(dims, dtype=np.float64) + cell
    n_seeds = max(4, generator.poisson(float(np.prod(high - low)) / cell_volume))
    seeds = generator.uniform(low, high, size=(n_seeds, ndim))
    tree = cKDTree(seeds)
    k = 3 if open_cells else 2
    score = np.empty(int(np.prod(dims)), dtype=np.float32)
    grids = np.indices(dims, dtype=np.float32).reshape(ndim, -1).T + 0.5
    chunk = 1 << 18
    for start in range(0, grids.shape[0], chunk):
        points = grids[start : start + chunk]
        dist, index = tree.query(points, k=min(k + 2, n_seeds))
        s1 = seeds[index[:, 0]]
        faces = []
        for j in range(1, index.shape[1]):
            sj = seeds[index[:, j]]
            faces.append((dist[:, j] ** 2 - dist[:, 0] ** 2) / (2 * np.linalg.norm(sj - s1, axis=1)))
        faces_arr = np.sort(np.stack(faces, axis=1), axis=1)
        score[start : start + chunk] = -faces_arr[:, k - 2]
    return _select_fraction(score.reshape(dims), 1.0 - void)


# --------------------------------------------------------------------------------------------------------------
# Fibres
# --------------------------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _paint_fibre(
    mask: npt.NDArray[np.bool_],
    point: npt.NDArray[np.float64],
    direction: npt.NDArray[np.float64],
    radius: float,
) -> int:
    """Set the voxels (index space, centres at i + 1/2) within ``radius`` of a line; return how many were new."""
    shape = mask.shape
    axis = 0
    for a in range(1, 3):
        if abs(direction[a]) > abs(direction[axis]):
            axis = a
    o1 = (axis + 1) % 3
    o2 = (axis + 2) % 3
    reach = radius / abs(direction[axis]) + 1.0
    r2 = radius * radius
    new = 0
    idx = np.empty(3, dtype=np.int64)
    for i in range(shape[axis]):
        t = (i + 0.5 - point[axis]) / direction[axis]
        c1 = point[o1] + t * direction[o1]
        c2 = point[o2] + t * direction[o2]
        for j in range(max(0, math.floor(c1 - reach)), min(shape[o1], math.ceil(c1 + reach) + 1)):
            for k in range(max(0, math.floor(c2 - reach)), min(shape[o2], math.ceil(c2 + reach) + 1)):
                idx[axis] = i
                idx[o1] = j
                idx[o2] = k
                v0 = idx[0] + 0.5 - point[0]
                v1 = idx[1] + 0.5 - point[1]
                v2 = idx[2] + 0.5 - point[2]
                along = v0 * direction[0] + v1 * direction[1] + v2 * direction[2]
                if v0 * v0 + v1 * v1 + v2 * v2 - along * along <= r2 and not mask[idx[0], idx[1], idx[2]]:
                    mask[idx[0], idx[1], idx[2]] = True
                    new += 1
    return new


def fibres(
    shape: Sequence[int],
    *,
    volume_fraction: float = 0.2,
    radius_px: float = 2.0,
    direction_xyz: Sequence[float] | None = None,
    spread_rad: float = 0.0,
    max_fibres: int = 100_000,
    rng: RngLike = None,
) -> npt.NDArray[np.bool_]:
    """Straight cylindrical fibres crossing the volume, added one by one up to a volume fraction.

    Parameters
    ----------
    shape
        ``(nz, ny, nx)``.
    volume_fraction
        Target fibre fraction in [0, 1): fibres are added until it is reached, so the result exceeds it by less
        than the volume of the last fibre.
    radius_px
        Fibre radius (voxels), > 0.
    direction_xyz
        Mean fibre direction as a vector ``(x, y, z)``; ``None`` = isotropic (uniform on the sphere).
    spread_rad
        Angular spread (rad, ≥ 0) of the directions about ``direction_xyz``: a Gaussian tilt of that standard
        deviation in the plane normal to it.
    max_fibres
        Safety limit on the number of fibres.
    rng
        Seed or numpy Generator.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` inside a fibre (fibres may cross and overlap).

    Examples
    --------
    >>> mask = fibres((32, 32, 32), volume_fraction=0.1, radius_px=1.5, direction_xyz=(0, 0, 1), rng=4)
    >>> bool((mask == mask[0]).all())       # straight along z: every slice is the same
    True
    """
    dims = _check_shape(shape, dims=(3,))
    target = check_range("volume_fraction", volume_fraction, low=0, high=1, high_inclusive=False)
    radius = check_range("radius_px", radius_px, low=0, low_inclusive=False, unit="px")
    spread = check_range("spread_rad", spread_rad, low=0, unit="rad")
    check_range("max_fibres", max_fibres, low=1)
    mean_dir = None
    if direction_xyz is not None:
        vector = np.asarray(direction_xyz, dtype=np.float64)
        if vector.shape != (3,) or not np.all(np.isfinite(vector)) or np.linalg.norm(vector) == 0:
            raise ConfigError(
                f"direction_xyz = {direction_xyz!r} is not allowed: must be a non-zero (x, y, z) vector"
            )
        mean_dir = vector[::-1] / np.linalg.norm(vector)  # to (z, y, x) index order
    generator = as_rng(rng)
    mask = np.zeros(dims, dtype=bool)
    goal = target * mask.size
    filled = 0
    extent = np.asarray(dims, dtype=np.float64)
    for _ in range(int(max_fibres)):
        if filled >= goal:
            break
        if mean_dir is None:
            direction = generator.standard_normal(3)
        else:
            tilt = generator.standard_normal(3) * spread
            direction = mean_dir + tilt - np.dot(tilt, mean_dir) * mean_dir
        direction /= np.linalg.norm(direction)
        point = generator.uniform(0.0, 1.0, 3) * extent
        filled += _paint_fibre(mask, point, direction, radius)
    else:
        if filled < goal:
            raise ConfigError(
                f"max_fibres = {max_fibres} fibres reach a volume fraction of {filled / mask.size:.3g} only, "
                f"below volume_fraction = {volume_fraction}: raise max_fibres or radius_px"
            )
    return mask


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------


def layered(
    shape: Sequence[int],
    *,
    thicknesses_px: Sequence[float],
    axis: int = 0,
    start_px: float = 0.0,
    roughness_px: float = 0.0,
    correlation_px: float = 8.0,
    rng: RngLike = None,
) -> npt.NDArray[np.uint8]:
    """Stacked layers with (optionally) rough interfaces; labels ``1..n`` in stacking order, 0 elsewhere.

    Parameters
    ----------
    shape
        ``(nz, ny, nx)`` or ``(ny, nx)``.
    thicknesses_px
        Mean thickness of each layer (voxels), each > 0; layer ``k`` gets label ``k + 1``. Their sum plus
        ``start_px`` must fit in ``shape[axis]``.
    axis
        Array axis along which the layers are stacked (0 = z, the rotation axis; 1 = y, the beam at angle 0).
    start_px
        Position of the first interface from the start of the axis (voxels).
    roughness_px
        RMS height of every interface about its mean plane (voxels), ≥ 0; interfaces never cross.
    correlation_px
        Lateral correlation length of the roughness (voxels; Gaussian σ of the smoothing), > 0.
    rng
        Seed or numpy Generator (used only if ``roughness_px > 0``).

    Returns
    -------
    numpy.ndarray of uint8
        Labels: voxel centres between interface ``k`` and ``k + 1`` get ``k + 1``.

    Examples
    --------
    >>> labels = layered((6, 4, 4), thicknesses_px=[2, 3])
    >>> labels[:, 0, 0].tolist()
    [1, 1, 2, 2, 2, 0]
    """
    from scipy import ndimage

    dims = _check_shape(shape)
    if isinstance(axis, bool) or not isinstance(axis, int) or not -len(dims) <= axis < len(dims):
        raise ConfigError(f"axis = {axis!r} is not allowed: must be an axis of shape {dims}")
    axis %= len(dims)
    thick = [
        check_range(f"thicknesses_px[{i}]", t, low=0, low_inclusive=False, unit="px")
        for i, t in enumerate(thicknesses_px)
    ]
    if not thick or len(thick) > 255:
        raise ConfigError(f"thicknesses_px = {list(thicknesses_px)!r} is not allowed: give 1 to 255 layers")
    start = check_range("start_px", start_px, low=0, unit="px")
    if start + sum(thick) > dims[axis] + 1e-9:
        raise ConfigError(
            f"thicknesses_px = {list(thicknesses_px)!r} (sum {sum(thick):g}) plus start_px = {start_px} do not fit in "
            f"{dims[axis]} voxels along axis {axis}"
        )
    rough = check_range("roughness_px", roughness_px, low=0, unit="px")
    corr = check_range("correlation_px", correlation_px, low=0, low_inclusive=False, unit="px")
    lateral = tuple(n for i, n in enumerate(dims) if i != axis)
    positions = start + np.concatenate([[0.0], np.cumsum(thick)])
    interfaces = np.broadcast_to(positions[:, None], (positions.size, math.prod(lateral))).copy()
    if rough > 0:
        generator = as_rng(rng)
        for k in range(positions.size):
            field = ndimage.gaussian_filter(generator.standard_normal(lateral), sigma=corr, mode="wrap")
            field -= field.mean()
            interfaces[k] += rough * field.ravel() / max(float(field.std()), 1e-12)
        interfaces = np.maximum.accumulate(interfaces, axis=0)  # interfaces never cross
    coordinate = np.arange(dims[axis]) + 0.5
    # number of interfaces at or below each voxel centre, per lateral position
    count = (coordinate[None, :, None] >= interfaces[:, None, :]).sum(axis=0)  # [n_axis, lateral]
    labels = np.where(count > len(thick), 0, count).astype(np.uint8)
    labels = labels.reshape((dims[axis], *lateral))
    return np.moveaxis(labels, 0, axis)


# --------------------------------------------------------------------------------------------------------------
# Shepp–Logan 3-D
# --------------------------------------------------------------------------------------------------------------

#: The ten ellipsoids: (semi-axes a, b, c; centre x0, y0, z0; rotation about z in degrees), in units of the
#: half-size of the volume. Kak & Slaney's 2-D table (Toft's modified contrasts) with the third semi-axes and z
#: centres commonly used for the 3-D version.
SHEPP_LOGAN_3D: Final[tuple[tuple[float, ...], ...]] = (
    (0.6900, 0.920, 0.810, 0.00, 0.0000, 0.00, 0.0),
    (0.6624, 0.874, 0.780, 0.00, -0.0184, 0.00, 0.0),
    (0.1100, 0.310, 0.220, 0.22, 0.0000, 0.00, -18.0),
    (0.1600, 0.410, 0.280, -0.22, 0.0000, 0.00, 18.0),
    (0.2100, 0.250, 0.410, 0.00, 0.3500, -0.15, 0.0),
    (0.0460, 0.046, 0.050, 0.00, 0.1000, 0.25, 0.0),
    (0.0460, 0.046, 0.050, 0.00, -0.1000, 0.25, 0.0),
    (0.0460, 0.023, 0.050, -0.08, -0.6050, 0.00, 0.0),
    (0.0230, 0.023, 0.020, 0.00, -0.6060, 0.00, 0.0),
    (0.0230, 0.046, 0.020, 0.06, -0.6050, 0.00, 0.0),
)
#: Label names (label value = index).
SHEPP_LOGAN_LABELS: Final[tuple[str, ...]] = (
    "background", "skull", "brain", "ventricle_right", "ventricle_left", "tumour",
    "lesion_1", "lesion_2", "lesion_3", "lesion_4", "lesion_5",
)  # fmt: skip
#: Default material of every label (names of :mod:`xrai.physics.materials`); lesions are calcifications.
SHEPP_LOGAN_MATERIALS: Final[Mapping[int, str]] = {
    1: "cortical_bone",
    2: "soft_tissue",
    3: "water",
    4: "water",
    5: "paraffin_wax",
    6: "cortical_bone",
    7: "cortical_bone",
    8: "cortical_bone",
    9: "cortical_bone",
    10: "cortical_bone",
}


def shepp_logan_3d(
    shape: Sequence[int] = (128, 128, 128),
    *,
    voxel_size_m: float | str = 1e-6,
    materials: Mapping[int, MaterialLike] | None = None,
    jitter: float = 0.0,
    rng: RngLike = None,
) -> VoxelSample:
    """A 3-D Shepp–Logan-like head with real materials (label volume + material table).

    The ten ellipsoids of :data:`SHEPP_LOGAN_3D` are painted in order (a later one overwrites), so every
    structure has its own label (:data:`SHEPP_LOGAN_LABELS`): skull (cortical bone), brain (soft tissue),
    ventricles (water, as cerebrospinal fluid), a fatty tumour (paraffin wax, a lipid) and five small
    calcifications (cortical bone) — see :data:`SHEPP_LOGAN_MATERIALS`.

    Parameters
    ----------
    shape
        ``(nz, ny, nx)``; the phantom spans ``[-1, 1]`` on every axis (anisotropic if the shape is).
    voxel_size_m
        Voxel edge length (m).
    materials
        Label → material, replacing entries of the default table.
    jitter
        Random relative perturbation of every ellipsoid's centre (in half-sizes) and semi-axes (relative), in
        [0, 0.2]: a family of similar heads for training; 0 gives the standard phantom.
    rng
        Seed or numpy Generator (used only if ``jitter > 0``).

    Returns
    -------
    VoxelSample
        ``uint8`` labels ``[z, y, x]`` (0 = air around the head) with materials.

    References
    ----------
    L. A. Shepp and B. F. Logan, "The Fourier reconstruction of a head section", IEEE Trans. Nucl. Sci. 21,
    21–43 (1974). doi:10.1109/TNS.1974.6499235;
    A. C. Kak and M. Slaney, *Principles of Computerized Tomographic Imaging* (IEEE Press, 1988), Table 3.1.
    doi:10.1137/1.9780898719277

    Examples
    --------
    >>> head = shepp_logan_3d((32, 32, 32), voxel_size_m=1e-4)
    >>> head.materials[1], head.materials[3], sorted(set(head.labels.ravel().tolist()))[:5]
    ('cortical_bone', 'water', [0, 1, 2, 3, 4])
    """
    from xrai.physics.volumes import VoxelSample

    dims = _check_shape(shape, dims=(3,))
    amount = check_range("jitter", jitter, low=0, high=0.2)
    table: dict[int, MaterialLike] = dict(SHEPP_LOGAN_MATERIALS)
    if materials is not None:
        unknown = sorted(set(materials) - set(table))
        if unknown:
            raise ConfigError(f"materials has labels {unknown} that are not in the phantom: labels are 1..10")
        table.update(materials)
    generator = as_rng(rng) if amount > 0 else None
    z, y, x = (
        ((np.arange(n, dtype=np.float64) - 0.5 * (n - 1)) / (0.5 * n)).reshape(
            [-1 if i == d else 1 for i in range(3)]
        )
        for d, n in enumerate(dims)
    )
    labels = np.zeros(dims, dtype=np.uint8)
    for label, (a, b, c, x0, y0, z0, phi_deg) in enumerate(SHEPP_LOGAN_3D, start=1):
        if generator is not None:
            a, b, c = np.asarray([a, b, c]) * (1 + amount * generator.uniform(-1, 1, 3))
            x0, y0, z0 = np.asarray([x0, y0, z0]) + amount * generator.uniform(-1, 1, 3) * np.asarray(
                [a, b, c]
            )
        phi = math.radians(phi_deg)
        xr = (x - x0) * math.cos(phi) + (y - y0) * math.sin(phi)
        yr = -(x - x0) * math.sin(phi) + (y - y0) * math.cos(phi)
        inside = (xr / a) ** 2 + (yr / b) ** 2 + ((z - z0) / c) ** 2 <= 1.0
        labels[inside] = label
    return VoxelSample(
        labels=labels, materials=table, voxel_size_m=to_canonical(voxel_size_m, name="voxel_size_m")
    )
