"""Analytic bodies: exact projected thickness, anti-aliasing, rotation, overlaps, presets and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from xrai.errors import ConfigError
from xrai.geometry import pixel_centres
from xrai.physics.bodies import (
    Body,
    Box,
    Cone,
    Cylinder,
    Ellipsoid,
    Sphere,
    project_bodies,
    project_slices,
    wax_on_needle,
)

P = 1e-6  # pixel size used by most tests (m)


def _grid(shape: tuple[int, int], pixel: float = P) -> tuple[np.ndarray, np.ndarray]:
    """Column coordinate s and row coordinate z of every pixel centre (xrai.geometry convention)."""
    s = pixel_centres(shape[1], pixel)[None, :]
    z = pixel_centres(shape[0], pixel)[:, None]
    return np.broadcast_arrays(s, z)


# -------------------------------------------------------------------------------------- point sampling = formulas


def test_point_sampled_bodies_match_closed_forms() -> None:
    shape = (40, 50)
    s, z = _grid(shape)
    kw = {"pixel_size_m": P, "dtype": "float64"}
    sphere = Sphere(radius_m=12e-6, centre_m=(3e-6, 5e-6, -2e-6), material="a").thickness_m(shape, **kw)
    expected = 2 * np.sqrt(np.maximum(144e-12 - (s - 3e-6) ** 2 - (z + 2e-6) ** 2, 0))
    np.testing.assert_allclose(sphere, expected, atol=1e-15)

    ell = Ellipsoid(semi_axes_m=(15e-6, 9e-6, 7e-6), material="a").thickness_m(shape, **kw)
    expected = 2 * 9e-6 * np.sqrt(np.maximum(1 - (s / 15e-6) ** 2 - (z / 7e-6) ** 2, 0))
    np.testing.assert_allclose(ell, expected, atol=1e-15)

    vertical = Cylinder(radius_m=6e-6, length_m=30e-6, material="a").thickness_m(shape, **kw)
    expected = np.where(np.abs(z) <= 15e-6, 2 * np.sqrt(np.maximum(36e-12 - s**2, 0)), 0)
    np.testing.assert_allclose(vertical, expected, atol=1e-15)

    horizontal = Cylinder(radius_m=6e-6, length_m=30e-6, axis=(1, 0, 0), material="a").thickness_m(
        shape, **kw
    )
    expected = np.where(np.abs(s) <= 15e-6, 2 * np.sqrt(np.maximum(36e-12 - z**2, 0)), 0)
    np.testing.assert_allclose(horizontal, expected, atol=1e-15)

    end_on = Cylinder(radius_m=6e-6, length_m=30e-6, axis=(0, 1, 0), material="a").thickness_m(shape, **kw)
    np.testing.assert_allclose(end_on, np.where(s**2 + z**2 <= 36e-12, 30e-6, 0), atol=1e-15)

    box = Box(size_m=(20e-6, 8e-6, 10e-6), material="a").thickness_m(shape, **kw)
    np.testing.assert_allclose(box, np.where((np.abs(s) <= 10e-6) & (np.abs(z) <= 5e-6), 8e-6, 0), atol=1e-15)

    # vertical cone, base radius 8 µm at z = +10 µm, apex 16 µm higher (towards row 0)
    cone = Cone(radius_m=8e-6, height_m=16e-6, centre_m=(0, 0, 10e-6), material="a").thickness_m(shape, **kw)
    height = 10e-6 - z  # distance above the base
    radius = np.where((height >= 0) & (height <= 16e-6), 8e-6 * (1 - height / 16e-6), 0)
    np.testing.assert_allclose(cone, 2 * np.sqrt(np.maximum(radius**2 - s**2, 0)), atol=1e-15)

    frustum = Cone(radius_m=8e-6, top_radius_m=4e-6, height_m=16e-6, centre_m=(0, 0, 10e-6), material="a")
    radius = np.where((height >= 0) & (height <= 16e-6), 8e-6 - 4e-6 * height / 16e-6, 0)
    np.testing.assert_allclose(
        frustum.thickness_m(shape, **kw), 2 * np.sqrt(np.maximum(radius**2 - s**2, 0)), atol=1e-15
    )


def test_box_seen_along_its_diagonal() -> None:
    """A cube turned by 45° about z: the chord through the middle row is the diagonal profile (a triangle)."""
    cube = Box(size_m=(10e-6, 10e-6, 10e-6), rotation_rad=(0, 0, math.pi / 4), material="a")
    t = cube.thickness_m((20, 41), pixel_size_m=0.5e-6, dtype="float64")
    s = pixel_centres(41, 0.5e-6)
    half_diagonal = 5e-6 * math.sqrt(2)
    expected = 2 * np.maximum(half_diagonal - np.abs(s), 0)
    np.testing.assert_allclose(t[10], expected, atol=1e-15)


# --------------------------------------------------------------------------------------------- anti-aliasing


@pytest.mark.parametrize("radius_px", [10.3, 40.7])
def test_anti_aliased_sphere_volume(radius_px: float) -> None:
    sphere = Sphere(radius_m=radius_px * P, centre_m=(0.23 * P, 0.1 * P, -0.37 * P), material="a")
    area = sphere.thickness_m((128, 128), pixel_size_m=P, sampling="area", dtype="float64")
    assert area.sum() * P * P == pytest.approx(sphere.volume_m3(), rel=1e-4)
    assert area.max() <= 2 * sphere.radius_m


def test_anti_aliasing_beats_point_sampling_on_a_small_sphere() -> None:
    sphere = Sphere(radius_m=3.3 * P, centre_m=(0.2 * P, 0.0, 0.4 * P), material="a")
    point = sphere.thickness_m((16, 16), pixel_size_m=P, dtype="float64")
    area = sphere.thickness_m((16, 16), pixel_size_m=P, sampling="area", supersampling=16, dtype="float64")
    volume = sphere.volume_m3()
    err_point = abs(point.sum() * P * P / volume - 1)
    err_area = abs(area.sum() * P * P / volume - 1)
    assert err_area < 3e-4 and err_area < err_point / 5


def test_anti_aliased_pixel_equals_the_exact_pixel_average() -> None:
    """Rim and interior pixels against a 2-D adaptive quadrature of 2√(R² − x² − y²) (scipy.integrate)."""
    radius, cx, cz = 5.0, 0.3, -0.2  # in pixels
    sphere = Sphere(radius_m=radius * P, centre_m=(cx * P, 0.0, cz * P), material="a")
    n = 16
    t = sphere.thickness_m((n, n), pixel_size_m=P, sampling="area", supersampling=16, dtype="float64") / P
    centres = pixel_centres(n, 1.0)

    def exact(row: int, col: int) -> float:
        def height(z: float, x: float) -> float:
            return 2 * math.sqrt(max(radius**2 - (x - cx) ** 2 - (z - cz) ** 2, 0.0))

        x0, z0 = centres[col], centres[row]
        value, _ = integrate.dblquad(height, x0 - 0.5, x0 + 0.5, z0 - 0.5, z0 + 0.5, epsabs=1e-9, epsrel=1e-9)
        return value

    for row, col in [(8, 8), (8, 12), (3, 7), (8, 13), (12, 12), (4, 4), (2, 8)]:
        assert t[row, col] == pytest.approx(exact(row, col), abs=2e-3 * 2 * radius), (row, col)


@pytest.mark.parametrize(
    "body",
    [
        Ellipsoid(material="a", semi_axes_m=(20e-6, 12e-6, 9e-6), rotation_rad=(0.3, 0.5, 0.7)),
        Cylinder(material="a", radius_m=8e-6, length_m=40e-6, axis=(1, 0.3, 0.2)),
        Box(material="a", size_m=(20e-6, 30e-6, 10e-6), rotation_rad=(0.2, 0.4, 0.1)),
        Cone(material="a", radius_m=10e-6, height_m=30e-6, axis=(0.3, 0.5, -1)),
        Cone(material="a", radius_m=10e-6, height_m=30e-6, axis=(0.2, 1, 0), top_radius_m=4e-6),
    ],
    ids=lambda b: type(b).__name__,
)
@pytest.mark.parametrize("angle", [0.0, 0.7, 2.5])
def test_anti_aliased_volume_of_every_body(body: Body, angle: float) -> None:
    t = body.thickness_m((96, 96), pixel_size_m=P, sampling="area", dtype="float64", angle_rad=angle)
    assert t.sum() * P * P == pytest.approx(body.volume_m3(), rel=2e-3)


# ---------------------------------------------------------------------------------------------- tomography


def test_rotation_moves_a_body_along_the_radon_trajectory() -> None:
    """At angle θ a sphere at (x, y) projects like a sphere at s = x cos θ + y sin θ seen at angle 0."""
    x, y, z = 7e-6, -4e-6, 3e-6
    for angle in np.linspace(0, 2 * math.pi, 7):
        rotated = Sphere(radius_m=5e-6, centre_m=(x, y, z), material="a")
        s = x * math.cos(angle) + y * math.sin(angle)
        moved = Sphere(radius_m=5e-6, centre_m=(s, 0.0, z), material="a")
        kw = {"pixel_size_m": P, "dtype": "float64"}
        np.testing.assert_allclose(
            rotated.thickness_m((32, 40), angle_rad=angle, **kw),
            moved.thickness_m((32, 40), **kw),
            atol=1e-15,
        )


def test_rotation_centre_offset_and_non_square_pixels() -> None:
    sphere = Sphere(radius_m=4e-6, material="a")
    t = sphere.thickness_m((20, 30), pixel_size_m=(1e-6, 0.5e-6), center_col=10.0, dtype="float64")
    row, col = np.unravel_index(np.argmax(t), t.shape)
    assert col == 10 and row in (9, 10)
    assert np.count_nonzero(t[row]) > 2 * np.count_nonzero(t[:, col]) - 2  # columns are half as wide


def test_tilted_cylinder_volume_is_independent_of_the_angle() -> None:
    body = Cylinder(
        material="a", radius_m=5e-6, length_m=30e-6, axis=(0.3, 0.4, 1.0), centre_m=(4e-6, 2e-6, 0)
    )
    volumes = [
        body.thickness_m((80, 80), pixel_size_m=P, angle_rad=a, sampling="area", dtype="float64").sum()
        for a in np.linspace(0, math.pi, 5)
    ]
    np.testing.assert_allclose(np.array(volumes) * P * P, body.volume_m3(), rtol=2e-3)


# ------------------------------------------------------------------------------------------------- overlaps


def test_later_bodies_displace_earlier_ones() -> None:
    blob = Sphere(radius_m=10e-6, material="wax")
    needle = Cylinder(radius_m=2e-6, length_m=40e-6, material="steel")
    maps = project_bodies([blob, needle], (40, 40), pixel_size_m=P, dtype="float64")
    alone = project_bodies([blob], (40, 40), pixel_size_m=P, dtype="float64")["wax"]
    needle_alone = needle.thickness_m((40, 40), pixel_size_m=P, dtype="float64")
    np.testing.assert_allclose(maps["steel"], needle_alone)
    s, z = _grid((40, 40))
    # inside the blob the needle takes away exactly its chord (it crosses the blob completely there)
    inside = (np.abs(s) < 2e-6) & (np.abs(z) < 8e-6)
    np.testing.assert_allclose(maps["wax"][inside], (alone - needle_alone)[inside], atol=1e-15)
    # the order matters: the needle listed first is buried in wax
    buried = project_bodies([needle, blob], (40, 40), pixel_size_m=P, dtype="float64")
    np.testing.assert_allclose(buried["wax"], alone, atol=1e-15)
    assert buried["steel"][inside].max() == 0


def test_overlapping_bodies_of_one_material_count_once() -> None:
    a = Sphere(radius_m=8e-6, material="a")
    b = Sphere(radius_m=8e-6, material="a", centre_m=(0, 4e-6, 0))  # shifted along the beam
    c = Sphere(radius_m=3e-6, material="a", centre_m=(0, 0, 0))  # inside a
    t = project_bodies([a, b, c], (32, 32), pixel_size_m=P, dtype="float64")["a"]
    single = a.thickness_m((32, 32), pixel_size_m=P, dtype="float64")
    chord = single / 2
    np.testing.assert_allclose(
        t, np.where(single > 0, 2 * chord + 4e-6 - np.maximum(4e-6 - 2 * chord, 0), 0), atol=1e-15
    )


def test_union_of_many_overlapping_bodies() -> None:
    """Four equal spheres in a row along the beam: union chord = 2h + Σ min(2h, spacing)."""
    spacing, radius = 3e-6, 4e-6
    spheres = [Sphere(radius_m=radius, centre_m=(0, k * spacing, 0), material="a") for k in range(4)]
    t = project_bodies(spheres, (12, 12), pixel_size_m=P, dtype="float64")["a"]
    chord = spheres[0].thickness_m((12, 12), pixel_size_m=P, dtype="float64")
    expected = np.where(chord > 0, chord + 3 * np.minimum(chord, spacing), 0.0)
    np.testing.assert_allclose(t, expected, atol=1e-15)
    # shuffled order and a second material in front change nothing for this material
    shuffled = [spheres[2], spheres[0], spheres[3], spheres[1]]
    np.testing.assert_allclose(
        project_bodies(shuffled, (12, 12), pixel_size_m=P, dtype="float64")["a"], expected, atol=1e-15
    )


def test_slices_add_up_to_the_projection() -> None:
    bodies = wax_on_needle(scale=0.05)
    kw = {"pixel_size_m": 1e-6, "dtype": "float64", "angle_rad": 0.4}
    full = project_bodies(bodies, (80, 80), **kw)
    slices = project_slices(bodies, (80, 80), n_slices=7, depth_m=120e-6, **kw)
    for name, thickness in full.items():
        np.testing.assert_allclose(sum(s[name] for s in slices), thickness, atol=1e-15)
    assert all(set(s) == set(full) for s in slices)


# -------------------------------------------------------------------------------------------------- presets


def test_wax_on_needle_preset() -> None:
    from xrai.physics.materials import get_material

    bodies = wax_on_needle()
    assert [b.material for b in bodies] == ["paraffin_wax", "steel", "steel"]
    for body in bodies:
        get_material(body.material)  # known to the material library
    n, pixel = 300, 5e-6  # 1.5 mm field of view
    maps = project_bodies(bodies, (n, n), pixel_size_m=pixel, sampling="area")
    assert set(maps) == {"paraffin_wax", "steel"}
    assert maps["steel"][-1].max() > 0 and maps["steel"][0].max() == 0  # the needle enters from the bottom
    wax_volume = float(maps["paraffin_wax"].sum()) * pixel**2
    steel_volume = float(maps["steel"].sum()) * pixel**2
    shaft_in_view = math.pi * (0.1e-3) ** 2 * (0.75e-3 - 0.1e-3)
    assert steel_volume == pytest.approx(shaft_in_view + bodies[2].volume_m3(), rel=2e-3)
    assert bodies[0].volume_m3() - 3e-11 < wax_volume < bodies[0].volume_m3()
    scaled = project_bodies(wax_on_needle(scale=2.0), (n, n), pixel_size_m=2 * pixel)
    np.testing.assert_allclose(
        scaled["steel"],
        2 * project_bodies(bodies, (n, n), pixel_size_m=pixel)["steel"],
        rtol=1e-5,
        atol=1e-12,
    )


# -------------------------------------------------------------------------------------------------- outputs


def test_output_namespaces_and_dtypes() -> None:
    torch = pytest.importorskip("torch")
    sphere = Sphere(radius_m=5e-6, material="a")
    default = sphere.thickness_m((16, 16), pixel_size_m=P)
    assert isinstance(default, np.ndarray) and default.dtype == np.float32
    tensor = sphere.thickness_m((16, 16), pixel_size_m=P, xp=torch)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    double = sphere.thickness_m((16, 16), pixel_size_m=P, xp=torch, dtype="float64")
    assert double.dtype == torch.float64
    np.testing.assert_allclose(double.numpy(), sphere.thickness_m((16, 16), pixel_size_m=P, dtype="float64"))
    outside = Sphere(radius_m=1e-6, centre_m=(1.0, 0, 0), material="a").thickness_m((8, 8), pixel_size_m=P)
    assert not outside.any()


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_bodies_name_the_field_and_value() -> None:
    with pytest.raises(ConfigError, match=r"radius_m = -1e-06 is not allowed"):
        Sphere(radius_m=-1e-6, material="a")
    with pytest.raises(ConfigError, match=r"semi_axes_m = 0.0 is not allowed"):
        Ellipsoid(semi_axes_m=(1e-6, 0.0, 1e-6), material="a")
    with pytest.raises(ConfigError, match=r"axis = \(0, 0, 0\) is not allowed"):
        Cylinder(radius_m=1e-6, length_m=1e-6, axis=(0, 0, 0), material="a")
    with pytest.raises(ConfigError, match="length_m = inf"):
        Cylinder(radius_m=1e-6, length_m=float("inf"), material="a")
    with pytest.raises(ConfigError, match=r"centre_m = \(1, 2\)"):
        Sphere(radius_m=1e-6, centre_m=(1, 2), material="a")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="material = ''"):
        Sphere(radius_m=1e-6, material="")
    with pytest.raises(ConfigError, match="top_radius_m = -1"):
        Cone(radius_m=1e-6, height_m=1e-6, top_radius_m=-1, material="a")
    sphere = Sphere(radius_m=1e-6, material="a")
    with pytest.raises(ConfigError, match="sampling = 'exact'"):
        project_bodies([sphere], (8, 8), pixel_size_m=P, sampling="exact")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="supersampling = 100"):
        project_bodies([sphere], (8, 8), pixel_size_m=P, sampling="area", supersampling=100)
    with pytest.raises(ConfigError, match="bodies is empty"):
        project_bodies([], (8, 8), pixel_size_m=P)
    with pytest.raises(ConfigError, match=r"pixel_size_m = 0"):
        project_bodies([sphere], (8, 8), pixel_size_m=0)
    with pytest.raises(ConfigError, match=r"shape = \(8,\)"):
        project_bodies([sphere], (8,), pixel_size_m=P)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="depth_range_m"):
        project_bodies([sphere], (8, 8), pixel_size_m=P, depth_range_m=(1e-6, -1e-6))
