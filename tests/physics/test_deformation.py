"""Deformation of voxel volumes: shifts, exact linear interpolation, smooth random fields, rigid motion, torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xrai.errors import ConfigError, DataError
from xrai.physics.deformation import (
    deform,
    deform_sample,
    deformation_sequence,
    jacobian_determinant,
    random_displacement_field,
    rigid_transform,
)
from xrai.physics.motion import Pose, rotation_matrix
from xrai.physics.volumes import VoxelSample


def test_constant_field_shifts_the_content() -> None:
    rng = np.random.default_rng(0)
    volume = rng.random((5, 12, 14))
    u = np.zeros((3, *volume.shape))
    u[2] = 3.0  # +3 voxels along x
    u[1] = -2.0  # -2 voxels along y
    out = deform(volume, u)
    np.testing.assert_allclose(out[:, :-2, 3:], volume[:, 2:, :-3], atol=1e-12)
    assert np.all(out[:, :, :3] == 0) and np.all(out[:, -2:, :] == 0)


def test_linear_interpolation_is_exact_on_a_linear_ramp() -> None:
    z, y, x = np.meshgrid(np.arange(6.0), np.arange(10.0), np.arange(12.0), indexing="ij")
    ramp = 0.5 * x - 0.25 * y + 2.0 * z
    u = random_displacement_field(
        ramp.shape, max_displacement_px=1.0, smoothness_px=3.0, rng=1, dtype="float64"
    )
    out = deform(ramp, u, kind="linear")
    expected = 0.5 * (x - u[2]) - 0.25 * (y - u[1]) + 2.0 * (z - u[0])
    inner = (slice(2, -2),) * 3  # away from the border where p - u(p) may leave the volume
    np.testing.assert_allclose(out[inner], expected[inner], atol=1e-9)


def test_labels_keep_their_values_and_volumes_under_a_gentle_field() -> None:
    labels = np.zeros((24, 24, 24), dtype=np.uint8)
    labels[6:18, 6:18, 6:18] = 1
    labels[9:15, 9:15, 9:15] = 7
    u = random_displacement_field(labels.shape, max_displacement_px=2.0, smoothness_px=6.0, rng=2)
    out = deform(labels, u, kind="nearest")
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1, 7}
    for label in (1, 7):
        before, after = (labels == label).sum(), (out == label).sum()
        assert after == pytest.approx(before, rel=0.1)
    assert not np.array_equal(out, labels)


def test_random_field_is_smooth_reproducible_and_scaled() -> None:
    u = random_displacement_field(
        (40, 40), max_displacement_px=3.0, smoothness_px=5.0, rng=3, dtype="float64"
    )
    again = random_displacement_field(
        (40, 40), max_displacement_px=3.0, smoothness_px=5.0, rng=3, dtype="float64"
    )
    np.testing.assert_array_equal(u, again)
    assert u.shape == (2, 40, 40)
    assert np.linalg.norm(u, axis=0).max() == pytest.approx(3.0)
    # smooth: neighbouring displacements differ by a small fraction of the amplitude
    assert np.abs(np.diff(u, axis=2)).max() < 3.0 / 5.0 * 1.5
    det = jacobian_determinant(u)
    assert det.min() > 0 and det.mean() == pytest.approx(1.0, abs=0.05)


def test_folding_fields_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"max_displacement_px = 20 with smoothness_px = 1 folds"):
        random_displacement_field((32, 32), max_displacement_px=20, smoothness_px=1, rng=4)


def test_sequence_scales_the_field_over_time() -> None:
    volume = np.zeros((1, 10, 10))
    volume[0, 4:6, 4:6] = 1.0
    u = np.zeros((3, 1, 10, 10))
    u[1] = 1.0
    amplitudes = np.sin(2 * math.pi * np.arange(4) / 4) * 2  # 0, 2, 0, -2 voxels along y
    frames = deformation_sequence(volume, u, amplitudes=amplitudes)
    assert frames.shape == (4, 1, 10, 10)
    np.testing.assert_allclose(frames[0], volume, atol=1e-12)
    np.testing.assert_allclose(frames[1][0, 6:8, 4:6], 1.0, atol=1e-12)
    np.testing.assert_allclose(frames[3][0, 2:4, 4:6], 1.0, atol=1e-12)


def test_deform_sample_keeps_materials() -> None:
    labels = np.zeros((4, 8, 8), dtype=np.uint8)
    labels[:, 2:6, 2:6] = 3
    sample = VoxelSample(labels=labels, materials={3: "pmma"}, voxel_size_m=1e-6)
    u = np.zeros((3, 4, 8, 8))
    u[2] = 1.0
    moved = deform_sample(sample, u)
    assert dict(moved.materials) == {3: "pmma"} and moved.voxel_size_m == 1e-6
    np.testing.assert_array_equal(moved.labels[:, :, 3:7], labels[:, :, 2:6])


def test_rigid_quarter_turn_is_rot90_and_shift_is_a_roll() -> None:
    rng = np.random.default_rng(5)
    volume = rng.integers(0, 5, size=(3, 9, 9)).astype(np.uint8)
    quarter = Pose(rotation=rotation_matrix((0, 0, 1), math.pi / 2))  # (x, y) -> (-y, x)
    turned = rigid_transform(volume, quarter, voxel_size_m=1.0, kind="nearest")
    np.testing.assert_array_equal(turned, np.rot90(volume, k=-1, axes=(1, 2)))  # out[y, x] = in[n-1-x, y]
    shifted = rigid_transform(
        volume, Pose(translation_m=(2e-6, 0.0, -1e-6)), voxel_size_m=1e-6, kind="nearest"
    )
    np.testing.assert_array_equal(shifted[:2, :, 2:], volume[1:, :, :-2])
    # there and back again (linear interpolation of a smooth volume)
    pose = Pose(rotation=rotation_matrix((1, 1, 1), 0.4), translation_m=(1.5e-6, -1.0e-6, 0.7e-6))
    errors = []
    for n, sigma in ((24, 3.0), (36, 6.0)):  # Gaussian blobs well inside the volume
        c = np.arange(n) - (n - 1) / 2
        z, y, x = np.meshgrid(c, c, c, indexing="ij")
        smooth = np.exp(-(x**2 + y**2 + z**2) / (2 * sigma**2))
        moved = rigid_transform(smooth, pose, voxel_size_m=1e-6)
        centroid = [float((moved * g).sum() / moved.sum()) for g in (x, y, z)]
        np.testing.assert_allclose(centroid, [1.5, -1.0, 0.7], atol=0.05)  # moved by the translation
        back = rigid_transform(moved, pose.inverse(), voxel_size_m=1e-6)
        errors.append(np.abs(back - smooth).max())
    # there and back again: only the (second-order) error of linear interpolation remains
    assert errors[0] < 0.1 and errors[0] / errors[1] > 3.0


def test_torch_matches_numpy_and_is_differentiable() -> None:
    rng = np.random.default_rng(6)
    volume = rng.random((6, 10, 12))
    u = random_displacement_field(
        volume.shape, max_displacement_px=2.0, smoothness_px=3.0, rng=7, dtype="float64"
    )
    expected = deform(volume, u)
    volume_t = torch.tensor(volume, requires_grad=True)
    u_t = torch.tensor(u, requires_grad=True)
    out = deform(volume_t, u_t)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-10)
    out.sum().backward()
    assert volume_t.grad is not None and u_t.grad is not None and torch.isfinite(u_t.grad).all()
    image = rng.random((16, 16))
    u2 = random_displacement_field(
        image.shape, max_displacement_px=1.0, smoothness_px=3.0, rng=8, dtype="float64"
    )
    np.testing.assert_allclose(
        deform(torch.tensor(image), torch.tensor(u2)).numpy(), deform(image, u2), atol=1e-10
    )
    labels = torch.tensor(rng.integers(0, 3, size=(8, 8)), dtype=torch.uint8)
    warped = deform(labels, torch.zeros(2, 8, 8), kind="nearest")
    assert warped.dtype == torch.uint8 and torch.equal(warped, labels)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ConfigError, match="kind = 'cubic' is not allowed"):
        deform(np.zeros((4, 4)), np.zeros((2, 4, 4)), kind="cubic")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"displacement_px has shape \(3, 4, 4\), expected \(2, 4, 4\)"):
        deform(np.zeros((4, 4)), np.zeros((3, 4, 4)))
    with pytest.raises(ConfigError, match=r"smoothness_px = 0 is not allowed"):
        random_displacement_field((8, 8), max_displacement_px=1, smoothness_px=0)
    with pytest.raises(ConfigError, match=r"shape = \(8,\) is not allowed"):
        random_displacement_field((8,), max_displacement_px=1, smoothness_px=2)
    with pytest.raises(DataError, match=r"volume must be \[z, y, x\]"):
        rigid_transform(np.zeros((4, 4)), Pose(), voxel_size_m=1.0)
