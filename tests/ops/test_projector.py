"""ParallelProjector: adjointness, sinogram geometry, analytic chords, mass conservation, backend parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xrai.errors import ConfigError, DataError
from xrai.ops import ParallelProjector
from xrai.ops import projector as projector_module

BACKENDS = ("numpy", "torch", "torch-vectorised")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """numpy (numba), torch on the CPU (numba inside autograd) and the vectorised torch code (CUDA's path)."""
    if request.param == "torch-vectorised":
        monkeypatch.setattr(projector_module, "_TORCH_CPU_USES_NUMBA", False)
    return str(request.param)


def _to(backend: str, array: np.ndarray) -> np.ndarray | torch.Tensor:
    return array if backend == "numpy" else torch.from_numpy(np.ascontiguousarray(array))


def _np(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


CASES = [
    # volume_shape, angles, keyword arguments
    ((17, 17), np.linspace(0.0, np.pi, 12, endpoint=False), {}),
    ((16, 24), np.array([0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi, -0.3, 5.0]), {"n_cols": 40}),
    ((3, 20, 13), np.linspace(0.0, 2 * np.pi, 9), {"n_cols": 30, "center_col": 12.7}),
    ((4, 12, 12), np.array([0.1, 1.2, 2.9]), {"detector_spacing": 0.6}),
    ((2, 15, 18), np.linspace(0.0, np.pi, 7), {"detector_spacing": 1.9, "n_cols": 9, "center_col": 3.2}),
]


@pytest.mark.parametrize(("shape", "angles", "kwargs"), CASES)
def test_adjointness(
    backend: str, shape: tuple[int, ...], angles: np.ndarray, kwargs: dict[str, float]
) -> None:
    op = ParallelProjector(shape, angles, **kwargs)
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(op.volume_shape)
    y = rng.standard_normal(op.projection_shape)
    ax = _np(op.forward(_to(backend, x)))
    aty = _np(op.adjoint(_to(backend, y)))
    lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12 * np.linalg.norm(ax) * np.linalg.norm(y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adjointness_single_precision_and_dtype_kept(backend: str, dtype: type) -> None:
    op = ParallelProjector((3, 21, 21), np.linspace(0.0, np.pi, 10, endpoint=False))
    rng = np.random.default_rng(1)
    x = rng.standard_normal(op.volume_shape).astype(dtype)
    y = rng.standard_normal(op.projection_shape).astype(dtype)
    ax, aty = op.forward(_to(backend, x)), op.adjoint(_to(backend, y))
    assert _np(ax).dtype == dtype and _np(aty).dtype == dtype
    lhs = float(np.vdot(_np(ax).astype(np.float64), y))
    rhs = float(np.vdot(x.astype(np.float64), _np(aty)))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert lhs == pytest.approx(rhs, rel=tol)


def test_point_at_rotation_centre_gives_a_straight_sinogram_line(backend: str) -> None:
    n = 21
    image = np.zeros((n, n))
    image[n // 2, n // 2] = 1.0
    # on a column centre or edge the footprint is symmetric about the axis: exactly the same column at every
    # angle; elsewhere column integration biases the centroid by < 1/20 column
    for centre, tolerance in ((None, 1e-9), (12.5, 1e-9), (12.3, 0.05)):
        op = ParallelProjector(
            (n, n), np.linspace(0.0, np.pi, 36, endpoint=False), n_cols=27, center_col=centre
        )
        sino = _np(op.forward(_to(backend, image)))
        columns = np.arange(op.n_cols)
        centroid = (sino * columns).sum(axis=1) / sino.sum(axis=1)
        np.testing.assert_allclose(centroid, op.center_col, atol=tolerance)


@pytest.mark.parametrize("spacing", [1.0, 0.5])
def test_point_off_centre_follows_the_sinusoid(backend: str, spacing: float) -> None:
    n = 33
    angles = np.linspace(0.0, 2 * np.pi, 73)
    op = ParallelProjector((n, n), angles, n_cols=round(60 / spacing), detector_spacing=spacing)
    image = np.zeros((n, n))
    iy, ix = 5, 27
    image[iy, ix] = 1.0
    sino = _np(op.forward(_to(backend, image)))
    centroid = (sino * np.arange(op.n_cols)).sum(axis=1) / sino.sum(axis=1)
    x, y = ix - (n - 1) / 2, iy - (n - 1) / 2
    expected = op.center_col + (x * np.cos(angles) + y * np.sin(angles)) / spacing  # s = x cos θ + y sin θ
    # the centroid of column-integrated footprints deviates from u0 by less than 1/25 of a column
    np.testing.assert_allclose(centroid, expected, atol=0.04)
    np.testing.assert_allclose(sino.sum(axis=1) * spacing, 1.0, rtol=1e-12)


def _disc(n: int, radius: float, supersample: int = 8) -> np.ndarray:
    """A disc voxelised with its area fraction per voxel (supersampled), centred in an n × n image."""
    g = (np.arange(n * supersample) + 0.5) / supersample - 0.5 - (n - 1) / 2
    xx, yy = np.meshgrid(g, g)
    return ((xx**2 + yy**2) <= radius**2).reshape(n, supersample, n, supersample).mean(axis=(1, 3))


def test_uniform_disc_matches_the_analytic_chord_length(backend: str) -> None:
    n, radius = 128, 50.3
    op = ParallelProjector((n, n), np.linspace(0.0, np.pi, 30, endpoint=False))
    sino = _np(op.forward(_to(backend, _disc(n, radius))))
    s = np.arange(n) - (n - 1) / 2
    fine = np.linspace(-0.5, 0.5, 2001)
    chord = 2 * np.sqrt(np.clip(radius**2 - (s[:, None] + fine) ** 2, 0.0, None))
    analytic = np.trapezoid(chord, fine, axis=1)  # averaged over the column width
    error = sino - analytic[None, :]
    assert np.sqrt(np.mean(error**2)) / analytic.max() < 5e-3
    inner = np.abs(s) < radius - 3
    assert np.abs(error[:, inner]).max() < 0.5  # voxel lengths, on chords up to 100


@pytest.mark.parametrize("spacing", [1.0, 0.7, 2.3])
def test_mass_is_conserved_at_every_angle(backend: str, spacing: float) -> None:
    rng = np.random.default_rng(3)
    volume = rng.random((3, 19, 26))
    n_cols = math.ceil(40 / spacing)
    op = ParallelProjector(volume.shape, rng.uniform(-4, 4, 11), n_cols=n_cols, detector_spacing=spacing)
    projections = _np(op.forward(_to(backend, volume)))
    expected = np.broadcast_to(volume.sum(axis=(1, 2)), projections.shape[:2])
    np.testing.assert_allclose(projections.sum(axis=2) * spacing, expected, rtol=1e-12)


def test_uniform_square_at_45_degrees_is_an_exact_triangle() -> None:
    # strip integrals are exact areas: no ripple from interpolation on a uniform region
    image = np.zeros((64, 64))
    image[16:48, 16:48] = 1.0
    op = ParallelProjector(image.shape, [np.pi / 4], n_cols=101)
    s = (np.arange(101) - 50) * 1.0
    edge = np.abs(s[:, None] + np.linspace(-0.5, 0.5, 4001)[None, :])
    expected = np.trapezoid(np.clip(32 * np.sqrt(2) - 2 * edge, 0, None), dx=1 / 4000, axis=1)
    np.testing.assert_allclose(op.forward(image)[0], expected, atol=1e-6)


def test_angles_pi_apart_mirror_and_quarter_turns_rotate() -> None:
    rng = np.random.default_rng(4)
    image = rng.random((20, 20))
    angles = np.array([0.3, 0.3 + np.pi, 0.3 + np.pi / 2])
    sino = ParallelProjector(image.shape, angles, n_cols=31).forward(image)
    np.testing.assert_allclose(sino[1], sino[0][::-1], atol=1e-12)  # s -> -s about the centre column
    # rotating the image content by +90°, (x, y) -> (-y, x), turns the projection at θ into the one at θ + 90°
    rotated = np.rot90(image, k=-1)  # rotated[a, b] = image[n - 1 - b, a]
    sino_rotated = ParallelProjector(image.shape, angles[2:], n_cols=31).forward(rotated)
    np.testing.assert_allclose(sino_rotated[0], sino[0], atol=1e-12)


def test_slices_are_independent_rows() -> None:
    rng = np.random.default_rng(5)
    volume = rng.random((4, 15, 15))
    angles = np.linspace(0, np.pi, 5)
    op3 = ParallelProjector(volume.shape, angles)
    op2 = ParallelProjector(volume.shape[1:], angles)
    projections = op3.forward(volume)
    for z in range(volume.shape[0]):
        np.testing.assert_allclose(projections[:, z, :], op2.forward(volume[z]), rtol=1e-13)


def test_against_scikit_image_radon_on_a_disc() -> None:
    skimage_transform = pytest.importorskip("skimage.transform")
    n, radius = 101, 40.0
    disc = _disc(n, radius)
    angles_deg = np.linspace(0.0, 180.0, 8, endpoint=False)
    ours = ParallelProjector((n, n), np.deg2rad(angles_deg)).forward(disc)
    reference = skimage_transform.radon(disc, theta=angles_deg, circle=True).T
    assert np.abs(ours - reference).max() / reference.max() < 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_and_torch_agree(dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projector_module, "_TORCH_CPU_USES_NUMBA", False)
    op = ParallelProjector(
        (3, 22, 19), np.linspace(0.0, np.pi, 13), n_cols=29, center_col=13.6, detector_spacing=0.9
    )
    rng = np.random.default_rng(6)
    x = rng.random(op.volume_shape)
    y = rng.random(op.projection_shape)
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    ax = op.forward(x.astype(np_dtype))
    aty = op.adjoint(y.astype(np_dtype))
    ax_t = op.forward(torch.tensor(x, dtype=dtype))
    aty_t = op.adjoint(torch.tensor(y, dtype=dtype))
    assert ax_t.dtype == dtype and aty_t.dtype == dtype
    np.testing.assert_allclose(ax_t.numpy(), ax, rtol=tol, atol=tol * np.abs(ax).max())
    np.testing.assert_allclose(aty_t.numpy(), aty, rtol=tol, atol=tol * np.abs(aty).max())


@pytest.mark.parametrize("vectorised", [False, True])
@pytest.mark.parametrize("shape", [(12, 14), (2, 12, 14)])
def test_torch_gradient_is_the_adjoint(
    shape: tuple[int, ...], vectorised: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projector_module, "_TORCH_CPU_USES_NUMBA", not vectorised)
    op = ParallelProjector(shape, np.linspace(0.0, np.pi, 6), n_cols=20)
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.standard_normal(op.volume_shape), requires_grad=True)
    y = torch.tensor(rng.standard_normal(op.projection_shape))
    (op.forward(x) * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), op.adjoint(y).numpy(), rtol=1e-12, atol=1e-12)
    # and the adjoint's gradient is the forward projection
    y2 = y.clone().requires_grad_(True)
    (op.adjoint(y2) * x.detach()).sum().backward()
    np.testing.assert_allclose(y2.grad.numpy(), op.forward(x.detach()).numpy(), rtol=1e-12, atol=1e-12)


def test_torch_gradcheck_and_second_derivatives() -> None:
    op = ParallelProjector((5, 6), np.array([0.2, 1.1, 2.5]), n_cols=8)
    x = torch.rand(op.volume_shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(op.forward, (x,))
    assert torch.autograd.gradgradcheck(lambda v: op.forward(v) ** 2, (x,))


def test_integer_input_uses_the_default_dtype() -> None:
    op = ParallelProjector((6, 6), [0.0])
    mask = np.zeros((6, 6), dtype=bool)
    mask[2:4, 1:5] = True
    out = op.forward(mask)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [0, 2, 2, 2, 2, 0])
    assert op.forward(torch.from_numpy(mask)).dtype == torch.float32


def test_bad_inputs_name_the_field_and_value() -> None:
    with pytest.raises(ConfigError, match=r"volume_shape = \(4,\)"):
        ParallelProjector((4,), [0.0])
    with pytest.raises(ConfigError, match="volume_shape"):
        ParallelProjector((4, 0), [0.0])
    with pytest.raises(ConfigError, match="angles_rad"):
        ParallelProjector((4, 4), [0.0, np.nan])
    with pytest.raises(ConfigError, match="angles_rad"):
        ParallelProjector((4, 4), [])
    with pytest.raises(ConfigError, match=r"detector_spacing = -1"):
        ParallelProjector((4, 4), [0.0], detector_spacing=-1)
    with pytest.raises(ConfigError, match=r"n_cols = 0"):
        ParallelProjector((4, 4), [0.0], n_cols=0)
    with pytest.raises(ConfigError, match=r"n_cols = 2.5"):
        ParallelProjector((4, 4), [0.0], n_cols=2.5)  # type: ignore[arg-type]
    op = ParallelProjector((4, 5), [0.0, 1.0])
    with pytest.raises(DataError, match=r"volume has shape \(5, 4\), expected \(4, 5\)"):
        op.forward(np.zeros((5, 4)))
    with pytest.raises(DataError, match=r"projections has shape"):
        op.adjoint(np.zeros((2, 4)))
    with pytest.raises(DataError, match="complex"):
        op.forward(np.zeros((4, 5), dtype=complex))


def test_from_geometry() -> None:
    from xrai.geometry import ParallelBeamGeometry

    geometry = ParallelBeamGeometry(
        angles_rad=np.linspace(0, np.pi, 5), n_rows=3, n_cols=20, pixel_size_m=2e-6, center_col=9.2
    )
    op = ParallelProjector.from_geometry(geometry)
    assert op.volume_shape == (3, 20, 20) and op.projection_shape == geometry.projection_shape
    assert op.center_col == 9.2 and op.detector_spacing == 1.0
    fine = ParallelProjector.from_geometry(geometry, voxel_size_m=1e-6, volume_shape=(3, 40, 40))
    assert fine.detector_spacing == 2.0
    with pytest.raises(ConfigError, match=r"has 4 slices but the detector has n_rows = 3"):
        ParallelProjector.from_geometry(geometry, volume_shape=(4, 20, 20))


def test_operator_is_immutable() -> None:
    op = ParallelProjector((4, 4), [0.0, 1.0])
    with pytest.raises(AttributeError, match="immutable"):
        op.n_cols = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        op.angles_rad[0] = 2.0
    assert op.shape == (2 * 4, 16)
    assert "n_angles=2" in repr(op)


# -- several channels in one pass (e.g. one fraction volume per material) ----------------------------------------


@pytest.mark.parametrize(("shape", "angles", "kwargs"), CASES)
def test_channels_are_bitwise_the_per_channel_loop(
    backend: str, shape: tuple[int, ...], angles: np.ndarray, kwargs: dict[str, float]
) -> None:
    op = ParallelProjector(shape, angles, **kwargs)
    rng = np.random.default_rng(11)
    volumes = rng.standard_normal((3, *op.volume_shape))
    volumes[1][volumes[1] < 0.5] = 0.0  # sparse channel: zero voxels are skipped
    projections = rng.standard_normal((3, *op.projection_shape))
    stacked = _np(op.forward(_to(backend, volumes)))
    back = _np(op.adjoint(_to(backend, projections)))
    assert stacked.shape == (3, *op.projection_shape) and back.shape == (3, *op.volume_shape)
    for c in range(3):
        np.testing.assert_array_equal(stacked[c], _np(op.forward(_to(backend, volumes[c]))))
        np.testing.assert_array_equal(back[c], _np(op.adjoint(_to(backend, projections[c]))))


@pytest.mark.parametrize(("shape", "angles", "kwargs"), CASES[::2])
def test_channel_operator_is_adjoint(
    backend: str, shape: tuple[int, ...], angles: np.ndarray, kwargs: dict[str, float]
) -> None:
    op = ParallelProjector(shape, angles, **kwargs)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, *op.volume_shape))
    y = rng.standard_normal((4, *op.projection_shape))
    ax = _np(op.forward(_to(backend, x)))
    aty = _np(op.adjoint(_to(backend, y)))
    lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12 * np.linalg.norm(ax) * np.linalg.norm(y))


