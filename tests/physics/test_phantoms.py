"""Procedural phantoms: reproducible with rng, exact volume fractions, geometry, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from xrai.errors import ConfigError
from xrai.physics.phantoms import (
    SHEPP_LOGAN_3D,
    SHEPP_LOGAN_LABELS,
    fibres,
    layered,
    porous_foam,
    random_blobs,
    shepp_logan_3d,
)
from xrai.physics.volumes import projected_thickness

GENERATORS = {
    "blobs": lambda rng: random_blobs((20, 24, 28), blob_size_px=6.0, volume_fraction=0.4, rng=rng),
    "foam": lambda rng: porous_foam((20, 24, 28), porosity=0.7, cell_size_px=8.0, rng=rng),
    "open_foam": lambda rng: porous_foam(
        (20, 24, 28), porosity=0.9, cell_size_px=8.0, open_cells=True, rng=rng
    ),
    "fibres": lambda rng: fibres((20, 24, 28), volume_fraction=0.15, radius_px=1.5, rng=rng),
    "layered": lambda rng: layered((20, 24, 28), thicknesses_px=[5, 6], roughness_px=1.0, rng=rng),
    "shepp_logan": lambda rng: shepp_logan_3d((20, 24, 28), jitter=0.1, rng=rng).labels,
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_phantom_and_different_seed_differs(name: str) -> None:
    make = GENERATORS[name]
    first, again, other = make(7), make(np.random.default_rng(7)), make(8)
    assert first.shape == (20, 24, 28)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.37, 1.0])
@pytest.mark.parametrize("shape", [(40, 50), (16, 20, 24)])
def test_blob_volume_fraction_is_exact(fraction: float, shape: tuple[int, ...]) -> None:
    blobs = random_blobs(shape, blob_size_px=5.0, volume_fraction=fraction, rng=1)
    assert blobs.dtype == bool and blobs.shape == shape
    assert int(blobs.sum()) == round(fraction * math.prod(shape))


def test_larger_blobs_are_fewer() -> None:
    small = random_blobs((128, 128), blob_size_px=4.0, volume_fraction=0.3, rng=2)
    large = random_blobs((128, 128), blob_size_px=16.0, volume_fraction=0.3, rng=2)
    n_small, n_large = ndimage.label(small)[1], ndimage.label(large)[1]
    assert n_small > 4 * n_large > 0


def test_periodic_blobs_tile_seamlessly() -> None:
    blobs = random_blobs((64, 64), blob_size_px=10.0, volume_fraction=0.5, periodic=True, rng=3)
    # across the wrap-around seam the mask changes as rarely as between any two neighbouring columns
    seam = np.mean(blobs[:, 0] != blobs[:, -1])
    inner = np.mean(blobs[:, 1:] != blobs[:, :-1])
    assert seam < 3 * inner + 0.05


@pytest.mark.parametrize("porosity", [0.5, 0.7])
def test_foam_porosity_is_exact_and_cells_are_counted(porosity: float) -> None:
    n, cell = 40, 10.0
    foam = porous_foam((n, n, n), porosity=porosity, cell_size_px=cell, rng=4)
    assert int((~foam).sum()) == round(porosity * n**3)
    # closed cells: one pore per Voronoi cell meeting the volume, about (n + d)³ / (π d³ / 6) of them
    n_pores = ndimage.label(~foam)[1]
    expected = (n + cell) ** 3 / (math.pi / 6 * cell**3)
    assert 0.7 * expected < n_pores < 1.3 * expected


def test_foam_walls_have_even_thickness() -> None:
    foam = porous_foam((64, 64), porosity=0.7, cell_size_px=16.0, rng=5)
    # distance from every solid pixel to the pores: walls of ~uniform thickness have no thick lumps
    depth = ndimage.distance_transform_edt(foam)
    assert np.percentile(depth[foam], 99) <= 3.0


def test_open_foam_is_a_connected_strut_network() -> None:
    foam = porous_foam((48, 48, 48), porosity=0.8, cell_size_px=16.0, open_cells=True, rng=6)
    labels = ndimage.label(foam)[0]
    assert np.bincount(labels.ravel())[1:].max() > 0.8 * foam.sum()  # the struts form one network
    pores = ndimage.label(~foam)[0]
    assert np.bincount(pores.ravel())[1:].max() > 0.99 * (~foam).sum()  # and the pores one open space


def test_fibre_fraction_and_straightness() -> None:
    radius = 2.0
    mask = fibres((24, 40, 40), volume_fraction=0.2, radius_px=radius, direction_xyz=(0, 0, 1), rng=7)
    fraction = mask.mean()
    one_fibre = math.pi * radius**2 * 24 / mask.size
    assert 0.2 <= fraction < 0.2 + one_fibre
    np.testing.assert_array_equal(mask, np.broadcast_to(mask[0], mask.shape))  # straight along z
    # a sparse set (few overlaps): fibre cross-sections are discs of the radius (pixel count ±25 %)
    sparse = fibres((4, 60, 60), volume_fraction=0.03, radius_px=radius, direction_xyz=(0, 0, 1), rng=7)
    areas = np.bincount(ndimage.label(sparse[0])[0].ravel())[1:]
    assert np.median(areas) == pytest.approx(math.pi * radius**2, rel=0.25)


def test_fibre_directions_follow_the_mean_direction() -> None:
    mask = fibres(
        (40, 40, 40), volume_fraction=0.05, radius_px=1.0, direction_xyz=(1, 0, 0), spread_rad=0.05, rng=8
    )
    # fibres along x: long runs along x, short along z
    runs_x = np.mean(mask[:, :, 1:] & mask[:, :, :-1]) / mask.mean()
    runs_z = np.mean(mask[1:] & mask[:-1]) / mask.mean()
    assert runs_x > 0.9 and runs_z < 0.7


def test_layers_have_the_requested_mean_thickness() -> None:
    flat = layered((30, 8, 8), thicknesses_px=[4, 10, 6], start_px=5)
    assert flat[:, 0, 0].tolist() == [0] * 5 + [1] * 4 + [2] * 10 + [3] * 6 + [0] * 5
    rough = layered(
        (8, 60, 64, 64)[1:], thicknesses_px=[10, 20], axis=0, start_px=15, roughness_px=1.5, rng=9
    )
    for label, thickness in ((1, 10), (2, 20)):
        mean = (rough == label).sum(axis=0).mean()
        assert mean == pytest.approx(thickness, abs=0.5)
    # rough: the interface height varies laterally with about the requested RMS
    top = (rough >= 1).argmax(axis=0)
    assert 0.8 < top.std() < 2.2
    along_y = layered((4, 12, 5), thicknesses_px=[3, 3], axis=1)
    assert along_y[0, :, 0].tolist() == [1, 1, 1, 2, 2, 2] + [0] * 6


def test_shepp_logan_volumes_match_the_ellipsoids() -> None:
    n = 64
    head = shepp_logan_3d((n, n, n), voxel_size_m=1e-5)
    counts = np.bincount(head.labels.ravel(), minlength=11)
    half = n / 2
    (a1, b1, c1, *_), (a2, b2, c2, *_) = SHEPP_LOGAN_3D[:2]
    skull = 4 / 3 * math.pi * (a1 * b1 * c1 - a2 * b2 * c2) * half**3  # ellipsoid 2 lies inside ellipsoid 1
    assert counts[1] == pytest.approx(skull, rel=0.05)
    for label in (3, 4):  # the ventricles lie inside the brain and overlap nothing
        a, b, c, *_ = SHEPP_LOGAN_3D[label - 1]
        assert counts[label] == pytest.approx(4 / 3 * math.pi * a * b * c * half**3, rel=0.05)
    assert head.materials[1] == "cortical_bone" and head.materials[3] == "water"
    assert len(SHEPP_LOGAN_LABELS) == 11
    # projected through the centre: at θ = 0 the rays run along y (head length 2·0.92 half-sizes), at 90° along
    # x (head width 2·0.69); the central 2 × 2 pixels sit ±1/2 voxel off the axes
    thickness = projected_thickness(head, angles_rad=[0.0, math.pi / 2], dtype="float64")
    assert set(thickness) == {"cortical_bone", "soft_tissue", "water", "paraffin_wax"}
    centre = {k: v[:, 31:33, 31:33].mean(axis=(1, 2)) / 1e-5 for k, v in thickness.items()}  # voxels
    total = sum(centre.values())
    assert total[0] == pytest.approx(2 * 0.92 * half, abs=1.5)
    assert total[1] == pytest.approx(2 * 0.69 * half, abs=1.5)
    # the fatty tumour (ellipsoid 5) is crossed along y over 2·0.25·sqrt(1 - (0.15/0.41)²) half-sizes
    assert centre["paraffin_wax"][0] == pytest.approx(
        2 * 0.25 * math.sqrt(1 - (0.15 / 0.41) ** 2) * half, abs=1.5
    )


def test_shepp_logan_material_override_and_jitter() -> None:
    head = shepp_logan_3d((16, 16, 16), materials={5: "pmma"})
    assert head.materials[5] == "pmma" and head.materials[1] == "cortical_bone"
    jittered = shepp_logan_3d((32, 32, 32), jitter=0.1, rng=1)
    standard = shepp_logan_3d((32, 32, 32))
    differs = np.mean(jittered.labels != standard.labels)
    assert 0.0 < differs < 0.2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: random_blobs((4,), rng=0), r"shape = \(4,\) is not allowed"),
        (lambda: random_blobs((4, 0), rng=0), r"shape = \(4, 0\) is not allowed"),
        (
            lambda: random_blobs((8, 8), volume_fraction=1.5),
            r"volume_fraction = 1.5 is not allowed: must be <= 1",
        ),
        (lambda: random_blobs((8, 8), blob_size_px=-2), r"blob_size_px = -2 is not allowed"),
        (lambda: porous_foam((8, 8), porosity=-0.1), r"porosity = -0.1 is not allowed"),
        (lambda: porous_foam((8, 8), cell_size_px=0.5), r"cell_size_px = 0.5 is not allowed"),
        (
            lambda: fibres((8, 8), volume_fraction=0.1),
            r"shape = \(8, 8\) is not allowed: must be \(nz, ny, nx\)",
        ),
        (
            lambda: fibres((8, 8, 8), volume_fraction=1.0),
            r"volume_fraction = 1.0 is not allowed: must be < 1",
        ),
        (lambda: fibres((8, 8, 8), direction_xyz=(0, 0, 0)), r"direction_xyz = \(0, 0, 0\) is not allowed"),
        (lambda: fibres((8, 8, 8), volume_fraction=0.9, max_fibres=2, rng=0), r"max_fibres = 2 fibres reach"),
        (lambda: layered((8, 8), thicknesses_px=[5, 5]), r"thicknesses_px = \[5, 5\] \(sum 10\)"),
        (lambda: layered((8, 8), thicknesses_px=[2, -1]), r"thicknesses_px\[1\] = -1 is not allowed"),
        (lambda: layered((8, 8), thicknesses_px=[2], axis=2), r"axis = 2 is not allowed"),
        (lambda: shepp_logan_3d((8, 8, 8), jitter=0.5), r"jitter = 0.5 is not allowed: must be <= 0.2"),
        (lambda: shepp_logan_3d((8, 8, 8), materials={12: "w"}), r"materials has labels \[12\]"),
        (lambda: random_blobs((8, 8), rng="seed"), r"rng = 'seed' is not allowed"),  # type: ignore[arg-type]
    ],
)
def test_bad_options_are_echoed(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]
