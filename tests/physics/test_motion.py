"""Rigid trajectories against analytic motion, sub-frame counts, motion blur = box filter, moving droplets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from xrai.errors import ConfigError
from xrai.physics.motion import (
    ComposedTrajectory,
    LinearTrajectory,
    Pose,
    RotationTrajectory,
    SplineTrajectory,
    droplet_sequence,
    frame_times,
    motion_blur,
    n_subframes,
    rotation_matrix,
)


def test_linear_trajectory_is_start_plus_velocity_times_time() -> None:
    path = LinearTrajectory(velocity_m_s=(1.0, -2.0, 0.5), start_m=(0.1, 0.2, 0.3), start_time_s=1.0)
    for t in (0.0, 1.0, 2.5):
        np.testing.assert_allclose(
            path.pose(t).translation_m, [0.1 + (t - 1), 0.2 - 2 * (t - 1), 0.3 + 0.5 * (t - 1)]
        )
        np.testing.assert_allclose(path.pose(t).rotation, np.eye(3))


@pytest.mark.parametrize("axis", [(0, 0, 1), (1, 0, 0), (1, 2, -0.5)])
def test_rotation_about_any_axis_matches_scipy(axis: tuple[float, float, float]) -> None:
    omega, centre = 3.0, np.array([0.2, -0.1, 0.4])
    spin = RotationTrajectory(axis=axis, angular_velocity_rad_s=omega, centre_m=centre, start_angle_rad=0.3)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((5, 3))
    unit = np.asarray(axis, float) / np.linalg.norm(axis)
    for t in (0.0, 0.7, 2.0):
        reference = Rotation.from_rotvec(unit * (0.3 + omega * t)).apply(points - centre) + centre
        np.testing.assert_allclose(spin.pose(t).apply(points), reference, atol=1e-12)
    # points on the axis stay put; a full turn is the identity
    on_axis = centre + 0.7 * unit
    np.testing.assert_allclose(spin.pose(1.234).apply(on_axis), on_axis, atol=1e-12)
    full_turn = (2 * math.pi - 0.3) / omega
    np.testing.assert_allclose(spin.pose(full_turn).apply(points), points, atol=1e-12)


def test_spline_passes_through_waypoints_and_reproduces_straight_lines() -> None:
    times = np.array([0.0, 0.5, 1.5, 2.0])
    waypoints = np.array([[0, 0, 0], [1, 2, 0], [0, 3, 1], [2, 2, 2]], dtype=float)
    path = SplineTrajectory(times_s=times, positions_m=waypoints)
    for t, p in zip(times, waypoints, strict=True):
        np.testing.assert_allclose(path.pose(t).translation_m, p, atol=1e-12)
    np.testing.assert_allclose(path.pose(-1.0).translation_m, waypoints[0])  # held outside the time range
    np.testing.assert_allclose(path.pose(9.0).translation_m, waypoints[-1])
    # waypoints on a uniform straight motion give exactly that motion (a natural spline of linear data)
    line = SplineTrajectory(times_s=[0.0, 1.0, 3.0], positions_m=[[0, 0, 0], [1, 2, 3], [3, 6, 9]])
    np.testing.assert_allclose(line.pose(2.2).translation_m, [2.2, 4.4, 6.6], atol=1e-12)


def test_composed_motion_applies_parts_in_order_and_pose_algebra() -> None:
    spin = RotationTrajectory(axis=(0, 0, 1), angular_velocity_rad_s=math.pi / 2)
    drift = LinearTrajectory(velocity_m_s=(1.0, 0.0, 0.0))
    p = np.array([1.0, 0.0, 0.0])
    # spin first (about the origin), then drift: (1, 0, 0) -> (0, 1, 0) -> (1, 1, 0)
    np.testing.assert_allclose(
        ComposedTrajectory(parts=(spin, drift)).pose(1.0).apply(p), [1, 1, 0], atol=1e-12
    )
    # drift first, then spin: (1, 0, 0) -> (2, 0, 0) -> (0, 2, 0)
    np.testing.assert_allclose(
        ComposedTrajectory(parts=(drift, spin)).pose(1.0).apply(p), [0, 2, 0], atol=1e-12
    )
    pose = Pose(rotation=rotation_matrix((1, 1, 0), 0.7), translation_m=(0.3, -1.0, 2.0))
    identity = pose.compose(pose.inverse())
    np.testing.assert_allclose(identity.rotation, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(identity.translation_m, 0.0, atol=1e-12)


def test_n_subframes_keeps_sub_frame_motion_at_half_a_pixel() -> None:
    pixel = 1e-6
    moving = LinearTrajectory(velocity_m_s=(20e-6 / 1e-3, 0.0, 0.0))  # 20 px per 1 ms exposure
    assert n_subframes(moving, start_s=0.0, exposure_s=1e-3, pixel_size_m=pixel) == 40
    assert (
        n_subframes(moving, start_s=0.0, exposure_s=0.025e-3, pixel_size_m=pixel) == 1
    )  # 0.5 px: one suffices
    assert n_subframes(moving, start_s=0.0, exposure_s=0.03e-3, pixel_size_m=pixel) == 2  # 0.6 px: two
    # motion along the beam (y at angle 0) does not blur; at 90° it is across the beam and does
    along_beam = LinearTrajectory(velocity_m_s=(0.0, 20e-3, 0.0))
    assert n_subframes(along_beam, start_s=0.0, exposure_s=1e-3, pixel_size_m=pixel) == 1
    assert (
        n_subframes(along_beam, start_s=0.0, exposure_s=1e-3, pixel_size_m=pixel, angle_rad=math.pi / 2) == 40
    )
    # a spin about z: a point at radius r travels r ω T
    spin = RotationTrajectory(axis=(0, 0, 1), angular_velocity_rad_s=1.0)
    corners = [(10e-6, 0.0, 0.0), (0.0, 0.0, 5e-6)]
    n = n_subframes(
        spin, start_s=0.0, exposure_s=0.1, pixel_size_m=pixel, points_m=corners, angle_rad=math.pi / 2
    )
    assert n == math.ceil(10 * 0.1 / 0.5)


def _edge_image(edge_px: float, n: int = 40) -> np.ndarray:
    """Area-averaged image of a half-plane x < edge (1 inside), pixels centred on integers."""
    j = np.arange(n)
    return np.clip(edge_px - (j - 0.5), 0.0, 1.0)


def _box_filtered_edge(edge0_px: float, travel_px: float, n: int = 40) -> np.ndarray:
    """Time average of the edge image as the edge moves from edge0 to edge0 + travel (analytic)."""

    def antiderivative(u: np.ndarray) -> np.ndarray:  # of clip(u, 0, 1)
        return np.where(u < 0, 0.0, np.where(u < 1, u**2 / 2, u - 0.5))

    j = np.arange(n)
    return (antiderivative(edge0_px + travel_px - j + 0.5) - antiderivative(edge0_px - j + 0.5)) / travel_px


def test_blur_of_a_moving_edge_is_the_box_filtered_static_edge() -> None:
    pixel, exposure, travel = 1e-6, 1e-3, 12.3
    path = LinearTrajectory(
        velocity_m_s=(travel * pixel / exposure, 0.0, 0.0), start_m=(10.2 * pixel, 0.0, 0.0)
    )

    def render(pose: Pose) -> np.ndarray:
        return _edge_image(pose.translation_m[0] / pixel)

    n = n_subframes(path, start_s=0.0, exposure_s=exposure, pixel_size_m=pixel)
    assert n == 25
    reference = _box_filtered_edge(10.2, travel)
    blurred = motion_blur(render, path, start_s=0.0, exposure_s=exposure, n=n)
    # ≤ 1/2 px per sub-frame: the midpoint rule is within 0.5²/8 / travel of the box filter
    assert np.abs(blurred - reference).max() < 0.5**2 / 8 / travel * 1.01
    finer = motion_blur(render, path, start_s=0.0, exposure_s=exposure, n=8 * n)
    assert np.abs(finer - reference).max() < np.abs(blurred - reference).max() / 20
    # a single snapshot is clearly wrong
    single = motion_blur(render, path, start_s=0.0, exposure_s=exposure, n=1)
    assert np.abs(single - reference).max() > 0.3


def test_frame_times() -> None:
    np.testing.assert_allclose(frame_times(4, frame_rate_hz=5000.0, start_s=1.0), 1.0 + np.arange(4) * 2e-4)


def test_static_droplet_is_a_sphere() -> None:
    seq = droplet_sequence(
        n_frames=1, shape=(40, 40), speed_px_per_frame=0.0, n_droplets=1, radius_px=(8.0, 8.0), supersample=4,
        pixel_size_m=1e-6, rng=6, dtype="float64",
    )  # fmt: skip
    assert seq.n_subframes == 1
    cx, cy = seq.centres_px[0, 0]
    assert 8 <= cx <= 31 and 8 <= cy <= 31  # this seed puts it fully inside the field
    assert seq.thickness_m[0].sum() * 1e-12 == pytest.approx(4 / 3 * math.pi * (8e-6) ** 3, rel=5e-3)
    assert seq.thickness_m.max() == pytest.approx(16e-6, rel=0.02)  # a diameter through the centre
    row, col = round(cy), round(cx)
    r2 = (row - cy) ** 2 + (col - cx) ** 2
    assert seq.thickness_m[0, row, col] == pytest.approx(2 * math.sqrt(64 - r2) * 1e-6, rel=0.01)


def test_seed_droplets_move_20_pixels_per_frame_with_blur() -> None:
    seq = droplet_sequence(
        n_frames=3, shape=(64, 400), speed_px_per_frame=20.0, speed_spread=0.0, n_droplets=1,
        radius_px=(6.0, 6.0), supersample=2, pixel_size_m=1e-6, rng=2, dtype="float64",
    )  # fmt: skip
    assert seq.n_subframes == 40  # 20 px per full-period exposure at 5 000 frames/s
    np.testing.assert_allclose(np.diff(seq.centres_px[:, 0, 0]), 20.0)
    np.testing.assert_allclose(seq.times_s, [0.0, 2e-4, 4e-4])
    cols = np.arange(400)
    sphere_volume_px = 4 / 3 * math.pi * 6.0**3
    for f in range(3):
        image = seq.thickness_m[f] / 1e-6  # pixels
        profile = image.sum(axis=0)
        # volume is conserved; the streak spans 2R + 20 px along the motion, centred on the mid-exposure centre
        assert image.sum() == pytest.approx(sphere_volume_px, rel=0.01)
        occupied = cols[profile > 1e-9]
        assert occupied.max() - occupied.min() + 1 == pytest.approx(2 * 6 + 20, abs=2)
        centroid = (profile * cols).sum() / profile.sum()
        assert centroid == pytest.approx(seq.centres_px[f, 0, 0], abs=0.05)
        # across the motion nothing is blurred: the row profile is the sphere's projected area per row
        rows = image.sum(axis=1)
        cy = seq.centres_px[f, 0, 1]
        chord_area = math.pi * np.clip(36 - (np.arange(64) - cy) ** 2, 0, None)
        assert np.abs(rows - chord_area).max() < 0.05 * chord_area.max()


def test_bad_motion_inputs_are_named() -> None:
    with pytest.raises(ConfigError, match=r"velocity_m_s = \(1, 2\) is not allowed"):
        LinearTrajectory(velocity_m_s=(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"axis = \(0, 0, 0\) is not allowed"):
        RotationTrajectory(axis=(0, 0, 0), angular_velocity_rad_s=1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="times_s"):
        SplineTrajectory(times_s=[0.0, 0.0], positions_m=[[0, 0, 0], [1, 1, 1]])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="positions_m has shape"):
        SplineTrajectory(times_s=[0.0, 1.0], positions_m=[[0, 0], [1, 1]])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="boundary = 'loose'"):
        SplineTrajectory(times_s=[0.0, 1.0], positions_m=[[0, 0, 0], [1, 1, 1]], boundary="loose")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="rotation"):
        Pose(rotation=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ConfigError, match="parts"):
        ComposedTrajectory(parts=())
    with pytest.raises(ConfigError, match=r"exposure_s = 0.001 is not allowed: must be <= 0.0002"):
        droplet_sequence(exposure_s=1e-3)
    with pytest.raises(ConfigError, match=r"radius_px = \(5.0, 2.0\) is not allowed"):
        droplet_sequence(radius_px=(5.0, 2.0))
    with pytest.raises(ConfigError, match=r"max_shift_px = 0 is not allowed"):
        n_subframes(
            LinearTrajectory(velocity_m_s=(1, 0, 0)), start_s=0, exposure_s=1, pixel_size_m=1, max_shift_px=0
        )  # type: ignore[arg-type]
