"""SIRT and CGLS on consistent systems built with the (adjoint-tested) strip-integral projector."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import rescale

from xrai.errors import ConfigError, DataError
from xrai.ops.projector import ParallelProjector
from xrai.tomo.iterative import reconstruct_cgls, reconstruct_sirt

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def system() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 48 x 48 Shepp-Logan slice, its exact projections at 60 angles (a consistent system)."""
    image = rescale(shepp_logan_phantom(), 0.12, anti_aliasing=True)  # 48 x 48
    angles = np.linspace(0, np.pi, 60, endpoint=False)
    return image, angles, ParallelProjector(image.shape, angles).forward(image)


def _run(method, sino, angles, iterations, **kwargs):
    residuals: list[float] = []
    x = method(sino, angles_rad=angles, iterations=iterations, progress=False,
               callback=lambda k, x, r: residuals.append(r), **kwargs)  # fmt: skip
    return x, np.array(residuals)


def test_sirt_converges_monotonically(system) -> None:
    image, angles, sino = system
    errors: list[float] = []
    residuals: list[float] = []

    def record(k: int, x: np.ndarray, r: float) -> None:
        residuals.append(r)
        errors.append(float(np.linalg.norm(x - image)))

    reconstruct_sirt(sino, angles_rad=angles, iterations=60, progress=False, callback=record)
    assert len(residuals) == 60
    assert np.all(np.diff(residuals) <= 1e-9 * residuals[0])  # monotone decrease
    assert residuals[-1] < 0.1 * residuals[0]
    assert np.all(np.diff(errors) < 0)  # and the error to the truth falls with it


def test_cgls_beats_sirt_at_equal_iterations(system) -> None:
    image, angles, sino = system
    x_sirt, r_sirt = _run(reconstruct_sirt, sino, angles, 25)
    x_cgls, r_cgls = _run(reconstruct_cgls, sino, angles, 25)
    assert np.all(np.diff(r_cgls) <= 1e-9 * r_cgls[0])  # CGLS residuals decrease monotonically too
    assert r_cgls[-1] < 0.5 * r_sirt[-1]
    assert np.linalg.norm(x_cgls - image) < np.linalg.norm(x_sirt - image)


def test_cgls_solves_a_well_posed_system() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((8, 8))
    angles = np.linspace(0, np.pi, 30, endpoint=False)  # 30 x 12 equations for 64 unknowns, full rank
    sino = ParallelProjector(image.shape, angles, n_cols=12).forward(image)
    x = reconstruct_cgls(sino, angles_rad=angles, iterations=100, output_size=8, progress=False)
    assert np.allclose(x, image, atol=1e-8)  # in exact arithmetic CG ends in at most 64 steps


def test_nonnegativity_and_units(system) -> None:
    _, angles, sino = system
    noisy = sino + np.random.default_rng(1).normal(0, 0.3, sino.shape)
    x = reconstruct_sirt(noisy, angles_rad=angles, iterations=20, nonnegative=True, progress=False)
    assert x.min() >= 0.0
    assert reconstruct_sirt(noisy, angles_rad=angles, iterations=20, progress=False).min() < 0.0
    in_metres = reconstruct_cgls(sino, angles_rad=angles, iterations=10, pixel_size_m=1e-6, progress=False)
    per_pixel = reconstruct_cgls(sino, angles_rad=angles, iterations=10, progress=False)
    assert np.allclose(in_metres, per_pixel * 1e6)


def test_volume_center_and_early_stop() -> None:
    volume = np.zeros((3, 24, 24))
    volume[:, 8:14, 10:18] = 1.0
    volume[1] *= 2.0
    angles = np.linspace(0, np.pi, 36, endpoint=False)
    proj = ParallelProjector(volume.shape, angles, n_cols=30, center_col=16.4).forward(volume)
    x = reconstruct_cgls(proj, angles_rad=angles, center=16.4, output_size=24, iterations=30, progress=False)
    assert x.shape == (3, 24, 24)
    assert x[1, 11, 14] == pytest.approx(2.0, rel=0.05) and x[0, 11, 14] == pytest.approx(1.0, rel=0.05)
    seen: list[int] = []
    reconstruct_sirt(proj, angles_rad=angles, center=16.4, output_size=24, iterations=50, progress=False,
                     callback=lambda k, x, r: seen.append(k) or k == 4)  # fmt: skip
    assert seen == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("method", [reconstruct_sirt, reconstruct_cgls])
def test_numpy_torch_parity(system, method) -> None:
    _, angles, sino = system
    ref = method(sino, angles_rad=angles, iterations=8, progress=False)
    got = method(torch.from_numpy(sino), angles_rad=angles, iterations=8, progress=False)
    assert isinstance(got, torch.Tensor)
    assert np.allclose(got.numpy(), ref, atol=1e-8 * np.abs(ref).max())


def test_bad_input_names_field_and_value(system) -> None:
    _, angles, sino = system
    with pytest.raises(ConfigError, match="iterations = 0"):
        reconstruct_sirt(sino, angles_rad=angles, iterations=0)
    with pytest.raises(ConfigError, match=r"relaxation = 2\.5"):
        reconstruct_sirt(sino, angles_rad=angles, relaxation=2.5)
    with pytest.raises(ConfigError, match="59 values"):
        reconstruct_cgls(sino, angles_rad=angles[:59])
    with pytest.raises(DataError, match="x0 has shape"):
        reconstruct_cgls(sino, angles_rad=angles, x0=np.zeros((5, 5)))
