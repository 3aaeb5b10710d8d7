"""Analytic bodies and their projected thickness on a detector: sphere, ellipsoid, cylinder, box, cone.

Every body is a frozen dataclass (a material name, a position, sizes in metres and an orientation) whose
projected thickness follows exactly from ray–body intersection: for each detector ray the body occupies one
interval ``[τ_in, τ_out]`` along the beam (all bodies here are convex), and the thickness is its length.
:func:`project_bodies` projects several bodies at once and returns one thickness map per material.

Frames and conventions (:mod:`xrai.geometry`)
--------------------------------------------
- Positions are ``(x, y, z)`` in the *sample* frame, in metres, with the origin on the rotation axis at the
  height of the detector centre: ``z`` is the rotation axis and runs with the detector rows (``z`` grows with
  the row index), ``x`` runs with the detector columns at angle 0, ``y`` along the beam at angle 0.
- At rotation angle θ a point projects to the column coordinate ``s = x cos θ + y sin θ`` and the rays travel
  along ``(−sin θ, cos θ, 0)``; pixel ``j`` of ``n`` is centred at ``(j − c) p`` with ``c = (n − 1)/2`` (or the
  rotation centre ``center_col``), row ``i`` at ``z = (i − (n_rows − 1)/2) p``: the optical axis passes between
  pixels ``n/2 − 1`` and ``n/2`` for even ``n``, as in syris.
- Overlaps: a body listed later displaces the bodies before it (painter's order), so ``[wax, needle]`` is a wax
  blob pierced by a needle, and two bodies of one material never count their overlap twice.
- ``sampling="point"`` samples each pixel at its centre (syris's ``make_sphere``); ``sampling="area"`` returns
  the pixel-area average (anti-aliased): pixels that a silhouette crosses, and their neighbours, are
  supersampled ``supersampling²`` times, which makes the sum over the image equal the body volume / p².

Examples
--------
>>> from xrai.physics.bodies import Sphere, project_bodies
>>> maps = project_bodies([Sphere(radius_m=25.6e-6, material="pmma")], (256, 256), pixel_size_m=0.4e-6)
>>> sorted(maps), maps["pmma"].shape, maps["pmma"].dtype
(['pmma'], (256, 256), dtype('float32'))
>>> round(float(maps["pmma"].max()) * 1e6, 3)  # ≈ 2R: the centre lies between the four central pixels
51.197
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from xrai._backend import real_dtype
from xrai._typing import Array
from xrai.errors import ConfigError, check_range

__all__ = [
    "Body",
    "Box",
    "Cone",
    "Cylinder",
    "Ellipsoid",
    "Sphere",
    "project_bodies",
    "project_slices",
    "wax_on_needle",
]

Vec3 = tuple[float, float, float]
Sampling = Literal["point", "area"]
F64 = npt.NDArray[np.float64]
_Interval = tuple[F64, F64]


# ----------------------------------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------------------------------


def _vec3(name: str, value: Any) -> Vec3:
    try:
        values = tuple(float(v) for v in value)
    except TypeError:
        raise ConfigError(f"{name} = {value!r} is not allowed: must be three numbers (x, y, z)") from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{name} = {value!r} is not allowed: must be three finite numbers (x, y, z)")
    return values[0], values[1], values[2]


def _positive(name: str, value: float) -> float:
    number = check_range(name, value, low=0, low_inclusive=False, unit="m")
    if not math.isfinite(number):
        raise ConfigError(f"{name} = {value!r} is not allowed: must be finite")
    return number


def _euler_matrix(angles: Vec3) -> F64:
    """Local → sample rotation R = Rz(γ) Ry(β) Rx(α) for ``angles = (α, β, γ)`` (rad, extrinsic x, y, z)."""
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


def _axis_matrix(axis: Vec3) -> F64:
    """A local → sample rotation that takes the local z axis to ``axis`` (Rodrigues)."""
    v = np.asarray(axis, dtype=np.float64)
    v = v / np.linalg.norm(v)
    z = np.array([0.0, 0.0, 1.0])
    c = float(z @ v)
    if c > 1 - 1e-15:
        return np.eye(3)
    if c < -1 + 1e-15:
        return np.diag([1.0, -1.0, -1.0])  # rotation by π about x
    k = np.cross(z, v)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.asarray(np.eye(3) + kx + kx @ kx / (1 + c), dtype=np.float64)


def _quadric_interval(a: float, b: F64, c: F64, bounds: _Interval, *, a_scale: float = 1.0) -> _Interval:
    """The part of ``{τ : aτ² + bτ + c ≤ 0}`` inside ``bounds`` (one interval: the bodies are convex).

    ``a`` depends only on the ray direction, which all rays share (parallel beam), so it is a number.
    ``|a| ≤ 1e-12 · a_scale`` counts as 0 (a ray parallel to a cylinder's axis or to a cone's surface line).
    Empty results have ``lo >= hi``.
    """
    lo0, hi0 = bounds
    tiny = 1e-12 * a_scale
    if a > tiny:
        # centre and half-width: the chord 2·half has no cancellation error
        disc = b * b - 4.0 * a * c
        half = np.sqrt(np.maximum(disc, 0.0)) / (2.0 * a)
        centre = b / (-2.0 * a)
        hit = disc >= 0
        return np.where(hit, np.maximum(centre - half, lo0), np.inf), np.where(
            hit, np.minimum(centre + half, hi0), -np.inf
        )
    inf = np.full(np.shape(b), np.inf)
    if a < -tiny:  # (−∞, r₁] ∪ [r₂, ∞), or everything when there is no real root
        disc = b * b - 4.0 * a * c
        real = disc >= 0
        half = np.sqrt(np.maximum(disc, 0.0)) / (2.0 * abs(a))
        centre = b / (-2.0 * a)
        r1, r2 = centre - half, centre + half
        p1_lo, p1_hi = np.broadcast_to(lo0, r1.shape), np.where(real, np.minimum(r1, hi0), hi0)
        p2_lo, p2_hi = (
            np.where(real, np.maximum(r2, lo0), inf),
            np.where(real, np.broadcast_to(hi0, r2.shape), -inf),
        )
    else:  # linear: bτ + c ≤ 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cut = -c / b
        p1_lo = np.where(b < 0, np.maximum(cut, lo0), np.where((b == 0) & (c > 0), inf, lo0))
        p1_hi = np.where(b > 0, np.minimum(cut, hi0), np.where((b == 0) & (c > 0), -inf, hi0))
        p2_lo, p2_hi = inf, -inf
    ok1, ok2 = p1_hi > p1_lo, p2_hi > p2_lo
    lo = np.where(ok1, np.where(ok2, np.minimum(p1_lo, p2_lo), p1_lo), np.where(ok2, p2_lo, inf))
    hi = np.where(ok1, np.where(ok2, np.maximum(p1_hi, p2_hi), p1_hi), np.where(ok2, p2_hi, -inf))
    return lo, hi


def _slab(o: F64, d: float, half: float) -> _Interval:
    """``{τ : |o + τ d| ≤ half}`` for one axis."""
    if d == 0.0:
        inside = np.abs(o) <= half
        return np.where(inside, -np.inf, np.inf), np.where(inside, np.inf, -np.inf)
    t1, t2 = (-half - o) / d, (half - o) / d
    return np.minimum(t1, t2), np.maximum(t1, t2)


_UNBOUNDED: _Interval = (np.array(-np.inf), np.array(np.inf))


# ----------------------------------------------------------------------------------------------------------------
# Bodies
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    """Base class of the analytic bodies: a material name and a position (m, sample frame ``(x, y, z)``)."""

    material: str
    centre_m: Vec3 = (0.0, 0.0, 0.0)

    kind: ClassVar[str] = "body"

    def __post_init__(self) -> None:
        if not isinstance(self.material, str) or not self.material:
            raise ConfigError(
                f"material = {self.material!r} is not allowed: must be a non-empty material name"
            )
        object.__setattr__(self, "centre_m", _vec3("centre_m", self.centre_m))

    def _rotation(self) -> F64:
        """Local → sample rotation matrix."""
        return np.eye(3)

    def _local_interval(self, origin: F64, direction: F64) -> _Interval:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def bounding_radius_m(self) -> float:  # pragma: no cover - abstract
        """Radius (m) of a sphere about ``centre_m`` that contains the body."""
        raise NotImplementedError

    def _local_bounds(self) -> tuple[Vec3, Vec3]:  # pragma: no cover - abstract
        """Lower and upper corners of an axis-aligned box holding the body in its local frame."""
        raise NotImplementedError

    def footprint_m(self, angle_rad: float = 0.0) -> tuple[float, float, float, float]:
        """``(s_min, s_max, z_min, z_max)`` (m): a rectangle on the detector that contains the body's shadow."""
        lo, hi = self._local_bounds()
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        points = corners @ self._rotation().T + np.asarray(self.centre_m)
        s = points[:, 0] * math.cos(angle_rad) + points[:, 1] * math.sin(angle_rad)
        return float(s.min()), float(s.max()), float(points[:, 2].min()), float(points[:, 2].max())

    def interval(self, origin: F64, direction: F64) -> _Interval:
        """Entry and exit ``τ`` of rays ``origin + τ·direction`` (sample frame; origin ``(3, ...)``).

        Rays that miss get an empty interval (``τ_in > τ_out``).
        """
        rotation = self._rotation()
        centre = np.asarray(self.centre_m).reshape((3,) + (1,) * (origin.ndim - 1))
        shifted = origin - centre
        if np.array_equal(rotation, np.eye(3)):
            return self._local_interval(shifted, direction)
        local_o = (rotation.T @ shifted.reshape(3, -1)).reshape(shifted.shape)
        return self._local_interval(local_o, rotation.T @ direction)

    def volume_m3(self) -> float:  # pragma: no cover - abstract
        """Volume (m³)."""
        raise NotImplementedError

    def thickness_m(
        self,
        shape: tuple[int, int],
        *,
        pixel_size_m: float | tuple[float, float],
        angle_rad: float = 0.0,
        center_col: float | None = None,
        sampling: Sampling = "point",
        supersampling: int = 8,
        xp: Any = None,
        dtype: Any = None,
        device: Any = None,
    ) -> Array:
        """Projected thickness (m) of this body alone, ``[row, col]``; see :func:`project_bodies`."""
        return project_bodies(
            [self],
            shape,
            pixel_size_m=pixel_size_m,
            angle_rad=angle_rad,
            center_col=center_col,
            sampling=sampling,
            supersampling=supersampling,
            xp=xp,
            dtype=dtype,
            device=device,
        )[self.material]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sphere(Body):
    """A sphere of radius ``radius_m`` centred at ``centre_m``.

    Examples
    --------
    >>> Sphere(radius_m=-1.0, material="pmma")
    Traceback (most recent call last):
    ...
    xrai.errors.ConfigError: radius_m = -1.0 is not allowed: must be > 0 m
    """

    radius_m: float
    kind: ClassVar[str] = "sphere"

    def __post_init__(self) -> None:
        Body.__post_init__(self)
        object.__setattr__(self, "radius_m", _positive("radius_m", self.radius_m))

    def _local_interval(self, origin: F64, direction: F64) -> _Interval:
        b = 2 * np.tensordot(direction, origin, axes=1)
        c = (origin * origin).sum(axis=0) - self.radius_m**2
        return _quadric_interval(float(direction @ direction), b, c, _UNBOUNDED)

    def _local_bounds(self) -> tuple[Vec3, Vec3]:
        r = self.radius_m
        return (-r, -r, -r), (r, r, r)

    @property
    def bounding_radius_m(self) -> float:
        return self.radius_m

    def volume_m3(self) -> float:
        return 4.0 / 3.0 * math.pi * self.radius_m**3


