"""Voxel samples: projected thickness per material against analytic chords, volume conservation, rebinning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xrai.errors import ConfigError, DataError
from xrai.physics.volumes import (
    VoxelSample,
    composition_groups,
    project_fractions,
    projected_thickness,
    thickness_stack,
)


def _ball(n: int, radius: float, supersample: int = 4) -> np.ndarray:
    """Fraction of each voxel inside a centred ball of ``radius`` voxels."""
    g = (np.arange(n * supersample) + 0.5) / supersample - 0.5 - (n - 1) / 2
    z, y, x = np.meshgrid(g, g, g, indexing="ij")
    inside = (x**2 + y**2 + z**2) <= radius**2
    return inside.reshape(n, supersample, n, supersample, n, supersample).mean(axis=(1, 3, 5))


def _ball_chords(n: int, radius: float, supersample: int = 8) -> np.ndarray:
    """Analytic chord 2 sqrt(R² - r²) through the ball, averaged over each detector pixel (voxel units)."""
    g = (np.arange(n * supersample) + 0.5) / supersample - 0.5 - (n - 1) / 2
    r2 = g[:, None] ** 2 + g[None, :] ** 2
    chords = 2 * np.sqrt(np.clip(radius**2 - r2, 0, None))
    return chords.reshape(n, supersample, n, supersample).mean(axis=(1, 3))


def test_sphere_thickness_matches_the_analytic_chord_at_every_angle() -> None:
    n, radius, voxel = 48, 18.0, 0.5e-6
    angles = np.linspace(0.0, np.pi, 5)
    analytic = _ball_chords(n, radius) * voxel
    c = np.arange(n) - (n - 1) / 2
    inner = (c[:, None] ** 2 + c[None, :] ** 2) < (radius - 2) ** 2
    # partial-volume (fraction) voxelisation: within 0.25 voxel of chords up to 36 voxels long
    t = project_fractions({"pmma": _ball(n, radius, 8)}, voxel_size_m=voxel, angles_rad=angles)["pmma"]
    assert t.shape == (5, n, n)
    for a in range(5):
        error = (t[a] - analytic)[inner]
        assert np.abs(error).max() < 0.25 * voxel
        assert np.sqrt(np.mean(error**2)) < 0.1 * voxel
    # label (staircase) voxelisation: within 1.5 voxels, RMS < 0.75 voxel
    labels = (_ball(n, radius) >= 0.5).astype(np.uint8)
    sample = VoxelSample(labels=labels, materials={1: "pmma"}, voxel_size_m=voxel)
    t = projected_thickness(sample, angles_rad=angles, dtype="float64")["pmma"]
    for a in range(5):
        error = (t[a] - analytic)[inner]
        assert np.abs(error).max() < 1.5 * voxel
        assert np.sqrt(np.mean(error**2)) < 0.75 * voxel


@pytest.mark.parametrize("angle_deg", [0.0, 20.0, 35.0, -40.0])
def test_slab_thickness_grows_as_one_over_cos(angle_deg: float) -> None:
    # a slab 6 voxels thick across the beam (y) and wide in x: rays at θ cross 6 / |cos θ| voxels
    labels = np.zeros((2, 12, 200), dtype=np.uint8)
    labels[:, 3:9, :] = 1
    sample = VoxelSample(labels=labels, materials={1: "al"}, voxel_size_m=1e-6)
    t = projected_thickness(sample, angles_rad=np.deg2rad(angle_deg), dtype="float64")["al"]
    assert t.shape == (2, 200)
    central = t[:, 80:120]
    np.testing.assert_allclose(central, 6e-6 / np.cos(np.deg2rad(angle_deg)), rtol=1e-12)


def test_volume_of_every_material_is_conserved() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(6, 20, 20)).astype(np.uint8)
    labels[:, :, :3] = 0
    sample = VoxelSample(labels=labels, materials={1: "water", 2: "pmma", 3: "water"}, voxel_size_m=2e-6)
    volumes = sample.material_volumes_m3()
    assert list(volumes) == ["water", "pmma"]
    for pixel in (2e-6, 3e-6, 1.3e-6):
        t = projected_thickness(
            sample, angles_rad=rng.uniform(0, 6, 4), pixel_size_m=pixel, n_cols=60, dtype="float64"
        )
        for material, maps in t.items():
            np.testing.assert_allclose(maps.sum(axis=(1, 2)) * pixel**2, volumes[material], rtol=1e-10)


def test_labels_sharing_a_material_add_up() -> None:
    labels = np.zeros((1, 5, 5), dtype=np.uint8)
    labels[0, 1, :] = 1
    labels[0, 3, :] = 2
    shared = projected_thickness(
        VoxelSample(labels=labels, materials={1: "water", 2: "water"}, voxel_size_m=1.0), angles_rad=0.0
    )
    apart = projected_thickness(
        VoxelSample(labels=labels, materials={1: "water", 2: "ice"}, voxel_size_m=1.0), angles_rad=0.0
    )
    np.testing.assert_allclose(shared["water"], apart["water"] + apart["ice"])
    np.testing.assert_allclose(shared["water"], 2.0)


def test_coarser_pixels_average_finer_ones_exactly() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random((8, 16, 16)) > 0.6).astype(np.uint8)
    sample = VoxelSample(labels=labels, materials={1: "cu"}, voxel_size_m=1e-6)
    angles = [0.0, 0.7, 2.0]
    fine = projected_thickness(sample, angles_rad=angles, n_cols=24, dtype="float64")["cu"]
    coarse = projected_thickness(sample, angles_rad=angles, pixel_size_m=2e-6, n_cols=12, dtype="float64")[
        "cu"
    ]
    assert coarse.shape == (3, 4, 12)
    binned = fine.reshape(3, 4, 2, 12, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(coarse, binned, rtol=1e-12, atol=1e-20)


def test_stack_and_shift_of_the_rotation_axis() -> None:
    labels = np.zeros((3, 9, 9), dtype=np.uint8)
    labels[:, 4, 4] = 5
    sample = VoxelSample(labels=labels, materials={5: "w"}, voxel_size_m=1.0)
    names, stack = thickness_stack(sample, angles_rad=[0.0, 1.0], n_cols=15, center_col=10.0)
    assert names == ("w",) and stack.shape == (1, 2, 3, 15)
    # the axis voxel lands on column 10 at every angle
    assert np.all(stack[0, :, :, 10] == stack[0].max(axis=-1))


def test_fractions_accept_torch_and_are_differentiable() -> None:
    rng = np.random.default_rng(2)
    fraction = rng.random((3, 10, 10))
    options = {"voxel_size_m": 1e-6, "angles_rad": [0.2, 1.4], "pixel_size_m": 1.5e-6, "n_cols": 12}
    t_np = project_fractions({"water": fraction}, **options)
    volume = torch.tensor(fraction, requires_grad=True)
    t_torch = project_fractions({"water": volume}, **options)
    assert isinstance(t_torch["water"], torch.Tensor)
    np.testing.assert_allclose(t_torch["water"].detach().numpy(), t_np["water"], rtol=1e-12)
    t_torch["water"].sum().backward()
    # d(sum of all thickness maps)/d(fraction) = voxel volume / pixel area per angle (2 angles, all on the detector)
    np.testing.assert_allclose(volume.grad.numpy(), 2 * 1e-6 * (1e-6 / 1.5e-6) ** 2, rtol=1e-10)


def test_single_slice_and_units() -> None:
    labels = np.zeros((4, 4), dtype=np.uint8)
    labels[1:3, 1:3] = 1
    sample = VoxelSample(labels=labels, materials={1: "pmma"}, voxel_size_m="0.5 um")
    assert sample.shape == (1, 4, 4) and sample.voxel_size_m == pytest.approx(5e-7)
    t = projected_thickness(sample, angles_rad=0.0)["pmma"]
    np.testing.assert_allclose(t, [[0, 1e-6, 1e-6, 0]], rtol=1e-6)
    assert not sample.labels.flags.writeable


def test_from_masks_later_masks_win() -> None:
    a = np.zeros((2, 4, 4), bool)
    a[:, :, :3] = True
    b = np.zeros((2, 4, 4), bool)
    b[:, :, 2:] = True
    sample = VoxelSample.from_masks({"pmma": a, "water": b}, voxel_size_m=1e-6)
    assert dict(sample.materials) == {1: "pmma", 2: "water"}
    np.testing.assert_array_equal(sample.labels[0, 0], [1, 1, 2, 2])


def test_bad_inputs_are_named() -> None:
    labels = np.array([[[0, 1, 2]]], dtype=np.uint8)
    with pytest.raises(ConfigError, match=r"labels \[2\] occur in the volume but have no material"):
        VoxelSample(labels=labels, materials={1: "pmma"}, voxel_size_m=1e-6)
    with pytest.raises(ConfigError, match=r"voxel_size_m = -1e-06 is not allowed"):
        VoxelSample(labels=labels, materials={1: "a", 2: "b"}, voxel_size_m=-1e-6)
    with pytest.raises(DataError, match="integer"):
        VoxelSample(labels=labels.astype(float), materials={1: "a", 2: "b"}, voxel_size_m=1e-6)
    with pytest.raises(ConfigError, match="materials key 'x'"):
        VoxelSample(labels=labels, materials={"x": "a"}, voxel_size_m=1e-6)  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"materials\[1\] = ''"):
        VoxelSample(labels=labels, materials={1: "", 2: "b"}, voxel_size_m=1e-6)
    sample = VoxelSample(labels=labels, materials={1: "a", 2: "b"}, voxel_size_m=1e-6)
    with pytest.raises(ConfigError, match="material 'c' is not in this sample"):
        sample.mask("c")
    with pytest.raises(ConfigError, match=r"pixel_size_m = 0(\.0)? is not allowed"):
        projected_thickness(sample, angles_rad=0.0, pixel_size_m=0)
    with pytest.raises(ConfigError, match="angles_rad must be a scalar or a 1-D array"):
        projected_thickness(sample, angles_rad=np.zeros((2, 2)))
    with pytest.raises(DataError, match="same shape"):
        project_fractions({"a": np.ones((2, 2)), "b": np.ones((3, 3))}, voxel_size_m=1.0, angles_rad=0.0)
    with pytest.raises(ConfigError, match="fractions is empty"):
        project_fractions({}, voxel_size_m=1.0, angles_rad=0.0)


# -- one pass over the labels, composition groups, angle batches ------------------------------------------------


def _tissue_sample(voxel_size_m: float = 1e-6) -> VoxelSample:
    """Three densities of soft tissue, water twice (name and denser Material), bone, air: 6 labels, 3 compositions
    with a density ladder plus two singletons."""
    from xrai.physics.materials import get_material

    tissue, water = get_material("soft_tissue"), get_material("water")
    rng = np.random.default_rng(21)
    labels = rng.integers(0, 8, size=(6, 20, 20)).astype(np.uint8)
    labels[:, :, :4] = 0
    materials = {
        1: tissue,
        2: tissue.with_density(0.93),
        3: tissue.with_density(1.21),
        4: "water",
        5: water.with_density(1.1),
        6: "cortical_bone",
        7: "air",
    }
    return VoxelSample(labels=labels, materials=materials, voxel_size_m=voxel_size_m)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pixel", [1e-6, 1.4e-6])
def test_label_pass_is_bitwise_the_projection_of_each_mask(dtype: str, pixel: float) -> None:
    sample = _tissue_sample()
    angles = np.array([0.0, 0.4, 2.2])
    options = {"angles_rad": angles, "pixel_size_m": pixel, "n_rows": 5, "n_cols": 19, "center_col": 8.7}
    maps = projected_thickness(sample, dtype=dtype, **options)
    masks = {key: sample.mask(key).astype(dtype) for key in sample.material_keys}
    for key, expected in project_fractions(masks, voxel_size_m=sample.voxel_size_m, **options).items():
        assert maps[key].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(maps[key], expected)
    # and a batch of angles is bitwise the angles one at a time
    for a, angle in enumerate(angles):
        single = projected_thickness(sample, dtype=dtype, **{**options, "angles_rad": float(angle)})
        for key in maps:
            np.testing.assert_array_equal(maps[key][a], single[key])


def test_composition_groups() -> None:
    from xrai.physics.materials import Material, get_material

    tissue = get_material("soft_tissue")
    dense = tissue.with_density(1.5)
    renamed = Material(name="brine", density_g_cm3=2.0, formula="H2O")  # same formula: same composition
    groups = composition_groups(["water", tissue, "pmma", dense, renamed, "unknown-stuff"])
    assert [reference for reference, _ in groups] == ["water", tissue, "pmma", "unknown-stuff"]
    assert groups[0][1] == {"water": 1.0, renamed: 2.0}
    assert groups[1][1] == {tissue: 1.0, dense: pytest.approx(1.5 / tissue.density_g_cm3, rel=1e-15)}
    assert groups[3][1] == {"unknown-stuff": 1.0}  # cannot be resolved: never merged


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-12), ("float32", 3e-6)])
@pytest.mark.parametrize("distance_m", [0.0, 0.002])
def test_grouped_compositions_give_the_same_polychromatic_intensity(
    dtype: str, rtol: float, distance_m: float
) -> None:
    from xrai.physics.acquisition import Propagation, weighted_intensity
    from xrai.physics.materials import get_material

    sample = _tissue_sample(voxel_size_m=2e-6)
    options = {"angles_rad": 0.7, "n_cols": 26, "dtype": dtype}
    apart = projected_thickness(sample, **options)
    grouped = projected_thickness(sample, group_compositions=True, **options)
    assert len(apart) == 7 and len(grouped) == 4  # tissue ×3, water ×2, bone, air
    tissue = sample.materials[1]
    # the group's map is the density-equivalent thickness of its reference material
    equivalent = sum(
        apart[m] * (get_material(m).density_g_cm3 / tissue.density_g_cm3)
        for m in (tissue, *[sample.materials[k] for k in (2, 3)])
    )
    np.testing.assert_allclose(grouped[tissue], equivalent, rtol=rtol, atol=rtol * float(equivalent.max()))
    energies = np.array([12.0, 18.0, 25.0, 33.0])
    weights = np.array([0.5, 1.0, 0.8, 0.3])
    intensities = [
        weighted_intensity(
            maps,
            energies_kev=energies,
            weights=weights,
            pixel_size_m=2e-6,
            propagation=Propagation(distance_m=distance_m),
            dtype=dtype,
        )
        for maps in (apart, grouped)
    ]
    assert intensities[0].min() < 0.995 * weights.sum()  # the sample does attenuate
    np.testing.assert_allclose(intensities[1], intensities[0], rtol=rtol)


def test_negative_labels_take_the_fraction_volume_path() -> None:
    labels = np.zeros((2, 6, 6), dtype=np.int16)
    labels[:, 1:3, :] = -4
    labels[:, 4, :] = 2
    sample = VoxelSample(labels=labels, materials={-4: "water", 2: "pmma"}, voxel_size_m=1.0)
    t = projected_thickness(sample, angles_rad=0.0, dtype="float64")
    np.testing.assert_array_equal(t["water"], 2.0)
    np.testing.assert_array_equal(t["pmma"], 1.0)
    with pytest.raises(ConfigError, match="no material"):
        projected_thickness(VoxelSample(labels=labels * 0, materials={}, voxel_size_m=1.0), angles_rad=0.0)
