"""Screening: label-free features, the inclusion (parasitoid) detector, the robust normal model, batch outliers.

The end-to-end check simulates a batch the way a beamline would see it (monochromatic absorption scan of random
pupae, Poisson noise, FBP; varying energy = contrast, photon count = noise, pose and anatomy from the phantom)
and screens it against a normal model fitted on *differently made* normal pupae (the fast rendering chain, other
seeds): every parasitised pupa must be flagged and no normal one, and a model blind to the inclusion features must
do worse. The statistics are checked on Gaussian data with known answers.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from xrai.analysis.screening import (
    INCLUSION_FEATURES,
    SCREENING_FEATURES,
    NormalModel,
    batch_outliers,
    detect_inclusion,
    fit_normal_model,
    screen_batch,
    screen_features,
    screening_features,
)
from xrai.errors import ConfigError, DataError

SHAPE = (64, 64, 64)


# --------------------------------------------------------------------------------------------------------------
# Simulated batch (module scope: made once)
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_rows() -> list[dict]:
    """Features of 30 normal pupae made by the fast rendering chain (seeds unrelated to the batch)."""
    from xrai.pipeline.screening_reference import normal_pupa_features

    return normal_pupa_features(30, shape=SHAPE, chain="render", rng=1)


@pytest.fixture(scope="module")
def batch() -> dict:
    """8 normal + 3 parasitised pupae through the scan + FBP chain, with random energy and photon count."""
    from xrai.pipeline.screening_reference import normal_pupa_volumes

    common = {"shape": SHAPE, "chain": "projection", "photons": (5e4, 3e5), "n_angles": 64}
    normal = list(normal_pupa_volumes(8, rng=2, **common))
    parasitised = list(normal_pupa_volumes(3, parasitoid=True, rng=3, **common))
    pairs = normal + parasitised
    return {
        "volumes": [v for v, _ in pairs],
        "specimens": [s for _, s in pairs],
        "truth": np.array([s.has_parasitoid for _, s in pairs]),
    }


@pytest.fixture(scope="module")
def screened(batch: dict, reference_rows: list[dict]) -> list:
    model = fit_normal_model(reference_rows, rng=0)
    return screen_batch(batch["volumes"], reference=model, false_alarm_rate=0.01)


def test_batch_flags_exactly_the_parasitised_pupae(batch: dict, screened: list) -> None:
    flagged = np.array([r.flagged for r in screened])
    assert batch["truth"].sum() == 3
    np.testing.assert_array_equal(flagged, batch["truth"])
    for result in screened:
        if result.flagged:
            assert "inclusion" in result.reason
            assert result.score > result.threshold


def test_without_inclusion_features_the_model_does_worse(
    batch: dict, screened: list, reference_rows: list
) -> None:
    blind = [f for f in SCREENING_FEATURES if f not in INCLUSION_FEATURES]
    model = fit_normal_model(reference_rows, features=blind, rng=0)
    results = screen_features([r.features for r in screened], reference=model)
    correct_blind = sum(r.flagged == t for r, t in zip(results, batch["truth"], strict=True))
    correct_full = sum(r.flagged == t for r, t in zip(screened, batch["truth"], strict=True))
    assert correct_full == len(screened)
    assert correct_blind < correct_full
    # the parasitised pupae's inclusion features carry the signal
    z = np.array([[r.z_scores[f] for f in INCLUSION_FEATURES] for r in screened])
    assert np.all(z[batch["truth"]].max(axis=1) > 5.0)


def test_inclusion_detector_recovers_planted_parasitoid(batch: dict) -> None:
    for volume, specimen in zip(batch["volumes"], batch["specimens"], strict=True):
        if not specimen.has_parasitoid:
            continue
        truth = specimen.labels == specimen.label_of("parasitoid")
        inclusion = detect_inclusion(volume, voxel_size_m=specimen.voxel_size_m, return_mask=True)
        assert inclusion.found and inclusion.flagged
        assert inclusion.volume_vox == pytest.approx(truth.sum(), rel=0.3)
        assert inclusion.volume_m3 == pytest.approx(inclusion.volume_vox * specimen.voxel_size_m**3)
        centroid = np.array(ndimage.center_of_mass(truth))
        assert np.linalg.norm(np.array(inclusion.centroid_vox) - centroid) < 3.0
        # metres follow the geometry convention: voxel centre j at (j - (n-1)/2) * voxel size
        expected_m = (np.array(inclusion.centroid_vox) - (np.array(SHAPE) - 1) / 2) * specimen.voxel_size_m
        np.testing.assert_allclose(inclusion.centroid_m, expected_m, rtol=1e-12)
        assert (inclusion.mask & truth).sum() > 0.6 * inclusion.mask_voxels


def test_normal_pupae_have_no_flagged_inclusion(batch: dict, screened: list) -> None:
    for result, truth in zip(screened, batch["truth"], strict=True):
        if not truth:
            assert not result.features["inclusion_flagged"]


# --------------------------------------------------------------------------------------------------------------
# The detector on an analytic phantom
# --------------------------------------------------------------------------------------------------------------


def _analytic(inclusion: bool, *, rng: int = 0, radius: float = 4.5) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoidal body (value 1) in a medium (0), optionally with a sphere 15 % denser; blur and noise."""
    z, y, x = np.indices((48, 48, 48), dtype=np.float64) - 23.5
    body = (z / 20.0) ** 2 + (y / 11.0) ** 2 + (x / 10.0) ** 2 <= 1.0
    sphere = (z - 6.0) ** 2 + (y - 2.0) ** 2 + (x + 1.5) ** 2 <= radius**2
    image = body.astype(np.float64)
    if inclusion:
        image[sphere] = 1.15
    image = ndimage.gaussian_filter(image, 0.8) + np.random.default_rng(rng).normal(0.0, 0.03, image.shape)
    return image.astype(np.float32), sphere


