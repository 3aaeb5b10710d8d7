"""Multi-material voxel volumes and their projected thickness per material at any rotation angle.

A :class:`VoxelSample` is a label volume ``[z, y, x]`` plus a material table (label → material) and a voxel
size. :func:`projected_thickness` returns, for every material, the path length (m) of the rays through it at the
requested rotation angles, the input of the projection approximation ``T = exp(-k Σ_m t_m (β_m + i δ_m))``.
Per-material *fraction* or *relative-density* volumes (partial-volume models, porosity, density gradients) go
through :func:`project_fractions`, which also takes torch tensors and is differentiable.

Conventions
-----------
- Volumes are ``[z, y, x]`` with ``z`` the rotation axis; thickness maps are ``[angle, row, col]`` (rows = z),
  or ``[row, col]`` for a single scalar angle (:mod:`xrai.geometry`).
- The rotation axis passes through the volume centre and projects onto detector column ``center_col``
  (default: the detector centre).
- The detector pixel size defaults to the voxel size. Another pixel size is allowed: every detector pixel then
  holds the exact average of the piecewise-constant ray sums over its area, both along columns (the projector's
  strip integrals) and along rows (overlap of the pixel with the slices).
- Label values not in the material table are an error; a label may map to the medium around the sample, e.g.
  ``{0: "agarose"}``, or be left out (label 0 is usually vacuum/air and is not projected).

The projector (:class:`xrai.ops.ParallelProjector`) integrates the piecewise-constant voxel model exactly over
each detector pixel, so the thickness maps are anti-aliased without supersampling, and the total projected
volume ``Σ t × pixel area`` equals the material volume at every angle.

Examples
--------
>>> import numpy as np
>>> from xrai.physics.volumes import VoxelSample, projected_thickness
>>> labels = np.zeros((4, 8, 8), dtype=np.uint8)
>>> labels[:, 2:6, 2:6] = 1            # a 4 x 4 voxel PMMA bar along z
>>> labels[:, 3:5, 3:5] = 2            # with a 2 x 2 voxel water core
>>> sample = VoxelSample(labels=labels, materials={1: "pmma", 2: "water"}, voxel_size_m=1e-6)
>>> t = projected_thickness(sample, angles_rad=0.0)
>>> t["pmma"].shape, round(float(t["pmma"][0, 3]) * 1e6, 3), round(float(t["water"][0, 3]) * 1e6, 3)
((4, 8), 2.0, 2.0)
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, is_torch, real_dtype
from xrai._typing import Array
from xrai.errors import ConfigError, DataError, XraiError, check_range
from xrai.units import to_canonical

if TYPE_CHECKING:
    from xrai.ops.projector import ParallelProjector
    from xrai.physics.materials import Material

__all__ = [
    "MaterialLike",
    "VoxelSample",
    "composition_groups",
    "project_fractions",
    "projected_thickness",
    "thickness_stack",
]

#: A material given by name (``"pmma"``) or as a :class:`xrai.physics.materials.Material`.
MaterialLike: TypeAlias = "str | Material"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class VoxelSample:
    """A multi-material voxel volume: labels ``[z, y, x]``, a material per label and the voxel size.

    Parameters
    ----------
    labels
        Integer label volume ``[z, y, x]`` (stored read-only). A 2-D ``[y, x]`` array is one slice (``nz = 1``).
    materials
        Material of each label value: a name known to :func:`xrai.physics.materials.get_material` or a
        :class:`~xrai.physics.materials.Material`. Labels that are absent from the table must not occur in
        ``labels`` except 0, the empty space (vacuum or air) around the sample.
    voxel_size_m
        Edge length of a (cubic) voxel in m, > 0 (a string such as ``"0.65 um"`` is converted).

    Examples
    --------
    >>> import numpy as np
    >>> sample = VoxelSample.from_masks({"pmma": np.ones((2, 3, 3), bool)}, voxel_size_m="1 um")
    >>> dict(sample.materials), sample.voxel_size_m
    ({1: 'pmma'}, 1e-06)
    """

    labels: npt.NDArray[np.integer[Any]]
    materials: Mapping[int, MaterialLike]
    voxel_size_m: float

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim == 2:
            labels = labels[None]
        if labels.ndim != 3 or labels.size == 0:
            raise DataError(f"labels must be a non-empty [z, y, x] array, got shape {labels.shape}")
        if labels.dtype == bool:
            labels = labels.astype(np.uint8)
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"labels must be an integer array, got dtype {labels.dtype}")
        labels = labels.copy()
        labels.flags.writeable = False
        table: dict[int, MaterialLike] = {}
        for key, material in dict(self.materials).items():
            if isinstance(key, bool) or not isinstance(key, int | np.integer):
                raise ConfigError(f"materials key {key!r} is not allowed: keys must be integer label values")
            if not isinstance(material, Hashable) or material is None or material == "":
                raise ConfigError(
                    f"materials[{key}] = {material!r} is not allowed: give a material name or Material"
                )
            table[int(key)] = material
        present = {int(v) for v in np.unique(labels)}
        missing = sorted(present - set(table) - {0})
        if missing:
            raise ConfigError(
                f"labels {missing} occur in the volume but have no material: materials has labels {sorted(table)}"
            )
        voxel = to_canonical(self.voxel_size_m, name="voxel_size_m")
        check_range("voxel_size_m", voxel, low=0, low_inclusive=False, unit="m")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "materials", types.MappingProxyType(table))
        object.__setattr__(self, "voxel_size_m", float(voxel))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # the material table is a mappingproxy, which does not pickle (multiprocessing, Dask): rebuild it
        return (_rebuild_sample, (self.labels, dict(self.materials), self.voxel_size_m))

    @classmethod
    def from_masks(
        cls, masks: Mapping[MaterialLike, npt.ArrayLike], *, voxel_size_m: float | str
    ) -> VoxelSample:
        """A sample from one boolean mask per material (later masks overwrite earlier ones where they overlap)."""
        if not masks:
            raise ConfigError("masks is empty: give at least one material mask")
        arrays = {material: np.asarray(mask, dtype=bool) for material, mask in masks.items()}
        shapes = {mask.shape for mask in arrays.values()}
        if len(shapes) != 1:
            raise DataError(f"all masks must have the same shape, got {sorted(shapes)}")
        labels = np.zeros(shapes.pop(), dtype=np.uint16 if len(arrays) > 255 else np.uint8)
        table: dict[int, MaterialLike] = {}
        for label, (material, mask) in enumerate(arrays.items(), start=1):
            labels[mask] = label
            table[label] = material
        return cls(
            labels=labels, materials=table, voxel_size_m=to_canonical(voxel_size_m, name="voxel_size_m")
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape ``(nz, ny, nx)`` of the label volume."""
        nz, ny, nx = self.labels.shape
        return (nz, ny, nx)

    @property
    def material_keys(self) -> tuple[MaterialLike, ...]:
        """The distinct materials of the table, in order of their first label."""
        keys: dict[MaterialLike, None] = {}
        for label in sorted(self.materials):
            keys.setdefault(self.materials[label], None)
        return tuple(keys)

    def mask(self, material: MaterialLike) -> npt.NDArray[np.bool_]:
        """Boolean volume of the voxels made of ``material`` (all labels mapped to it)."""
        labels = [label for label, value in self.materials.items() if value == material]
        if not labels:
            raise ConfigError(
                f"material {material!r} is not in this sample: choose from {list(self.material_keys)}"
            )
        return np.isin(self.labels, labels)

    def material_volumes_m3(self) -> dict[MaterialLike, float]:
        """Volume (m³) of every material of the table."""
        voxel_m3 = self.voxel_size_m**3
        return {key: float(np.count_nonzero(self.mask(key))) * voxel_m3 for key in self.material_keys}


