"""Rigid motion of samples: poses, trajectories, per-frame poses and motion blur by sub-frame integration.

A :class:`Pose` maps body coordinates to sample-frame coordinates, ``p' = R p + t`` (``t`` in m). A trajectory is
any object with a ``pose(time_s) -> Pose`` method: :class:`LinearTrajectory`, :class:`SplineTrajectory` (cubic
spline through waypoints), :class:`RotationTrajectory` (about any axis through any point) and
:class:`ComposedTrajectory` (one motion on top of another).

A detector integrates over its exposure. When a body moves by more than half a pixel within one exposure, a
single snapshot is wrong; :func:`n_subframes` says how many snapshots (sub-frames) keep the motion between two of
them at or below half a pixel, and :func:`motion_blur` averages a renderer over them. :func:`droplet_sequence`
is the seed's example: liquid droplets crossing the field of view at 20 pixels per frame, filmed at 5 000
frames/s.

Conventions
-----------
- Vectors (positions, velocities, axes) are ``(x, y, z)`` in the sample frame of :mod:`xrai.geometry`
  (``z`` the rotation axis, vertical on the detector; at rotation angle θ the detector column coordinate is
  ``x cos θ + y sin θ``). Arrays of images stay ``[row, col]``.
- Frame ``k`` starts at ``start_s + k / frame_rate_hz`` and lasts ``exposure_s`` (≤ the frame period).
- Sub-frame ``j`` of ``n`` samples the exposure at its midpoint ``(j + 1/2) / n`` (midpoint rule).

Examples
--------
>>> from xrai.physics.motion import LinearTrajectory, n_subframes
>>> falling = LinearTrajectory(velocity_m_s=(0.0, 0.0, -0.05))       # 5 cm/s downwards
>>> falling.pose(0.01).translation_m.tolist()
[0.0, 0.0, -0.0005]
>>> n_subframes(falling, start_s=0.0, exposure_s=1e-4, pixel_size_m=1e-6)   # 5 px within the exposure
10
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng
from xrai._typing import Array, RngLike
from xrai.errors import ConfigError, check_range
from xrai.units import to_canonical

__all__ = [
    "ComposedTrajectory",
    "DropletSequence",
    "LinearTrajectory",
    "Pose",
    "RotationTrajectory",
    "SplineTrajectory",
    "Trajectory",
    "droplet_sequence",
    "frame_times",
    "motion_blur",
    "n_subframes",
    "rotation_matrix",
    "subframe_times",
]

FloatArray = npt.NDArray[np.float64]


def _vector(value: Any, name: str) -> FloatArray:
    vector = np.asarray(value, dtype=np.float64)
    if vector.shape != (3,) or not np.all(np.isfinite(vector)):
        raise ConfigError(f"{name} = {value!r} is not allowed: must be a finite (x, y, z) vector")
    vector = vector.copy()
    vector.flags.writeable = False
    return vector


def rotation_matrix(axis: npt.ArrayLike, angle_rad: float) -> FloatArray:
    """Rotation by ``angle_rad`` (right-handed) about the unit vector along ``axis`` (Rodrigues' formula).

    Examples
    --------
    >>> import numpy as np
    >>> np.round(rotation_matrix((0, 0, 1), np.pi / 2) @ [1.0, 0.0, 0.0], 12).tolist()
    [0.0, 1.0, 0.0]
    """
    u = np.asarray(axis, dtype=np.float64)
    norm = float(np.linalg.norm(u)) if u.shape == (3,) else 0.0
    if norm == 0.0 or not math.isfinite(norm):
        raise ConfigError(f"axis = {axis!r} is not allowed: must be a non-zero finite (x, y, z) vector")
    u = u / norm
    k = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    result: FloatArray = np.eye(3) + math.sin(angle_rad) * k + (1.0 - math.cos(angle_rad)) * (k @ k)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Pose:
    """A rigid pose: ``p' = rotation @ p + translation_m`` (body frame → sample frame, m).

    Examples
    --------
    >>> import numpy as np
    >>> turn = Pose(rotation=rotation_matrix((0, 0, 1), np.pi / 2))
    >>> shift = Pose(translation_m=(1.0, 0.0, 0.0))
    >>> shift.compose(turn).apply([1.0, 0.0, 0.0]).round(12).tolist()     # turn first, then shift
    [1.0, 1.0, 0.0]
    """

    rotation: FloatArray = field(default_factory=lambda: np.eye(3))
    translation_m: FloatArray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        rotation = np.asarray(self.rotation, dtype=np.float64)
        if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9):
            raise ConfigError(
                f"rotation = {self.rotation!r} is not allowed: must be an orthonormal 3 × 3 matrix"
            )
        if np.linalg.det(rotation) < 0:
            raise ConfigError("rotation has determinant -1 (a reflection): must be a proper rotation")
        rotation = rotation.copy()
        rotation.flags.writeable = False
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation_m", _vector(self.translation_m, "translation_m"))

    def apply(self, points_m: npt.ArrayLike) -> FloatArray:
        """Transform points ``[..., 3]`` (m) from the body frame to the sample frame."""
        points = np.asarray(points_m, dtype=np.float64)
        moved: FloatArray = points @ self.rotation.T + self.translation_m
        return moved

    def compose(self, first: Pose) -> Pose:
        """The pose that applies ``first`` and then ``self``."""
        return Pose(
            rotation=self.rotation @ first.rotation,
            translation_m=self.rotation @ first.translation_m + self.translation_m,
        )

    def inverse(self) -> Pose:
        """The inverse pose (sample frame → body frame)."""
        return Pose(rotation=self.rotation.T, translation_m=-(self.rotation.T @ self.translation_m))


@runtime_checkable
class Trajectory(Protocol):
    """Anything with a pose at every time."""

    def pose(self, time_s: float) -> Pose:
        """The pose at ``time_s`` (s)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearTrajectory:
    """Uniform translation: ``t(time) = start_m + velocity_m_s * (time - start_time_s)``."""

    velocity_m_s: FloatArray
    start_m: FloatArray = field(default_factory=lambda: np.zeros(3))
    start_time_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "velocity_m_s", _vector(self.velocity_m_s, "velocity_m_s"))
        object.__setattr__(self, "start_m", _vector(self.start_m, "start_m"))
        object.__setattr__(self, "start_time_s", check_range("start_time_s", self.start_time_s, unit="s"))

    def pose(self, time_s: float) -> Pose:
        """The pose at ``time_s`` (s)."""
        return Pose(translation_m=self.start_m + self.velocity_m_s * (time_s - self.start_time_s))