@pytest.mark.parametrize("vectorised", [False, True])
def test_channel_gradient_is_the_channel_adjoint(vectorised: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projector_module, "_TORCH_CPU_USES_NUMBA", not vectorised)
    op = ParallelProjector((2, 9, 11), np.linspace(0.0, np.pi, 5), n_cols=14)
    rng = np.random.default_rng(13)
    x = torch.tensor(rng.standard_normal((3, *op.volume_shape)), requires_grad=True)
    y = torch.tensor(rng.standard_normal((3, *op.projection_shape)))
    (op.forward(x) * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), op.adjoint(y).numpy(), rtol=1e-12, atol=1e-12)


def test_one_thread_and_all_threads_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    op = ParallelProjector((5, 20, 20), np.linspace(0.0, np.pi, 9), n_cols=26, detector_spacing=1.1)
    rng = np.random.default_rng(14)
    volumes = rng.random((2, *op.volume_shape)).astype(np.float32)
    labels = rng.integers(0, 4, op.volume_shape)
    results = []
    for serial_below in (0, 1 << 62):  # never / always on the calling thread alone
        monkeypatch.setattr(projector_module, "_SERIAL_WORK", serial_below)
        results.append(
            (op.forward(volumes), op.adjoint(op.forward(volumes)), op.forward_labels(labels, [-1, 0, 1, 0]))
        )
    for parallel, serial in zip(*results, strict=True):
        np.testing.assert_array_equal(parallel, serial)


