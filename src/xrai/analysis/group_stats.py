"""Comparing groups of specimens (e.g. inbred fish lines): per-feature tests with FDR control, effect sizes, PCA.

Input is a table with one row per specimen (a list of dicts, e.g. from
:func:`xrai.analysis.morphometrics.wide_features`), a column naming the group, and numeric feature columns.

- :func:`compare_groups`: for every feature a two-group test (Welch's t-test or Mann–Whitney U) or, for more
  than two groups, a k-group test (Alexander–Govern, robust to unequal variances, or Kruskal–Wallis), p-values
  adjusted by Benjamini–Hochberg (q-values), and an effect size: Hedges' *g* for two groups, ε² / η² for k.
- :func:`principal_components`: PCA of the standardised features (SVD).
- :func:`plot_feature_boxes`, :func:`plot_pca`: PNG figures (matplotlib, Agg backend).

Notes
-----
Hedges' ``g = J · (m₂ − m₁) / s_p`` with the pooled standard deviation
``s_p = √(((n₁−1)s₁² + (n₂−1)s₂²)/(n₁+n₂−2))`` and the small-sample correction ``J = 1 − 3 / (4(n₁+n₂) − 9)``.
Benjamini–Hochberg: sort the ``m`` p-values, ``q_(i) = min_{j ≥ i} m p_(j) / j``; rejecting ``q ≤ α`` keeps the
expected false-discovery proportion ≤ α for independent or positively dependent tests.

References
----------
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. *J. R. Stat. Soc. B* 57, 289.
https://doi.org/10.1111/j.2517-6161.1995.tb02031.x

Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size. *J. Educ. Stat.* 6, 107.
https://doi.org/10.3102/10769986006002107

Alexander, R. A. & Govern, D. M. (1994). A new and simpler approximation for ANOVA under variance heterogeneity.
*J. Educ. Stat.* 19, 91. https://doi.org/10.3102/10769986019002091
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, DataError, check_range

__all__ = [
    "PCAResult",
    "benjamini_hochberg",
    "compare_groups",
    "hedges_g",
    "numeric_features",
    "plot_feature_boxes",
    "plot_pca",
    "principal_components",
]


def hedges_g(first: npt.ArrayLike, second: npt.ArrayLike) -> float:
    """Hedges' bias-corrected standardised mean difference ``g`` of ``second`` relative to ``first``."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    n1, n2 = a.size, b.size
    if n1 < 2 or n2 < 2:
        return float("nan")
    pooled = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    diff = float(b.mean() - a.mean())
    if pooled == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return correction * diff / pooled