@dataclass(frozen=True, slots=True, kw_only=True)
class Ellipsoid(Body):
    """An ellipsoid with semi-axes ``semi_axes_m`` (local x, y, z), turned by ``rotation_rad``.

    ``rotation_rad = (α, β, γ)`` rotates the body about the sample x, then y, then z axis (extrinsic, rad).
    """

    semi_axes_m: Vec3
    rotation_rad: Vec3 = (0.0, 0.0, 0.0)
    kind: ClassVar[str] = "ellipsoid"

    def __post_init__(self) -> None:
        Body.__post_init__(self)
        axes = _vec3("semi_axes_m", self.semi_axes_m)
        object.__setattr__(self, "semi_axes_m", tuple(_positive("semi_axes_m", a) for a in axes))
        object.__setattr__(self, "rotation_rad", _vec3("rotation_rad", self.rotation_rad))

    def _rotation(self) -> F64:
        return _euler_matrix(self.rotation_rad)

    def _local_interval(self, origin: F64, direction: F64) -> _Interval:
        scale = 1.0 / np.asarray(self.semi_axes_m)
        o = origin * scale.reshape((3,) + (1,) * (origin.ndim - 1))
        d = direction * scale
        b = 2 * np.tensordot(d, o, axes=1)
        c = (o * o).sum(axis=0) - 1.0
        return _quadric_interval(float(d @ d), b, c, _UNBOUNDED, a_scale=float(scale.max() ** 2))

    def _local_bounds(self) -> tuple[Vec3, Vec3]:
        a, b, c = self.semi_axes_m
        return (-a, -b, -c), (a, b, c)

    @property
    def bounding_radius_m(self) -> float:
        return max(self.semi_axes_m)

    def volume_m3(self) -> float:
        a, b, c = self.semi_axes_m
        return 4.0 / 3.0 * math.pi * a * b * c