def test_detector_on_analytic_sphere() -> None:
    volume, sphere = _analytic(True)
    inclusion = detect_inclusion(volume, return_mask=True)
    assert inclusion.flagged
    assert inclusion.volume_vox == pytest.approx(sphere.sum(), rel=0.2)
    assert inclusion.contrast == pytest.approx(0.15, abs=0.05)
    np.testing.assert_allclose(inclusion.centroid_vox, ndimage.center_of_mass(sphere), atol=1.0)
    empty = detect_inclusion(_analytic(False)[0], return_mask=True)
    assert not empty.found and not empty.flagged and empty.volume_vox == 0
    assert not empty.mask.any() and all(math.isnan(c) for c in empty.centroid_vox)


def test_features_are_invariant_to_intensity_units_and_offset() -> None:
    volume, _ = _analytic(True, rng=1)
    first = screening_features(volume)
    second = screening_features(np.float32(3.7e2) * volume - np.float32(55.0))
    for name in SCREENING_FEATURES:
        assert second[name] == pytest.approx(first[name], rel=2e-3, abs=2e-3), name
    json.dumps(first)  # the pipeline stores the row as JSON metadata


# --------------------------------------------------------------------------------------------------------------
# Normal model statistics on Gaussian data
# --------------------------------------------------------------------------------------------------------------


