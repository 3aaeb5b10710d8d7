"""The testing API tests itself: every assertion fails on wrong input, strategies give valid objects, phantoms
match their analytic companions."""

from __future__ import annotations

import subprocess
import sys
import unittest

import numpy as np
import pytest
from hypothesis import given, settings

from xrai.errors import UnitError
from xrai.testing import (
    assert_adjoint,
    assert_backend_parity,
    assert_energy_conserved,
    assert_linear,
    assert_relative_rms,
    disc,
    disc_sinogram,
    gaussian_field,
    gaussian_field_propagated,
    point,
    point_columns,
    shepp_logan,
)
from xrai.testing import strategies as xst

RNG = np.random.default_rng(42)
A = RNG.standard_normal((7, 5))
C = RNG.standard_normal((6, 4)) + 1j * RNG.standard_normal((6, 4))
FEW = settings(max_examples=20, deadline=None)


# ----------------------------------------------------------------------------------------------------------------
# assert_adjoint / assert_linear
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adjoint_accepts_a_true_pair(dtype: str) -> None:
    rel = assert_adjoint(lambda x: A @ x, lambda y: A.T @ y, (5,), (7,), dtype=dtype, n_trials=3)
    assert rel < (1e-12 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize(
    ("adjoint", "what"),
    [
        (lambda y: A[:5, :5].T @ y[:5], "a wrong matrix"),
        (lambda y: 1.001 * (A.T @ y), "a 0.1 % scale error"),
        (lambda y: np.roll(A.T @ y, 1), "a shifted index"),
    ],
)
def test_adjoint_rejects_a_wrong_pair(adjoint, what: str) -> None:
    with pytest.raises(AssertionError, match="not an adjoint pair"):
        assert_adjoint(lambda x: A @ x, adjoint, (5,), (7,))


def test_adjoint_needs_the_conjugate_for_complex_operators() -> None:
    assert_adjoint(lambda x: C @ x, lambda y: C.conj().T @ y, (4,), (6,), dtype="complex128")
    with pytest.raises(AssertionError, match="not an adjoint pair"):
        assert_adjoint(lambda x: C @ x, lambda y: C.T @ y, (4,), (6,), dtype="complex128")


def test_adjoint_reports_wrong_shapes() -> None:
    with pytest.raises(AssertionError, match=r"forward\(x\) has shape \(6,\), expected y_shape \(7,\)"):
        assert_adjoint(lambda x: (A @ x)[:6], lambda y: A.T @ y, (5,), (7,))


def test_adjoint_on_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    a = torch.as_tensor(A)
    assert_adjoint(lambda x: a @ x, lambda y: a.T @ y, (5,), (7,), xp=torch)
    with pytest.raises(AssertionError, match="not an adjoint pair"):
        assert_adjoint(lambda x: a @ x, lambda y: 2 * (a.T @ y), (5,), (7,), xp=torch)


def test_linear_accepts_linear_and_rejects_affine_and_nonlinear() -> None:
    assert assert_linear(lambda x: A @ x, (5,)) < 1e-12
    with pytest.raises(AssertionError, match="not linear"):
        assert_linear(lambda x: A @ x + 1e-3, (5,))  # a dark offset
    with pytest.raises(AssertionError, match="not linear"):
        assert_linear(lambda x: x * np.abs(x), (5,))


# ----------------------------------------------------------------------------------------------------------------
# assert_relative_rms
# ----------------------------------------------------------------------------------------------------------------


def test_relative_rms_fails_a_1e3_error_against_a_1e5_bound() -> None:
    expected = RNG.uniform(1, 2, (8, 9))
    actual = expected * (1 + 1e-3 * RNG.choice([-1.0, 1.0], expected.shape))
    actual[5, 7] = expected[5, 7] * 1.01  # the worst pixel
    with pytest.raises(AssertionError) as info:
        assert_relative_rms(actual, expected, max_rel_rms=1e-5, err_msg="slice 3")
    message = str(info.value)
    assert message.startswith("slice 3: relative RMS error 0.0015")
    assert "exceeds max_rel_rms = 1e-05" in message
    assert "at index (5, 7)" in message and "max |actual - expected| =" in message
    assert assert_relative_rms(expected * (1 + 1e-7), expected, max_rel_rms=1e-5) == pytest.approx(1e-7)


def test_relative_rms_catches_nan_shape_and_zero_reference() -> None:
    expected = np.ones((3, 4))
    bad = expected.copy()
    bad[2, 1] = np.nan
    with pytest.raises(AssertionError, match=r"1 non-finite values .* \(first at index \(2, 1\)\)"):
        assert_relative_rms(bad, expected, max_rel_rms=1.0)
    with pytest.raises(AssertionError, match=r"shape mismatch: actual \(4, 3\), expected \(3, 4\)"):
        assert_relative_rms(expected.T, expected, max_rel_rms=1.0)
    assert assert_relative_rms(np.zeros(3), np.zeros(3), max_rel_rms=0.0) == 0.0
    with pytest.raises(AssertionError, match="relative RMS error inf"):
        assert_relative_rms(np.full(3, 1e-9), np.zeros(3), max_rel_rms=1e3)


def test_relative_rms_with_a_mask_reports_the_original_index() -> None:
    expected = np.ones((4, 4))
    actual = expected.copy()
    actual[0, 0] = 100.0  # outside the mask: ignored
    actual[2, 3] = 1.5
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:, 1:] = True
    with pytest.raises(AssertionError, match=r"at index \(2, 3\)"):
        assert_relative_rms(actual, expected, max_rel_rms=1e-3, mask=mask)
    actual[2, 3] = 1.0
    assert assert_relative_rms(actual, expected, max_rel_rms=0.0, mask=mask) == 0.0


