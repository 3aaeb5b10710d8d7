"""Operator contracts over a registry of every linear operator in xrai.

One parametrised test per contract:

- ``test_adjoint``: ⟨A x, y⟩ = ⟨x, Aᴴ y⟩ for every operator that comes with an adjoint (the dot-product test);
- ``test_linear``: A(a x₁ + b x₂) = a A x₁ + b A x₂ for every linear operator, with or without an adjoint
  (an affine offset or a hidden non-linearity fails);
- ``test_unitary``: free-space propagators keep ‖u‖ (Parseval, |H| = 1) and P(−z) P(z) = I.

To register a new operator, add one ``Operator(...)`` to :data:`OPERATORS`. An operator that fails a contract
is a bug in that operator: mark its entry ``xfail(strict=True, reason=...)`` with the numbers, never loosen the
tolerance.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from xrai.testing import assert_adjoint, assert_energy_conserved, assert_linear, assert_relative_rms
from xrai.testing.assertions import available_devices

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional: its entries are then left out
    torch = None

RNG_ANGLES = np.random.default_rng(20240611)
ENERGY_KEV = 20.0
PIXEL_M = 1e-6
DISTANCE_M = 0.1  # n p² = 32 µm² ≥ λ z = 6.2 µm²: the 32² Fresnel kernel is not aliased


@dataclass(frozen=True)
class Operator:
    """A linear operator under test.

    ``forward`` maps an array of ``x_shape`` (dtype ``dtype``, backend ``backend`` on ``device``) to one of
    ``y_shape``; ``adjoint`` (optional) maps back.
    """

    name: str
    forward: Callable[[Any], Any]
    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...] | None = None
    adjoint: Callable[[Any], Any] | None = None
    dtype: str = "float64"
    backend: str = "numpy"
    device: str = "cpu"
    rtol: float | None = None
    marks: tuple[Any, ...] = ()

    @property
    def xp(self) -> Any:
        return torch if self.backend == "torch" else None


# ----------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _vectorised_torch_projector() -> Iterator[None]:
    """Run CPU tensors through the projector's vectorised torch code (the code path CUDA takes)."""
    from xrai.ops import projector

    saved = projector._TORCH_CPU_USES_NUMBA
    projector._TORCH_CPU_USES_NUMBA = False
    try:
        yield
    finally:
        projector._TORCH_CPU_USES_NUMBA = saved