# -- label volumes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "angles", "kwargs"), CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_labels_project_bitwise_like_their_fraction_volumes(
    shape: tuple[int, ...], angles: np.ndarray, kwargs: dict[str, float], dtype: str
) -> None:
    op = ParallelProjector(shape, angles, **kwargs)
    rng = np.random.default_rng(15)
    labels = rng.integers(0, 6, op.volume_shape).astype(np.uint16)
    labels[..., : shape[-1] // 3] = 0  # empty columns and rows are skipped
    channels = np.array([-1, 0, 2, 0, 1, -1])  # labels 1 and 3 share channel 0; 0 and 5 are not projected
    values = np.array([9.0, 1.0, 0.7, 1.3, 2.0, 5.0])
    fractions = np.zeros((3, *op.volume_shape), dtype=dtype)
    for label, channel in enumerate(channels):
        if channel >= 0:
            fractions[channel][labels == label] = np.asarray(values[label], dtype=dtype)
    expected = op.forward(fractions)
    result = op.forward_labels(labels, channels, values=values, dtype=dtype)
    assert result.dtype == np.dtype(dtype) and result.shape == (3, *op.projection_shape)
    np.testing.assert_array_equal(result, expected)


def test_labels_of_a_slice_bool_and_defaults() -> None:
    op = ParallelProjector((6, 6), [0.0, np.pi / 2])
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:3, 2] = True
    maps = op.forward_labels(mask, [-1, 0])
    assert maps.dtype == np.float32 and maps.shape == (1, 2, 6)
    np.testing.assert_array_equal(maps[0], op.forward(mask))
    assert op.forward_labels(torch.from_numpy(mask), [-1, 0]).shape == (1, 2, 6)
    assert op.forward_labels(mask, [-1, -1]).shape == (0, 2, 6)  # nothing to project


