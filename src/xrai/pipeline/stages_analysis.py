"""Pipeline stages after reconstruction: segmentation, morphometrics, evaluation against truth, screening."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from xrai.pipeline.stages import StageOutput, json_safe

__all__ = ["stage_evaluate", "stage_measure", "stage_screen", "stage_segment"]


@functools.cache
def _model(name: str) -> Any:
    from xrai.ml.unet import load_demo_model, load_model

    return load_demo_model() if name == "demo" else load_model(name)


def stage_segment(inputs: dict[str, StageOutput], *, model: str = "demo", tta: bool = True) -> StageOutput:
    """Segment the reconstructed volume with a 3-D U-Net (sliding window); per-organ uncertainty."""
    volume = inputs["reconstruct"].arrays["volume"]
    segmenter = _model(model)
    result = segmenter.predict(volume, tta=tta, progress=False)
    organs = json_safe(result.organs)
    return StageOutput(
        arrays={"labels": np.asarray(result.labels, dtype=np.uint8)},
        metadata={"label_names": list(segmenter.label_names), "organs": organs, "model": model},
    )


def stage_measure(inputs: dict[str, StageOutput]) -> StageOutput:
    """Morphometrics per segmented structure (volume, surface, axes, sphericity, mean μ)."""
    from xrai.analysis.morphometrics import measure_labels

    labels = inputs["segment"].arrays["labels"]
    names = inputs["segment"].metadata["label_names"]
    volume = inputs["reconstruct"].arrays["volume"]
    voxel = inputs["reconstruct"].metadata.get("voxel_size_m") or 1.0
    rows = measure_labels(labels, voxel_size_m=voxel, image=volume, label_names=names)
    return StageOutput(metadata={"rows": json_safe(rows)})


def stage_evaluate(inputs: dict[str, StageOutput], *, truth_path: str) -> StageOutput:
    """Dice and volume error of the segmentation against the phantom's exact labels (simulated data only)."""
    from xrai.ml.metrics import segmentation_metrics

    with np.load(Path(truth_path)) as truth:
        true_labels = truth["labels"]
        voxel = float(truth["voxel_size_m"])
    predicted = inputs["segment"].arrays["labels"]
    names = inputs["segment"].metadata["label_names"]
    rows = segmentation_metrics(
        predicted, true_labels, label_names=names, voxel_size_m=voxel, distances=False
    )
    clean = [{k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()} for row in rows]
    dice = [r["dice"] for r in clean if np.isfinite(r["dice"])]
    return StageOutput(metadata={"rows": clean, "mean_dice": float(np.mean(dice)) if dice else float("nan")})


def stage_screen(inputs: dict[str, StageOutput]) -> StageOutput:
    """Label-free screening features of a specimen volume, incl. the densest compact inclusion (a parasitoid).

    The batch step scores these features against a model of normal specimens
    (:func:`xrai.analysis.screening.screen_features`).
    """
    from xrai.analysis.screening import screening_features

    volume = inputs["reconstruct"].arrays["volume"]
    voxel = inputs["reconstruct"].metadata.get("voxel_size_m")
    features = screening_features(volume, voxel_size_m=voxel)
    return StageOutput(metadata={"features": dict(features)})
