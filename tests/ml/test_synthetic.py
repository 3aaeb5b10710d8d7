"""The reconstruction look: each effect does what its physics says, with the documented amplitudes."""

from __future__ import annotations

import numpy as np
import pytest

from xrai.errors import ConfigError
from xrai.ml.synthetic import (
    ReconstructionLook,
    contrast_table,
    normalize_intensity,
    random_look,
    render_like_reconstruction,
    synthetic_pairs,
)
from xrai.physics.specimens import fish_phantom

CLEAN = ReconstructionLook(blur_sigma_vox=0.0, noise_std=0.0, texture_std=0.0)


def _cube(n: int = 32) -> np.ndarray:
    labels = np.zeros((n, n, n), dtype=np.uint8)
    labels[8:24, 8:24, 8:24] = 1
    return labels


def test_clean_look_is_the_contrast_table_and_scaling_is_affine() -> None:
    labels = _cube()
    image = render_like_reconstruction(labels, [2.0, 7.0], look=CLEAN, rng=0)
    np.testing.assert_array_equal(image, np.where(labels == 1, 7.0, 2.0).astype(np.float32))
    scaled = render_like_reconstruction(
        labels,
        {0: 2.0, 1: 7.0},
        look=ReconstructionLook(blur_sigma_vox=0, noise_std=0, texture_std=0, scale=3.0, offset=0.5),
        rng=0,
    )
    # scale * image + offset * contrast, with the contrast |7 - 2| = 5
    np.testing.assert_allclose(scaled, 3.0 * image + 0.5 * 5.0)


def test_blur_conserves_the_total_and_noise_has_the_stated_std() -> None:
    labels = _cube()
    blurred = render_like_reconstruction(
        labels, [0.0, 1.0], look=ReconstructionLook(noise_std=0.0, texture_std=0.0, blur_sigma_vox=1.5), rng=0
    )
    assert blurred.sum() == pytest.approx(float((labels == 1).sum()), rel=1e-4)
    assert 0 < blurred[8, 16, 16] < 1  # the edge is smeared
    noisy = render_like_reconstruction(
        np.zeros((32, 32, 32), np.uint8) | _cube(), [10.0, 30.0],
        look=ReconstructionLook(blur_sigma_vox=0.0, texture_std=0.0, noise_std=0.1, noise_correlation_vox=0.0),
        rng=1,
    )  # fmt: skip
    background = noisy[labels == 0]
    assert background.std() == pytest.approx(0.1 * 20.0, rel=0.03)
    assert background.mean() == pytest.approx(10.0, abs=0.05)


def test_phase_fringes_overshoot_at_edges_and_add_nothing_overall() -> None:
    labels = _cube()
    look = ReconstructionLook(
        blur_sigma_vox=0.0, noise_std=0.0, texture_std=0.0, fringe_strength=1.0, fringe_sigma_vox=1.0
    )
    image = render_like_reconstruction(labels, [0.0, 1.0], look=look, rng=0)
    assert image[16, 16, 8] > 1.05  # bright rim just inside the edge
    assert image[16, 16, 7] < -0.05  # dark rim just outside
    assert image[16, 16, 16] == pytest.approx(1.0, abs=1e-3)  # far from edges: unchanged
    assert image.sum() == pytest.approx(float(labels.sum()), rel=1e-3)  # a Laplacian integrates to zero


def test_rings_are_concentric_about_the_rotation_axis() -> None:
    labels = np.ones((8, 48, 48), np.uint8)
    look = ReconstructionLook(blur_sigma_vox=0, noise_std=0, texture_std=0, ring_std=0.5, ring_fraction=0.3)
    image = render_like_reconstruction(labels, [0.0, 1.0], look=look, rng=3) - 1.0
    # A function of the distance to the axis only: invariant under the symmetries of the square about the
    # centre (mirrors, transposition), yet not constant; and the same rings in every slice up to a drift.
    for z in (0, 4, 7):
        ring = image[z]
        np.testing.assert_allclose(ring, ring.T, atol=1e-6)
        np.testing.assert_allclose(ring, ring[::-1], atol=1e-6)
        np.testing.assert_allclose(ring, ring[:, ::-1], atol=1e-6)
        assert ring.std() > 0.1
    assert abs(np.corrcoef(image[0].ravel(), image[7].ravel())[0, 1]) > 0.9


def test_streaks_are_straight_lines() -> None:
    labels = np.ones((2, 64, 64), np.uint8)
    look = ReconstructionLook(
        blur_sigma_vox=0, noise_std=0, texture_std=0, streak_std=1.0, streaks_per_slice=1
    )
    streak = render_like_reconstruction(labels, [0.0, 1.0], look=look, rng=5)[0] - 1.0
    # One streak direction per slice: the image is constant along that direction, so its 2-D spectrum lies on
    # one line through the origin; the singular values of the image reveal it (rank ~ 1 for axis-aligned,
    # concentrated energy in general). Check via the autocorrelation: strongly anisotropic.
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(streak))) ** 2
    ky, kx = np.mgrid[-32:32, -32:32]
    angle = np.arctan2(ky, kx) % np.pi
    hist, _ = np.histogram(angle[spectrum > 0], bins=36, weights=spectrum[spectrum > 0])
    assert hist.max() > 0.5 * hist.sum()


def test_normalize_and_bad_input() -> None:
    volume = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    out = normalize_intensity(volume, low_percentile=0, high_percentile=100)
    assert out.min() == 0 and out.max() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="noise_std = -1"):
        ReconstructionLook(noise_std=-1)
    with pytest.raises(ConfigError, match="integer volume"):
        render_like_reconstruction(np.zeros((4, 4, 4)), [0, 1])
    with pytest.raises(ConfigError, match="values has 2 entries"):
        render_like_reconstruction(np.full((4, 4, 4), 3, np.uint8), [0, 1])
    with pytest.raises(ConfigError, match="kind = 'x-ray'"):
        contrast_table(fish_phantom(shape=(32, 32, 32), rng=0).materials, kind="x-ray")


def test_random_looks_and_pairs() -> None:
    looks = [random_look(i) for i in range(50)]
    assert any(look.fringe_strength > 0 for look in looks) and any(
        look.fringe_strength == 0 for look in looks
    )
    assert max(look.noise_std for look in looks) <= 0.15
    assert random_look(0, strength=0).noise_std == 0
    fish = fish_phantom(shape=(32, 32, 32), rng=1)
    mu = contrast_table(fish.materials, energy_kev=20.0)
    delta = contrast_table(fish.materials, energy_kev=20.0, kind="delta")
    spine, muscle = fish.label_of("spine"), fish.label_of("muscle")
    assert mu[spine] > mu[muscle] and delta[spine] > delta[muscle]
    for image, labels in synthetic_pairs(2, shape=(32, 32, 32), rng=0):
        assert image.shape == labels.shape == (32, 32, 32) and image.dtype == np.float32
        assert np.percentile(image, 1) == pytest.approx(0.0, abs=1e-6)