def _rebuild_sample(
    labels: npt.NDArray[np.integer[Any]], materials: dict[int, MaterialLike], voxel_size_m: float
) -> VoxelSample:
    return VoxelSample(labels=labels, materials=materials, voxel_size_m=voxel_size_m)


def _row_overlap(nz: int, n_rows: int, ratio: float) -> npt.NDArray[np.float64]:
    """``W[r, z]``: fraction of detector row ``r`` (height ``ratio`` slices) covered by slice ``z``; rows centred."""
    zc = 0.5 * (nz - 1)
    rc = 0.5 * (n_rows - 1)
    z_lo = np.arange(nz) - zc - 0.5
    r_lo = (np.arange(n_rows) - rc) * ratio - 0.5 * ratio
    low = np.maximum(r_lo[:, None], z_lo[None, :])
    high = np.minimum(r_lo[:, None] + ratio, z_lo[None, :] + 1.0)
    overlap: npt.NDArray[np.float64] = np.clip(high - low, 0.0, None) / ratio
    return overlap


def _projector(
    shape: tuple[int, int, int],
    angles: npt.NDArray[np.float64],
    *,
    voxel_size_m: float,
    pixel_size_m: float | None,
    n_cols: int | None,
    center_col: float | None,
) -> tuple[ParallelProjector, float]:
    from xrai.ops.projector import ParallelProjector

    spacing = 1.0 if pixel_size_m is None else pixel_size_m / voxel_size_m
    op = ParallelProjector(shape, angles, n_cols=n_cols, center_col=center_col, detector_spacing=spacing)
    return op, spacing