def _gaussian(n: int, rng: np.random.Generator) -> np.ndarray:
    mixing = np.array(
        [[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [0.0, 0.3, 1.0, 0.0], [0.1, 0.0, 0.2, 2.0]]
    )
    return rng.standard_normal((n, 4)) @ mixing.T + np.array([5.0, -1.0, 0.0, 10.0])


def test_threshold_gives_the_requested_false_alarm_rate() -> None:
    rng = np.random.default_rng(7)
    model = fit_normal_model(_gaussian(300, rng), min_std=1e-6, rng=0)
    fresh = model.score(_gaussian(20000, rng))
    for alpha in (0.01, 0.05):
        rate = float(np.mean(fresh > model.threshold(alpha)))
        assert 0.5 * alpha < rate < 1.6 * alpha, (alpha, rate)


def test_mcd_resists_outliers_in_the_reference() -> None:
    rng = np.random.default_rng(3)
    clean = _gaussian(120, rng)
    contaminated = clean.copy()
    contaminated[:30] += np.array([8.0, 8.0, -8.0, 15.0])  # 25 % gross outliers
    robust = fit_normal_model(contaminated, min_std=1e-6, support_fraction=0.5, rng=1)
    np.testing.assert_allclose(robust.location, [5.0, -1.0, 0.0, 10.0], atol=0.4)
    assert np.all(robust.score(contaminated[:30]) > robust.threshold(0.01))
    # a classical (non-robust) estimate would have been dragged towards the outliers
    assert np.abs(contaminated.mean(axis=0) - [5.0, -1.0, 0.0, 10.0]).max() > 2.0


def test_scores_do_not_depend_on_feature_units() -> None:
    rng = np.random.default_rng(11)
    x = _gaussian(60, rng)
    scale, shift = np.array([1e3, 1.0, 1e-4, 7.0]), np.array([0.0, 3.0, -2.0, 1e4])
    first = fit_normal_model(x, min_std=1e-9, rng=5)
    second = fit_normal_model(x * scale + shift, min_std=1e-9 * scale, rng=5)
    probe = _gaussian(50, rng)
    np.testing.assert_allclose(second.score(probe * scale + shift), first.score(probe), rtol=1e-6)


def test_model_json_round_trip_is_exact(reference_rows: list[dict]) -> None:
    model = fit_normal_model(reference_rows, rng=0)
    again = NormalModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.features == model.features == SCREENING_FEATURES
    np.testing.assert_array_equal(again.score(reference_rows), model.score(reference_rows))
    assert again.threshold(0.01) == model.threshold(0.01)


def test_screen_features_fits_on_the_batch_itself() -> None:
    rng = np.random.default_rng(5)
    x = _gaussian(40, rng)
    x[[3, 17, 29]] += np.array([0.0, 4.0, -6.0, 0.0])  # three anomalies
    rows = [{f"f{j}": float(v) for j, v in enumerate(row)} for row in x]
    results = screen_features(rows, features=["f0", "f1", "f2", "f3"], min_std=1e-6, rng=0)
    assert [r.index for r in results if r.flagged] == [3, 17, 29]
    assert "f2" in results[3].reason


# --------------------------------------------------------------------------------------------------------------
# Batch outliers
# --------------------------------------------------------------------------------------------------------------


def _table(rng: np.random.Generator) -> list[dict]:
    rows = []
    for i in range(40):
        line = "A" if i < 20 else "B"
        eyes = rng.normal(1.0 if line == "A" else 1.5, 0.03)  # the lines differ by 50 %
        rows.append(
            {"specimen": f"s{i:02d}", "line": line, "eyes": eyes, "liver": rng.normal(2.0, 0.05),
             "gut": rng.normal(0.5, 0.02), "noisy": rng.normal(0.0, 1.0)}
        )  # fmt: skip
    return rows


def test_batch_outliers_flag_the_planted_value_only() -> None:
    rows = _table(np.random.default_rng(0))
    rows[12]["liver"] = 2.6  # 12 standard deviations
    reports = batch_outliers(rows, group_key="line")
    assert [r.index for r in reports if r.flagged] == [12]
    assert reports[12].outlying == ("liver",)
    assert reports[12].z_scores["liver"] > 8
    assert "liver" in reports[12].reason


def test_batch_outliers_within_groups_ignore_line_differences() -> None:
    rows = _table(np.random.default_rng(1))
    rows[30]["eyes"] = 1.0  # normal for line A, abnormal for line B
    pooled = [r.index for r in batch_outliers(rows, features=["eyes"], threshold=5) if r.flagged]
    grouped = [
        r.index for r in batch_outliers(rows, features=["eyes"], group_key="line", threshold=5) if r.flagged
    ]
    assert grouped == [30]
    assert 30 not in pooled  # pooled, the 50 % line difference hides it among line A


def test_batch_outliers_with_zero_mad() -> None:
    rows = [{"v": 1.0} for _ in range(20)]
    rows[4]["v"] = 1.5
    reports = batch_outliers(rows)
    assert [r.index for r in reports if r.flagged] == [4]
    assert math.isfinite(reports[4].z_scores["v"])


# --------------------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------------------


def test_bad_volumes_are_rejected_clearly() -> None:
    with pytest.raises(DataError, match=r"3-D volume .* shape \(10, 10\)"):
        detect_inclusion(np.zeros((10, 10)))
    with pytest.raises(DataError, match="constant"):
        screening_features(np.ones((16, 16, 16)))
    volume, _ = _analytic(False)
    volume[3, 3, 3] = np.nan
    with pytest.raises(DataError, match="1 non-finite"):
        detect_inclusion(volume)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_contrast": -0.1}, r"min_contrast = -0.1 is not allowed"),
        ({"host_quantile": 1.5}, r"host_quantile = 1.5 is not allowed"),
        ({"voxel_size_m": 0.0}, r"voxel_size_m = 0.0 is not allowed"),
        ({"min_volume_fraction": 2}, r"min_volume_fraction = 2 is not allowed"),
    ],
)
def test_bad_detector_parameters_name_field_and_value(kwargs: dict, message: str) -> None:
    volume, _ = _analytic(False)
    with pytest.raises(ConfigError, match=message):
        detect_inclusion(volume, **kwargs)