@dataclass(frozen=True, slots=True, kw_only=True)
class Cylinder(Body):
    """A finite circular cylinder of ``radius_m`` and ``length_m`` centred at ``centre_m`` along ``axis``.

    ``axis`` is a direction in the sample frame: ``(0, 0, 1)`` (default) is vertical (along the rotation axis and
    the detector rows), ``(1, 0, 0)`` horizontal in the detector plane at angle 0, ``(0, 1, 0)`` along the beam.
    """

    radius_m: float
    length_m: float
    axis: Vec3 = (0.0, 0.0, 1.0)
    kind: ClassVar[str] = "cylinder"

    def __post_init__(self) -> None:
        Body.__post_init__(self)
        object.__setattr__(self, "radius_m", _positive("radius_m", self.radius_m))
        object.__setattr__(self, "length_m", _positive("length_m", self.length_m))
        object.__setattr__(self, "axis", _unit_axis(self.axis))

    def _rotation(self) -> F64:
        return _axis_matrix(self.axis)

    def _local_interval(self, origin: F64, direction: F64) -> _Interval:
        ox, oy, oz = origin
        dx, dy, dz = direction
        b = 2 * (ox * dx + oy * dy)
        c = ox * ox + oy * oy - self.radius_m**2
        return _quadric_interval(float(dx * dx + dy * dy), b, c, _slab(oz, float(dz), self.length_m / 2))

    def _local_bounds(self) -> tuple[Vec3, Vec3]:
        r, h = self.radius_m, self.length_m / 2
        return (-r, -r, -h), (r, r, h)

    @property
    def bounding_radius_m(self) -> float:
        return math.hypot(self.radius_m, self.length_m / 2)

    def volume_m3(self) -> float:
        return math.pi * self.radius_m**2 * self.length_m


