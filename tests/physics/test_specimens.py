"""Synthetic specimens: every organ present, tightly packed, real materials, rng variation, built-in line truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from xrai.errors import ConfigError, MaterialError
from xrai.physics.materials import Material
from xrai.physics.specimens import (
    FISH_LABELS,
    FISH_ORGANS,
    PUPA_LABELS,
    FishLine,
    PupaConfig,
    fish_cohort,
    fish_phantom,
    label_attenuation_1_m,
    label_deltas,
    label_densities_g_cm3,
    pupa_phantom,
)

SHAPE = (48, 48, 48)


def _counts(labels: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(labels.ravel(), minlength=n)[:n]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fish_has_all_ten_organs_as_compact_bodies(seed: int) -> None:
    fish = fish_phantom(shape=SHAPE, rng=seed)
    assert fish.labels.dtype == np.uint8 and fish.labels.shape == SHAPE
    assert fish.label_names == FISH_LABELS and len(FISH_ORGANS) == 10
    assert fish.labels.max() == len(FISH_ORGANS)
    counts = _counts(fish.labels, len(FISH_LABELS))
    assert np.all(counts[1:] >= 15), dict(zip(FISH_LABELS, counts, strict=True))
    # Paired organs (eyes, gills) are two pieces, the others one (the gut tube may be cut where it passes
    # under the liver and swim bladder, the spine where the vertebrae narrow); muscle, the remainder of the
    # body, may leave a few voxel-sized crumbs between organs.
    for organ in FISH_ORGANS:
        pieces, n = ndimage.label(fish.labels == fish.label_of(organ))
        sizes = np.sort(np.bincount(pieces.ravel())[1:])[::-1]
        expected = {"eyes": 2, "gills": 2}.get(organ, 1)
        if organ == "muscle":
            assert sizes[0] / sizes.sum() > 0.99
        else:
            assert n == expected or (organ in ("gut", "spine") and n <= 4), (organ, n)
    # The organs sit inside the fish: the kidney, heart, liver and gut never touch the mounting medium.
    medium = ndimage.binary_dilation(fish.labels == 0)
    for organ in ("kidney", "liver", "brain"):
        assert not np.any(medium & (fish.labels == fish.label_of(organ))), organ


def test_fish_is_tightly_packed() -> None:
    """The organs fill the body without gaps: the specimen is one solid piece without cavities."""
    fish = fish_phantom(shape=SHAPE, rng=5)
    body = fish.labels > 0
    _, pieces = ndimage.label(body)
    assert pieces == 1
    assert np.array_equal(ndimage.binary_fill_holes(body), body)


def test_fish_materials_are_real_and_ordered() -> None:
    fish = fish_phantom(shape=SHAPE, rng=0)
    assert len(fish.materials) == len(FISH_LABELS)
    assert all(isinstance(m, Material) for m in fish.materials)
    assert fish.materials[0].name == "ethanol"
    density = label_densities_g_cm3(fish.materials)
    spine, bladder, muscle = (fish.label_of(n) for n in ("spine", "swim_bladder", "muscle"))
    assert density[spine] > 1.4 > density[muscle] > 1.0 > 0.01 > density[bladder]
    # Attenuation against xraylib directly (independent of our materials module): water at 20 keV.
    import xraylib

    mu = label_attenuation_1_m([Material(name="water", density_g_cm3=1.0, formula="H2O")], energy_kev=20.0)
    assert mu[0] == pytest.approx(100.0 * xraylib.CS_Total_CP("H2O", 20.0), rel=1e-6)
    mu_fish = label_attenuation_1_m(fish.materials, energy_kev=20.0)
    assert mu_fish[spine] > mu_fish[muscle] > mu_fish[0] > mu_fish[bladder] > 0
    delta = label_deltas(fish.materials, energy_kev=20.0)
    assert delta[spine] > delta[muscle] > delta[bladder] > 0
    # δ ∝ electron density ≈ 0.55 ρ for light tissue: δ/ρ is nearly constant over the soft tissues.
    soft = [fish.label_of(n) for n in ("brain", "heart", "kidney", "muscle")]
    ratio = delta[soft] / density[soft]
    assert np.ptp(ratio) / ratio.mean() < 1e-3


def test_same_seed_same_fish_different_seed_different_fish() -> None:
    a = fish_phantom(shape=SHAPE, rng=3)
    b = fish_phantom(shape=SHAPE, rng=3)
    c = fish_phantom(shape=SHAPE, rng=4)
    assert np.array_equal(a.labels, b.labels)
    ca, cc = _counts(a.labels, 11), _counts(c.labels, 11)
    assert not np.array_equal(ca, cc)
    assert a.body_length_m != c.body_length_m and a.pose["roll_rad"] != c.pose["roll_rad"]


def test_body_length_in_voxels_matches_the_voxel_size() -> None:
    line = FishLine(body_length_cv=0.0, shape_noise=0.0)
    fish = fish_phantom(shape=(64, 48, 48), line=line, random_pose=False, rng=0)
    assert fish.voxel_size_m == pytest.approx(line.body_length_m / (0.85 * 64))
    z = np.nonzero((fish.labels > 0).any(axis=(1, 2)))[0]
    extent_m = (z.max() - z.min() + 1) * fish.voxel_size_m
    assert extent_m == pytest.approx(fish.body_length_m, abs=2.5 * fish.voxel_size_m)


def test_line_organ_scale_changes_that_organ_as_configured() -> None:
    """Same seed, two lines: the eyes grow by the cube of the linear factor, distant organs do not change."""
    reference = FishLine(name="ref")
    big_eyes = FishLine(name="big", organ_scale={"eyes": 1.2})
    ratios = []
    for seed in range(3):
        a = fish_phantom(shape=(64, 64, 64), line=reference, rng=seed)
        b = fish_phantom(shape=(64, 64, 64), line=big_eyes, rng=seed)
        ca, cb = _counts(a.labels, 11), _counts(b.labels, 11)
        ratios.append(cb[a.label_of("eyes")] / ca[a.label_of("eyes")])
        for organ in ("heart", "liver", "gut", "kidney", "swim_bladder", "spine"):
            k = a.label_of(organ)
            assert cb[k] == ca[k], organ
        assert b.organ_scale["eyes"] == 1.2 and b.organ_scale["heart"] == 1.0 and b.line == "big"
    assert np.mean(ratios) == pytest.approx(1.2**3, rel=0.08)


def test_line_density_scale_changes_the_material() -> None:
    a = fish_phantom(shape=SHAPE, line=FishLine(), rng=1)
    b = fish_phantom(shape=SHAPE, line=FishLine(density_scale={"liver": 1.1}), rng=1)
    k = a.label_of("liver")
    assert b.materials[k].density_g_cm3 == pytest.approx(1.1 * a.materials[k].density_g_cm3)
    assert b.materials[1].density_g_cm3 == a.materials[1].density_g_cm3


def test_cohort_shares_the_voxel_size() -> None:
    lines = [FishLine(name="A"), FishLine(name="B", body_length_m=4.4e-3)]
    cohort = fish_cohort(lines, n_per_line=2, shape=SHAPE, rng=0)
    assert [f.line for f in cohort] == ["A", "A", "B", "B"]
    assert len({f.voxel_size_m for f in cohort}) == 1
    assert not np.array_equal(cohort[0].labels, cohort[1].labels)


def test_bad_configuration_names_field_and_value() -> None:
    with pytest.raises(ConfigError, match="'fins'"):
        FishLine(organ_scale={"fins": 1.1})
    with pytest.raises(ConfigError, match=r"organ_scale\['eyes'\] = -1"):
        FishLine(organ_scale={"eyes": -1})
    with pytest.raises(ConfigError, match=r"organ_size_cv = 0\.5"):
        FishLine(organ_size_cv=0.5)
    with pytest.raises(ConfigError, match=r"shape\[y\] = 4"):
        fish_phantom(shape=(32, 4, 32))
    with pytest.raises(ConfigError, match="shape"):
        fish_phantom(shape=(32, 32))
    with pytest.raises(MaterialError, match="vacuum grease"):
        fish_phantom(shape=SHAPE, medium="vacuum grease")
    with pytest.raises(ConfigError, match=r"fat_fraction = 1\.5"):
        PupaConfig(fat_fraction=1.5)
    with pytest.raises(ConfigError, match="not in this specimen"):
        fish_phantom(shape=SHAPE, rng=0).label_of("wings")


@pytest.mark.parametrize("parasitoid", [False, True])
def test_pupa_structures_and_parasitoid_truth(parasitoid: bool) -> None:
    pupa = pupa_phantom(shape=(64, 40, 40), parasitoid=parasitoid, rng=2)
    assert pupa.label_names == PUPA_LABELS and pupa.has_parasitoid is parasitoid
    counts = _counts(pupa.labels, len(PUPA_LABELS))
    k = pupa.label_of("parasitoid")
    assert bool(counts[k] > 100) is parasitoid
    assert np.all(counts[1:k] > 20)
    # The cuticle encloses everything: nothing inside touches the medium, and there are no holes.
    inside = pupa.labels > 1
    assert not np.any(ndimage.binary_dilation(pupa.labels == 0) & inside)
    body = pupa.labels > 0
    assert np.array_equal(ndimage.binary_fill_holes(body), body)
    density = label_densities_g_cm3(pupa.materials)
    assert density[k] > density[pupa.label_of("fat_body")]
    assert pupa.materials[pupa.label_of("cuticle")].name == "chitin"
    assert pupa.materials[0].name == "air"


def test_parasitoid_displaces_fat_body() -> None:
    clean = pupa_phantom(shape=(64, 40, 40), parasitoid=False, rng=7)
    infested = pupa_phantom(shape=(64, 40, 40), parasitoid=True, rng=7)
    n = len(PUPA_LABELS)
    c0, c1 = _counts(clean.labels, n), _counts(infested.labels, n)
    k = clean.label_of("parasitoid")
    assert c1[k] > 0 and c0[k] == 0
    # Same pupa otherwise: the larva's voxels come out of the other inner structures, the cuticle is unchanged.
    assert c1[clean.label_of("cuticle")] == c0[clean.label_of("cuticle")]
    assert (c0[2:k] - c1[2:k]).sum() == c1[k]