@dataclass(frozen=True, slots=True, kw_only=True)
class SplineTrajectory:
    """Translation along a cubic spline through waypoints (held at the end points outside their time range).

    Parameters
    ----------
    times_s
        Strictly increasing waypoint times (s), at least 2.
    positions_m
        Waypoints ``[n, 3]`` as ``(x, y, z)`` (m).
    boundary
        Spline end condition: ``"natural"`` (zero curvature), ``"clamped"`` (zero velocity) or ``"not-a-knot"``.

    Examples
    --------
    >>> path = SplineTrajectory(times_s=[0.0, 1.0, 2.0], positions_m=[[0, 0, 0], [1, 1, 0], [2, 0, 0]])
    >>> path.pose(1.0).translation_m.tolist()
    [1.0, 1.0, 0.0]
    """

    times_s: FloatArray
    positions_m: FloatArray
    boundary: str = "natural"
    _spline: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from scipy.interpolate import CubicSpline

        times = np.asarray(self.times_s, dtype=np.float64)
        positions = np.asarray(self.positions_m, dtype=np.float64)
        if times.ndim != 1 or times.size < 2 or not np.all(np.diff(times) > 0):
            raise ConfigError(
                f"times_s = {self.times_s!r} is not allowed: must be >= 2 strictly increasing times"
            )
        if positions.shape != (times.size, 3) or not np.all(np.isfinite(positions)):
            raise ConfigError(
                f"positions_m has shape {positions.shape}: must be [{times.size}, 3] finite (x, y, z) points"
            )
        if self.boundary not in ("natural", "clamped", "not-a-knot"):
            raise ConfigError(
                f"boundary = {self.boundary!r} is not allowed: must be 'natural', 'clamped' or 'not-a-knot'"
            )
        boundary = self.boundary if times.size > 2 or self.boundary != "not-a-knot" else "natural"
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "positions_m", positions)
        object.__setattr__(self, "_spline", CubicSpline(times, positions, axis=0, bc_type=boundary))

    def pose(self, time_s: float) -> Pose:
        """The pose at ``time_s`` (s)."""
        t = min(max(float(time_s), float(self.times_s[0])), float(self.times_s[-1]))
        return Pose(translation_m=np.asarray(self._spline(t), dtype=np.float64))


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationTrajectory:
    """Uniform rotation about the axis ``axis`` through ``centre_m``: angle ``start_angle_rad + ω (t - t0)``.

    Examples
    --------
    >>> import numpy as np
    >>> spin = RotationTrajectory(axis=(0, 0, 1), angular_velocity_rad_s=np.pi, centre_m=(1.0, 0.0, 0.0))
    >>> spin.pose(1.0).apply([2.0, 0.0, 0.0]).round(12).tolist()        # half a turn about x = 1
    [0.0, 0.0, 0.0]
    """

    axis: FloatArray
    angular_velocity_rad_s: float
    centre_m: FloatArray = field(default_factory=lambda: np.zeros(3))
    start_angle_rad: float = 0.0
    start_time_s: float = 0.0

    def __post_init__(self) -> None:
        axis = _vector(self.axis, "axis")
        if not np.any(axis):
            raise ConfigError(f"axis = {self.axis!r} is not allowed: must be a non-zero (x, y, z) vector")
        object.__setattr__(self, "axis", axis)
        object.__setattr__(self, "centre_m", _vector(self.centre_m, "centre_m"))
        for name in ("angular_velocity_rad_s", "start_angle_rad", "start_time_s"):
            object.__setattr__(self, name, check_range(name, getattr(self, name)))

    def pose(self, time_s: float) -> Pose:
        """The pose at ``time_s`` (s)."""
        angle = self.start_angle_rad + self.angular_velocity_rad_s * (time_s - self.start_time_s)
        rotation = rotation_matrix(self.axis, angle)
        return Pose(rotation=rotation, translation_m=self.centre_m - rotation @ self.centre_m)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposedTrajectory:
    """Motions applied in order: ``parts[0]`` first (e.g. a spin in the body frame), then ``parts[1]``, ...

    Examples
    --------
    >>> import numpy as np
    >>> spin = RotationTrajectory(axis=(0, 0, 1), angular_velocity_rad_s=np.pi / 2)
    >>> drift = LinearTrajectory(velocity_m_s=(0.0, 0.0, 1.0))
    >>> ComposedTrajectory(parts=(spin, drift)).pose(1.0).apply([1.0, 0.0, 0.0]).round(12).tolist()
    [0.0, 1.0, 1.0]
    """

    parts: tuple[Trajectory, ...]

    def __post_init__(self) -> None:
        parts = tuple(self.parts)
        if not parts or not all(isinstance(p, Trajectory) for p in parts):
            raise ConfigError(f"parts = {self.parts!r} is not allowed: must be one or more trajectories")
        object.__setattr__(self, "parts", parts)

    def pose(self, time_s: float) -> Pose:
        """The pose at ``time_s`` (s)."""
        pose = self.parts[0].pose(time_s)
        for part in self.parts[1:]:
            pose = part.pose(time_s).compose(pose)
        return pose