@dataclass(frozen=True, slots=True, kw_only=True)
class Box(Body):
    """A rectangular box with edge lengths ``size_m`` (local x, y, z) centred at ``centre_m``.

    ``rotation_rad = (α, β, γ)`` rotates it about the sample x, then y, then z axis (extrinsic, rad).
    """

    size_m: Vec3
    rotation_rad: Vec3 = (0.0, 0.0, 0.0)
    kind: ClassVar[str] = "box"

    def __post_init__(self) -> None:
        Body.__post_init__(self)
        sizes = _vec3("size_m", self.size_m)
        object.__setattr__(self, "size_m", tuple(_positive("size_m", a) for a in sizes))
        object.__setattr__(self, "rotation_rad", _vec3("rotation_rad", self.rotation_rad))

    def _rotation(self) -> F64:
        return _euler_matrix(self.rotation_rad)

    def _local_interval(self, origin: F64, direction: F64) -> _Interval:
        lo = np.full(origin.shape[1:], -np.inf)
        hi = np.full(origin.shape[1:], np.inf)
        for axis in range(3):
            a, b = _slab(origin[axis], float(direction[axis]), self.size_m[axis] / 2)
            lo, hi = np.maximum(lo, a), np.minimum(hi, b)
        return lo, hi

    def _local_bounds(self) -> tuple[Vec3, Vec3]:
        a, b, c = (x / 2 for x in self.size_m)
        return (-a, -b, -c), (a, b, c)

    @property
    def bounding_radius_m(self) -> float:
        return 0.5 * math.sqrt(sum(s * s for s in self.size_m))

    def volume_m3(self) -> float:
        return self.size_m[0] * self.size_m[1] * self.size_m[2]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cone(Body):
    """A cone (or frustum) with its base of ``radius_m`` centred at ``centre_m`` and its tip along ``axis``.

    The apex lies at ``centre_m + height_m · axis``; ``top_radius_m > 0`` cuts it to a frustum with a top face of
    that radius. ``axis = (0, 0, -1)`` points the tip up in the image (towards row 0).
    """

    radius_m: float
    height_m: float
    axis: Vec3 = (0.0, 0.0, -1.0)
    top_radius_m: float = 0.0
    kind: ClassVar[str] = "cone"

    def __post_init__(self) -> None:
        Body.__post_init__(self)
        object.__setattr__(self, "radius_m", _positive("radius_m", self.radius_m))
        object.__setattr__(self, "height_m", _positive("height_m", self.height_m))
        object.__setattr__(
            self, "top_radius_m", check_range("top_radius_m", self.top_radius_m, low=0, unit="m")
        )
        object.__setattr__(self, "axis", _unit_axis(self.axis))

    def _rotation(self) -> F64:
        return _axis_matrix(self.axis)

    def _local_interval(self, origin: F64, direction: F64) -> _Interval:
        ox, oy, oz = origin
        dx, dy, dz = direction
        g = (self.top_radius_m - self.radius_m) / self.height_m  # r(z) = R0 + g z on 0 <= z <= H
        r0 = self.radius_m + g * oz
        a = float(dx * dx + dy * dy - g * g * dz * dz)
        b = 2 * (ox * dx + oy * dy) - 2 * g * dz * r0
        c = ox * ox + oy * oy - r0 * r0
        half = self.height_m / 2
        return _quadric_interval(a, b, c, _slab(oz - half, float(dz), half), a_scale=1.0 + g * g)

    def _local_bounds(self) -> tuple[Vec3, Vec3]:
        r = max(self.radius_m, self.top_radius_m)
        return (-r, -r, 0.0), (r, r, self.height_m)

    @property
    def bounding_radius_m(self) -> float:
        return max(self.radius_m, math.hypot(self.top_radius_m, self.height_m))

    def volume_m3(self) -> float:
        r0, r1 = self.radius_m, self.top_radius_m
        return math.pi * self.height_m * (r0 * r0 + r0 * r1 + r1 * r1) / 3.0


