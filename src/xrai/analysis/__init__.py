"""xrai.analysis: measuring segmented specimens and comparing groups of them.

- :mod:`xrai.analysis.morphometrics`: per-structure volume, surface, centroid, principal axes, intensity,
  sphericity; tables as lists of dicts, CSV / Parquet.
- :mod:`xrai.analysis.screening`: label-free anomaly screening (parasitoids in pupae), normal models, outliers.
- :mod:`xrai.analysis.group_stats`: per-feature group tests with Benjamini–Hochberg FDR control, effect sizes,
  PCA, box-plot and PCA-scatter PNGs.

Public names load lazily on first attribute access (``import xrai.analysis`` imports neither scipy nor
scikit-image). To export a new name, add one line to :data:`_LAZY`.

Examples
--------
>>> import numpy as np
>>> import xrai.analysis as xa
>>> labels = np.zeros((20, 20, 20), dtype=np.uint8); labels[5:15, 5:15, 5:15] = 1
>>> xa.measure_labels(labels, voxel_size_m=1e-6)[0]["voxel_count"]
1000
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrai._lazy import attach

#: Public name -> submodule of xrai.analysis that defines it.
_LAZY: dict[str, str] = {
    # morphometrics
    "MORPHOMETRIC_FEATURES": "morphometrics",
    "measure_labels": "morphometrics",
    "read_csv": "morphometrics",
    "wide_features": "morphometrics",
    "write_csv": "morphometrics",
    "write_parquet": "morphometrics",
    # group statistics
    "PCAResult": "group_stats",
    "benjamini_hochberg": "group_stats",
    "compare_groups": "group_stats",
    "hedges_g": "group_stats",
    "numeric_features": "group_stats",
    "plot_feature_boxes": "group_stats",
    "plot_pca": "group_stats",
    "principal_components": "group_stats",
    # screening
    "DEFAULT_MIN_STD": "screening",
    "INCLUSION_FEATURES": "screening",
    "Inclusion": "screening",
    "NormalModel": "screening",
    "OutlierReport": "screening",
    "SCREENING_FEATURES": "screening",
    "ScreeningResult": "screening",
    "batch_outliers": "screening",
    "detect_inclusion": "screening",
    "fit_normal_model": "screening",
    "screen_batch": "screening",
    "screen_features": "screening",
    "screening_features": "screening",
}


if TYPE_CHECKING:  # for type checkers and IDEs; keep in step with _LAZY.
    from xrai.analysis.group_stats import (  # noqa: F401
        PCAResult,
        benjamini_hochberg,
        compare_groups,
        hedges_g,
        numeric_features,
        plot_feature_boxes,
        plot_pca,
        principal_components,
    )
    from xrai.analysis.morphometrics import (  # noqa: F401
        MORPHOMETRIC_FEATURES,
        measure_labels,
        read_csv,
        wide_features,
        write_csv,
        write_parquet,
    )
    from xrai.analysis.screening import (  # noqa: F401
        DEFAULT_MIN_STD,
        INCLUSION_FEATURES,
        SCREENING_FEATURES,
        Inclusion,
        NormalModel,
        OutlierReport,
        ScreeningResult,
        batch_outliers,
        detect_inclusion,
        fit_normal_model,
        screen_batch,
        screen_features,
        screening_features,
    )


__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