# --------------------------------------------------------------------------------------------------------------
# Frames, sub-frames, blur
# --------------------------------------------------------------------------------------------------------------


def frame_times(n_frames: int, *, frame_rate_hz: float, start_s: float = 0.0) -> FloatArray:
    """Start times (s) of ``n_frames`` frames at ``frame_rate_hz``.

    Examples
    --------
    >>> frame_times(3, frame_rate_hz=5000.0).tolist()
    [0.0, 0.0002, 0.0004]
    """
    check_range("n_frames", n_frames, low=1)
    rate = check_range("frame_rate_hz", frame_rate_hz, low=0, low_inclusive=False, unit="Hz")
    times: FloatArray = start_s + np.arange(int(n_frames)) / rate
    return times


def subframe_times(*, start_s: float, exposure_s: float, n: int) -> FloatArray:
    """Midpoints (s) of ``n`` equal sub-intervals of the exposure ``[start_s, start_s + exposure_s]``."""
    check_range("n", n, low=1)
    exposure = check_range("exposure_s", exposure_s, low=0, unit="s")
    times: FloatArray = start_s + (np.arange(int(n), dtype=np.float64) + 0.5) * (exposure / int(n))
    return times


def n_subframes(
    trajectory: Trajectory,
    *,
    start_s: float,
    exposure_s: float,
    pixel_size_m: float | str,
    points_m: npt.ArrayLike = ((0.0, 0.0, 0.0),),
    angle_rad: float = 0.0,
    max_shift_px: float = 0.5,
    n_probe: int = 64,
) -> int:
    """How many sub-frames keep the image motion between two of them at or below ``max_shift_px``.

    The detector path of every body point in ``points_m`` (``(x, y, z)`` in the body frame, m; e.g. the corners
    of its bounding box) is followed over the exposure at ``n_probe + 1`` times; motion along the beam does not
    count. One sub-frame suffices if no point moves by more than ``max_shift_px`` (half a pixel by default).

    Returns
    -------
    int
        ``max(1, ceil(longest path in pixels / max_shift_px))``.
    """
    pixel = check_range(
        "pixel_size_m", to_canonical(pixel_size_m, name="pixel_size_m"), low=0, low_inclusive=False
    )
    exposure = check_range("exposure_s", exposure_s, low=0, unit="s")
    shift = check_range("max_shift_px", max_shift_px, low=0, low_inclusive=False, unit="px")
    check_range("n_probe", n_probe, low=1)
    points = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    times = start_s + np.linspace(0.0, exposure, int(n_probe) + 1)
    # detector coordinates (col, row) in pixels: s = x cos θ + y sin θ, row = z
    to_detector = np.array([[math.cos(angle_rad), math.sin(angle_rad), 0.0], [0.0, 0.0, 1.0]]) / pixel
    tracks = np.stack(
        [trajectory.pose(float(t)).apply(points) @ to_detector.T for t in times]
    )  # [time, pt, 2]
    path = np.linalg.norm(np.diff(tracks, axis=0), axis=-1).sum(axis=0).max()
    return max(1, math.ceil(float(path) / shift - 1e-9))