def _angles(angles_rad: float | npt.ArrayLike) -> tuple[npt.NDArray[np.float64], bool]:
    angles = np.asarray(angles_rad, dtype=np.float64)
    if angles.ndim > 1:
        raise ConfigError(f"angles_rad must be a scalar or a 1-D array, got shape {angles.shape}")
    return np.atleast_1d(angles), angles.ndim == 0


def _resample_rows(projections: Array, nz: int, ratio: float, n_rows: int | None) -> Array:
    """Average ``[angle, z, col]`` ray sums over detector rows of height ``ratio`` slices."""
    if n_rows is None:
        n_rows = max(1, math.ceil(nz / ratio - 1e-9))
    if ratio == 1.0 and n_rows == nz:
        return projections
    xp = array_namespace(projections)
    weights = _row_overlap(nz, n_rows, ratio)
    if is_torch(projections):
        import torch

        w = torch.as_tensor(weights, dtype=projections.dtype, device=projections.device)
        return torch.einsum("rz,azc->arc", w, projections)
    resampled: Array = xp.asarray(np.einsum("rz,azc->arc", weights.astype(projections.dtype), projections))
    return resampled


def project_fractions(
    fractions: Mapping[MaterialLike, Array],
    *,
    voxel_size_m: float | str,
    angles_rad: float | npt.ArrayLike,
    pixel_size_m: float | str | None = None,
    n_rows: int | None = None,
    n_cols: int | None = None,
    center_col: float | None = None,
) -> dict[MaterialLike, Array]:
    """Projected thickness (m) of per-material fraction (or relative-density) volumes.

    Parameters
    ----------
    fractions
        Material → volume ``[z, y, x]`` (or one slice ``[y, x]``) of its volume fraction in each voxel (or its
        density relative to the material's nominal density). numpy arrays or torch tensors (differentiable);
        all of the same shape.
    voxel_size_m
        Voxel edge length (m).
    angles_rad
        Rotation angle(s) (rad): a scalar gives ``[row, col]`` maps, a 1-D array ``[angle, row, col]``.
    pixel_size_m
        Detector pixel size (m); default the voxel size.
    n_rows, n_cols
        Detector size; defaults cover the volume's height and width (``ceil(n * voxel / pixel)``).
    center_col
        Column coordinate of the rotation axis (default: detector centre).

    Returns
    -------
    dict
        Material → thickness map ``[angle, row, col]`` (or ``[row, col]``) in m, same backend and dtype as the
        input (float arrays; integer and boolean inputs become the default float dtype).

    Notes
    -----
    The effective thickness of material ``m`` along a ray ``L`` is :math:`t_m = \\int_L f_m\\, dl`, with
    :math:`f_m` the fraction volume; each detector pixel holds its average over the pixel area (exact for the
    piecewise-constant voxel model).
    """
    if not fractions:
        raise ConfigError("fractions is empty: give at least one material volume")
    voxel = check_range(
        "voxel_size_m", to_canonical(voxel_size_m, name="voxel_size_m"), low=0, low_inclusive=False, unit="m"
    )
    pixel = None
    if pixel_size_m is not None:
        pixel = check_range(
            "pixel_size_m",
            to_canonical(pixel_size_m, name="pixel_size_m"),
            low=0,
            low_inclusive=False,
            unit="m",
        )
    if n_rows is not None:
        check_range("n_rows", n_rows, low=1)
    angles, scalar = _angles(angles_rad)
    shapes = {tuple(volume.shape) for volume in fractions.values()}
    if len(shapes) != 1:
        raise DataError(f"all fraction volumes must have the same shape, got {sorted(shapes)}")
    shape = shapes.pop()
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise DataError(f"fraction volumes must be [z, y, x] or [y, x], got shape {shape}")
    op, spacing = _projector(
        shape,
        angles,
        voxel_size_m=voxel,
        pixel_size_m=pixel,
        n_cols=n_cols,
        center_col=center_col,
    )
    volumes = [_as_float(volume) for volume in fractions.values()]
    result: dict[MaterialLike, Array] = {}
    for materials, ray_sums in _project_channels(op, list(fractions), volumes, shape):
        for material, projected in zip(materials, ray_sums, strict=True):
            thickness = _resample_rows(projected, shape[0], spacing, n_rows) * voxel
            result[material] = thickness[0] if scalar else thickness
    return {material: result[material] for material in fractions}