def _unit_axis(axis: Any) -> Vec3:
    v = _vec3("axis", axis)
    norm = math.sqrt(sum(c * c for c in v))
    if norm == 0:
        raise ConfigError(f"axis = {axis!r} is not allowed: must be a non-zero direction")
    return v[0] / norm, v[1] / norm, v[2] / norm


# ----------------------------------------------------------------------------------------------------------------
# Projection
# ----------------------------------------------------------------------------------------------------------------


def _union_length(lo: F64, hi: F64) -> F64:
    """Total length of the union of intervals ``[lo[r], hi[r]]`` along axis 0 (empty where lo >= hi)."""
    if lo.shape[0] == 1:
        single: F64 = np.maximum(hi[0] - lo[0], 0.0)
        return single
    if lo.shape[0] == 2:  # inclusion–exclusion
        overlap = np.maximum(np.minimum(hi[0], hi[1]) - np.maximum(lo[0], lo[1]), 0.0)
        pair: F64 = np.maximum(hi[0] - lo[0], 0.0) + np.maximum(hi[1] - lo[1], 0.0) - overlap
        return pair
    empty = hi <= lo
    lo = np.where(empty, np.inf, lo)
    hi = np.where(empty, -np.inf, hi)
    order = np.argsort(lo, axis=0)
    lo = np.take_along_axis(lo, order, axis=0)
    hi = np.take_along_axis(hi, order, axis=0)
    total = np.zeros(lo.shape[1:])
    reach = np.full(lo.shape[1:], -np.inf)
    for r in range(lo.shape[0]):
        start = np.maximum(lo[r], reach)
        total += np.maximum(hi[r] - start, 0.0)
        reach = np.maximum(reach, hi[r])
    return total


def _lengths(
    bodies: Sequence[Body], s: F64, v: F64, angle_rad: float, depth_range: tuple[float, float] | None
) -> list[F64]:
    """Length inside each body (after later bodies displaced it) of the rays at column ``s`` and height ``v``."""
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)
    origin = np.stack([s * cos, s * sin, v])
    direction = np.array([-sin, cos, 0.0])
    intervals = []
    for body in bodies:
        lo, hi = body.interval(origin, direction)
        if depth_range is not None:
            lo, hi = np.maximum(lo, depth_range[0]), np.minimum(hi, depth_range[1])
        intervals.append((lo, hi))
    out = []
    for j, (lo, hi) in enumerate(intervals):
        length = np.maximum(hi - lo, 0.0)
        later = intervals[j + 1 :]
        if later and np.any(length > 0):
            clipped_lo = np.stack([np.maximum(a, lo) for a, _ in later])
            clipped_hi = np.stack([np.minimum(b, hi) for _, b in later])
            length = length - _union_length(clipped_lo, clipped_hi)
        out.append(np.maximum(length, 0.0))
    return out


_Span = tuple[int, int, int, int]  # rows r0:r1, cols c0:c1


def _span(body: Body, s_axis: F64, v_axis: F64, angle_rad: float) -> _Span | None:
    """The index window of the grid ``v_axis × s_axis`` (both increasing) that the body's shadow can touch."""
    s_min, s_max, v_min, v_max = body.footprint_m(angle_rad)
    margin = 1e-9 * max(abs(s_min), abs(s_max), abs(v_min), abs(v_max), 1e-12)
    c0 = int(np.searchsorted(s_axis, s_min - margin, side="left"))
    c1 = int(np.searchsorted(s_axis, s_max + margin, side="right"))
    r0 = int(np.searchsorted(v_axis, v_min - margin, side="left"))
    r1 = int(np.searchsorted(v_axis, v_max + margin, side="right"))
    return (r0, r1, c0, c1) if r1 > r0 and c1 > c0 else None


