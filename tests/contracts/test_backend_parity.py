"""numpy ↔ torch parity over a registry of every kernel that accepts both (CPU; CUDA too when a GPU is visible).

Each entry runs the kernel on numpy arrays and on torch tensors made from the same arrays
(:func:`xrai.testing.assert_backend_parity`): same values, same dtype, the result stays a tensor on the input's
device. Entries with ``grad=True`` also run under autograd (some kernels take another code path then, e.g. the
back-projection's torch kernel instead of numba) and check that a finite gradient reaches every input.

To register a kernel, add one ``Kernel(...)`` to :data:`KERNELS`. A kernel that fails is a bug in that
kernel: mark its entry ``xfail(strict=True, reason=...)`` with the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from xrai.testing import assert_backend_parity

pytest.importorskip("torch")

RNG = np.random.default_rng(20240612)
ANGLES = np.linspace(0.0, np.pi, 12, endpoint=False)
ENERGY_KEV = 20.0
PIXEL_M = 1e-6


@dataclass(frozen=True)
class Kernel:
    """A kernel call: ``func(*args, **kwargs)``; arrays in ``args`` (and in ``tensor_kwargs``) become tensors."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-7
    atol: float = 0.0
    grad: bool = False
    tensor_kwargs: tuple[str, ...] = ()
    marks: tuple[Any, ...] = ()


def _thickness(shape: tuple[int, int] = (32, 32), scale: float = 5e-6) -> np.ndarray:
    rows, cols = np.indices(shape)
    r2 = (rows - shape[0] / 2) ** 2 + (cols - shape[1] / 2) ** 2
    return np.clip(1.0 - r2 / (0.3 * shape[0]) ** 2, 0.0, None) * scale


def _field() -> np.ndarray:
    return np.exp(-1j * 0.5 * RNG.random((32, 32)) - 0.1 * RNG.random((32, 32)))


def _sinogram_stack(n_rows: int = 2, n_cols: int = 24) -> np.ndarray:
    from xrai.testing import disc_sinogram

    sino = disc_sinogram(ANGLES, n_cols, radius_px=7.0, center_px=(1.5, -2.0))
    return np.repeat(sino[:, None, :], n_rows, axis=1)