def _as_float(volume: Array) -> Array:
    if is_torch(volume):
        return volume
    array = np.asarray(volume)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(real_dtype(np, None))
    return array


def _project_channels(
    op: ParallelProjector, materials: list[MaterialLike], volumes: list[Array], shape: tuple[int, ...]
) -> list[tuple[list[MaterialLike], Array]]:
    """Project the volumes in batches that share backend, device and dtype (one pass of the projector each).

    Returns ``(materials, ray sums [c, angle, z, col])`` per batch; each channel is bitwise its own projection.
    """
    batches: dict[tuple[Any, ...], list[int]] = {}
    for i, volume in enumerate(volumes):
        key = (is_torch(volume), str(getattr(volume, "device", "cpu")), str(volume.dtype))
        batches.setdefault(key, []).append(i)
    out = []
    for members in batches.values():
        first = volumes[members[0]]
        xp = array_namespace(first)
        if len(members) == 1:
            stacked = xp.reshape(first, (1, *shape))
        else:
            stacked = xp.stack([xp.reshape(volumes[i], shape) for i in members])
        out.append(([materials[i] for i in members], op.forward(stacked)))
    return out


def projected_thickness(
    sample: VoxelSample,
    *,
    angles_rad: float | npt.ArrayLike,
    pixel_size_m: float | str | None = None,
    n_rows: int | None = None,
    n_cols: int | None = None,
    center_col: float | None = None,
    dtype: str | None = None,
    group_compositions: bool = False,
) -> dict[MaterialLike, npt.NDArray[np.floating[Any]]]:
    """Projected thickness (m) of every material of ``sample`` at the rotation angle(s) ``angles_rad``.

    Parameters
    ----------
    sample
        The voxel sample.
    angles_rad
        Rotation angle(s) (rad) about the volume's z axis: a scalar gives ``[row, col]`` maps, a 1-D array
        ``[angle, row, col]``.
    pixel_size_m
        Detector pixel size (m); default ``sample.voxel_size_m``.
    n_rows, n_cols
        Detector size; defaults cover the volume's height and width.
    center_col
        Column coordinate of the rotation axis (default: detector centre).
    dtype
        ``"float32"`` or ``"float64"``; default from :func:`xrai.options.get_options`.
    group_compositions
        Merge materials of the same composition (:func:`composition_groups`): the map of a group's reference
        material is then the *density-equivalent* thickness ``Σ_i (ρ_i / ρ_ref) t_i`` of the group, which
        gives the same transmission and phase, with fewer maps to propagate. Off by default (one geometric
        thickness map per material).

    Returns
    -------
    dict
        Material (as in ``sample.materials``) → thickness map in m. Labels that share a material add up.

    Notes
    -----
    The label volume is projected in one pass into one channel per material
    (:meth:`xrai.ops.ParallelProjector.forward_labels`), bitwise what projecting each material's mask gives.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.ones((2, 10, 10), dtype=np.uint8)
    >>> sample = VoxelSample(labels=labels, materials={1: "al"}, voxel_size_m=2e-6)
    >>> t = projected_thickness(sample, angles_rad=[0.0, np.pi / 2], n_cols=14)["al"]
    >>> t.shape, round(float(t[1, 0, 7]) * 1e6, 3)          # µm: 10 voxels of 2 µm
    ((2, 2, 14), 20.0)
    """
    float_dtype = real_dtype(np, dtype)
    voxel = sample.voxel_size_m
    pixel = None
    if pixel_size_m is not None:
        pixel = check_range(
            "pixel_size_m",
            to_canonical(pixel_size_m, name="pixel_size_m"),
            low=0,
            low_inclusive=False,
            unit="m",
        )
    if n_rows is not None:
        check_range("n_rows", n_rows, low=1)
    angles, scalar = _angles(angles_rad)
    plan = _label_channels(sample, group_compositions=group_compositions)
    op, spacing = _projector(
        sample.shape, angles, voxel_size_m=voxel, pixel_size_m=pixel, n_cols=n_cols, center_col=center_col
    )
    if plan.direct:
        # one pass over the labels for every material (each channel as if projected from its own mask)
        ray_sums = op.forward_labels(sample.labels, plan.channels, values=plan.values, dtype=float_dtype)
    else:  # negative or huge label values: one fraction volume per channel, projected in one pass
        fractions = np.zeros((len(plan.keys), *sample.shape), dtype=float_dtype)
        for label, material in sample.materials.items():
            channel, value = plan.of_material[material]
            fractions[channel][sample.labels == label] = value
        ray_sums = op.forward(fractions)
    result: dict[MaterialLike, npt.NDArray[np.floating[Any]]] = {}
    for key, projected in zip(plan.keys, ray_sums, strict=True):
        thickness = _resample_rows(projected, sample.shape[0], spacing, n_rows) * voxel
        result[key] = thickness[0] if scalar else thickness
    return result


