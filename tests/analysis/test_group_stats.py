"""Group statistics: the differences built into the phantom lines are found, and nothing where none was built."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xrai.analysis.group_stats import (
    benjamini_hochberg,
    compare_groups,
    hedges_g,
    numeric_features,
    plot_feature_boxes,
    plot_pca,
    principal_components,
)
from xrai.analysis.morphometrics import measure_labels, wide_features
from xrai.errors import ConfigError
from xrai.physics.specimens import FishLine, fish_cohort

FEATURES = ("volume_m3", "surface_area_m2", "sphericity", "axis_length_1_m")


def _cohort_table(lines: list[FishLine], n_per_line: int, seed: int) -> list[dict]:
    rows = []
    for i, fish in enumerate(fish_cohort(lines, n_per_line=n_per_line, shape=(48, 48, 48), rng=seed)):
        table = measure_labels(fish.labels, voxel_size_m=fish.voxel_size_m, label_names=fish.label_names)
        rows.append(
            wide_features(table, features=FEATURES, extra={"specimen": f"f{i:03d}", "line": fish.line})
        )
    return rows


def test_benjamini_hochberg_by_hand() -> None:
    # sorted p: 0.005, 0.01, 0.03, 0.04 -> m p / rank: 0.02, 0.02, 0.04, 0.04 (already monotone)
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005, float("nan")])
    np.testing.assert_allclose(q[:4], [0.02, 0.04, 0.04, 0.02])
    assert math.isnan(q[4])
    # monotonicity step: p = 0.01, 0.011 (m = 2): raw 0.02, 0.011 -> q = 0.011 for both
    np.testing.assert_allclose(benjamini_hochberg([0.01, 0.011]), [0.011, 0.011])
    with pytest.raises(ConfigError, match="p-values"):
        benjamini_hochberg([0.5, 1.5])


def test_hedges_g_by_hand() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0]
    pooled = math.sqrt((3 * np.var(a, ddof=1) + 4 * np.var(b, ddof=1)) / 7)
    expected = (1 - 3 / (4 * 9 - 9)) * (np.mean(b) - np.mean(a)) / pooled
    assert hedges_g(a, b) == pytest.approx(expected)
    assert hedges_g(b, a) == pytest.approx(-expected)
    assert math.isnan(hedges_g([1.0], b))


def test_fdr_is_controlled_on_random_data() -> None:
    """Simulated tables: 40 null features and 10 with a true effect; the mean false-discovery proportion ≤ α."""
    rng = np.random.default_rng(0)
    fdp, power = [], []
    for _ in range(60):
        rows = []
        for group in ("a", "b"):
            shift = 1.6 if group == "b" else 0.0
            for _ in range(10):
                values = rng.standard_normal(50)
                values[:10] += shift
                rows.append({"group": group, **{f"f{j}": float(v) for j, v in enumerate(values)}})
        result = compare_groups(rows, group_key="group", alpha=0.1)
        found = np.array([r["significant"] for r in result])
        fdp.append(found[10:].sum() / max(found.sum(), 1))
        power.append(found[:10].mean())
    assert np.mean(fdp) <= 0.1
    assert np.mean(power) > 0.5


def test_built_in_line_differences_are_found() -> None:
    """Line B has 15 % larger eyes and a 20 % larger heart; exactly those organs come out significant."""
    lines = [FishLine(name="A"), FishLine(name="B", organ_scale={"eyes": 1.15, "heart": 1.2})]
    rows = _cohort_table(lines, n_per_line=8, seed=0)
    results = compare_groups(rows, group_key="line", alpha=0.05)
    significant = {r["feature"] for r in results if r["significant"]}
    assert {"eyes_volume_m3", "heart_volume_m3"} <= significant
    assert {f.split("_")[0] for f in significant} == {"eyes", "heart"}
    by_feature = {r["feature"]: r for r in results}
    # Effect direction and size: volume ratio ≈ linear factor cubed; Hedges' g large and positive.
    assert by_feature["eyes_volume_m3"]["ratio"] == pytest.approx(1.15**3, rel=0.12)
    assert by_feature["heart_volume_m3"]["ratio"] == pytest.approx(1.2**3, rel=0.15)
    assert by_feature["eyes_volume_m3"]["effect_size"] > 2
    # The rank test finds them too.
    ranked = compare_groups(
        rows, group_key="line", test="rank", features=["eyes_volume_m3", "kidney_volume_m3"]
    )
    assert ranked[0]["significant"] and not ranked[1]["significant"]


def test_no_difference_where_none_was_built_in() -> None:
    lines = [FishLine(name="A"), FishLine(name="A-again")]
    rows = _cohort_table(lines, n_per_line=8, seed=1)
    results = compare_groups(rows, group_key="line")
    assert not any(r["significant"] for r in results)
    assert len(results) == 10 * len(FEATURES)


def test_k_groups_and_pca_and_plots(tmp_path) -> None:
    lines = [
        FishLine(name="A"),
        FishLine(name="B", organ_scale={"eyes": 1.2}),
        FishLine(name="C", organ_scale={"liver": 0.8}),
    ]
    rows = _cohort_table(lines, n_per_line=6, seed=2)
    features = [f for f in numeric_features(rows) if f.endswith("volume_m3")]
    results = compare_groups(rows, group_key="line", features=features)
    significant = {r["feature"] for r in results if r["significant"]}
    assert {"eyes_volume_m3", "liver_volume_m3"} <= significant
    assert results[0]["test"] == "alexander_govern" and results[0]["effect_measure"] == "eta_squared"
    assert all(0 <= r["effect_size"] <= 1 for r in results)
    pca = principal_components(rows, features=features)
    assert pca.scores.shape == (18, len(pca.features))
    assert pca.explained_variance_ratio.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pca.loadings @ pca.loadings.T, np.eye(len(pca.features)), atol=1e-10)
    box = plot_feature_boxes(
        rows, tmp_path / "box.png", features=sorted(significant), group_key="line", results=results
    )
    scatter = plot_pca(pca, [r["line"] for r in rows], tmp_path / "pca.png")
    for path in (box, scatter):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pca_recovers_a_known_direction() -> None:
    rng = np.random.default_rng(3)
    t = rng.standard_normal(2000)
    rows = [
        {"x": float(v), "y": float(2 * v + 0.01 * rng.standard_normal()), "z": float(rng.standard_normal())}
        for v in t
    ]
    pca = principal_components(rows, features=["x", "y", "z"])
    # x and y are perfectly correlated after z-scoring: PC1 = (1, 1, 0)/√2 with 2/3 of the variance.
    np.testing.assert_allclose(np.abs(pca.loadings[0]), [2**-0.5, 2**-0.5, 0.0], atol=0.05)
    assert pca.explained_variance_ratio[0] == pytest.approx(2 / 3, abs=0.05)


def test_bad_input_is_named() -> None:
    rows = [{"line": "A", "v": 1.0}, {"line": "A", "v": 2.0}]
    with pytest.raises(ConfigError, match="at least two groups"):
        compare_groups(rows, group_key="line")
    with pytest.raises(ConfigError, match="group_key = 'strain'"):
        compare_groups(rows, group_key="strain")
    with pytest.raises(ConfigError, match="test = 'anova'"):
        compare_groups([*rows, {"line": "B", "v": 3.0}], group_key="line", test="anova")
    with pytest.raises(ConfigError, match=r"groups \['C'\]"):
        compare_groups([*rows, {"line": "B", "v": 3.0}], group_key="line", groups=["A", "C"])