def _with_vectorised_projector(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run CPU tensors through the projector's vectorised torch code (the code path CUDA takes)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        from xrai.ops import projector

        saved = projector._TORCH_CPU_USES_NUMBA
        projector._TORCH_CPU_USES_NUMBA = False
        try:
            return fn(*args, **kwargs)
        finally:
            projector._TORCH_CPU_USES_NUMBA = saved

    call.__qualname__ = f"{getattr(fn, '__qualname__', fn)} (vectorised torch)"
    return call


def _kernels() -> list[Kernel]:
    from xrai.ops.backproject import backproject, backproject_cone
    from xrai.ops.fft import fft2, ifft2
    from xrai.ops.projector import ParallelProjector
    from xrai.physics import detector as det
    from xrai.physics.deformation import deform
    from xrai.physics.propagation import (
        complex_transmission,
        gaussian_blur,
        multislice,
        polychromatic_intensity,
        propagate,
    )
    from xrai.physics.volumes import project_fractions
    from xrai.tomo import flatfield, phase, rings
    from xrai.tomo.fbp import reconstruct_fbp
    from xrai.tomo.iterative import reconstruct_cgls, reconstruct_sirt

    thickness = _thickness()
    field_ = _field()
    detector = det.seed_detector(shape=(32, 32), defects=False)
    op3 = ParallelProjector((2, 16, 16), ANGLES, detector_spacing=0.8, center_col=9.6)
    volume = RNG.random((2, 16, 16))
    projections = RNG.random(op3.projection_shape)
    sinograms = _sinogram_stack()
    raw = 1000.0 * np.exp(-0.3 * RNG.random((6, 16, 20))) + 100.0
    flats = 1000.0 + 10.0 * RNG.random((3, 16, 20)) + 100.0
    darks = 100.0 + RNG.random((2, 16, 20))
    transmission = np.exp(-_thickness((32, 32), 1.0))
    displacement = 1.5 * RNG.standard_normal((3, 6, 12, 12))
    prop = {"energy_kev": ENERGY_KEV, "pixel_size_m": PIXEL_M}
    f32 = np.float32
    return [
        # ops
        Kernel("fft2", fft2, (field_,)),
        Kernel("ifft2", ifft2, (field_,)),
        Kernel("ParallelProjector.forward", op3.forward, (volume,), grad=True),
        Kernel("ParallelProjector.adjoint", op3.adjoint, (projections,), grad=True),
        Kernel("ParallelProjector.forward-float32", op3.forward, (volume.astype(f32),), rtol=1e-6),
        Kernel("ParallelProjector.forward-vectorised", _with_vectorised_projector(op3.forward), (volume,), rtol=1e-12, grad=True),
        Kernel("ParallelProjector.adjoint-vectorised", _with_vectorised_projector(op3.adjoint), (projections,), rtol=1e-12, grad=True),
        Kernel("ParallelProjector.forward-3-channels", op3.forward, (RNG.random((3, 2, 16, 16)),), rtol=1e-12, grad=True),
        Kernel("ParallelProjector.adjoint-3-channels-vectorised", _with_vectorised_projector(op3.adjoint), (RNG.random((3, *op3.projection_shape)),), rtol=1e-12, grad=True),
        Kernel("backproject", backproject, (sinograms,), {"angles_rad": ANGLES, "center_col": 11.3}, rtol=1e-10, grad=True),
        Kernel("backproject-float32", backproject, (sinograms.astype(f32),), {"angles_rad": ANGLES, "weights": np.full(12, np.pi / 12)}, rtol=2e-5, atol=1e-5, grad=True),
        Kernel("backproject_cone", backproject_cone, (RNG.random((12, 6, 20)),), {"angles_rad": ANGLES, "source_origin_px": 80.0, "magnification": 1.2, "volume_shape": (4, 14, 14)}),
        # physics: propagation
        Kernel("complex_transmission", complex_transmission, ({"pmma": thickness, "al": 0.1 * thickness},), {"delta": {"pmma": 4e-7, "al": 1.3e-6}, "beta": {"pmma": 2e-10, "al": 1e-8}, "energy_kev": ENERGY_KEV, "dtype": "float64"}, grad=True),
        Kernel("propagate-fresnel", propagate, (field_,), {"distance_m": 0.1, **prop}, grad=True),
        Kernel("propagate-angular-spectrum-complex64", propagate, (field_.astype(np.complex64),), {"distance_m": 0.1, "method": "angular_spectrum", **prop}, rtol=1e-5, atol=1e-6),
        Kernel("propagate-edge-padded-mollified", propagate, (field_,), {"distance_m": 0.4, "pad": (48, 40), "mollified": True, **prop}, grad=True),
        Kernel("gaussian_blur", gaussian_blur, (RNG.random((2, 24, 28)),), {"fwhm_m": (3e-6, 2e-6), "pixel_size_m": PIXEL_M}, grad=True),
        Kernel("multislice", multislice, ([thickness, 0.5 * thickness, thickness],), {"delta": 4e-7, "beta": 2e-10, "slice_spacing_m": 5e-6, "distance_m": 0.05, "dtype": "float64", **prop}, grad=True),
        Kernel("polychromatic_intensity", polychromatic_intensity, ({"pmma": thickness},), {"energies_kev": [15.0, 20.0, 25.0], "weights": [1.0, 2.0, 1.0], "distance_m": 0.05, "pixel_size_m": PIXEL_M, "dtype": "float64"}, grad=True),
        Kernel("polychromatic_intensity-pad-auto-float32", polychromatic_intensity, ({"pmma": thickness.astype(f32)},), {"energies_kev": [18.0, 22.0], "distance_m": 0.3, "pixel_size_m": PIXEL_M, "pad": "auto"}, rtol=1e-4, atol=1e-5),
        # physics: samples, detector
        Kernel("project_fractions", project_fractions, ({"water": volume},), {"voxel_size_m": 2e-6, "angles_rad": ANGLES, "pixel_size_m": 3e-6}, rtol=1e-12, grad=True),
        Kernel("deform-linear", deform, (RNG.random((6, 12, 12)), displacement), {"kind": "linear"}, rtol=1e-10, atol=1e-12, grad=True),
        Kernel("apply_detector_blur", det.apply_detector_blur, (RNG.random((32, 32)), detector), rtol=1e-10, grad=True),
        Kernel("mean_counts", det.mean_counts, (1000.0 * RNG.random((3, 32, 32)), detector), {"energies_kev": [15.0, 20.0, 30.0], "exposure_s": 0.01}, rtol=1e-10, grad=True),
        Kernel("camera_mean_counts", det.camera_mean_counts, (1e4 * RNG.random((32, 32)), detector.camera), {"exposure_s": 0.01}, rtol=1e-12, grad=True),
        Kernel("bin_image", det.bin_image, (RNG.random((2, 12, 15)), 3), rtol=1e-12),
        # tomo
        Kernel("flat_field_correct", flatfield.flat_field_correct, (raw, flats, darks), {"flats_after": flats[::-1]}, tensor_kwargs=("flats_after",), rtol=1e-10),
        Kernel("flat_field_correct-float32-median", flatfield.flat_field_correct, (raw.astype(f32), flats.astype(f32), darks.astype(f32)), {"reduce": "median"}, rtol=1e-6),
        Kernel("minus_log", flatfield.minus_log, (np.concatenate([transmission, [[0.0] * 32]]),), rtol=1e-12, grad=True),
        Kernel("remove_zingers", flatfield.remove_zingers, (np.where(RNG.random((3, 16, 16)) > 0.99, 50.0, 1.0) + 0.01 * RNG.random((3, 16, 16)),), rtol=1e-12),
        Kernel("remove_rings-sorting", rings.remove_stripes_sorting, (sinograms + 0.05 * RNG.random((1, 2, 24)),), {"size": 5}, rtol=1e-12),
        Kernel("retrieve_phase_paganin", phase.retrieve_phase_paganin, (transmission,), {"delta_beta": 500.0, "energy_kev": ENERGY_KEV, "distance_m": 0.1, "pixel_size_m": PIXEL_M}, rtol=1e-10, grad=True),
        Kernel("retrieve_phase_ctf-two-distances", phase.retrieve_phase_ctf, (np.stack([transmission, transmission**1.1]),), {"distances_m": [0.05, 0.2], "energy_kev": ENERGY_KEV, "pixel_size_m": PIXEL_M}, rtol=1e-8, atol=1e-10, grad=True),
        Kernel("reconstruct_fbp", reconstruct_fbp, (sinograms,), {"angles_rad": ANGLES, "progress": False}, rtol=1e-9, atol=1e-12, grad=True),
        Kernel("reconstruct_fbp-hann-off-centre", reconstruct_fbp, (sinograms,), {"angles_rad": ANGLES, "center": 11.8, "filter_name": "hann", "progress": False}, rtol=1e-9, atol=1e-12),
        Kernel("reconstruct_fbp-gridrec", reconstruct_fbp, (sinograms,), {"angles_rad": ANGLES, "method": "gridrec", "progress": False}, rtol=1e-9, atol=1e-12),
        Kernel("reconstruct_sirt", reconstruct_sirt, (sinograms[:, 0],), {"angles_rad": ANGLES, "iterations": 4, "progress": False}, rtol=1e-10, grad=True),
        Kernel("reconstruct_cgls", reconstruct_cgls, (sinograms[:, 0],), {"angles_rad": ANGLES, "iterations": 4, "progress": False}, rtol=1e-9),
    ]  # fmt: skip


KERNELS = _kernels()


def test_registry_covers_the_kernel_families() -> None:
    names = {k.name.split("-")[0] for k in KERNELS}
    for family in (
        "propagate",
        "complex_transmission",
        "ParallelProjector.forward",
        "backproject",
        "reconstruct_fbp",
        "flat_field_correct",
        "retrieve_phase_paganin",
        "mean_counts",
        "deform",
    ):
        assert family in names


@pytest.mark.parametrize("kernel", [pytest.param(k, id=k.name, marks=k.marks) for k in KERNELS])
def test_numpy_torch_parity(kernel: Kernel) -> None:
    assert_backend_parity(
        kernel.func,
        *kernel.args,
        rtol=kernel.rtol,
        atol=kernel.atol,
        tensor_kwargs=kernel.tensor_kwargs,
        check_grad=kernel.grad,
        **kernel.kwargs,
    )
