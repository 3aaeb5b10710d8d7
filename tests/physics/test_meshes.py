"""Triangle meshes: OBJ/STL round trip, thickness against analytic chords, volume, voxelisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from xrai.errors import ConfigError, DataError
from xrai.physics.meshes import load_mesh, mesh_thickness, voxelize_mesh
from xrai.physics.volumes import VoxelSample, projected_thickness

A = 8.0  # tetrahedron edge along the axes (pixels)
TETRA_VERTICES = np.array([[0, 0, 0], [A, 0, 0], [0, A, 0], [0, 0, A]], dtype=float)
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # outward, counter-clockwise


def _write(tmp_path: Path, name: str, vertices: np.ndarray, faces: np.ndarray) -> Path:
    path = tmp_path / name
    trimesh.Trimesh(vertices=vertices, faces=faces, process=False).export(path)
    return path


@pytest.mark.parametrize("suffix", ["obj", "stl"])
def test_tetrahedron_thickness_is_a_minus_x_minus_z(tmp_path: Path, suffix: str) -> None:
    mesh = load_mesh(_write(tmp_path, f"tetra.{suffix}", TETRA_VERTICES, TETRA_FACES))
    assert mesh.volume == pytest.approx(A**3 / 6)
    # rotation axis through the origin projects on column 2, z = 0 on row 2; at θ = 0 rays run along +y
    t = mesh_thickness(
        mesh,
        angles_rad=0.0,
        pixel_size_m=1.0,
        n_rows=14,
        n_cols=14,
        center_col=2.0,
        center_row=2.0,
        dtype="float64",
    )
    x = np.arange(14) - 2.0
    z = np.arange(14) - 2.0
    analytic = np.clip(A - x[None, :] - z[:, None], 0.0, None)
    analytic[:, x < 0] = 0.0
    analytic[z < 0, :] = 0.0
    strictly_inside = (x[None, :] > 0) & (z[:, None] > 0) & (x[None, :] + z[:, None] < A)
    np.testing.assert_allclose(t[strictly_inside], analytic[strictly_inside], atol=1e-12)
    assert np.all(t[~strictly_inside & (analytic == 0)] == 0)


def test_tetrahedron_total_is_its_volume_from_every_side() -> None:
    angles = np.linspace(0, 2 * np.pi, 7)
    t = mesh_thickness(
        (TETRA_VERTICES, TETRA_FACES),
        angles_rad=angles,
        pixel_size_m=0.5,
        n_rows=24,
        n_cols=40,
        center_row=2.0,
        supersample=4,
        dtype="float64",
    )
    np.testing.assert_allclose(t.sum(axis=(1, 2)) * 0.5**2, A**3 / 6, rtol=2e-3)


def test_cube_profiles_at_0_and_45_degrees() -> None:
    side = 10.0
    cube = trimesh.creation.box(extents=(side, side, side))
    t = mesh_thickness(
        cube, angles_rad=[0.0, np.pi / 4], pixel_size_m=1.0, n_rows=20, n_cols=21, dtype="float64"
    )
    cols = np.arange(21) - 10.0
    rows_inside = np.abs(np.arange(20) - 9.5) < side / 2
    np.testing.assert_allclose(t[0][rows_inside][:, np.abs(cols) < 5], side)
    assert np.all(t[0][:, np.abs(cols) > 5] == 0)
    # along the diagonal the chord is side·√2 − 2|s|
    np.testing.assert_allclose(
        t[1][rows_inside],
        np.clip(side * np.sqrt(2) - 2 * np.abs(cols), 0, None)[None, :].repeat(10, 0),
        atol=1e-12,
    )


def test_box_orientation_follows_the_geometry_convention() -> None:
    # long along y: at θ = 90° the detector coordinate is s = y, so the box is 6 wide and 2 thick
    box = trimesh.creation.box(extents=(2.0, 6.0, 2.0))
    t = mesh_thickness(box, angles_rad=np.pi / 2, pixel_size_m=1.0, n_rows=4, n_cols=10, dtype="float64")
    np.testing.assert_allclose(t[1], [0, 0, 2, 2, 2, 2, 2, 2, 0, 0], atol=1e-12)


def test_sphere_volume_with_supersampling_and_units() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=7.0)  # in µm
    t = mesh_thickness(
        sphere,
        angles_rad=[0.0, 1.0],
        pixel_size_m="1 um",
        n_rows=18,
        n_cols=18,
        mesh_unit_m=1e-6,
        supersample=4,
    )
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.sum(axis=(1, 2)) * 1e-12, sphere.volume * 1e-18, rtol=2e-3)
    # the centre ray crosses nearly a diameter (the icosphere's faces sit just inside the circumscribed sphere)
    assert 13.5e-6 < t[0, 8:10, 8:10].mean() <= 14e-6


def test_voxelised_mesh_projects_like_the_mesh() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=9.0)
    mask = voxelize_mesh(sphere, voxel_size_m=1.0, shape=(24, 24, 24))
    assert abs(mask.sum() - sphere.volume) / sphere.volume < 0.03
    sample = VoxelSample.from_masks({"pmma": mask}, voxel_size_m=1.0)
    from_voxels = projected_thickness(sample, angles_rad=0.6, dtype="float64")["pmma"]
    from_mesh = mesh_thickness(sphere, angles_rad=0.6, pixel_size_m=1.0, n_rows=24, n_cols=24, supersample=4)
    inner = from_mesh > 6
    assert np.abs(from_voxels - from_mesh)[inner].mean() < 0.5


def test_voxelised_tetrahedron_counts_centres_inside() -> None:
    # centres at integer + 1/2 offsets: count those with x, y, z > 0 and x + y + z < A exactly
    mask = voxelize_mesh((TETRA_VERTICES, TETRA_FACES), voxel_size_m=1.0, shape=(20, 20, 20))
    c = np.arange(20) - 9.5
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    expected = (x > 0) & (y > 0) & (z > 0) & (x + y + z < A)
    np.testing.assert_array_equal(mask, expected)


def test_bad_meshes_and_options() -> None:
    open_mesh = trimesh.Trimesh(vertices=TETRA_VERTICES, faces=TETRA_FACES[:3], process=False)
    with pytest.raises(DataError, match="not watertight"):
        mesh_thickness(open_mesh, angles_rad=0.0, pixel_size_m=1.0, n_rows=4, n_cols=4)
    with pytest.raises(DataError, match="faces index vertices"):
        mesh_thickness(
            (TETRA_VERTICES, TETRA_FACES + 1), angles_rad=0.0, pixel_size_m=1.0, n_rows=4, n_cols=4
        )
    with pytest.raises(ConfigError, match=r"pixel_size_m = -1(\.0)? is not allowed"):
        mesh_thickness((TETRA_VERTICES, TETRA_FACES), angles_rad=0.0, pixel_size_m=-1.0, n_rows=4, n_cols=4)
    with pytest.raises(ConfigError, match="supersample = 0 is not allowed"):
        mesh_thickness(
            (TETRA_VERTICES, TETRA_FACES), angles_rad=0.0, pixel_size_m=1.0, n_rows=4, n_cols=4, supersample=0
        )
    with pytest.raises(ConfigError, match="shape"):
        voxelize_mesh((TETRA_VERTICES, TETRA_FACES), voxel_size_m=1.0, shape=(4, 4))


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.stl"
    bad.write_text("solid nothing\nendsolid nothing\n")
    with pytest.raises(DataError):
        load_mesh(bad)