def motion_blur(
    render: Callable[[Pose], Array],
    trajectory: Trajectory,
    *,
    start_s: float,
    exposure_s: float,
    n: int,
) -> Array:
    """Time average of ``render(pose)`` over the exposure, sampled at ``n`` sub-frame midpoints.

    ``render`` maps a pose to an image (thickness map, intensity, ...; numpy or torch); use :func:`n_subframes`
    for ``n``. The average of thickness maps is exact for the projected thickness integrated over the exposure
    up to the sampling of the motion.
    """
    times = subframe_times(start_s=start_s, exposure_s=exposure_s, n=n)
    total = render(trajectory.pose(float(times[0])))
    for t in times[1:]:
        total = total + render(trajectory.pose(float(t)))
    return total / len(times)


# --------------------------------------------------------------------------------------------------------------
# Moving droplets (the seed's example)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class DropletSequence:
    """Frames of moving droplets and their truth.

    Attributes
    ----------
    thickness_m
        Projected liquid thickness ``[frame, row, col]`` (m), motion-blurred over each exposure.
    times_s
        Frame start times (s).
    centres_px
        Droplet centres ``[frame, droplet, 2]`` as detector ``(col, row)`` pixel coordinates at mid-exposure
        (before wrapping into the field of view).
    radii_m
        Droplet radii ``[droplet]`` (m).
    velocities_px_per_frame
        Droplet image velocities ``[droplet, 2]`` as ``(col, row)`` pixels per frame period.
    n_subframes
        Sub-frames averaged per frame.
    """

    thickness_m: npt.NDArray[np.floating[Any]]
    times_s: FloatArray
    centres_px: FloatArray
    radii_m: FloatArray
    velocities_px_per_frame: FloatArray
    n_subframes: int