def benjamini_hochberg(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (q-values); ``nan`` entries stay ``nan`` and are not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return q
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ConfigError(f"p-values must lie in [0, 1]; got values from {p[ok].min()} to {p[ok].max()}")
    from scipy.stats import false_discovery_control

    q[ok] = false_discovery_control(p[ok], method="bh")
    return q


def numeric_features(rows: Sequence[Mapping[str, Any]], *, exclude: Sequence[str] = ()) -> list[str]:
    """Columns whose values are numbers in every row (booleans and the excluded columns left out)."""
    if not rows:
        return []
    columns = [k for k in rows[0] if k not in exclude]
    return [
        c
        for c in columns
        if all(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in rows)
    ]


def _groups(rows: Sequence[Mapping[str, Any]], group_key: str, groups: Sequence[Any] | None) -> list[Any]:
    if not rows:
        raise DataError("the table is empty")
    if any(group_key not in r for r in rows):
        raise ConfigError(
            f"group_key = {group_key!r} is not a column of every row; columns: {sorted(rows[0])}"
        )
    present = list(dict.fromkeys(r[group_key] for r in rows))
    if groups is None:
        return present
    missing = [g for g in groups if g not in present]
    if missing:
        raise ConfigError(f"groups {missing!r} have no rows; present groups are {present!r}")
    return list(groups)


def compare_groups(
    rows: Sequence[Mapping[str, Any]],
    *,
    group_key: str = "group",
    features: Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    test: str = "welch",
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Test every feature for a difference between groups, with Benjamini–Hochberg FDR control.

    Parameters
    ----------
    rows
        One row per specimen.
    group_key
        Column naming each row's group (e.g. ``"line"``).
    features
        Numeric columns to test; default: every numeric column.
    groups
        Groups to compare, in order (the first is the reference for the effect size); default: all, in order
        of first appearance.
    test
        ``"welch"`` (Welch's t-test for two groups, Alexander–Govern for more) or ``"rank"`` (Mann–Whitney U /
        Kruskal–Wallis).
    alpha
        False-discovery rate; a feature is ``significant`` when its q-value ≤ ``alpha``.

    Returns
    -------
    list of dict
        One row per feature: ``feature``, ``test``, ``statistic``, ``p_value``, ``q_value``, ``significant``,
        ``effect_size`` (Hedges' g of the second group vs the first, or ε² / η² for k groups),
        ``effect_measure``, ``ratio`` (mean of the last group / mean of the first), and ``mean_<group>``,
        ``std_<group>``, ``n_<group>`` for every group. Sorted as ``features``.
    """
    from scipy import stats

    if test not in ("welch", "rank"):
        raise ConfigError(f"test = {test!r} is not allowed: must be 'welch' or 'rank'")
    check_range("alpha", alpha, low=0.0, high=1.0, low_inclusive=False)
    chosen = _groups(rows, group_key, groups)
    if len(chosen) < 2:
        raise ConfigError(f"need at least two groups to compare; found {chosen!r} in column {group_key!r}")
    if features is None:
        features = numeric_features(rows, exclude=(group_key,))
    results: list[dict[str, Any]] = []
    for feature in features:
        samples = []
        for g in chosen:
            values = [r.get(feature) for r in rows if r[group_key] == g]
            if any(v is None or isinstance(v, str) for v in values):
                raise DataError(f"feature {feature!r} has a missing or non-numeric value in group {g!r}")
            arr = np.asarray(values, dtype=np.float64)
            samples.append(arr[np.isfinite(arr)])
        row: dict[str, Any] = {"feature": feature}
        enough = all(s.size >= 2 for s in samples)
        constant = bool(np.ptp(np.concatenate(samples)) == 0) if enough else True
        if not enough or constant:
            statistic, p_value = float("nan"), float("nan")
            name = "none"
        elif len(chosen) == 2:
            if test == "welch":
                res = stats.ttest_ind(samples[1], samples[0], equal_var=False)
                name = "welch_t"
            else:
                res = stats.mannwhitneyu(samples[1], samples[0], alternative="two-sided")
                name = "mann_whitney_u"
            statistic, p_value = float(res.statistic), float(res.pvalue)
        else:
            if test == "welch":
                res = stats.alexandergovern(*samples)
                name = "alexander_govern"
            else:
                res = stats.kruskal(*samples)
                name = "kruskal_wallis"
            statistic, p_value = float(res.statistic), float(res.pvalue)
        row.update({"test": name, "statistic": statistic, "p_value": p_value})
        if len(chosen) == 2:
            row["effect_size"] = hedges_g(samples[0], samples[1])
            row["effect_measure"] = "hedges_g"
        else:
            row["effect_size"] = _k_group_effect(samples, test, statistic)
            row["effect_measure"] = "eta_squared" if test == "welch" else "epsilon_squared"
        first, last = float(samples[0].mean()), float(samples[-1].mean())
        row["ratio"] = last / first if first != 0 else float("nan")
        for g, s in zip(chosen, samples, strict=True):
            row[f"mean_{g}"] = float(s.mean()) if s.size else float("nan")
            row[f"std_{g}"] = float(s.std(ddof=1)) if s.size > 1 else float("nan")
            row[f"n_{g}"] = int(s.size)
        results.append(row)
    q_values = benjamini_hochberg([r["p_value"] for r in results])
    for row, q in zip(results, q_values, strict=True):
        row["q_value"] = float(q)
        row["significant"] = bool(np.isfinite(q) and q <= alpha)
    return results


def _k_group_effect(samples: Sequence[npt.NDArray[np.float64]], test: str, statistic: float) -> float:
    all_values = np.concatenate(samples)
    n = all_values.size
    if test == "rank":
        # ε² = H (n + 1) / (n² − 1) for Kruskal–Wallis H (Tomczak & Tomczak 2014).
        return float(statistic * (n + 1) / (n**2 - 1)) if np.isfinite(statistic) else float("nan")
    grand = all_values.mean()
    between = sum(s.size * (s.mean() - grand) ** 2 for s in samples)
    total = float(((all_values - grand) ** 2).sum())
    return float(between / total) if total > 0 else float("nan")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PCAResult:
    """PCA of standardised features.

    Attributes
    ----------
    scores
        ``[n_specimens, n_components]`` coordinates of each specimen.
    loadings
        ``[n_components, n_features]`` unit vectors in standardised feature space.
    explained_variance_ratio
        Fraction of the total variance per component.
    features
        The feature names, in loading order.
    mean, scale
        The standardisation (per feature) applied before the SVD.
    """

    scores: npt.NDArray[np.float64]
    loadings: npt.NDArray[np.float64]
    explained_variance_ratio: npt.NDArray[np.float64]
    features: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]


def principal_components(
    rows: Sequence[Mapping[str, Any]], *, features: Sequence[str], n_components: int | None = None
) -> PCAResult:
    """Principal component analysis of z-scored features (constant features are dropped)."""
    if not rows:
        raise DataError("the table is empty")
    data = np.array([[float(r[f]) for f in features] for r in rows], dtype=np.float64)
    if not np.all(np.isfinite(data)):
        bad = [f for j, f in enumerate(features) if not np.all(np.isfinite(data[:, j]))]
        raise DataError(f"features {bad!r} have missing or non-finite values")
    mean = data.mean(axis=0)
    scale = data.std(axis=0, ddof=1) if len(rows) > 1 else np.ones(len(features))
    keep = scale > 0
    z = (data[:, keep] - mean[keep]) / scale[keep]
    _, sing, vt = np.linalg.svd(z, full_matrices=False)
    k = min(z.shape) if n_components is None else min(int(n_components), min(z.shape))
    variance = sing**2
    ratio = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    # Deterministic signs: the largest loading of each component is positive.
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    vt = vt * signs[:, None]
    return PCAResult(
        scores=z @ vt[:k].T,
        loadings=vt[:k],
        explained_variance_ratio=ratio[:k],
        features=tuple(f for f, kept in zip(features, keep, strict=True) if kept),
        mean=mean[keep],
        scale=scale[keep],
    )


def plot_feature_boxes(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    features: Sequence[str],
    group_key: str = "group",
    results: Sequence[Mapping[str, Any]] | None = None,
    columns: int = 4,
) -> Path:
    """Box plots (with the points) of ``features`` per group, one panel each, as a PNG; q-values in titles."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not features:
        raise ConfigError("features is empty: nothing to plot")
    chosen = _groups(rows, group_key, None)
    q_of = {r["feature"]: r.get("q_value") for r in results or ()}
    n = len(features)
    ncols = min(columns, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax, feature in zip(axes.ravel(), features, strict=False):
        data = [[float(r[feature]) for r in rows if r[group_key] == g] for g in chosen]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(chosen) + 1), [str(g) for g in chosen])
        for i, values in enumerate(data, start=1):
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
            ax.plot(i + jitter, values, ".", alpha=0.6)
        q = q_of.get(feature)
        ax.set_title(feature if q is None else f"{feature}\nq = {q:.2g}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_pca(
    pca: PCAResult, groups: Sequence[Any], path: str | Path, *, title: str = "PCA of shape features"
) -> Path:
    """Scatter of the first two principal components, coloured by group, as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if len(groups) != pca.scores.shape[0]:
        raise ConfigError(f"groups has {len(groups)} entries but the PCA has {pca.scores.shape[0]} specimens")
    fig, ax = plt.subplots(figsize=(4.5, 4.0))
    second = pca.scores[:, 1] if pca.scores.shape[1] > 1 else np.zeros(pca.scores.shape[0])
    for g in dict.fromkeys(groups):
        sel = np.array([x == g for x in groups])
        ax.scatter(pca.scores[sel, 0], second[sel], label=str(g), s=18)
    ratio = pca.explained_variance_ratio
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f} %)")
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f} %)" if ratio.size > 1 else "PC2")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