def test_bad_label_inputs_name_the_field_and_value() -> None:
    op = ParallelProjector((4, 5), [0.0])
    labels = np.zeros((4, 5), dtype=np.int32)
    labels[1, 1] = 3
    with pytest.raises(DataError, match=r"labels contain 3, outside the channels table \(labels 0 to 2\)"):
        op.forward_labels(labels, [-1, 0, 1])
    labels[1, 1] = -2
    with pytest.raises(DataError, match="labels contain -2"):
        op.forward_labels(labels, [-1, 0, 1])
    with pytest.raises(DataError, match=r"labels has shape \(5, 4\)"):
        op.forward_labels(np.zeros((5, 4), dtype=int), [0])
    with pytest.raises(DataError, match="integer"):
        op.forward_labels(np.zeros((4, 5)), [0])
    with pytest.raises(ConfigError, match=r"channels = \[-2, 0\]"):
        op.forward_labels(np.zeros((4, 5), dtype=int), [-2, 0])
    with pytest.raises(ConfigError, match="values"):
        op.forward_labels(np.zeros((4, 5), dtype=int), [0, 1], values=[1.0])
    with pytest.raises(ConfigError, match="dtype = 'int32'"):
        op.forward_labels(np.zeros((4, 5), dtype=int), [0], dtype="int32")
    with pytest.raises(DataError, match=r"volume has shape \(2, 5, 4\)"):
        op.forward(np.zeros((2, 5, 4)))
