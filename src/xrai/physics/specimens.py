"""Synthetic specimens with known organs: a "digital medaka" fish and an insect pupa (optionally parasitised).

Both phantoms are label volumes ``[z, y, x]`` (``uint8``, 0 = mounting medium) with one real material per label,
so the simulator can image them and every reconstructed voxel has an exact label. They vary in shape, size,
pose and contrast from specimen to specimen (drawn from ``rng``), and fish *lines* differ systematically by
configurable factors (:class:`FishLine`), so a group comparison has a known answer.

Conventions
-----------
- Volumes are ``[z, y, x]`` with ``z`` the rotation axis (:mod:`xrai.geometry`). The body axis of a specimen runs
  along ``z``, head at low ``z`` index, tilted by a few degrees and rolled by a random angle about ``z``.
- Anatomy is written in body coordinates in units of the body length ``L``: ``a`` from snout (0) to tail tip
  (1), ``v`` dorsal (+) / ventral (-), ``w`` left / right. Organ sizes are semi-axes in the same units.
- A line's ``organ_scale`` is a **linear** factor on an organ's size (all semi-axes of an ellipsoid, the radius
  of a tube); the organ's volume scales by about its cube.
- Organs are painted in a fixed priority order (muscle first, eyes last), so labels are disjoint by
  construction and organs pack tightly (a later organ displaces an earlier one where they touch).

The fish is a cartoon of a medaka (*Oryzias latipes*) hatchling, with the ten organs segmented in the
high-throughput medaka study of Weinhardt et al. (2018); the pupa is a cartoon of a fly puparium as screened for
parasitoid wasps in the same line of work. Densities start from typical tissue values (ICRP/ICRU; lipid-rich
brain and liver lighter, blood, lens and cartilage denser) and are spread to about ±7 % around muscle, which
resembles the organ contrast of a stained (PTA, iodine) or phase-contrast scan; unstained soft tissues differ
by only 1–3 %.

References
----------
Weinhardt, V. et al. (2018). Quantitative morphometric analysis of adult teleost fish by X-ray computed
tomography. *Scientific Reports* 8, 16531. https://doi.org/10.1038/s41598-018-34848-z

ICRU Report 44 (1989). Tissue substitutes in radiation dosimetry and measurement.

Examples
--------
>>> from xrai.physics.specimens import FishLine, fish_phantom
>>> fish = fish_phantom(shape=(48, 48, 48), line=FishLine(name="big-eyes", organ_scale={"eyes": 1.2}), rng=0)
>>> fish.label_names[1], fish.labels.shape, fish.organ_scale["eyes"]
('brain', (48, 48, 48), 1.2)
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng
from xrai._typing import RngLike
from xrai.errors import ConfigError, check_range
from xrai.physics.materials import Material, compound, get_material

__all__ = [
    "FISH_LABELS",
    "FISH_ORGANS",
    "PUPA_LABELS",
    "FishLine",
    "PupaConfig",
    "Specimen",
    "fish_cohort",
    "fish_phantom",
    "label_attenuation_1_m",
    "label_deltas",
    "label_densities_g_cm3",
    "pupa_phantom",
    "smooth_random_field",
]

#: The ten fish organs, in label order (label value = position + 1).
FISH_ORGANS: tuple[str, ...] = (
    "brain", "eyes", "heart", "liver", "gut", "swim_bladder", "kidney", "gills", "spine", "muscle",
)  # fmt: skip
#: Fish label names; ``FISH_LABELS[k]`` names label value ``k`` (0 = mounting medium).
FISH_LABELS: tuple[str, ...] = ("background", *FISH_ORGANS)
#: Pupa label names; ``PUPA_LABELS[k]`` names label value ``k``.
PUPA_LABELS: tuple[str, ...] = (
    "background", "cuticle", "hemolymph", "fat_body", "developing_tissue", "gut", "trachea", "parasitoid",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Specimen:
    """A synthetic specimen: exact labels, their materials, and the truth built into it.

    Attributes
    ----------
    labels
        ``uint8`` label volume ``[z, y, x]``; value ``k`` means ``label_names[k]`` (0 = mounting medium).
    label_names
        Name of each label value.
    materials
        ``materials[k]`` is the :class:`~xrai.physics.materials.Material` of label ``k`` at this specimen's
        density (``materials[0]`` the mounting medium).
    voxel_size_m
        Edge length of a voxel in metres.
    kind
        ``"fish"`` or ``"pupa"``.
    line
        Name of the fish line (``""`` for pupae).
    organ_scale
        The line's systematic linear scale factor per organ (1 for organs the line does not change): the truth a
        group comparison should find.
    has_parasitoid
        Whether a parasitoid larva is inside (pupae only).
    body_length_m
        Length of this specimen's body (fish: snout to tail; pupa: puparium) in metres.
    pose
        Roll about ``z``, tilt (rad), bend (1/L) and shift (voxels) used to place the body.
    """

    labels: npt.NDArray[np.uint8]
    label_names: tuple[str, ...]
    materials: tuple[Material, ...]
    voxel_size_m: float
    kind: str
    line: str = ""
    organ_scale: Mapping[str, float] = field(default_factory=dict)
    has_parasitoid: bool = False
    body_length_m: float = 0.0
    pose: Mapping[str, float] = field(default_factory=dict)

    def label_of(self, name: str) -> int:
        """The label value of the structure called ``name``."""
        try:
            return self.label_names.index(name)
        except ValueError:
            raise ConfigError(
                f"label name {name!r} is not in this specimen: choose from {self.label_names}"
            ) from None


# --------------------------------------------------------------------------------------------------------------
# Lines and configurations
# --------------------------------------------------------------------------------------------------------------


def _frozen_factors(
    name: str, factors: Mapping[str, float], allowed: Sequence[str], *, low: float, high: float
) -> Mapping[str, float]:
    out: dict[str, float] = {}
    for key, value in dict(factors).items():
        if key not in allowed:
            raise ConfigError(f"{name} has unknown organ {key!r}: allowed organs are {tuple(allowed)}")
        out[key] = check_range(f"{name}[{key!r}]", value, low=low, high=high)
    return types.MappingProxyType(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class FishLine:
    """A fish line (an inbred strain): systematic differences plus the spread within the line.

    Attributes
    ----------
    name
        Line name, e.g. ``"HdrR"``.
    organ_scale
        Linear size factor per organ relative to the reference fish (``{"eyes": 1.15}``: eyes 15 % larger in
        every direction, about 52 % larger in volume). Organs not named keep factor 1.
    density_scale
        Factor on the density of an organ's material (a systematic contrast difference).
    body_length_m
        Mean body length (snout to tail tip) in metres.
    body_length_cv
        Coefficient of variation of the body length within the line.
    organ_size_cv
        Coefficient of variation of each organ's linear size within the line (log-normal).
    density_cv
        Coefficient of variation of each organ's density within the line (contrast variation).
    shape_noise
        Amplitude of the smooth random deformation of the anatomy, in units of the body length.
    """

    name: str = "reference"
    organ_scale: Mapping[str, float] = field(default_factory=dict)
    density_scale: Mapping[str, float] = field(default_factory=dict)
    body_length_m: float = 4.0e-3
    body_length_cv: float = 0.03
    organ_size_cv: float = 0.04
    density_cv: float = 0.01
    shape_noise: float = 0.008

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "organ_scale",
            _frozen_factors("organ_scale", self.organ_scale, FISH_ORGANS, low=0.3, high=3.0),
        )
        object.__setattr__(
            self,
            "density_scale",
            _frozen_factors("density_scale", self.density_scale, FISH_ORGANS, low=0.5, high=2.0),
        )
        check_range("body_length_m", self.body_length_m, low=0.0, low_inclusive=False, unit="m")
        check_range("body_length_cv", self.body_length_cv, low=0.0, high=0.2)
        check_range("organ_size_cv", self.organ_size_cv, low=0.0, high=0.3)
        check_range("density_cv", self.density_cv, low=0.0, high=0.1)
        check_range("shape_noise", self.shape_noise, low=0.0, high=0.05)

    def scale_of(self, organ: str) -> float:
        """The line's linear scale factor of ``organ`` (1 if the line does not change it)."""
        return float(self.organ_scale.get(organ, 1.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class PupaConfig:
    """The insect pupa phantom.

    Attributes
    ----------
    length_m
        Mean puparium length in metres.
    aspect
        Length / width of the puparium.
    length_cv
        Coefficient of variation of the length between specimens.
    cuticle_thickness_m
        Thickness of the puparium wall in metres (at least about one voxel is drawn).
    fat_fraction
        Fraction of the abdomen's interior filled with fat-body lobules.
    parasitoid_length_fraction
        Length of a parasitoid larva as a fraction of the pupa length.
    """

    length_m: float = 3.0e-3
    aspect: float = 2.8
    length_cv: float = 0.04
    cuticle_thickness_m: float = 60e-6
    fat_fraction: float = 0.45
    parasitoid_length_fraction: float = 0.32

    def __post_init__(self) -> None:
        check_range("length_m", self.length_m, low=0.0, low_inclusive=False, unit="m")
        check_range("aspect", self.aspect, low=1.0, high=6.0)
        check_range("length_cv", self.length_cv, low=0.0, high=0.2)
        check_range("cuticle_thickness_m", self.cuticle_thickness_m, low=0.0, low_inclusive=False, unit="m")
        check_range("fat_fraction", self.fat_fraction, low=0.0, high=0.9)
        check_range("parasitoid_length_fraction", self.parasitoid_length_fraction, low=0.05, high=0.6)


# Materials of the fish organs and the pupa structures: (library name or formula, density g/cm³, display name).
# Names are xrai.physics.materials library names; a formula (with a display name) where the library has none.
_LIPID = "C57H104O6"  # triolein, the typical storage lipid
_CHITIN = "C8H13NO5"  # N-acetylglucosamine unit
_FISH_MATERIALS: dict[str, tuple[str, float, str | None]] = {
    "brain": ("soft tissue", 0.98, None),  # lipid-rich (myelin): lighter than muscle
    "eyes": ("soft tissue", 1.15, None),  # lens protein
    "heart": ("soft tissue", 1.14, None),  # blood (iron-rich; stains strongly)
    "liver": ("soft tissue", 0.96, None),  # fish liver stores lipid
    "gut": ("soft tissue", 1.10, None),  # wall and content
    "swim_bladder": ("air", 1.205e-3, None),
    "kidney": ("soft tissue", 1.09, None),
    "gills": ("soft tissue", 1.08, None),  # filaments around cartilage arches
    "spine": ("cortical bone", 1.60, None),  # fish bone is less mineralised than human bone
    "muscle": ("soft tissue", 1.05, None),
}
_PUPA_MATERIALS: dict[str, tuple[str, float, str | None]] = {
    "cuticle": (_CHITIN, 1.30, "chitin"),
    "hemolymph": ("water", 1.03, None),
    "fat_body": (_LIPID, 0.92, "lipid"),
    "developing_tissue": ("soft tissue", 1.06, None),
    "gut": ("soft tissue", 1.02, None),
    "trachea": ("air", 1.205e-3, None),
    # a late-stage wasp: sclerotising cuticle and dense flight muscle (Van de Kamp et al. 2018 found wasps, not
    # young larvae, in the screened puparia); denser than the host tissue it replaced
    "parasitoid": ("soft tissue", 1.20, None),
}


def _material(name: str, density_g_cm3: float, display: str | None) -> Material:
    if display is not None:
        return compound(name, density_g_cm3=density_g_cm3, name=display)
    return get_material(name).with_density(density_g_cm3)


def _medium(medium: str | Material) -> Material:
    """The mounting medium: a library name ("ethanol", "water", "air", "agarose", ...) or a Material."""
    return get_material(medium)


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or any(int(n) != n for n in shape):
        raise ConfigError(f"shape = {tuple(shape)!r} is not allowed: must be three integers (z, y, x)")
    for axis, n in zip("zyx", shape, strict=True):
        check_range(f"shape[{axis}]", n, low=16, high=2048)
    return int(shape[0]), int(shape[1]), int(shape[2])


# --------------------------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------------------------


def _rotation(roll_rad: float, tilt_rad: float, tilt_dir_rad: float) -> npt.NDArray[np.float64]:
    """Rotation (body frame -> volume frame, both ordered z, y, x): tilt about an axis in the xy plane, then roll."""
    # Roll about z: mixes y and x.
    c, s = math.cos(roll_rad), math.sin(roll_rad)
    roll = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    # Tilt by tilt_rad about the horizontal axis at angle tilt_dir_rad (Rodrigues' formula).
    k = np.array([0.0, math.sin(tilt_dir_rad), math.cos(tilt_dir_rad)])
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    tilt = np.eye(3) + math.sin(tilt_rad) * kx + (1.0 - math.cos(tilt_rad)) * (kx @ kx)
    return np.asarray(tilt @ roll, dtype=np.float64)


def _interpolation_matrix(n: int, m: int) -> npt.NDArray[np.float32]:
    """``[n, m]`` matrix of linear interpolation from ``m`` coarse cells to ``n`` fine cells (cell centres)."""
    pos = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0.0, m - 1.0)
    low = np.minimum(np.floor(pos).astype(int), max(m - 2, 0))
    frac = pos - low
    out = np.zeros((n, m), dtype=np.float32)
    out[np.arange(n), low] = 1.0 - frac
    if m > 1:
        out[np.arange(n), low + 1] += frac
    return out


def smooth_random_field(
    shape: Sequence[int], *, coarse: int | Sequence[int] = 6, rng: RngLike = None
) -> npt.NDArray[np.float32]:
    """A smooth random field with unit standard deviation: coarse Gaussian noise, linearly interpolated.

    ``coarse`` cells per axis (at most the axis length); the field varies on a scale of ``shape / coarse``.
    Separable interpolation matrices make this cheap (``O(N · coarse)`` for ``N`` voxels).
    """
    gen = as_rng(rng)
    sizes = [int(n) for n in shape]
    cells = [int(coarse)] * len(sizes) if isinstance(coarse, int | np.integer) else [int(c) for c in coarse]
    cells = [max(1, min(c, n)) for c, n in zip(cells, sizes, strict=True)]
    field_ = gen.standard_normal(cells).astype(np.float32)
    # Interpolate one axis at a time with batched matrix products (the last axis is contiguous).
    for axis, (n, c) in enumerate(zip(sizes, cells, strict=True)):
        moved = np.moveaxis(field_, axis, -1)
        field_ = np.moveaxis(moved @ _interpolation_matrix(n, c).T, -1, axis)
    std = float(field_.std())
    return (field_ / std if std > 0 else field_).astype(np.float32, copy=False)


def _smooth_field(
    shape: tuple[int, int, int], rng: np.random.Generator, *, coarse: int = 6
) -> npt.NDArray[np.float32]:
    return smooth_random_field(shape, coarse=coarse, rng=rng)


def _body_coordinates(
    shape: tuple[int, int, int],
    *,
    length_vox: float,
    rotation: npt.NDArray[np.float64],
    shift_vox: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Body coordinates (a, v, w) in units of the body length for every voxel; a = 0 at the snout."""
    grids = [np.arange(n, dtype=np.float32) - (n - 1) / 2.0 for n in shape]
    z, y, x = (g - s for g, s in zip(grids, shift_vox, strict=True))
    # Inverse rotation R^T: body = R^T @ (z, y, x), computed with broadcasting instead of a big matrix product.
    rt = rotation.T.astype(np.float32)
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    a = (rt[0, 0] * zz + rt[0, 1] * yy + rt[0, 2] * xx) / length_vox + 0.5
    v = -(rt[1, 0] * zz + rt[1, 1] * yy + rt[1, 2] * xx) / length_vox  # -y is dorsal at zero roll
    w = (rt[2, 0] * zz + rt[2, 1] * yy + rt[2, 2] * xx) / length_vox
    return a, v, w


def _ellipsoid(
    a: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    centre: tuple[float, float, float],
    semi: tuple[float, float, float],
) -> npt.NDArray[np.bool_]:
    inside = (
        ((a - centre[0]) / semi[0]) ** 2 + ((v - centre[1]) / semi[1]) ** 2 + ((w - centre[2]) / semi[2]) ** 2
    ) <= 1.0
    return np.asarray(inside, dtype=bool)


def _tube(
    a: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    *,
    a_range: tuple[float, float],
    centre_v: Any,
    centre_w: Any,
    radius: Any,
) -> npt.NDArray[np.bool_]:
    """A tube along the body axis; ``centre_v``, ``centre_w`` and ``radius`` are callables of ``a``."""
    inside = (a >= a_range[0]) & (a <= a_range[1])
    return np.asarray(
        inside & ((v - centre_v(a)) ** 2 + (w - centre_w(a)) ** 2 <= radius(a) ** 2), dtype=bool
    )


# Body outline of the fish (units of L): half-height, half-width, dorsal offset of the section centre.
_BODY_A = np.array([0.00, 0.04, 0.10, 0.18, 0.28, 0.40, 0.52, 0.64, 0.76, 0.88, 1.00])
_BODY_H = np.array([0.02, 0.09, 0.14, 0.17, 0.18, 0.18, 0.16, 0.12, 0.08, 0.05, 0.03])
_BODY_W = np.array([0.02, 0.10, 0.155, 0.16, 0.15, 0.14, 0.12, 0.08, 0.05, 0.035, 0.02])
_BODY_V = np.array([0.00, 0.00, 0.00, -0.01, -0.02, -0.02, -0.01, 0.00, 0.00, 0.00, 0.00])
#: Cross-section magnification of the cartoon hatchling relative to the outline below.
_STOCKINESS = 1.3
#: Thickness of the body wall (skin and outer muscle) that covers the inner organs, in units of L.
_BODY_WALL = 0.02
# Ellipsoidal organs in painting order: (organ, centre (a, v, w), semi-axes, clipped to the inside of the body
# wall). The eyes bulge out of the head and are not clipped.
_FISH_ELLIPSOIDS: tuple[tuple[str, tuple[float, float, float], tuple[float, float, float], bool], ...] = (
    ("liver", (0.37, -0.075, 0.03), (0.07, 0.075, 0.085), True),
    ("kidney", (0.46, 0.060, 0.0), (0.11, 0.028, 0.04), True),
    ("swim_bladder", (0.46, 0.0, 0.0), (0.085, 0.045, 0.06), True),
    ("heart", (0.27, -0.125, 0.0), (0.05, 0.045, 0.05), True),
    ("gills", (0.26, -0.03, -0.08), (0.05, 0.07, 0.04), True),
    ("gills", (0.26, -0.03, 0.08), (0.05, 0.07, 0.04), True),
    # painted after the spine:
    ("brain", (0.15, 0.06, 0.0), (0.085, 0.06, 0.05), True),
    ("eyes", (0.12, 0.0, -0.09), (0.065, 0.065, 0.05), False),
    ("eyes", (0.12, 0.0, 0.09), (0.065, 0.065, 0.05), False),
)
# Spine centre line (dorsal position along the body).
_SPINE_A = np.array([0.22, 0.40, 0.55, 0.70, 0.85, 0.97])
_SPINE_V = np.array([0.10, 0.115, 0.10, 0.05, 0.02, 0.0])


def _paint_fish(
    a: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    scale: Mapping[str, float],
    aniso: Mapping[str, npt.NDArray[np.float64]],
) -> npt.NDArray[np.uint8]:
    """Paint the organs in priority order (later organs displace earlier ones)."""
    labels = np.zeros(a.shape, dtype=np.uint8)
    code = {name: i + 1 for i, name in enumerate(FISH_ORGANS)}

    def semi(name: str, base: tuple[float, float, float]) -> tuple[float, float, float]:
        s = scale[name] * aniso[name]
        return (base[0] * s[0], base[1] * s[1], base[2] * s[2])

    half_h = np.interp(a, _BODY_A, _BODY_H).astype(np.float32)
    half_w = np.interp(a, _BODY_A, _BODY_W).astype(np.float32)
    centre_v = np.interp(a, _BODY_A, _BODY_V).astype(np.float32)
    body = (a >= 0.0) & (a <= 1.0) & (((v - centre_v) / half_h) ** 2 + (w / half_w) ** 2 <= 1.0)
    labels[body] = code["muscle"]
    # Inner organs stay under the body wall (skin and a layer of muscle).
    wall = _BODY_WALL
    inner_h = np.maximum(half_h - wall, 1e-3)
    inner_w = np.maximum(half_w - wall, 1e-3)
    inner = body & (((v - centre_v) / inner_h) ** 2 + (w / inner_w) ** 2 <= 1.0)

    s_gut = scale["gut"] * float(aniso["gut"][1])
    gut = _tube(
        a, v, w,
        a_range=(0.34, 0.68),
        centre_v=lambda t: -0.085 + 0.03 * np.sin(2.0 * np.pi * (t - 0.34) / 0.3),
        centre_w=lambda t: -0.03 * np.sin(np.pi * (t - 0.34) / 0.34),
        radius=lambda t: s_gut * (0.05 - 0.032 * np.clip((t - 0.34) / 0.34, 0.0, 1.0)),
    )  # fmt: skip
    labels[gut & inner] = code["gut"]
    for organ, centre, base, clip in _FISH_ELLIPSOIDS[:6]:
        labels[_ellipsoid(a, v, w, centre, semi(organ, base)) & (inner if clip else True)] = code[organ]
    s_spine = scale["spine"] * float(aniso["spine"][1])
    spine = _tube(
        a, v, w,
        a_range=(0.22, 0.97),
        centre_v=lambda t: np.interp(t, _SPINE_A, _SPINE_V),
        centre_w=lambda t: 0.0 * t,
        radius=lambda t: s_spine * 0.024 * (1.0 + 0.2 * np.cos(2.0 * np.pi * t / 0.04)),
    )  # fmt: skip
    labels[spine & body] = code["spine"]
    for organ, centre, base, clip in _FISH_ELLIPSOIDS[6:]:
        labels[_ellipsoid(a, v, w, centre, semi(organ, base)) & (inner if clip else True)] = code[organ]
    return labels


# --------------------------------------------------------------------------------------------------------------
# Public phantoms
# --------------------------------------------------------------------------------------------------------------


def fish_phantom(
    *,
    shape: Sequence[int] = (64, 64, 64),
    voxel_size_m: float | None = None,
    line: FishLine | None = None,
    medium: str | Material = "ethanol",
    random_pose: bool = True,
    rng: RngLike = None,
) -> Specimen:
    """A procedural small fish ("digital medaka") with ten labelled organs.

    Parameters
    ----------
    shape
        Volume shape ``(z, y, x)`` in voxels; the body axis runs along ``z``.
    voxel_size_m
        Voxel edge length in metres. Default: the line's mean body length fills 85 % of the ``z`` extent, so
        specimens of a line differ in size in voxels as they do in metres.
    line
        The fish line (systematic organ sizes and contrasts, within-line spread); default :class:`FishLine()`.
    medium
        Mounting medium, label 0: a library name (``"ethanol"`` for fixed specimens, ``"water"``,
        ``"agarose"``, ``"air"``) or a :class:`~xrai.physics.materials.Material`.
    random_pose
        Draw a random roll about ``z`` (0–2π), tilt (up to 0.1 rad), bend and shift (up to 2 voxels); if
        ``False`` the fish is straight, centred, with its back towards ``-y``.
    rng
        Seed or generator. The draws do not depend on the line, so the same seed with two lines gives the same
        fish except for the line's differences.

    Returns
    -------
    Specimen
        Labels ``[z, y, x]`` (values index :data:`FISH_LABELS`), one material per label, and the
        truth (``organ_scale`` of the line, ``body_length_m``, ``pose``).

    Notes
    -----
    Organ ``k`` of specimen ``i`` in line ``ℓ`` has linear size
    ``s_ik = s_ℓk · exp(σ ε_ik − σ²/2)`` times its reference size, with ``ε ~ N(0, 1)`` and ``σ`` the line's
    ``organ_size_cv`` (plus a small independent per-axis factor), so ``E[volume_ik] ∝ s_ℓk³`` up to ``O(σ²)``.
    The anatomy is deformed by a smooth random displacement of amplitude ``shape_noise · L``.
    """
    nz, ny, nx = _check_shape(shape)
    line = FishLine() if line is None else line
    gen = as_rng(rng)
    if voxel_size_m is None:
        voxel_size_m = line.body_length_m / (0.85 * nz)
    voxel_size_m = check_range("voxel_size_m", voxel_size_m, low=0.0, low_inclusive=False, unit="m")

    # Draw everything first, in a fixed order that does not depend on the line's values.
    length_factor = float(np.exp(line.body_length_cv * gen.standard_normal() - line.body_length_cv**2 / 2))
    size_eps = gen.standard_normal(len(FISH_ORGANS))
    aniso_eps = gen.standard_normal((len(FISH_ORGANS), 3))
    density_eps = gen.standard_normal(len(FISH_ORGANS))
    pose_draw = gen.random(6)
    deform_fields = [_smooth_field((nz, ny, nx), gen) for _ in range(3)]

    sigma = line.organ_size_cv
    scale = {
        organ: line.scale_of(organ) * float(np.exp(sigma * size_eps[i] - sigma**2 / 2))
        for i, organ in enumerate(FISH_ORGANS)
    }
    aniso = {organ: np.exp(0.3 * sigma * aniso_eps[i]) for i, organ in enumerate(FISH_ORGANS)}
    if random_pose:
        pose = {
            "roll_rad": 2.0 * math.pi * pose_draw[0],
            "tilt_rad": 0.1 * pose_draw[1],
            "tilt_direction_rad": 2.0 * math.pi * pose_draw[2],
            "bend": 0.12 * (2.0 * pose_draw[3] - 1.0),
            "shift_y_vox": 2.0 * (2.0 * pose_draw[4] - 1.0),
            "shift_x_vox": 2.0 * (2.0 * pose_draw[5] - 1.0),
        }
    else:
        pose = dict.fromkeys(
            ("roll_rad", "tilt_rad", "tilt_direction_rad", "bend", "shift_y_vox", "shift_x_vox"), 0.0
        )

    body_length_m = line.body_length_m * length_factor
    length_vox = body_length_m / voxel_size_m
    rotation = _rotation(pose["roll_rad"], pose["tilt_rad"], pose["tilt_direction_rad"])
    a, v, w = _body_coordinates(
        (nz, ny, nx),
        length_vox=length_vox,
        rotation=rotation,
        shift_vox=np.array([0.0, pose["shift_y_vox"], pose["shift_x_vox"]]),
    )
    # Bend the tail sideways (a curved fish in its tube), then a smooth random deformation of the anatomy.
    w = w - pose["bend"] * np.clip(a - 0.35, 0.0, None) ** 2
    amplitude = line.shape_noise
    a = a + amplitude * deform_fields[0]
    v = v + amplitude * deform_fields[1]
    w = w + amplitude * deform_fields[2]
    # The cartoon hatchling is stockier than an adult medaka, so that its organs span enough voxels.
    labels = _paint_fish(a, v / _STOCKINESS, w / _STOCKINESS, scale, aniso)

    materials = [_medium(medium)]
    for i, organ in enumerate(FISH_ORGANS):
        name, density, display = _FISH_MATERIALS[organ]
        factor = line.density_scale.get(organ, 1.0) * (1.0 + line.density_cv * float(density_eps[i]))
        materials.append(_material(name, density * max(factor, 0.5), display))
    return Specimen(
        labels=labels,
        label_names=FISH_LABELS,
        materials=tuple(materials),
        voxel_size_m=voxel_size_m,
        kind="fish",
        line=line.name,
        organ_scale=types.MappingProxyType({organ: line.scale_of(organ) for organ in FISH_ORGANS}),
        body_length_m=body_length_m,
        pose=types.MappingProxyType(pose),
    )


def fish_cohort(
    lines: Sequence[FishLine],
    *,
    n_per_line: int,
    shape: Sequence[int] = (64, 64, 64),
    voxel_size_m: float | None = None,
    rng: RngLike = None,
    **kwargs: Any,
) -> list[Specimen]:
    """``n_per_line`` fish of each line (line after line), drawn from independent child generators.

    ``voxel_size_m`` defaults to the value :func:`fish_phantom` picks for the first line, shared by all lines
    so that sizes in voxels compare. Remaining keyword arguments go to :func:`fish_phantom`.
    """
    check_range("n_per_line", n_per_line, low=1)
    if not lines:
        raise ConfigError("lines = () is not allowed: give at least one FishLine")
    if voxel_size_m is None:
        voxel_size_m = lines[0].body_length_m / (0.85 * _check_shape(shape)[0])
    seeds = as_rng(rng).spawn(len(lines) * n_per_line)
    return [
        fish_phantom(
            shape=shape, voxel_size_m=voxel_size_m, line=line, rng=seeds[i * n_per_line + j], **kwargs
        )
        for i, line in enumerate(lines)
        for j in range(n_per_line)
    ]


def pupa_phantom(
    *,
    shape: Sequence[int] = (64, 64, 64),
    voxel_size_m: float | None = None,
    parasitoid: bool = False,
    config: PupaConfig | None = None,
    medium: str | Material = "air",
    rng: RngLike = None,
) -> Specimen:
    """A procedural insect pupa (fly puparium), optionally with a parasitoid wasp larva inside.

    The puparium is an ellipsoid along ``z`` with a chitin wall (``cuticle``) filled with ``hemolymph``; the
    anterior third holds ``developing_tissue`` (head, eyes, legs and wing discs, flight muscle), a ``gut`` runs
    along the axis, two air-filled ``trachea`` trunks run dorsolaterally, and lobules of ``fat_body`` fill the
    abdomen. A parasitoid larva is a curved, dense, maggot-shaped body in the abdomen that displaces the fat
    body.

    Parameters
    ----------
    shape
        Volume shape ``(z, y, x)``.
    voxel_size_m
        Voxel edge length in metres; default: the mean pupa fills 85 % of the ``z`` extent.
    parasitoid
        Put a parasitoid larva inside.
    config
        Sizes and fractions; default :class:`PupaConfig()`.
    medium
        Mounting medium (label 0); pupae are scanned dry, in ``"air"``.
    rng
        Seed or generator.

    Returns
    -------
    Specimen
        Labels indexing :data:`PUPA_LABELS`; ``has_parasitoid`` tells the truth.
    """
    nz, ny, nx = _check_shape(shape)
    config = PupaConfig() if config is None else config
    gen = as_rng(rng)
    if voxel_size_m is None:
        voxel_size_m = config.length_m / (0.85 * nz)
    voxel_size_m = check_range("voxel_size_m", voxel_size_m, low=0.0, low_inclusive=False, unit="m")

    length_m = config.length_m * float(np.exp(config.length_cv * gen.standard_normal()))
    draws = gen.random(8)
    density_eps = gen.standard_normal(len(PUPA_LABELS))
    fat_field = _smooth_field((nz, ny, nx), gen, coarse=max(8, nz // 5))
    length_vox = length_m / voxel_size_m
    rotation = _rotation(2.0 * math.pi * draws[0], 0.08 * draws[1], 2.0 * math.pi * draws[2])
    shift = np.array([0.0, 2.0 * (2 * draws[3] - 1), 2.0 * (2 * draws[4] - 1)])
    a, v, w = _body_coordinates((nz, ny, nx), length_vox=length_vox, rotation=rotation, shift_vox=shift)

    half_len = 0.5
    half_width = 0.5 / config.aspect
    # Slightly barrel-shaped puparium: widest in the middle, rounded ends.
    outer = ((a - 0.5) / half_len) ** 2 + (v / half_width) ** 2 + (w / (0.95 * half_width)) ** 2 <= 1.0
    wall = max(config.cuticle_thickness_m / length_m, 1.2 / length_vox)
    inner = ((a - 0.5) / (half_len - wall)) ** 2 + (v / (half_width - wall)) ** 2 + (
        w / (0.95 * half_width - wall)
    ) ** 2 <= 1.0
    code = {name: i for i, name in enumerate(PUPA_LABELS)}
    labels = np.zeros((nz, ny, nx), dtype=np.uint8)
    labels[outer] = code["cuticle"]
    labels[inner] = code["hemolymph"]

    abdomen = inner & (a > 0.40)
    threshold = np.quantile(fat_field[abdomen], 1.0 - config.fat_fraction) if abdomen.any() else np.inf
    labels[abdomen & (fat_field > threshold)] = code["fat_body"]
    # Developing adult structures in the anterior third: head with compound eyes, thorax with flight muscle.
    hw = half_width - wall
    dev = _ellipsoid(a, v, w, (0.12, 0.0, 0.0), (0.09, 0.75 * hw, 0.75 * hw))
    dev |= _ellipsoid(a, v, w, (0.30, 0.05 * hw, 0.0), (0.12, 0.85 * hw, 0.85 * hw))
    labels[dev & inner] = code["developing_tissue"]
    gut = _tube(
        a, v, w,
        a_range=(0.2, 0.92),
        centre_v=lambda t: -0.25 * hw * np.sin(2 * np.pi * (t - 0.2) / 0.36),
        centre_w=lambda t: 0.2 * hw * np.cos(2 * np.pi * (t - 0.2) / 0.5),
        radius=lambda t: 0.16 * hw + 0.0 * t,
    )  # fmt: skip
    labels[gut & inner] = code["gut"]
    for side in (-1.0, 1.0):
        trachea = _tube(
            a, v, w,
            a_range=(0.08, 0.9),
            centre_v=lambda t: 0.55 * hw + 0.0 * t,
            centre_w=lambda t, s=side: s * 0.5 * hw + 0.0 * t,
            radius=lambda t: max(0.08 * hw, 0.7 / length_vox) + 0.0 * t,
        )  # fmt: skip
        labels[trachea & inner] = code["trachea"]
    if parasitoid:
        # A C-shaped larva: a tube bent on a circular arc in the (a, v) plane, radius tapering to both ends.
        p_len = config.parasitoid_length_fraction * (0.9 + 0.2 * draws[5])
        start = 0.48 + 0.1 * draws[6]
        side = 1.0 if draws[7] > 0.5 else -1.0
        radius0 = 0.22 * p_len
        larva = _tube(
            a, v, w,
            a_range=(start, start + p_len),
            centre_v=lambda t: -0.25 * hw + 0.5 * hw * np.sin(np.pi * (t - start) / p_len),
            centre_w=lambda t: side * 0.25 * hw + 0.0 * t,
            radius=lambda t: radius0 * np.sqrt(np.clip(np.sin(np.pi * (t - start) / p_len), 0.05, 1.0)),
        )  # fmt: skip
        labels[larva & inner] = code["parasitoid"]

    materials = [_medium(medium)]
    for i, name in enumerate(PUPA_LABELS[1:], start=1):
        material, density, display = _PUPA_MATERIALS[name]
        materials.append(_material(material, density * (1.0 + 0.01 * float(density_eps[i])), display))
    return Specimen(
        labels=labels,
        label_names=PUPA_LABELS,
        materials=tuple(materials),
        voxel_size_m=voxel_size_m,
        kind="pupa",
        has_parasitoid=bool(parasitoid),
        body_length_m=length_m,
        pose=types.MappingProxyType({"roll_rad": 2.0 * math.pi * draws[0], "tilt_rad": 0.08 * draws[1]}),
    )


# --------------------------------------------------------------------------------------------------------------
# Contrast tables
# --------------------------------------------------------------------------------------------------------------


def label_densities_g_cm3(materials: Sequence[Material]) -> npt.NDArray[np.float64]:
    """Mass density (g/cm³) of each label, indexed by label value."""
    return np.array([m.density_g_cm3 for m in materials], dtype=np.float64)


def label_attenuation_1_m(materials: Sequence[Material], *, energy_kev: float) -> npt.NDArray[np.float64]:
    """Linear attenuation coefficient μ (1/m) of each label at ``energy_kev``, indexed by label value.

    Notes
    -----
    ``μ = ρ · (μ/ρ)(E)`` with the total mass attenuation coefficient (photo-absorption + coherent + incoherent)
    from :meth:`xrai.physics.materials.Material.linear_attenuation_per_m` (xraylib).
    """
    check_range("energy_kev", energy_kev, low=1.0, high=150.0, unit="keV")
    return np.array([float(m.linear_attenuation_per_m(energy_kev)) for m in materials], dtype=np.float64)


def label_deltas(materials: Sequence[Material], *, energy_kev: float) -> npt.NDArray[np.float64]:
    """Refractive index decrement δ of each label at ``energy_kev`` (what a phase-retrieved scan shows)."""
    check_range("energy_kev", energy_kev, low=1.0, high=150.0, unit="keV")
    return np.array([float(m.delta(energy_kev)) for m in materials], dtype=np.float64)
