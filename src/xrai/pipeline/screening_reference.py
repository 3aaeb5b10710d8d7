"""A normal model for screening built from simulations: screen a batch with no labelled (or even normal) real data.

:func:`fit_normal_model_from_phantoms` simulates normal insect pupae (:func:`xrai.physics.specimens.pupa_phantom`
without a parasitoid), turns each into a reconstruction-like volume, computes its screening features
(:func:`xrai.analysis.screening.screening_features`) and fits a robust normal model
(:func:`xrai.analysis.screening.fit_normal_model`). Two chains:

- ``chain="projection"`` (faithful): the attenuation map ``μ(E)`` of the labels at an energy drawn from
  ``energy_kev``, ray sums with :class:`xrai.ops.projector.ParallelProjector`, Poisson noise with a photon count
  per pixel drawn log-uniformly from ``photons``, ``−ln``, and :func:`xrai.tomo.fbp.reconstruct_fbp`
  (monochromatic, absorption contrast, parallel beam);
- ``chain="render"`` (default; fast, approximate): :func:`xrai.ml.synthetic.render_like_reconstruction` with noise, blur,
  rings, a smooth bias and a random affine intensity scale (no phase-contrast fringes: the screening features
  assume absorption or phase-retrieved reconstructions).

This lives in :mod:`xrai.pipeline` because it needs the simulator (``physics``, ``ops``, ``tomo``, ``ml``), which
:mod:`xrai.analysis` may not import.

Examples
--------
>>> from xrai.pipeline.screening_reference import fit_normal_model_from_phantoms
>>> model = fit_normal_model_from_phantoms(n=16, shape=(32, 32, 32), rng=0)  # 40 at the batch's size in practice
>>> model.n_reference, model.features[-1]
(16, 'inclusion_contrast')
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng
from xrai._typing import RngLike
from xrai.analysis.screening import NormalModel, fit_normal_model, screening_features
from xrai.errors import ConfigError, check_range

if TYPE_CHECKING:
    from xrai.physics.specimens import Specimen

__all__ = [
    "fit_normal_model_from_phantoms",
    "normal_pupa_features",
    "normal_pupa_volumes",
    "simulate_reconstruction",
]


def _range(name: str, value: float | Sequence[float], *, low: float, high: float) -> tuple[float, float]:
    if isinstance(value, int | float | np.number):
        pair: tuple[float, ...] = (float(value), float(value))
    else:
        pair = tuple(float(v) for v in value)
    if len(pair) != 2:
        raise ConfigError(f"{name} = {value!r} is not allowed: give one number or a (low, high) pair")
    for v in pair:
        check_range(name, v, low=low, high=high)
    if pair[0] > pair[1]:
        raise ConfigError(f"{name} = {value!r} is not allowed: low must not exceed high")
    return pair[0], pair[1]


def simulate_reconstruction(
    labels: npt.ArrayLike,
    attenuation_1_m: npt.ArrayLike,
    *,
    voxel_size_m: float,
    photons: float = 1e5,
    n_angles: int | None = None,
    filter_name: str = "ram-lak",
    rng: RngLike = None,
) -> npt.NDArray[np.float32]:
    """Simulate a monochromatic parallel-beam absorption scan of a label volume and reconstruct it by FBP.

    Parameters
    ----------
    labels
        Integer label volume ``[z, y, x]``.
    attenuation_1_m
        Linear attenuation coefficient of each label (1/m), e.g.
        :func:`xrai.physics.specimens.label_attenuation_1_m`.
    voxel_size_m
        Voxel edge in metres (= detector pixel).
    photons
        Incident photons per detector pixel and projection (Poisson noise).
    n_angles
        Projections over 180°; default ``⌈π/2 · width⌉`` (the sampling condition).
    filter_name
        FBP filter (:func:`xrai.tomo.fbp.reconstruct_fbp`).
    rng
        Seed or generator for the noise.

    Returns
    -------
    numpy.ndarray
        ``float32`` volume of ``μ`` in 1/m.
    """
    from xrai.ops.projector import ParallelProjector
    from xrai.tomo.fbp import reconstruct_fbp

    lab = np.asarray(labels)
    if lab.ndim != 3 or not np.issubdtype(lab.dtype, np.integer):
        raise ConfigError(
            f"labels must be an integer volume [z, y, x]; got shape {lab.shape}, dtype {lab.dtype}"
        )
    table = np.asarray(attenuation_1_m, dtype=np.float64).ravel()
    if table.size <= int(lab.max()):
        raise ConfigError(f"attenuation_1_m has {table.size} entries but labels go up to {int(lab.max())}")
    check_range("voxel_size_m", voxel_size_m, low=0.0, low_inclusive=False, unit="m")
    check_range("photons", photons, low=1.0)
    width = lab.shape[2]
    angles_n = (
        math.ceil(math.pi / 2 * width) if n_angles is None else int(check_range("n_angles", n_angles, low=2))
    )
    angles = np.linspace(0.0, math.pi, angles_n, endpoint=False)
    mu_per_voxel = (table[lab] * voxel_size_m).astype(np.float32)
    projections = ParallelProjector(lab.shape, angles).forward(mu_per_voxel)
    counts = as_rng(rng).poisson(photons * np.exp(-np.asarray(projections, dtype=np.float64)))
    line_integrals = -np.log(np.maximum(counts, 1) / photons).astype(np.float32)
    volume = reconstruct_fbp(
        line_integrals, angles_rad=angles, filter_name=filter_name, pixel_size_m=voxel_size_m, progress=False
    )
    return np.asarray(volume, dtype=np.float32)


def _render_look(gen: np.random.Generator) -> Any:
    from xrai.ml.synthetic import ReconstructionLook

    u = gen.random(8)
    return ReconstructionLook(
        blur_sigma_vox=0.4 + 0.6 * u[0],
        noise_std=0.01 + 0.05 * u[1],
        noise_correlation_vox=0.5 * u[2],
        texture_std=0.01 * u[3],
        bias_std=0.04 * u[4],
        ring_std=0.02 * u[5] if u[6] < 0.5 else 0.0,
        scale=float(np.exp(gen.normal(0.0, 1.0))),
        offset=float(gen.normal(0.0, 0.3)),
    )


def normal_pupa_volumes(
    n: int,
    *,
    shape: Sequence[int] = (64, 64, 64),
    chain: str = "render",
    energy_kev: float | Sequence[float] = (15.0, 30.0),
    photons: float | Sequence[float] = (3e4, 3e5),
    n_angles: int | None = None,
    parasitoid: bool = False,
    rng: RngLike = None,
) -> Iterator[tuple[npt.NDArray[np.float32], Specimen]]:
    """Yield ``n`` (reconstruction-like volume, specimen) pairs of random pupae (normal by default).

    Parameters
    ----------
    n
        Number of volumes.
    shape
        Volume shape ``(z, y, x)``.
    chain
        ``"render"`` (approximate rendering, fast) or ``"projection"`` (:func:`simulate_reconstruction`).
    energy_kev
        Energy (keV), or a ``(low, high)`` range to draw from uniformly, for the attenuation contrast.
    photons
        Photons per pixel, or a ``(low, high)`` range drawn log-uniformly (``"projection"`` only).
    n_angles
        Projections over 180° (``"projection"`` only); default ``⌈π/2 · width⌉``.
    parasitoid
        Put a parasitoid in every pupa (for validation).
    rng
        Seed or generator.
    """
    from xrai.physics.specimens import label_attenuation_1_m, pupa_phantom

    check_range("n", n, low=0)
    if chain not in ("projection", "render"):
        raise ConfigError(f"chain = {chain!r} is not allowed: must be 'projection' or 'render'")
    e_lo, e_hi = _range("energy_kev", energy_kev, low=1.0, high=150.0)
    p_lo, p_hi = _range("photons", photons, low=1.0, high=1e12)
    gen = as_rng(rng)
    for _ in range(int(n)):
        specimen = pupa_phantom(shape=shape, parasitoid=parasitoid, rng=gen)
        energy = float(gen.uniform(e_lo, e_hi))
        table = label_attenuation_1_m(specimen.materials, energy_kev=energy)
        if chain == "projection":
            count = float(np.exp(gen.uniform(math.log(p_lo), math.log(p_hi))))
            volume = simulate_reconstruction(
                specimen.labels, table, voxel_size_m=specimen.voxel_size_m, photons=count, n_angles=n_angles,
                rng=gen,
            )  # fmt: skip
        else:
            from xrai.ml.synthetic import render_like_reconstruction

            volume = render_like_reconstruction(specimen.labels, table, look=_render_look(gen), rng=gen)
        yield volume, specimen


def normal_pupa_features(
    n: int,
    *,
    shape: Sequence[int] = (64, 64, 64),
    chain: str = "render",
    energy_kev: float | Sequence[float] = (15.0, 30.0),
    photons: float | Sequence[float] = (3e4, 3e5),
    n_angles: int | None = None,
    rng: RngLike = None,
) -> list[dict[str, Any]]:
    """Screening feature rows (:func:`xrai.analysis.screening.screening_features`) of ``n`` simulated normal pupae.

    Parameters as in :func:`normal_pupa_volumes`.
    """
    return [
        screening_features(volume, voxel_size_m=specimen.voxel_size_m)
        for volume, specimen in normal_pupa_volumes(
            n, shape=shape, chain=chain, energy_kev=energy_kev, photons=photons, n_angles=n_angles, rng=rng
        )
    ]


def fit_normal_model_from_phantoms(
    *,
    n: int = 40,
    shape: Sequence[int] = (64, 64, 64),
    chain: str = "render",
    energy_kev: float | Sequence[float] = (15.0, 30.0),
    photons: float | Sequence[float] = (3e4, 3e5),
    n_angles: int | None = None,
    features: Sequence[str] | None = None,
    rng: RngLike = None,
) -> NormalModel:
    """Fit the screening normal model on ``n`` simulated normal pupae.

    Parameters
    ----------
    n
        Number of simulated normal pupae (at least the number of features + 3; 30–60 is a good range: the
        threshold widens for small reference sets).
    shape
        Volume shape; use the batch's reconstruction size (the features are dimensionless, but resolution changes
        what is resolved).
    chain, energy_kev, photons, n_angles
        How the volumes are made (:func:`normal_pupa_volumes`): ``"render"`` (default, about 0.1 s per 64³
        volume) or ``"projection"`` (the faithful scan-and-FBP chain, about 0.8 s); match the beamline's
        contrast and noise.
    features
        Model features; default :data:`xrai.analysis.screening.SCREENING_FEATURES`.
    rng
        Seed or generator (phantoms, noise and FAST-MCD).

    Returns
    -------
    NormalModel
        Use with :func:`xrai.analysis.screening.screen_batch` / ``screen_features`` (``reference=model``).
    """
    check_range("n", n, low=4)
    gen = as_rng(rng)
    rows = normal_pupa_features(
        n, shape=shape, chain=chain, energy_kev=energy_kev, photons=photons, n_angles=n_angles, rng=gen
    )
    return fit_normal_model(rows, features=features, rng=gen)