def composition_groups(
    materials: Sequence[MaterialLike],
) -> list[tuple[MaterialLike, dict[MaterialLike, float]]]:
    """Group materials of the same elemental composition: ``[(reference, {material: density ratio}), ...]``.

    At a fixed composition the optical constants are proportional to the density (δ, β, μ ∝ ρ), so materials
    that differ only in density act on the wave like their reference material (the first of the group) with a
    thickness scaled by ``ρ / ρ_ref``: ``Σ_i t_i (β_i + iδ_i) = (β_ref + iδ_ref) Σ_i (ρ_i / ρ_ref) t_i``.
    Compositions are the same when the formulas are the same string or the mass fractions the same table.
    A material that is not a :class:`~xrai.physics.materials.Material` (or a name of one) is its own group.

    Examples
    --------
    >>> from xrai.physics.materials import get_material
    >>> water = get_material("water")
    >>> groups = composition_groups(["water", water.with_density(0.5), "pmma"])
    >>> [(str(getattr(ref, "name", ref)), list(ratios.values())) for ref, ratios in groups]
    [('water', [1.0, 0.5]), ('pmma', [1.0])]
    """
    from xrai.physics.materials import Material, get_material

    groups: dict[Any, tuple[MaterialLike, float, dict[MaterialLike, float]]] = {}
    for material in materials:
        try:
            resolved = get_material(material)
        except XraiError:
            resolved = None
        if type(resolved) is not Material:  # a subclass may compute its optical constants otherwise
            groups[("own", len(groups))] = (material, 1.0, {material: 1.0})
            continue
        assert resolved is not None
        fractions = (
            None if resolved.mass_fractions is None else tuple(sorted(resolved.mass_fractions.items()))
        )
        key = (resolved.formula, fractions)
        if key not in groups:
            groups[key] = (material, resolved.density_g_cm3, {})
        _, density, members = groups[key]
        members[material] = resolved.density_g_cm3 / density
    return [(reference, members) for reference, _, members in groups.values()]