def _add_spheres(
    image: FloatArray, centres: FloatArray, radii: FloatArray, supersample: int, period: FloatArray
) -> None:
    """Add the chord length 2 sqrt(R² - r²) (pixels) of spheres at ``centres`` (col, row), wrapped by ``period``."""
    n_rows, n_cols = image.shape
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for (cx, cy), radius in zip(centres, radii, strict=True):
        # wrap into [-margin, n + margin) so droplets leave on one side and come back on the other
        cx = (cx + 0.5 * (period[0] - n_cols)) % period[0] - 0.5 * (period[0] - n_cols)
        cy = (cy + 0.5 * (period[1] - n_rows)) % period[1] - 0.5 * (period[1] - n_rows)
        c0, c1 = max(0, math.floor(cx - radius)), min(n_cols, math.ceil(cx + radius) + 1)
        r0, r1 = max(0, math.floor(cy - radius)), min(n_rows, math.ceil(cy + radius) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        x = (np.arange(c0, c1)[:, None] + offsets[None, :]).ravel() - cx
        y = (np.arange(r0, r1)[:, None] + offsets[None, :]).ravel() - cy
        chord = 2.0 * np.sqrt(np.clip(radius**2 - y[:, None] ** 2 - x[None, :] ** 2, 0.0, None))
        block = chord.reshape(r1 - r0, supersample, c1 - c0, supersample).mean(axis=(1, 3))
        image[r0:r1, c0:c1] += block


def droplet_sequence(
    *,
    n_frames: int = 8,
    shape: tuple[int, int] = (128, 256),
    pixel_size_m: float | str = 2e-6,
    frame_rate_hz: float = 5000.0,
    exposure_s: float | None = None,
    speed_px_per_frame: float = 20.0,
    direction_rad: float = 0.0,
    speed_spread: float = 0.1,
    n_droplets: int = 12,
    radius_px: tuple[float, float] = (3.0, 10.0),
    supersample: int = 2,
    max_shift_px: float = 0.5,
    rng: RngLike = None,
    dtype: str | None = None,
) -> DropletSequence:
    """Moving liquid droplets filmed at a high frame rate, with motion blur (the seed's 5 000 frames/s case).

    Spherical droplets with radii uniform in ``radius_px`` start at random positions and fly in a straight line
    across the detector plane at ``speed_px_per_frame`` (± ``speed_spread`` relative, per droplet) in the
    direction ``direction_rad`` (0 = along the columns, π/2 = along the rows); they leave the field on one side
    and re-enter on the other. Each frame integrates the projected thickness over the exposure with
    :func:`n_subframes` sub-frames (40 for 20 pixels within a full-period exposure).

    Parameters
    ----------
    n_frames
        Number of frames.
    shape
        Detector ``(n_rows, n_cols)``.
    pixel_size_m
        Pixel size in the sample plane (m).
    frame_rate_hz
        Frames per second.
    exposure_s
        Exposure per frame (s), at most the frame period; default the full period ``1 / frame_rate_hz``.
    speed_px_per_frame
        Mean image speed in pixels per frame period (≥ 0): the physical speed is
        ``speed_px_per_frame * pixel_size_m * frame_rate_hz`` (0.2 m/s for the defaults).
    direction_rad
        Direction of flight in the detector plane.
    speed_spread
        Relative standard deviation of the droplet speeds, in [0, 1).
    n_droplets
        Number of droplets (≥ 1).
    radius_px
        ``(min, max)`` droplet radius in pixels.
    supersample
        Rays per pixel along each axis for the sphere thickness (anti-aliasing).
    max_shift_px
        Largest image motion between two sub-frames (pixels).
    rng
        Seed or numpy Generator.
    dtype
        ``"float32"`` or ``"float64"`` of the thickness; default from the options.

    Returns
    -------
    DropletSequence

    Examples
    --------
    >>> seq = droplet_sequence(n_frames=2, shape=(32, 64), n_droplets=2, radius_px=(3.0, 4.0), rng=0)
    >>> seq.thickness_m.shape, seq.n_subframes >= 40     # ~20 px per exposure, <= 0.5 px per sub-frame
    ((2, 32, 64), True)
    """
    from xrai._backend import real_dtype

    check_range("n_frames", n_frames, low=1)
    if len(shape) != 2 or any(int(n) != n or n < 1 for n in shape):
        raise ConfigError(f"shape = {shape!r} is not allowed: must be (n_rows, n_cols) of positive ints")
    pixel = check_range(
        "pixel_size_m", to_canonical(pixel_size_m, name="pixel_size_m"), low=0, low_inclusive=False
    )
    rate = check_range("frame_rate_hz", frame_rate_hz, low=0, low_inclusive=False, unit="Hz")
    period_s = 1.0 / rate
    exposure = period_s if exposure_s is None else to_canonical(exposure_s, name="exposure_s")
    check_range("exposure_s", exposure, low=0, high=period_s * (1 + 1e-12), low_inclusive=False, unit="s")
    speed = check_range("speed_px_per_frame", speed_px_per_frame, low=0, unit="px")
    spread = check_range("speed_spread", speed_spread, low=0, high=1, high_inclusive=False)
    check_range("n_droplets", n_droplets, low=1)
    r_min, r_max = (check_range("radius_px", r, low=0, low_inclusive=False, unit="px") for r in radius_px)
    if r_min > r_max:
        raise ConfigError(f"radius_px = {radius_px!r} is not allowed: must be (min, max) with min <= max")
    if isinstance(supersample, bool) or not isinstance(supersample, int) or supersample < 1:
        raise ConfigError(f"supersample = {supersample!r} is not allowed: must be an integer >= 1")
    generator = as_rng(rng)
    n_rows, n_cols = int(shape[0]), int(shape[1])
    radii = generator.uniform(r_min, r_max, int(n_droplets))
    start = np.column_stack(
        [generator.uniform(0, n_cols, n_droplets), generator.uniform(0, n_rows, n_droplets)]
    )
    speeds = speed * np.clip(1.0 + spread * generator.standard_normal(n_droplets), 0.0, None)
    heading = np.array([math.cos(direction_rad), math.sin(direction_rad)])
    velocity = speeds[:, None] * heading[None, :]  # px per frame period, (col, row)
    period = np.array([n_cols + 2 * r_max + 2, n_rows + 2 * r_max + 2])

    # droplet k as a linear trajectory in the detector plane: x = col, z = row (metres), y along the beam
    def trajectory(k: int) -> LinearTrajectory:
        return LinearTrajectory(
            velocity_m_s=np.array([velocity[k, 0], 0.0, velocity[k, 1]]) * pixel * rate,
            start_m=np.array([start[k, 0], 0.0, start[k, 1]]) * pixel,
        )

    trajectories = [trajectory(k) for k in range(n_droplets)]
    fastest = int(np.argmax(speeds))
    n_sub = n_subframes(
        trajectories[fastest], start_s=0.0, exposure_s=exposure, pixel_size_m=pixel, max_shift_px=max_shift_px
    )
    times = frame_times(int(n_frames), frame_rate_hz=rate)
    thickness = np.zeros((int(n_frames), n_rows, n_cols), dtype=np.float64)
    centres = np.zeros((int(n_frames), int(n_droplets), 2))
    for f, t0 in enumerate(times):
        for t in subframe_times(start_s=float(t0), exposure_s=exposure, n=n_sub):
            positions = np.array([tr.pose(float(t)).translation_m[[0, 2]] for tr in trajectories]) / pixel
            _add_spheres(thickness[f], positions, radii, supersample, period)
        mid = float(t0) + 0.5 * exposure
        centres[f] = np.array([tr.pose(mid).translation_m[[0, 2]] for tr in trajectories]) / pixel
    thickness *= pixel / n_sub
    return DropletSequence(
        thickness_m=thickness.astype(real_dtype(np, dtype)),
        times_s=times,
        centres_px=centres,
        radii_m=radii * pixel,
        velocities_px_per_frame=velocity,
        n_subframes=n_sub,
    )
