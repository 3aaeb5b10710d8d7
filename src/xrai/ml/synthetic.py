"""Training data that looks like reconstructed tomograms: a fast, approximate degradation of label volumes.

The full chain (simulate projections → reconstruct) is the faithful way to turn a phantom into a tomogram; it is
also too slow to make thousands of training volumes on a laptop. :func:`render_like_reconstruction` imitates its
result in a few tens of milliseconds per 64³ volume, with the effects a reconstruction shows:

1. one value per label from a contrast table (μ at an energy, or density for a phase-retrieved scan), plus a
   smooth texture inside the specimen and a low-frequency bias field (cupping, flat-field drift);
2. partial-volume blur (detector PSF + voxelisation) and optionally a coarser resolution (down- and up-sampling);
3. propagation-based phase-contrast edge fringes, ``-k σ² ∇²(G_σ * image)`` (a bright rim inside, a dark rim
   outside an edge);
4. ring artefacts (concentric about the rotation axis ``z``, constant over runs of slices), streaks (straight
   lines through each axial slice, as FBP makes from inconsistent projections) and correlated Gaussian noise;
5. an affine intensity scaling (the reconstruction's unknown units and offset).

Strengths are given relative to the specimen's main contrast (its most frequent label against the medium), so
one setting means the same thing for μ in 1/m and for densities. :func:`random_look` draws the settings for
physics-based augmentation; a model trained on such looks and on random contrast tables learns shapes and
relative contrasts rather than one simulator's exact numbers.

Notes
-----
Phase-contrast edge enhancement: for a thin object at propagation distance ``d`` the measured intensity is
``I ≈ I_abs (1 - (d λ / 4π) ∇²φ)`` (transport of intensity), so a reconstruction without phase retrieval shows
``μ - c ∇²δ``; we use ``δ ∝`` the label value (both scale with electron density).

References
----------
Cloetens, P. et al. (1996). Phase objects in synchrotron radiation hard x-ray imaging. *J. Phys. D* 29, 133.
https://doi.org/10.1088/0022-3727/29/1/023

Paganin, D. et al. (2002). Simultaneous phase and amplitude extraction from a single defocused image of a
homogeneous object. *J. Microsc.* 206, 33. https://doi.org/10.1046/j.1365-2818.2002.01010.x
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from xrai._backend import as_rng
from xrai._typing import RngLike
from xrai.errors import ConfigError, check_range

if TYPE_CHECKING:
    from xrai.physics.materials import Material

__all__ = [
    "ReconstructionLook",
    "contrast_table",
    "normalize_intensity",
    "random_look",
    "render_like_reconstruction",
    "synthetic_pairs",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconstructionLook:
    """How a reconstructed tomogram looks; strengths are relative to the specimen's main contrast.

    Attributes
    ----------
    blur_sigma_vox
        Partial-volume / PSF blur (Gaussian σ in voxels).
    resolution_factor
        Coarser resolution: down-sample by this factor and back (1 = none).
    fringe_strength
        Phase-contrast edge fringes ``k`` in ``-k σ_f² ∇²(G_σf * image)``, relative to the contrast (0 = none,
        as after phase retrieval).
    fringe_sigma_vox
        Width σ_f of the fringes in voxels.
    noise_std
        Standard deviation of the Gaussian noise relative to the contrast.
    noise_correlation_vox
        Gaussian σ (voxels) correlating the noise (0 = white).
    ring_std
        Standard deviation of the ring artefacts relative to the contrast.
    ring_fraction
        Fraction of radii (integer voxels from the axis) that carry a ring.
    streak_std
        Standard deviation of the streaks relative to the contrast.
    streaks_per_slice
        Number of streak directions per axial slice.
    texture_std
        Smooth texture inside the specimen relative to the contrast.
    bias_std
        Low-frequency additive bias field (cupping, flat-field drift) relative to the contrast.
    scale, offset
        Final intensity mapping ``scale · image + offset · contrast``.
    fov_mask
        Set voxels outside the inscribed cylinder (the reconstructed field of view) to ``offset · contrast``.
    """

    blur_sigma_vox: float = 0.7
    resolution_factor: float = 1.0
    fringe_strength: float = 0.0
    fringe_sigma_vox: float = 1.0
    noise_std: float = 0.05
    noise_correlation_vox: float = 0.5
    ring_std: float = 0.0
    ring_fraction: float = 0.1
    streak_std: float = 0.0
    streaks_per_slice: int = 3
    texture_std: float = 0.02
    bias_std: float = 0.0
    scale: float = 1.0
    offset: float = 0.0
    fov_mask: bool = False

    def __post_init__(self) -> None:
        check_range("blur_sigma_vox", self.blur_sigma_vox, low=0.0, high=10.0)
        check_range("resolution_factor", self.resolution_factor, low=1.0, high=4.0)
        check_range("fringe_strength", self.fringe_strength, low=-5.0, high=10.0)
        check_range("fringe_sigma_vox", self.fringe_sigma_vox, low=0.3, high=10.0)
        check_range("noise_std", self.noise_std, low=0.0, high=5.0)
        check_range("noise_correlation_vox", self.noise_correlation_vox, low=0.0, high=5.0)
        check_range("ring_std", self.ring_std, low=0.0, high=5.0)
        check_range("ring_fraction", self.ring_fraction, low=0.0, high=1.0)
        check_range("streak_std", self.streak_std, low=0.0, high=5.0)
        check_range("streaks_per_slice", self.streaks_per_slice, low=0, high=64)
        check_range("texture_std", self.texture_std, low=0.0, high=2.0)
        check_range("bias_std", self.bias_std, low=0.0, high=5.0)
        check_range("scale", self.scale, low=0.0, low_inclusive=False)


def random_look(rng: RngLike = None, *, strength: float = 1.0) -> ReconstructionLook:
    """Draw a :class:`ReconstructionLook` for physics-based augmentation.

    ``strength`` (0–2) scales the artefact amplitudes: 0 gives a clean, lightly blurred image; 1 covers the
    range we expect from the simulated chain (noise up to 15 % of the contrast, rings and streaks up to 6 %,
    fringes in half of the draws, resolution up to 1.6× coarser); 2 is harsh.
    """
    check_range("strength", strength, low=0.0, high=2.0)
    gen = as_rng(rng)
    u = [float(x) for x in gen.random(16)]
    phase = u[0] < 0.5
    return ReconstructionLook(
        blur_sigma_vox=0.4 + 0.8 * u[1] * max(strength, 0.3),
        resolution_factor=1.0 + 0.6 * strength * u[2] if u[3] < 0.4 else 1.0,
        fringe_strength=(0.5 + 2.5 * u[4]) * strength if phase else 0.0,
        fringe_sigma_vox=0.6 + 0.8 * u[5],
        noise_std=0.15 * strength * u[6],
        noise_correlation_vox=0.9 * u[7],
        ring_std=0.06 * strength * u[8] if u[9] < 0.6 else 0.0,
        ring_fraction=0.05 + 0.2 * u[10],
        streak_std=0.06 * strength * u[11] if u[12] < 0.5 else 0.0,
        texture_std=0.04 * u[13],
        bias_std=0.15 * strength * u[14],
        scale=float(np.exp(gen.normal(0.0, 1.0))),
        offset=float(gen.normal(0.0, 0.3)),
        fov_mask=bool(u[15] < 0.3),
    )


def _main_contrast(labels: npt.NDArray[np.integer], values: npt.NDArray[np.float64]) -> float:
    counts = np.bincount(labels.ravel(), minlength=len(values))[: len(values)]
    counts[0] = 0
    if counts.sum() == 0:
        return float(np.ptp(values)) or 1.0
    contrast = abs(float(values[int(np.argmax(counts))] - values[0]))
    if contrast == 0.0:
        contrast = float(np.max(np.abs(values - values[0])))
    return contrast or 1.0


def _smooth_noise(shape: tuple[int, ...], rng: np.random.Generator, coarse: int) -> npt.NDArray[np.float32]:
    from xrai.physics.specimens import smooth_random_field

    return smooth_random_field(shape, coarse=coarse, rng=rng)


def _rings(
    shape: tuple[int, int, int], look: ReconstructionLook, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    nz, ny, nx = shape
    yy = np.arange(ny) - (ny - 1) / 2.0
    xx = np.arange(nx) - (nx - 1) / 2.0
    radius = np.hypot(yy[:, None], xx[None, :])
    n_r = math.ceil(radius.max()) + 2
    profile = rng.standard_normal(n_r) * (rng.random(n_r) < look.ring_fraction)
    profile /= max(math.sqrt(look.ring_fraction), 1e-3)
    # A ring comes from one detector column; its strength drifts slowly along the rows (= slices).
    drift = np.exp(0.3 * _smooth_noise((nz,), rng, coarse=4))
    r0 = np.floor(radius).astype(int)
    frac = (radius - r0).astype(np.float32)
    ring_2d = (1.0 - frac) * profile[r0] + frac * profile[r0 + 1]
    return (drift[:, None, None] * ring_2d[None]).astype(np.float32)


def _streaks(
    shape: tuple[int, int, int], look: ReconstructionLook, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    nz, ny, nx = shape
    yy = (np.arange(ny) - (ny - 1) / 2.0)[:, None]
    xx = (np.arange(nx) - (nx - 1) / 2.0)[None, :]
    n_s = math.ceil(math.hypot(ny, nx)) + 2
    out = np.zeros(shape, dtype=np.float32)
    for z in range(nz):
        angles = rng.uniform(0.0, math.pi, look.streaks_per_slice)
        profiles = rng.standard_normal((look.streaks_per_slice, n_s))
        # High-pass (ramp-like) profiles: FBP turns an inconsistent projection value into a thin line pair.
        profiles -= ndimage.uniform_filter1d(profiles, 3, axis=1)
        for angle, prof in zip(angles, profiles, strict=True):
            s = np.rint(xx * math.cos(angle) + yy * math.sin(angle) + n_s // 2).astype(int)
            out[z] += prof[s]
    return out / max(math.sqrt(look.streaks_per_slice), 1.0)


def render_like_reconstruction(
    labels: npt.ArrayLike,
    values: Sequence[float] | Mapping[int, float] | npt.ArrayLike,
    *,
    look: ReconstructionLook | None = None,
    rng: RngLike = None,
) -> npt.NDArray[np.float32]:
    """Render a label volume as an (approximate) reconstructed tomogram.

    Parameters
    ----------
    labels
        Integer label volume ``[z, y, x]`` (0 = medium).
    values
        Reconstructed value of each label (index = label value), e.g. :func:`contrast_table` or
        :func:`xrai.physics.specimens.label_attenuation_1_m` (1/m); a mapping ``{label: value}`` works too
        (missing labels get the medium's value).
    look
        Blur, fringes, noise, rings, streaks, scaling; default :class:`ReconstructionLook()`.
    rng
        Seed or generator for the noise and artefacts.

    Returns
    -------
    numpy.ndarray
        ``float32`` volume of the same shape, in the units of ``values`` (times ``look.scale``).

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((16, 16, 16), dtype=np.uint8); labels[4:12, 4:12, 4:12] = 1
    >>> image = render_like_reconstruction(labels, [0.0, 100.0], rng=0)
    >>> bool(abs(image[8, 8, 8] - 100.0) < 30 and abs(image[0, 0, 0]) < 30)
    True
    """
    lab = np.asarray(labels)
    if lab.ndim != 3 or not np.issubdtype(lab.dtype, np.integer):
        raise ConfigError(
            f"labels must be an integer volume [z, y, x]; got shape {lab.shape} and dtype {lab.dtype}"
        )
    if lab.size and lab.min() < 0:
        raise ConfigError(f"labels must be >= 0; got a minimum of {lab.min()}")
    n_labels = int(lab.max()) + 1 if lab.size else 1
    if isinstance(values, Mapping):
        table = np.zeros(n_labels, dtype=np.float64)
        table[:] = float(values.get(0, 0.0))
        for key, value in values.items():
            if 0 <= int(key) < n_labels:
                table[int(key)] = float(value)
    else:
        table = np.asarray(values, dtype=np.float64).ravel()
        if table.size < n_labels:
            raise ConfigError(f"values has {table.size} entries but labels go up to {n_labels - 1}")
    look = ReconstructionLook() if look is None else look
    gen = as_rng(rng)
    shape = lab.shape
    contrast = _main_contrast(lab, table)

    image = table[lab].astype(np.float32)
    foreground = lab > 0
    if look.texture_std > 0:
        image += (look.texture_std * contrast) * _smooth_noise(shape, gen, coarse=12) * foreground
    if look.bias_std > 0:
        image += (look.bias_std * contrast) * _smooth_noise(shape, gen, coarse=3)
    if look.resolution_factor > 1.0:
        small = ndimage.zoom(
            ndimage.gaussian_filter(image, 0.5 * look.resolution_factor),
            1.0 / look.resolution_factor,
            order=1,
            mode="nearest",
        )
        back = [n / s for n, s in zip(shape, small.shape, strict=True)]
        image = ndimage.zoom(small, back, order=1, mode="nearest")
        image = np.asarray(image[: shape[0], : shape[1], : shape[2]], dtype=np.float32)
    if look.blur_sigma_vox > 0:
        image = ndimage.gaussian_filter(image, look.blur_sigma_vox)
    if look.fringe_strength != 0:
        sigma = look.fringe_sigma_vox
        image -= (look.fringe_strength * sigma**2) * ndimage.gaussian_laplace(image, sigma)
    if look.ring_std > 0:
        image += (look.ring_std * contrast) * _rings(shape, look, gen)
    if look.streak_std > 0 and look.streaks_per_slice > 0:
        image += (look.streak_std * contrast) * _streaks(shape, look, gen)
    if look.noise_std > 0:
        noise = gen.standard_normal(shape, dtype=np.float32)
        if look.noise_correlation_vox > 0:
            noise = ndimage.gaussian_filter(noise, look.noise_correlation_vox)
            noise /= noise.std() + 1e-12
        image += (look.noise_std * contrast) * noise
    image = look.scale * image + look.offset * contrast
    if look.fov_mask:
        yy = np.arange(shape[1]) - (shape[1] - 1) / 2.0
        xx = np.arange(shape[2]) - (shape[2] - 1) / 2.0
        outside = np.hypot(yy[:, None], xx[None, :]) > min(shape[1], shape[2]) / 2.0
        image[:, outside] = look.offset * contrast
    return image.astype(np.float32, copy=False)


def contrast_table(
    materials: Sequence[Material],
    *,
    energy_kev: float | None = None,
    kind: str = "attenuation",
    rng: RngLike = None,
    jitter: float = 0.0,
) -> npt.NDArray[np.float64]:
    """Value per label for :func:`render_like_reconstruction`.

    ``kind="attenuation"``: the linear attenuation coefficient μ (1/m) at ``energy_kev`` (absorption contrast);
    ``kind="delta"``: the refractive index decrement δ at ``energy_kev`` (a phase-retrieved scan);
    ``kind="density"``: the mass density in g/cm³ (≈ δ up to a constant; no energy needed). ``jitter`` adds a
    random change per label (staining, fixation), relative to the median contrast against the medium.
    """
    from xrai.physics.specimens import label_attenuation_1_m, label_deltas, label_densities_g_cm3

    if kind not in ("attenuation", "delta", "density"):
        raise ConfigError(f"kind = {kind!r} is not allowed: must be 'attenuation', 'delta' or 'density'")
    if kind != "density" and energy_kev is None:
        raise ConfigError(f"kind = {kind!r} needs energy_kev")
    if kind == "density":
        table = label_densities_g_cm3(materials)
    elif kind == "delta":
        table = label_deltas(materials, energy_kev=float(energy_kev))  # type: ignore[arg-type]
    else:
        table = label_attenuation_1_m(materials, energy_kev=float(energy_kev))  # type: ignore[arg-type]
    check_range("jitter", jitter, low=0.0, high=1.0)
    if jitter > 0:
        spread = float(np.median(np.abs(table - table[0])[1:])) if table.size > 1 else 1.0
        table = table + jitter * spread * as_rng(rng).standard_normal(table.size)
    return table


def normalize_intensity(
    volume: npt.ArrayLike, *, low_percentile: float = 1.0, high_percentile: float = 99.5
) -> npt.NDArray[np.float32]:
    """Map the volume's ``low_percentile`` to 0 and ``high_percentile`` to 1 (the network's input scaling).

    Robust to the reconstruction's units, offset and a few extreme voxels (bone, zingers).
    """
    vol = np.asarray(volume, dtype=np.float32)
    lo, hi = np.percentile(vol, [low_percentile, high_percentile])
    if hi <= lo:
        hi = lo + 1.0
    return ((vol - lo) / (hi - lo)).astype(np.float32)


def synthetic_pairs(
    n: int,
    *,
    shape: Sequence[int] = (64, 64, 64),
    kind: str = "fish",
    strength: float = 1.0,
    rng: RngLike = None,
) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]]:
    """Yield ``n`` (normalised image, labels) pairs of random specimens rendered with random looks.

    Fish come from random lines (organ scales 0.85–1.15), random voxel sizes (±12 %) and random contrast tables
    (absorption at 12–40 keV or phase-retrieved, with jitter); pupae are parasitised with probability 1/2.
    """
    from xrai.physics.specimens import FishLine, fish_phantom, pupa_phantom

    if kind not in ("fish", "pupa"):
        raise ConfigError(f"kind = {kind!r} is not allowed: must be 'fish' or 'pupa'")
    gen = as_rng(rng)
    for _ in range(int(n)):
        voxel_factor = float(gen.uniform(0.88, 1.12))
        if kind == "fish":
            from xrai.physics.specimens import FISH_ORGANS

            line = FishLine(
                name="random", organ_scale={o: float(gen.uniform(0.85, 1.15)) for o in FISH_ORGANS}
            )
            medium = ("ethanol", "water", "air")[int(gen.integers(3))]
            # In absorption contrast soft tissue in water is nearly invisible (μ_tissue ≈ μ_water); a water
            # mount is imaged with phase contrast, i.e. a density-like table (below).
            phase_only = medium == "water"
            specimen = fish_phantom(
                shape=shape,
                voxel_size_m=line.body_length_m / (0.85 * shape[0]) * voxel_factor,
                line=line,
                medium=medium,
                rng=gen,
            )
        else:
            phase_only = False
            specimen = pupa_phantom(shape=shape, parasitoid=bool(gen.random() < 0.5), rng=gen)
        energy = float(gen.uniform(12.0, 40.0))
        kind_of_contrast = "delta" if phase_only or gen.random() < 0.5 else "attenuation"
        table = contrast_table(
            specimen.materials, energy_kev=energy, kind=kind_of_contrast, jitter=0.1, rng=gen
        )
        image = render_like_reconstruction(
            specimen.labels, table, look=random_look(gen, strength=strength), rng=gen
        )
        yield normalize_intensity(image), specimen.labels