def _grid_lengths(
    bodies: Sequence[Body],
    s_axis: F64,
    v_axis: F64,
    angle_rad: float,
    depth_range: tuple[float, float] | None,
) -> tuple[list[F64], list[_Span | None]]:
    """Per-body lengths on the grid ``v_axis × s_axis``, each body traced only inside its shadow's window.

    Returns full-size ``(rows, cols)`` maps and the window of each body (``None`` when it misses the grid).
    """
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)
    direction = np.array([-sin, cos, 0.0])
    spans: list[_Span | None] = []
    intervals: list[_Interval | None] = []
    for body in bodies:
        span = _span(body, s_axis, v_axis, angle_rad)
        spans.append(span)
        if span is None:
            intervals.append(None)
            continue
        r0, r1, c0, c1 = span
        s, v = np.broadcast_arrays(s_axis[None, c0:c1], v_axis[r0:r1, None])
        lo, hi = body.interval(np.stack([s * cos, s * sin, v]), direction)
        if depth_range is not None:
            lo, hi = np.maximum(lo, depth_range[0]), np.minimum(hi, depth_range[1])
        intervals.append((lo, hi))
    out = []
    for j, span in enumerate(spans):
        full = np.zeros((v_axis.size, s_axis.size))
        out.append(full)
        interval = intervals[j]
        if span is None or interval is None:
            continue
        r0, r1, c0, c1 = span
        lo, hi = interval
        length = np.maximum(hi - lo, 0.0)
        overlaps = []  # (later body, window in grid indices) where a later body can displace this one
        for i in range(j + 1, len(bodies)):
            other = spans[i]
            if other is None or intervals[i] is None:
                continue
            a0, a1, b0, b1 = max(r0, other[0]), min(r1, other[1]), max(c0, other[2]), min(c1, other[3])
            if a1 > a0 and b1 > b0:
                overlaps.append((i, (a0, a1, b0, b1)))
        if overlaps:  # subtract the union of the later intervals on the smallest window holding them all
            w0, w1 = min(o[1][0] for o in overlaps), max(o[1][1] for o in overlaps)
            v0, v1 = min(o[1][2] for o in overlaps), max(o[1][3] for o in overlaps)
            region = (slice(w0 - r0, w1 - r0), slice(v0 - c0, v1 - c0))
            shape = (len(overlaps), w1 - w0, v1 - v0)
            block_lo, block_hi = np.full(shape, np.inf), np.full(shape, -np.inf)
            for k, (i, (a0, a1, b0, b1)) in enumerate(overlaps):
                other, other_interval = spans[i], intervals[i]
                assert other is not None and other_interval is not None
                here = (slice(a0 - r0, a1 - r0), slice(b0 - c0, b1 - c0))
                there = (slice(a0 - other[0], a1 - other[0]), slice(b0 - other[2], b1 - other[2]))
                inner = (k, slice(a0 - w0, a1 - w0), slice(b0 - v0, b1 - v0))
                block_lo[inner] = np.maximum(other_interval[0][there], lo[here])
                block_hi[inner] = np.minimum(other_interval[1][there], hi[here])
            length[region] = np.maximum(length[region] - _union_length(block_lo, block_hi), 0.0)
        full[r0:r1, c0:c1] = length
    return out, spans