# ----------------------------------------------------------------------------------------------------------------
# assert_energy_conserved
# ----------------------------------------------------------------------------------------------------------------


def test_energy_conserved_per_image_of_a_batch() -> None:
    u = np.exp(1j * RNG.standard_normal((3, 8, 8)))
    assert_energy_conserved(u, np.fft.fft2(u, norm="ortho"), rtol=1e-12)
    damped = u.copy()
    damped[1] *= 0.999
    with pytest.raises(AssertionError, match=r"relative change 0.002.* batch index \(1,\)"):
        assert_energy_conserved(u, damped, rtol=1e-6)
    assert_energy_conserved(np.ones((4, 4)), np.full((4, 4), 1.0 + 1e-9), kind="intensity", rtol=1e-8)


# ----------------------------------------------------------------------------------------------------------------
# assert_backend_parity
# ----------------------------------------------------------------------------------------------------------------


def _scaled_sine(x, *, factor):
    from xrai._backend import array_namespace

    return array_namespace(x).sin(x) * factor


def test_backend_parity_passes_an_array_api_kernel() -> None:
    pytest.importorskip("torch")
    devices = assert_backend_parity(_scaled_sine, RNG.random((4, 5)), factor=2.0, check_grad=True)
    assert "cpu" in devices


def test_backend_parity_catches_value_backend_dtype_and_gradient_errors() -> None:
    torch = pytest.importorskip("torch")
    x = RNG.random((4, 5))

    def different(x):
        return x + (1.0 if isinstance(x, np.ndarray) else 1.001)

    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_backend_parity(different, x)
    with pytest.raises(AssertionError, match="expected a torch tensor"):
        assert_backend_parity(lambda x: np.asarray(x.detach()) if torch.is_tensor(x) else x, x)
    with pytest.raises(AssertionError, match="dtype float32 differs from numpy's float64"):
        assert_backend_parity(lambda x: x.float() if torch.is_tensor(x) else x, x)
    with pytest.raises(AssertionError, match="no output carries a gradient"):
        assert_backend_parity(lambda x: x.detach() * 2 if torch.is_tensor(x) else x * 2, x, check_grad=True)


def test_backend_parity_skips_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(unittest.SkipTest, match="torch is not installed"):
        assert_backend_parity(np.sin, np.ones(3))


# ----------------------------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------------------------


@FEW
@given(geometry=xst.parallel_geometries(), energy=xst.energies_kev(), pixel=xst.pixel_sizes_m())
def test_geometry_and_scalar_strategies_are_valid(geometry, energy: float, pixel: float) -> None:
    assert geometry.projection_shape[0] == geometry.angles_rad.size >= 1
    assert np.all(np.isfinite(geometry.angles_rad))
    assert 5.0 <= energy <= 100.0 and 1e-7 <= pixel <= 1e-4


@FEW
@given(material=xst.materials(), energies=xst.angles_rad(1, 4, evenly_spaced=True))
def test_material_names_are_in_the_library(material: str, energies: np.ndarray) -> None:
    from xrai.physics.materials import get_material

    assert get_material(material).name == material
    steps = np.diff(energies)
    assert np.allclose(steps, steps[0] if steps.size else 0.0)


@FEW
@given(
    stack=xst.projection_stacks(max_angles=4, max_rows=3, max_cols=6),
    volume=xst.volumes(ndim=2, max_side=6, nonnegative=False, dtype=np.float64),
    labels=xst.label_volumes(max_side=6, max_labels=3),
)
def test_array_strategies(stack: np.ndarray, volume: np.ndarray, labels: np.ndarray) -> None:
    assert stack.ndim == 3 and stack.dtype == np.float32 and np.all(stack >= 0)
    assert volume.ndim == 2 and volume.dtype == np.float64
    assert labels.ndim == 3 and labels.dtype == np.uint8 and labels.max() <= 3


@FEW
@given(text=xst.unit_strings("distance_m"), scan=xst.scan_configs())
def test_unit_strings_and_scan_configs(text: str, scan) -> None:
    from xrai.units import to_canonical

    assert to_canonical(text, name="distance_m") > 0
    assert scan.exposure_s <= 1.0 / scan.frame_rate_hz * (1 + 1e-12)