#: Largest label value projected straight from the label volume (the channel table has one entry per value).
_MAX_LABEL_TABLE = 1 << 20


@dataclass(frozen=True, slots=True)
class _Channels:
    """How the labels of a material table map to output channels (cached per table)."""

    keys: tuple[MaterialLike, ...]  # output key of each channel
    of_material: Mapping[MaterialLike, tuple[int, float]]  # material -> (channel, density ratio)
    channels: npt.NDArray[np.int64]  # label value -> channel (-1: not projected)
    values: npt.NDArray[np.float64]  # label value -> what one voxel adds
    direct: bool  # every label fits the table (else: fraction volumes)


def _label_channels(sample: VoxelSample, *, group_compositions: bool) -> _Channels:
    if not sample.materials:
        raise ConfigError("the sample has no material: give materials={label: material, ...}")
    return _channel_tables(tuple(sample.materials.items()), group_compositions)


@functools.lru_cache(maxsize=64)
def _channel_tables(table: tuple[tuple[int, MaterialLike], ...], group_compositions: bool) -> _Channels:
    ordered: dict[MaterialLike, None] = {}
    for _, material in sorted(table, key=lambda item: item[0]):
        ordered.setdefault(material, None)
    keys = tuple(ordered)
    of_material: dict[MaterialLike, tuple[int, float]] = {key: (i, 1.0) for i, key in enumerate(keys)}
    if group_compositions:
        groups = composition_groups(keys)
        keys = tuple(reference for reference, _ in groups)
        of_material = {m: (i, ratio) for i, (_, members) in enumerate(groups) for m, ratio in members.items()}
    labels = [label for label, _ in table]
    # labels outside the table are 0 (VoxelSample checks it), so the table's largest label bounds them all
    direct = min(labels) >= 0 and max(labels) <= _MAX_LABEL_TABLE
    size = max(labels) + 1 if direct else 1
    channels = np.full(size, -1, dtype=np.int64)
    values = np.ones(size, dtype=np.float64)
    for label, material in table if direct else ():
        channels[label], values[label] = of_material[material]
    channels.flags.writeable = False
    values.flags.writeable = False
    return _Channels(
        keys=keys,
        of_material=types.MappingProxyType(of_material),
        channels=channels,
        values=values,
        direct=direct,
    )


def thickness_stack(
    sample: VoxelSample,
    *,
    angles_rad: float | npt.ArrayLike,
    pixel_size_m: float | str | None = None,
    n_rows: int | None = None,
    n_cols: int | None = None,
    center_col: float | None = None,
    dtype: str | None = None,
) -> tuple[tuple[MaterialLike, ...], npt.NDArray[np.floating[Any]]]:
    """Like :func:`projected_thickness`, stacked: ``(materials, array [material, angle, row, col])`` in m.

    Examples
    --------
    >>> import numpy as np
    >>> sample = VoxelSample(labels=np.eye(6, dtype=np.uint8)[None] * 2, materials={2: "cu"}, voxel_size_m=1e-6)
    >>> names, stack = thickness_stack(sample, angles_rad=[0.0, 0.5])
    >>> names, stack.shape
    (('cu',), (1, 2, 1, 6))
    """
    maps = projected_thickness(
        sample,
        angles_rad=angles_rad,
        pixel_size_m=pixel_size_m,
        n_rows=n_rows,
        n_cols=n_cols,
        center_col=center_col,
        dtype=dtype,
    )
    return tuple(maps), np.stack(list(maps.values()))