def project_bodies(
    bodies: Iterable[Body],
    shape: tuple[int, int],
    *,
    pixel_size_m: float | tuple[float, float],
    angle_rad: float = 0.0,
    center_col: float | None = None,
    sampling: Sampling = "point",
    supersampling: int = 8,
    depth_range_m: tuple[float, float] | None = None,
    xp: Any = None,
    dtype: Any = None,
    device: Any = None,
) -> dict[str, Array]:
    """Projected thickness (m) of analytic bodies on a detector grid, one map per material.

    Parameters
    ----------
    bodies
        The bodies; a later body displaces earlier ones where they overlap.
    shape
        Detector shape ``(rows, cols)``.
    pixel_size_m
        Pixel size (m, sample plane), a number or a (row, col) pair.
    angle_rad
        Rotation of the sample about the vertical (z) axis (rad), for tomography.
    center_col
        Column coordinate (pixels, float) of the rotation axis; default the detector centre ``(cols − 1)/2``.
    sampling
        ``"point"``: thickness at the pixel centres (syris); ``"area"``: pixel-area average (anti-aliased).
    supersampling
        Sub-samples per pixel and axis in ``"area"`` mode (edge pixels only).
    depth_range_m
        Keep only the part of each ray with ``τ`` in this range (m along the beam, 0 = the plane through the
        rotation axis): the thickness of one slab, for multislice (:func:`project_slices`).
    xp, dtype, device
        Namespace of the result (e.g. ``torch``; default numpy), real dtype (default ``xrai.options``) and device.

    Returns
    -------
    dict[str, Array]
        Material name → thickness map ``[row, col]`` in m (every material of ``bodies``, in order of appearance).

    Notes
    -----
    The thickness along a ray is the length of its intersection interval with the body; intervals are exact
    (quadrics and slabs solved in float64). Area mode finds the pixels where a silhouette passes (a body's
    hit/miss differs between the pixel corners and centre), widens that set by two pixels (the thickness of a
    round body varies like √distance near its rim) and replaces their value by the mean over a regular
    ``supersampling × supersampling`` grid of sub-pixel rays; bodies smaller than two pixels are supersampled
    over their whole footprint. Elsewhere the thickness is smooth and its pixel mean is the centre value plus the
    second-order term ``(Δ²_row t + Δ²_col t)/24`` (exact for quadratics), which removes the O((p/R)²) bias of
    point sampling on curved bodies.

    Examples
    --------
    >>> from xrai.physics.bodies import Cylinder, Sphere, project_bodies
    >>> maps = project_bodies([Sphere(radius_m=3e-6, material="water"),
    ...                        Cylinder(radius_m=1e-6, length_m=8e-6, material="steel")],
    ...                       (16, 16), pixel_size_m=1e-6, sampling="area")
    >>> sorted(maps)
    ['steel', 'water']
    """
    body_list = list(bodies)
    if not body_list:
        raise ConfigError("bodies is empty: give at least one body")
    for body in body_list:
        if not isinstance(body, Body):
            raise ConfigError(
                f"bodies must be Body instances (Sphere, Cylinder, ...), got {type(body).__name__}"
            )
    if len(shape) != 2 or min(shape) < 1:
        raise ConfigError(f"shape = {shape!r} is not allowed: must be (rows, cols) >= 1")
    shape = (int(shape[0]), int(shape[1]))
    if isinstance(pixel_size_m, tuple | list):
        pixels = (_positive("pixel_size_m", pixel_size_m[0]), _positive("pixel_size_m", pixel_size_m[1]))
    else:
        pixels = (_positive("pixel_size_m", pixel_size_m), _positive("pixel_size_m", pixel_size_m))
    if sampling not in ("point", "area"):
        raise ConfigError(f"sampling = {sampling!r} is not allowed: must be 'point' or 'area'")
    factor = int(check_range("supersampling", supersampling, low=1, high=64))
    center = (shape[1] - 1) / 2.0 if center_col is None else float(center_col)
    angle = float(angle_rad)
    if depth_range_m is not None and not depth_range_m[0] < depth_range_m[1]:
        raise ConfigError(
            f"depth_range_m = {depth_range_m!r} is not allowed: must be (start, stop) with start < stop"
        )

    s_axis = (np.arange(shape[1], dtype=np.float64) - center) * pixels[1]
    v_axis = (np.arange(shape[0], dtype=np.float64) - (shape[0] - 1) / 2.0) * pixels[0]
    per_body, spans = _grid_lengths(body_list, s_axis, v_axis, angle, depth_range_m)
    if sampling == "area" and factor > 1:
        centre_hits = [t > 0 for t in per_body]
        for out, span in zip(per_body, spans, strict=True):
            if span is not None:  # one pixel of margin: the Laplacian reaches the zeros around the shadow
                r0, r1, c0, c1 = max(span[0] - 1, 0), span[1] + 1, max(span[2] - 1, 0), span[3] + 1
                out[r0:r1, c0:c1] += _curvature_correction(out[r0:r1, c0:c1])
        _antialias(
            body_list, per_body, centre_hits, spans, shape, pixels, angle, center, factor, depth_range_m
        )

    maps: dict[str, F64] = {}
    for body, length in zip(body_list, per_body, strict=True):
        maps[body.material] = maps[body.material] + length if body.material in maps else length
    return {name: _convert(t, xp, dtype, device) for name, t in maps.items()}


def _curvature_correction(values: F64) -> F64:
    """Second-order midpoint correction (Δ²_row + Δ²_col)/24: mean of a smooth f over a pixel minus f(centre)."""
    lap = np.zeros_like(values)
    lap[1:-1, :] += values[2:, :] - 2 * values[1:-1, :] + values[:-2, :]
    lap[:, 1:-1] += values[:, 2:] - 2 * values[:, 1:-1] + values[:, :-2]
    return lap / 24.0