def test_unit_strings_need_a_unit_suffix() -> None:
    with pytest.raises(UnitError, match="no unit suffix"):
        xst.unit_strings("distance")


# ----------------------------------------------------------------------------------------------------------------
# phantoms
# ----------------------------------------------------------------------------------------------------------------


def test_disc_sinogram_is_the_disc_area_at_every_angle() -> None:
    angles = np.linspace(0, 2 * np.pi, 13)
    sino = disc_sinogram(angles, 40, radius_px=6.5, center_px=(3.0, -4.0), value=2.0)
    np.testing.assert_allclose(sino.sum(axis=1), 2.0 * np.pi * 6.5**2, rtol=1e-12)
    # the chord through the centre is the diameter (sampled at the column centre)
    centred = disc_sinogram([0.0], 41, radius_px=6.5, pixel_average=False)
    assert centred[0, 20] == pytest.approx(13.0)


def test_disc_sinogram_matches_the_projector_of_the_supersampled_disc() -> None:
    from xrai.ops.projector import ParallelProjector

    angles = np.linspace(0, np.pi, 16, endpoint=False)
    image = disc((48, 48), radius_px=10.0, center_px=(4.0, -6.0), supersampling=8)
    op = ParallelProjector(image.shape, angles)
    expected = disc_sinogram(angles, 48, radius_px=10.0, center_px=(4.0, -6.0))
    sino = op.forward(image)
    # along the pixel axes (0°, 90°) only the sub-pixel area estimate differs (1.2e-3 at 8² sub-pixels) ...
    assert_relative_rms(sino[[0, 8]], expected[[0, 8]], max_rel_rms=2e-3)
    # ... at oblique angles the square pixels' staircase adds ~1.5 % at the disc's edges
    assert_relative_rms(sino, expected, max_rel_rms=2e-2)
    assert image.sum() == pytest.approx(np.pi * 100, rel=2e-3)


def test_point_projects_onto_a_straight_line_or_a_sinusoid() -> None:
    from xrai.ops.projector import ParallelProjector

    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    for offset in [(0, 0), (3, -5)]:
        image = point((15, 15), offset_px=offset)
        sino = ParallelProjector(image.shape, angles).forward(image)
        columns = np.arange(15)
        centre_of_mass = (sino * columns).sum(axis=1) / sino.sum(axis=1)
        expected = point_columns(angles, shape=(15, 15), offset_px=offset)
        # column sums of a one-voxel footprint pull the centre of mass towards column centres (≤ 0.05 px here);
        # a wrong sign or swapped axes would miss by pixels
        np.testing.assert_allclose(centre_of_mass, expected, atol=0.06)
    fine = np.linspace(0, 2 * np.pi, 3601)
    assert np.ptp(point_columns(fine, shape=(15, 15))) == 0.0  # on the axis: a straight line
    assert np.ptp(point_columns(fine, shape=(15, 15), offset_px=(3, -5))) == pytest.approx(2 * np.hypot(3, 5))


def test_shepp_logan_is_deterministic_and_resized() -> None:
    a, b = shepp_logan(48), shepp_logan(48)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (48, 48) and a.min() >= 0.0 and a.max() <= 1.0 and a[24, 24] > 0


def test_gaussian_field_propagates_as_the_analytic_gaussian() -> None:
    from xrai.physics.propagation import propagate

    shape, sigma, z = (64, 64), 3.0, 0.2  # |q| = 3.7 px: far from the 64-px borders
    u0 = gaussian_field(shape, sigma_px=sigma)
    u = propagate(u0, distance_m=z, energy_kev=15.0, pixel_size_m=1e-6)
    expected = gaussian_field_propagated(
        shape, sigma_px=sigma, distance_m=z, energy_kev=15.0, pixel_size_m=1e-6
    )
    assert_relative_rms(u, expected, max_rel_rms=1e-9)
    assert_energy_conserved(u0, expected, rtol=1e-9)  # the analytic field keeps the energy too
    with pytest.raises(AssertionError, match="relative RMS"):  # and the comparison can fail: wrong sign of z
        assert_relative_rms(u, np.conj(expected), max_rel_rms=1e-3)


def test_phantoms_reject_bad_parameters() -> None:
    from xrai.errors import ConfigError

    with pytest.raises(ConfigError, match=r"radius_px = -1"):
        disc((8, 8), radius_px=-1)
    with pytest.raises(ConfigError, match=r"offset_px = \(0, 9\) .*outside"):
        point((5, 5), offset_px=(0, 9))


def test_importing_xrai_testing_is_cheap() -> None:
    code = (
        "import sys, xrai.testing; xrai.testing.assert_adjoint; "
        "print(sorted(m for m in ('hypothesis', 'torch', 'skimage', 'numba', 'xrai.physics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