def test_bad_model_and_screen_parameters() -> None:
    rows = [{"a": float(i), "b": float(i % 3)} for i in range(12)]
    with pytest.raises(ConfigError, match=r"number of reference rows = 4 .* at least 5"):
        fit_normal_model(rows[:4], features=["a", "b"])
    with pytest.raises(DataError, match=r"row 0 has no feature 'c'"):
        fit_normal_model(rows, features=["a", "c"])
    model = fit_normal_model(rows, features=["a", "b"], rng=0)
    with pytest.raises(ConfigError, match=r"false_alarm_rate = 0.7 is not allowed"):
        screen_features(rows, reference=model, false_alarm_rate=0.7)
    with pytest.raises(ConfigError, match=r"false_alarm_rate = 0 is not allowed"):
        model.threshold(0)
    with pytest.raises(DataError, match="not a stored NormalModel"):
        NormalModel.from_dict({"features": ["a"]})
    with pytest.raises(ConfigError, match=r"min_std\['a'\] = -1"):
        fit_normal_model(rows, features=["a", "b"], min_std={"a": -1})


def test_bad_outlier_parameters() -> None:
    rows = _table(np.random.default_rng(2))
    with pytest.raises(ConfigError, match=r"threshold = 0 is not allowed"):
        batch_outliers(rows, threshold=0)
    with pytest.raises(DataError, match=r"row 0 has no feature 'spleen'"):
        batch_outliers(rows, features=["spleen"])
    small = batch_outliers(rows[17:25], features=["eyes"], group_key="line")  # line A: 3 rows
    assert not any(r.flagged for r in small[:3])
    assert math.isnan(small[0].z_scores["eyes"]) and "min_group_size = 5" in small[0].reason
    assert math.isfinite(small[3].z_scores["eyes"])
    with pytest.raises(DataError, match=r"row 0 has no group column 'strain'"):
        batch_outliers(rows, group_key="strain")


def test_bad_reference_chain_parameters() -> None:
    from xrai.pipeline.screening_reference import fit_normal_model_from_phantoms, normal_pupa_volumes

    with pytest.raises(ConfigError, match=r"chain = 'fbp' is not allowed"):
        next(normal_pupa_volumes(1, chain="fbp"))
    with pytest.raises(ConfigError, match=r"energy_kev = \(30.0, 15.0\) is not allowed"):
        next(normal_pupa_volumes(1, energy_kev=(30.0, 15.0)))
    with pytest.raises(ConfigError, match=r"n = 2 is not allowed"):
        fit_normal_model_from_phantoms(n=2)