def _antialias(
    bodies: Sequence[Body],
    per_body: list[F64],
    centre_hits: Sequence[npt.NDArray[np.bool_]],
    spans: Sequence[_Span | None],
    shape: tuple[int, int],
    pixels: tuple[float, float],
    angle: float,
    center: float,
    factor: int,
    depth_range: tuple[float, float] | None,
) -> None:
    """Replace the values of pixels near a silhouette by sub-pixel averages, in place."""
    s_corner = (np.arange(shape[1] + 1, dtype=np.float64) - 0.5 - center) * pixels[1]
    v_corner = (np.arange(shape[0] + 1, dtype=np.float64) - 0.5 - (shape[0] - 1) / 2.0) * pixels[0]
    corners, _ = _grid_lengths(bodies, s_corner, v_corner, angle, depth_range)
    edge = np.zeros(shape, dtype=bool)
    for hit_corner, centre in zip(corners, centre_hits, strict=True):
        inside = hit_corner > 0
        stack = [inside[:-1, :-1], inside[1:, :-1], inside[:-1, 1:], inside[1:, 1:], centre]
        edge |= np.logical_or.reduce(stack) & ~np.logical_and.reduce(stack)
    for _ in range(2):  # widen by two pixels: near the rim t ~ sqrt(distance) is far from linear
        grown = edge.copy()
        grown[1:] |= edge[:-1]
        grown[:-1] |= edge[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        edge = grown
    for body, span in zip(bodies, spans, strict=True):
        s_min, s_max, v_min, v_max = body.footprint_m(angle)
        if span is not None and min(s_max - s_min, v_max - v_min) < 4 * max(pixels):
            edge[span[0] : span[1], span[2] : span[3]] = True  # thin bodies can hide between the corners
    er, ec = np.nonzero(edge)
    if er.size == 0:
        return
    offsets = (np.arange(factor) + 0.5) / factor - 0.5
    grid_r, grid_c = np.meshgrid(offsets, offsets, indexing="ij")
    sub_r, sub_c = grid_r.ravel(), grid_c.ravel()
    chunk = max(1, 2**20 // (factor * factor))
    for start in range(0, er.size, chunk):
        pr = er[start : start + chunk]
        pc = ec[start : start + chunk]
        sub_s = ((pc[:, None] + sub_c[None, :] - center) * pixels[1]).astype(np.float64)
        sub_v = ((pr[:, None] + sub_r[None, :] - (shape[0] - 1) / 2.0) * pixels[0]).astype(np.float64)
        lengths = _lengths(bodies, sub_s, sub_v, angle, depth_range)
        for out, length in zip(per_body, lengths, strict=True):
            out[pr, pc] = length.mean(axis=1)


def _convert(values: F64, xp: Any, dtype: Any, device: Any) -> Array:
    if xp is None:
        return values.astype(real_dtype(np, dtype), copy=False)
    target = real_dtype(xp, dtype)
    np_dtype = np.float64 if target == xp.float64 else np.float32
    return xp.asarray(values.astype(np_dtype, copy=False), device=device)


def project_slices(
    bodies: Iterable[Body],
    shape: tuple[int, int],
    *,
    pixel_size_m: float | tuple[float, float],
    n_slices: int,
    depth_m: float,
    **kwargs: Any,
) -> list[dict[str, Array]]:
    """Thickness maps of ``n_slices`` equal slabs covering ``[−depth/2, depth/2]`` along the beam (multislice).

    The slabs are ordered along the beam (source side first) and spaced ``depth_m / n_slices``; their sum is
    :func:`project_bodies` for bodies inside the depth. Other keywords as in :func:`project_bodies`.
    """
    count = int(check_range("n_slices", n_slices, low=1))
    depth = _positive("depth_m", depth_m)
    edges = np.linspace(-depth / 2, depth / 2, count + 1)
    body_list = list(bodies)
    return [
        project_bodies(
            body_list, shape, pixel_size_m=pixel_size_m, depth_range_m=(float(a), float(b)), **kwargs
        )
        for a, b in itertools.pairwise(edges)
    ]


# ----------------------------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------------------------


def wax_on_needle(
    *,
    scale: float = 1.0,
    wax_material: str = "paraffin_wax",
    needle_material: str = "steel",
) -> tuple[Body, ...]:
    """The seed's tomography sample: a wax blob on the conical tip of a steel needle, about 1.5 mm across.

    At ``scale = 1`` the sample fits a 1.5 mm field of view (e.g. 1230 pixels of 1.22 µm): a vertical steel
    needle of 0.2 mm diameter enters from the bottom edge (``z = +0.75 mm``), ends at ``z = +0.1 mm`` in a
    0.35 mm long conical tip pointing up, and carries an ellipsoidal wax blob (semi-axes 0.45, 0.40, 0.35 mm,
    tilted by 0.3 rad) centred slightly off the rotation axis so that it wobbles in a tomographic scan. The
    needle displaces the wax where they overlap. All lengths scale with ``scale``.

    Returns
    -------
    tuple[Body, ...]
        ``(wax ellipsoid, needle cylinder, needle tip cone)`` for :func:`project_bodies`.
    """
    k = check_range("scale", scale, low=0, low_inclusive=False)
    mm = 1e-3 * k
    wax = Ellipsoid(
        material=wax_material,
        centre_m=(0.03 * mm, -0.02 * mm, -0.15 * mm),
        semi_axes_m=(0.45 * mm, 0.40 * mm, 0.35 * mm),
        rotation_rad=(0.0, 0.3, 0.0),
    )
    shaft = Cylinder(
        material=needle_material, centre_m=(0.0, 0.0, 0.5 * mm), radius_m=0.1 * mm, length_m=0.8 * mm
    )
    tip = Cone(material=needle_material, centre_m=(0.0, 0.0, 0.1 * mm), radius_m=0.1 * mm, height_m=0.35 * mm)
    return (wax, shaft, tip)