def _vectorised(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(x: Any) -> Any:
        with _vectorised_torch_projector():
            return fn(x)

    return call


def _projector_entries() -> list[Operator]:
    from xrai.ops.projector import ParallelProjector

    half_turn = np.linspace(0.0, np.pi, 7, endpoint=False)
    anywhere = RNG_ANGLES.uniform(-np.pi, 2 * np.pi, 5)
    cases = [
        ("2d", ParallelProjector((12, 10), half_turn)),
        ("2d-offcentre-wide-columns", ParallelProjector((9, 11), anywhere, n_cols=8, center_col=3.3, detector_spacing=1.7)),
        ("3d", ParallelProjector((3, 10, 10), half_turn)),
        ("3d-fine-columns", ParallelProjector((2, 8, 9), anywhere, detector_spacing=0.6, center_col=7.9)),
    ]  # fmt: skip
    entries: list[Operator] = []
    for label, op in cases:
        for dtype in ("float64", "float32"):
            entries.append(
                Operator(
                    f"ParallelProjector-{label}-numba-{dtype}",
                    op.forward,
                    op.volume_shape,
                    op.projection_shape,
                    op.adjoint,
                    dtype=dtype,
                )
            )
        for device in available_devices():
            if device == "cpu":
                entries.append(
                    Operator(
                        f"ParallelProjector-{label}-torch-cpu-numba",
                        op.forward,
                        op.volume_shape,
                        op.projection_shape,
                        op.adjoint,
                        backend="torch",
                    )
                )
            for dtype in ("float64", "float32"):
                fwd, adj = (
                    (_vectorised(op.forward), _vectorised(op.adjoint))
                    if device == "cpu"
                    else (op.forward, op.adjoint)
                )
                entries.append(
                    Operator(
                        f"ParallelProjector-{label}-torch-{device}-vectorised-{dtype}",
                        fwd,
                        op.volume_shape,
                        op.projection_shape,
                        adj,
                        dtype=dtype,
                        backend="torch",
                        device=device,
                    )
                )  # fmt: skip
    entries += _multichannel_entries()
    return entries


def _multichannel_entries() -> list[Operator]:
    """The projector on stacked channels ``[c, z, y, x]`` and on label volumes (one pass for all materials)."""
    from xrai.ops.projector import ParallelProjector

    op = ParallelProjector((2, 9, 11), RNG_ANGLES.uniform(0, np.pi, 6), center_col=4.6)
    x_shape, y_shape = (3, *op.volume_shape), (3, *op.projection_shape)
    entries = [
        Operator("ParallelProjector-3-channels-numba-float64", op.forward, x_shape, y_shape, op.adjoint),
        Operator("ParallelProjector-3-channels-numba-float32", op.forward, x_shape, y_shape, op.adjoint, dtype="float32"),
    ]  # fmt: skip
    for device in available_devices():
        fwd, adj = (
            (_vectorised(op.forward), _vectorised(op.adjoint))
            if device == "cpu"
            else (op.forward, op.adjoint)
        )
        entries.append(
            Operator(f"ParallelProjector-3-channels-torch-{device}-vectorised", fwd, x_shape, y_shape, adj, backend="torch", device=device)
        )  # fmt: skip

    # forward_labels is linear in the per-label values; its adjoint sums the (multi-channel) back-projection
    # over every label's voxels, so the label kernel is checked against the adjoint kernel
    labels = np.random.default_rng(11).integers(0, 5, op.volume_shape).astype(np.uint8)
    channels = np.array([-1, 0, 1, 0, 2])

    def forward_labels(values: Any) -> Any:
        return op.forward_labels(labels, channels, values=values, dtype="float64")

    def adjoint_labels(projections: Any) -> Any:
        back = op.adjoint(projections)
        return np.array(
            [back[c][labels == label].sum() if c >= 0 else 0.0 for label, c in enumerate(channels)]
        )

    entries.append(
        Operator("ParallelProjector.forward_labels-values", forward_labels, (5,), (3, *op.projection_shape), adjoint_labels)
    )  # fmt: skip
    return entries


#: Free-space propagators P(z) (the adjoint of each is the same propagator at −z).
PROPAGATORS: dict[str, dict[str, Any]] = {
    "fresnel": {},
    "angular-spectrum": {"method": "angular_spectrum"},
    "fresnel-rectangular-pixels": {"pixel_size_m": (PIXEL_M, 1.3 * PIXEL_M)},
}


def _propagator_entries() -> list[Operator]:
    entries: list[Operator] = []
    shape = (32, 28)
    variants: dict[str, dict[str, Any]] = {
        **PROPAGATORS,
        # the mollifier (a real Gaussian of |z|) is not unitary, but P(−z) is still the adjoint of P(z)
        "fresnel-mollified": {"mollified": True},
        # zero padding then cropping: crop P Z has the adjoint crop P(−z) Z as well
        "fresnel-zero-padded": {"pad": (48, 40), "pad_mode": "constant", "pad_value": 0.0},
    }
    for label, options in variants.items():
        options = dict(options)
        pixel = options.pop("pixel_size_m", PIXEL_M)

        def make(z: float, options: dict[str, Any] = options, pixel: Any = pixel) -> Callable[[Any], Any]:
            from xrai.physics.propagation import propagate

            return lambda u: propagate(u, distance_m=z, energy_kev=ENERGY_KEV, pixel_size_m=pixel, **options)

        for dtype in ("complex128", "complex64"):
            entries.append(
                Operator(f"propagate-{label}-numpy-{dtype}", make(DISTANCE_M), shape, shape, make(-DISTANCE_M), dtype=dtype)
            )  # fmt: skip
        for device in available_devices():
            entries.append(
                Operator(
                    f"propagate-{label}-torch-{device}",
                    make(DISTANCE_M),
                    shape,
                    shape,
                    make(-DISTANCE_M),
                    dtype="complex128",
                    backend="torch",
                    device=device,
                )
            )
    return entries


def _fft_entries() -> list[Operator]:
    from xrai.ops.fft import fft2, ifft2

    shape = (6, 10)
    n = math.prod(shape)
    entries = [Operator("fft2-numpy", fft2, shape, shape, lambda y: n * ifft2(y), dtype="complex128")]
    for device in available_devices():
        entries.append(
            Operator(
                f"fft2-torch-{device}",
                fft2,
                shape,
                shape,
                lambda y: n * ifft2(y),
                dtype="complex128",
                backend="torch",
                device=device,
            )
        )
    return entries


def _border_mask(shape: tuple[int, int], xp: Any, like: Any) -> Any:
    mask = np.zeros(shape)
    mask[1:-1, 1:-1] = 1.0
    if xp is None or isinstance(like, np.ndarray):
        return mask.astype(like.dtype)
    return xp.asarray(mask, dtype=like.dtype, device=like.device)


def _masked(blur: Callable[[Any], Any], shape: tuple[int, int]) -> Callable[[Any], Any]:
    """M B M with M zeroing the outermost pixels: edge replication then pads with zeros, and a blur by a
    symmetric PSF is self-adjoint on such images (the contract "the detector OTF is real and even")."""

    def apply(image: Any) -> Any:
        xp = torch if not isinstance(image, np.ndarray) else None
        mask = _border_mask(shape, xp, image)
        return blur(image * mask) * mask

    return apply


def _blur_entries() -> list[Operator]:
    from xrai.physics.detector import apply_detector_blur, seed_detector
    from xrai.physics.propagation import gaussian_blur

    shape = (24, 30)
    detector = seed_detector(shape=shape)
    gauss = _masked(lambda im: gaussian_blur(im, fwhm_m=(3e-6, 2e-6), pixel_size_m=PIXEL_M), shape)
    optics = _masked(lambda im: apply_detector_blur(im, detector), shape)
    entries = [
        Operator("gaussian_blur-masked-numpy", gauss, shape, shape, gauss),
        Operator("apply_detector_blur-masked-numpy", optics, shape, shape, optics),
    ]
    for device in available_devices():
        entries += [
            Operator(f"gaussian_blur-masked-torch-{device}", gauss, shape, shape, gauss, backend="torch", device=device),
            Operator(f"apply_detector_blur-masked-torch-{device}", optics, shape, shape, optics, backend="torch", device=device),
        ]  # fmt: skip
    return entries


def _linear_only_entries() -> list[Operator]:
    """Linear operators without an adjoint in xrai (checked for linearity)."""
    from xrai.ops.backproject import backproject, backproject_cone, backproject_gridding
    from xrai.physics.deformation import deform
    from xrai.physics.detector import bin_image
    from xrai.physics.volumes import project_fractions
    from xrai.tomo.fbp import reconstruct_fbp
    from xrai.tomo.iterative import reconstruct_sirt

    angles = np.linspace(0.0, np.pi, 9, endpoint=False)
    displacement = 1.5 * np.random.default_rng(3).standard_normal((2, 12, 14))
    entries = [
        Operator("backproject-parallel", lambda p: backproject(p, angles_rad=angles, center_col=6.7), (9, 2, 14)),
        Operator("backproject-cone", lambda p: backproject_cone(p, angles_rad=angles, source_origin_px=60.0, magnification=1.5, volume_shape=(3, 10, 10)), (9, 6, 16)),
        Operator("backproject_gridding", lambda p: backproject_gridding(p, angles_rad=angles, center_col=6.2, n_xy=12), (9, 2, 14)),
        Operator("reconstruct_fbp-gridrec", lambda p: reconstruct_fbp(p, angles_rad=angles, method="gridrec", progress=False), (9, 14)),
        Operator("reconstruct_fbp", lambda p: reconstruct_fbp(p, angles_rad=angles, filter_name="shepp-logan", progress=False), (9, 2, 14)),
        Operator("reconstruct_sirt-5-iterations", lambda p: reconstruct_sirt(p, angles_rad=angles, iterations=5, progress=False), (9, 14)),
        Operator("deform-linear", lambda v: deform(v, displacement, kind="linear"), (12, 14)),
        Operator("bin_image", lambda im: bin_image(im, 3), (2, 12, 14)),
        Operator("project_fractions", lambda v: project_fractions({"water": v}, voxel_size_m=2e-6, angles_rad=angles, pixel_size_m=3e-6)["water"], (2, 10, 10)),
    ]  # fmt: skip
    for device in available_devices():
        entries += [
            Operator(f"backproject-parallel-torch-{device}", lambda p: backproject(p, angles_rad=angles), (9, 2, 14), backend="torch", device=device),
            Operator(f"reconstruct_fbp-torch-{device}", lambda p: reconstruct_fbp(p, angles_rad=angles, progress=False), (9, 2, 14), backend="torch", device=device),
            Operator(f"deform-linear-torch-{device}", lambda v: deform(v, torch.as_tensor(displacement, device=v.device), kind="linear"), (12, 14), backend="torch", device=device),
        ]  # fmt: skip
    return entries


def _registry() -> list[Operator]:
    return [
        *_projector_entries(),
        *_propagator_entries(),
        *_fft_entries(),
        *_blur_entries(),
        *_linear_only_entries(),
    ]


OPERATORS = _registry()


def _params(entries: list[Operator]) -> list[Any]:
    return [pytest.param(op, id=op.name, marks=op.marks) for op in entries]


# ----------------------------------------------------------------------------------------------------------------
# The contracts
# ----------------------------------------------------------------------------------------------------------------


def test_registry_covers_every_operator_family() -> None:
    names = " ".join(op.name for op in OPERATORS)
    for family in (
        "ParallelProjector",
        "propagate",
        "fft2",
        "gaussian_blur",
        "apply_detector_blur",
        "backproject",
    ):
        assert family in names
    assert sum(op.adjoint is not None for op in OPERATORS) >= 20


@pytest.mark.parametrize("op", _params([op for op in OPERATORS if op.adjoint is not None]))
def test_adjoint(op: Operator) -> None:
    assert op.adjoint is not None and op.y_shape is not None
    assert_adjoint(
        op.forward,
        op.adjoint,
        op.x_shape,
        op.y_shape,
        rng=1,
        rtol=op.rtol,
        dtype=op.dtype,
        xp=op.xp,
        device=op.device,
        n_trials=2,
    )


@pytest.mark.parametrize("op", _params(OPERATORS))
def test_linear(op: Operator) -> None:
    assert_linear(op.forward, op.x_shape, rng=2, rtol=op.rtol, dtype=op.dtype, xp=op.xp, device=op.device)


def _unitary_cases() -> list[Any]:
    cases = []
    for label, options in PROPAGATORS.items():
        for dtype, backend in (
            ("complex128", "numpy"),
            ("complex64", "numpy"),
            *(("complex128", f"torch-{d}") for d in available_devices()),
        ):
            cases.append(pytest.param(label, options, dtype, backend, id=f"{label}-{backend}-{dtype}"))
    return cases  # fmt: skip


@pytest.mark.parametrize(("label", "options", "dtype", "backend"), _unitary_cases())
def test_unitary(label: str, options: dict[str, Any], dtype: str, backend: str) -> None:
    from xrai.physics.propagation import propagate

    rng = np.random.default_rng(5)
    field = np.exp(1j * rng.uniform(-np.pi, np.pi, (32, 28)) - rng.uniform(0, 1, (32, 28))).astype(dtype)
    if backend.startswith("torch"):
        field = torch.as_tensor(field, device=backend.removeprefix("torch-"))
    options = dict(options)
    pixel = options.pop("pixel_size_m", PIXEL_M)
    common = {"energy_kev": ENERGY_KEV, "pixel_size_m": pixel, **options}
    there = propagate(field, distance_m=DISTANCE_M, **common)
    back = propagate(there, distance_m=-DISTANCE_M, **common)
    single = dtype == "complex64"
    assert_energy_conserved(field, there, rtol=1e-5 if single else 1e-12)
    assert_relative_rms(back, field, max_rel_rms=1e-5 if single else 1e-12, err_msg=f"P(-z) P(z) ({label})")


def test_mollified_propagator_is_not_unitary() -> None:
    """The energy check can fail: syris's mollifier removes the aliased high frequencies."""
    from xrai.physics.propagation import propagate

    field = np.exp(1j * np.random.default_rng(6).uniform(-np.pi, np.pi, (32, 32)))
    damped = propagate(
        field, distance_m=DISTANCE_M, energy_kev=ENERGY_KEV, pixel_size_m=PIXEL_M, mollified=True
    )
    with pytest.raises(AssertionError, match="energy not conserved"):
        assert_energy_conserved(field, damped, rtol=1e-3)


def test_detector_psf_is_symmetric_and_normalised() -> None:
    """A real, even OTF ⇔ a real PSF symmetric under (r, c) → (−r, −c): what makes the blur self-adjoint."""
    from xrai.physics.detector import detector_otf, detector_psf, seed_detector

    detector = seed_detector(shape=(32, 32))
    psf = detector_psf(detector, 33)
    assert_relative_rms(psf[::-1, ::-1], psf, max_rel_rms=1e-12, err_msg="PSF(-r) vs PSF(r)")
    assert_relative_rms(psf.T, psf, max_rel_rms=1e-12, err_msg="PSF is radially symmetric")
    assert psf.sum() == pytest.approx(1.0, rel=1e-12)
    assert detector_otf(detector, (16, 16))[0, 0] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("which", ["gaussian_blur", "apply_detector_blur"])
def test_blur_keeps_a_uniform_image(which: str) -> None:
    """OTF(0) = 1 and edge replication: a flat field stays flat, to rounding."""
    from xrai.physics.detector import apply_detector_blur, seed_detector
    from xrai.physics.propagation import gaussian_blur

    flat = np.full((40, 36), 1234.5)
    if which == "gaussian_blur":
        blurred = gaussian_blur(flat, fwhm_m=(3e-6, 5e-6), pixel_size_m=PIXEL_M)
    else:
        blurred = apply_detector_blur(flat, seed_detector(shape=(40, 36)))
    assert_relative_rms(blurred, flat, max_rel_rms=1e-12)


def test_gaussian_blur_keeps_the_photons_of_an_interior_image() -> None:
    from xrai.physics.propagation import gaussian_blur

    image = np.zeros((48, 48))
    image[20:28, 18:30] = np.random.default_rng(7).uniform(1, 2, (8, 12))
    blurred = gaussian_blur(image, fwhm_m=3e-6, pixel_size_m=PIXEL_M)  # σ = 1.3 px, 14 σ from the edges
    # the transfer function is cut at Nyquist (exp(-2π²σ²/4) = 3e-4 there): its sinc-like tails carry ~5e-8
    assert_energy_conserved(image, blurred, kind="intensity", rtol=1e-6)
