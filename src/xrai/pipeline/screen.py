"""``xrai screen``: a batch of specimens in → reconstructed, segmented, measured, screened, catalogued, reported.

Per specimen the stage graph is::

    scan → reconstruct → preview                         (every specimen)
                       → segment → measure [→ evaluate]  (fish: organ segmentation and morphometrics)
                       → screen                          (pupae: anomaly / parasitoid screening)

Every stage output is a knowledge-base item with lineage, parameters and timing, found again by its content key,
so a rerun skips what is done and an interrupted batch resumes. Per batch: the lines are compared organ by organ
(FDR-controlled), pupae are screened against a model of normal pupae, outliers within each group are flagged, and
a self-contained HTML report is written.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xrai.errors import ConfigError, DataError, check_range
from xrai.pipeline.runner import SpecimenJob, SpecimenResult, run_batch
from xrai.pipeline.stages import Stage

__all__ = ["ScanInput", "ScreenConfig", "ScreenResult", "build_jobs", "run_screen"]

SpecimenKind = Literal["fish", "pupa", "other"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenConfig:
    """Options of the screening pipeline (``[screen]`` table of a TOML file, or CLI options).

    Parameters
    ----------
    kb
        Knowledge base location (folder, database URL).
    report
        Path of the HTML report.
    workers
        Local worker processes (1 = in this process).
    cluster
        Dask scheduler (``"dask://host:port"``) or ``"local:N"``; overrides ``workers``.
    center
        Rotation axis column, or ``"auto"``.
    rings
        Ring removal: ``"sorting"``, ``"wavelet_fourier"`` or ``"none"``.
    filter_name
        FBP filter (``"hann"`` suits noisy high-throughput data).
    paganin_delta_beta
        δ/β for Paganin phase retrieval; 0 = off.
    model
        Segmentation model: ``"demo"`` (shipped) or a path.
    tta
        Test-time augmentation (flips) for segmentation and its uncertainty.
    alpha
        False-discovery rate of the group comparison.
    outlier_z
        Robust z-score above which a specimen's organ volume is flagged as an outlier within its group (groups of
        at least 5 specimens).
    false_alarm_rate
        Screening: the fraction of normal specimens the anomaly threshold may flag.
    reference_size
        Screening: number of simulated normal pupae in the reference model (fitted once, kept in the KB).
    """

    kb: str = "./xrai-kb"
    report: str = "./xrai-report/report.html"
    workers: int = 1
    cluster: str | None = None
    center: float | str = "auto"
    rings: str = "sorting"
    filter_name: str = "hann"
    paganin_delta_beta: float = 0.0
    model: str = "demo"
    tta: bool = True
    alpha: float = 0.05
    outlier_z: float = 5.0
    false_alarm_rate: float = 0.05
    reference_size: int = 40

    def __post_init__(self) -> None:
        check_range("workers", self.workers, low=1, high=1024)
        if not (self.center == "auto" or isinstance(self.center, int | float)):
            raise ConfigError(f"center = {self.center!r} is not allowed: must be 'auto' or a column number")
        if self.rings not in ("sorting", "wavelet_fourier", "none"):
            raise ConfigError(
                f"rings = {self.rings!r} is not allowed: must be 'sorting', 'wavelet_fourier' or 'none'"
            )
        check_range("paganin_delta_beta", self.paganin_delta_beta, low=0)
        check_range("alpha", self.alpha, low=0, low_inclusive=False, high=1)
        check_range("outlier_z", self.outlier_z, low=1)
        check_range("false_alarm_rate", self.false_alarm_rate, low=0, low_inclusive=False, high=0.5)
        check_range("reference_size", self.reference_size, low=12, high=10_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanInput:
    """One specimen to screen: a scan file (NXtomo, DXchange) or folder (TIFF/EDF), its kind and its group."""

    path: str
    name: str
    kind: SpecimenKind = "other"
    group: str = ""
    truth_path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("fish", "pupa", "other"):
            raise ConfigError(f"kind = {self.kind!r} is not allowed: must be 'fish', 'pupa' or 'other'")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenResult:
    """What a screening run produced."""

    results: list[SpecimenResult]
    flags: dict[str, list[str]]
    comparison: list[dict[str, Any]]
    measurements: list[dict[str, Any]]
    evaluation: list[dict[str, Any]]
    report_path: Path | None
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def build_jobs(inputs: Sequence[ScanInput], config: ScreenConfig) -> list[SpecimenJob]:
    """The stage graph of every specimen."""
    from xrai.pipeline.stages_analysis import stage_evaluate, stage_measure, stage_screen, stage_segment
    from xrai.pipeline.stages_tomo import file_fingerprint, stage_preview, stage_reconstruct, stage_scan

    jobs = []
    names = [i.name for i in inputs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"specimen names must be unique; repeated: {duplicates}")
    for item in inputs:
        try:
            fingerprint = file_fingerprint(item.path)
        except (DataError, OSError) as exc:
            fingerprint = f"unreadable: {exc}"  # the scan stage reports it; the batch goes on
        stages = [
            Stage(
                name="scan", func=stage_scan, params={"path": os.fspath(item.path), "fingerprint": fingerprint},
                kind="dataset.raw_scan",
            ),
            Stage(
                name="reconstruct", func=stage_reconstruct, inputs=("scan",), kind="dataset.volume",
                params={
                    "center": config.center, "rings": config.rings, "filter_name": config.filter_name,
                    "paganin_delta_beta": config.paganin_delta_beta,
                },
            ),
        ]  # fmt: skip
        preview_inputs: tuple[str, ...] = ("reconstruct",)
        if item.kind == "fish":
            stages += [
                Stage(
                    name="segment", func=stage_segment, inputs=("reconstruct",), kind="dataset.segmentation",
                    params={"model": config.model, "tta": config.tta},
                ),
                Stage(name="measure", func=stage_measure, inputs=("segment", "reconstruct"), kind="dataset.measurements"),
            ]  # fmt: skip
            preview_inputs = ("reconstruct", "segment")
            if item.truth_path:
                stages.append(
                    Stage(
                        name="evaluate", func=stage_evaluate, inputs=("segment",), kind="evaluation",
                        params={"truth_path": os.fspath(item.truth_path)},
                    )
                )  # fmt: skip
        elif item.kind == "pupa":
            stages.append(Stage(name="screen", func=stage_screen, inputs=("reconstruct",), kind="evaluation"))
        stages.append(
            Stage(name="preview", func=stage_preview, inputs=preview_inputs, kind="dataset.preview")
        )
        jobs.append(
            SpecimenJob(
                name=item.name, group=item.group, stages=tuple(stages),
                metadata={"kind": item.kind, "path": os.fspath(item.path)},
            )
        )  # fmt: skip
    return jobs


def run_screen(
    inputs: Sequence[ScanInput],
    config: ScreenConfig,
    *,
    title: str = "xrai screen",
    on_result: Callable[[SpecimenResult], None] | None = None,
    notes: Sequence[str] = (),
) -> ScreenResult:
    """Run the pipeline on ``inputs``, analyse the batch, catalogue the run and write the report."""
    from xrai.kb.base import KnowledgeBase
    from xrai.pipeline.kb_store import KnowledgeBaseStoreFactory

    if not inputs:
        raise ConfigError("no scans to screen: give scan files or folders, or run the demo")
    jobs = build_jobs(inputs, config)
    start = time.perf_counter()
    with KnowledgeBase.open(config.kb) as kb:
        run = kb.start_run(
            workflow="xrai.screen",
            parameters={"config": dataclasses.asdict(config), "specimens": [i.name for i in inputs]},
        )
    factory = KnowledgeBaseStoreFactory(config.kb, run_id=run.id)
    try:
        results = run_batch(
            jobs, factory, keep=("scan", "reconstruct", "segment", "measure", "evaluate", "screen", "preview"),
            workers=config.workers, cluster=config.cluster, on_result=on_result,
        )  # fmt: skip
    except BaseException:
        with KnowledgeBase.open(config.kb) as kb:
            kb.finish_run(run, status="cancelled", logs="interrupted; rerun to resume")
        raise
    seconds = time.perf_counter() - start
    batch = _analyse_batch(results, inputs, config)
    n_ok = sum(r.status == "succeeded" for r in results)
    raw_bytes = sum(int(r.outputs["scan"].metadata.get("bytes", 0)) for r in results if "scan" in r.outputs)
    computed = sum(len(r.computed_stages) for r in results)
    summary = {
        "specimens": len(results),
        "succeeded": n_ok,
        "failed": len(results) - n_ok,
        "flagged": len(batch["flags"]),
        "wall_time_s": round(seconds, 1),
        "samples_per_hour": round(3600 * n_ok / seconds, 1) if seconds > 0 else math.inf,
        "raw_mb_per_s": round(raw_bytes / 1e6 / seconds, 2) if seconds > 0 else math.inf,
        "stages_computed": computed,
    }
    report_path = _write_report(results, batch, config, title=title, summary=summary, notes=notes)
    with KnowledgeBase.open(config.kb) as kb:
        status = "succeeded" if n_ok == len(results) else "failed"
        logs = "\n".join(f"{r.name}: {r.error}" for r in results if r.error)
        kb.finish_run(run, status=status, logs=logs or f"{n_ok} specimens")
        kb.put(
            kind="report", name=f"{title} report", metadata={"summary": summary, "flags": [{"specimen": k, "reasons": v} for k, v in batch["flags"].items()]},
            inputs=[rec.item_id for r in results for rec in r.records if rec.stage == "preview" and rec.item_id],
            run=run.id, description=f"HTML report at {report_path}",
        )  # fmt: skip
    return ScreenResult(
        results=results, flags=batch["flags"], comparison=batch["comparison"], measurements=batch["measurements"],
        evaluation=batch["evaluation"], report_path=report_path, seconds=seconds, summary=summary,
    )  # fmt: skip


def _analyse_batch(
    results: Sequence[SpecimenResult], inputs: Sequence[ScanInput], config: ScreenConfig
) -> dict[str, Any]:
    from xrai.analysis.group_stats import compare_groups

    flags: dict[str, list[str]] = {}
    measurements: list[dict[str, Any]] = []
    wide: list[dict[str, Any]] = []
    evaluation: list[dict[str, Any]] = []
    screened: list[tuple[str, dict[str, Any]]] = []
    for r in results:
        if r.status != "succeeded":
            continue
        if "measure" in r.outputs:
            rows = r.outputs["measure"].metadata["rows"]
            row_wide: dict[str, Any] = {"specimen": r.name, "group": r.group}
            for row in rows:
                measurements.append({"specimen": r.name, "group": r.group, **_short(row)})
                row_wide[f"{row['name']}_volume_mm3"] = float(row.get("volume_m3", float("nan"))) * 1e9
            wide.append(row_wide)
        if "evaluate" in r.outputs:
            evaluation.append(
                {"specimen": r.name, "mean_dice": r.outputs["evaluate"].metadata["mean_dice"]}
                | {f"dice_{row['name']}": row["dice"] for row in r.outputs["evaluate"].metadata["rows"]}
            )
        if "screen" in r.outputs:
            screened.append((r.name, r.outputs["screen"].metadata["features"]))
    screening: list[dict[str, Any]] = []
    if screened:
        from xrai.analysis.screening import screen_features

        shape = next(
            r.outputs["reconstruct"].arrays["volume"].shape for r in results if "screen" in r.outputs
        )
        reference = _screening_reference(config, shape=shape)
        scored = screen_features(
            [row for _, row in screened], reference=reference, false_alarm_rate=config.false_alarm_rate
        )
        for (name, row), result in zip(screened, scored, strict=True):
            screening.append({"specimen": name, "score": result.score, "threshold": result.threshold,
                              "flagged": result.flagged, "inclusion_volume_vox": row.get("inclusion_volume_vox")})  # fmt: skip
            if result.flagged:
                flags.setdefault(name, []).append(
                    f"anomalous (score {result.score:.1f} > {result.threshold:.1f}): {result.reason}"
                )
    comparison: list[dict[str, Any]] = []
    groups = sorted({w["group"] for w in wide})
    if len(groups) >= 2 and all(sum(w["group"] == g for w in wide) >= 2 for g in groups):
        features = [k for k in wide[0] if k.endswith("_volume_mm3")]
        comparison = compare_groups(wide, group_key="group", features=features, alpha=config.alpha)
    if wide:
        from xrai.analysis.screening import batch_outliers

        features = [k for k in wide[0] if k.endswith("_volume_mm3")]
        # a robust scale (median absolute deviation) needs at least 5 specimens per group; smaller groups are
        # reported as not checked rather than flagged on noise
        for row, report in zip(wide, batch_outliers(wide, features=features, threshold=config.outlier_z,
                                                    group_key="group", min_group_size=5), strict=True):  # fmt: skip
            if report.flagged:
                flags.setdefault(row["specimen"], []).append(f"outlier in {row['group']}: {report.reason}")
    return {"flags": flags, "comparison": comparison, "measurements": measurements, "wide": wide,
            "evaluation": evaluation, "screening": screening}  # fmt: skip


def _screening_reference(config: ScreenConfig, *, shape: tuple[int, ...]) -> Any:
    """The model of normal pupae for screening: simulated once per (shape, size), then kept in the KB."""
    import blake3

    from xrai.analysis.screening import NormalModel
    from xrai.kb.base import KnowledgeBase
    from xrai.pipeline.stages import canonical_json

    spec = {"what": "screening-reference", "version": 2, "shape": list(shape), "n": config.reference_size,
            "chain": "seed-instrument", "seed": 0}  # fmt: skip
    key = blake3.blake3(canonical_json(spec).encode()).hexdigest()
    with KnowledgeBase.open(config.kb) as kb:
        item = kb.find_by_key(key)
        if item is not None:
            return NormalModel.from_dict(item.metadata["model"])
        model = _fit_reference_on_instrument(n=config.reference_size, size=int(shape[-1]), config=config)
        kb.put(
            kind="model", name="screening reference: normal pupae (simulated)", metadata={"model": model.to_dict(), **spec},
            cache_key=key, description="Robust normal model of label-free screening features of simulated normal pupae",
        )  # fmt: skip
        return model


def _short(row: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("name", "volume_m3", "surface_area_m2", "sphericity", "mean_intensity")
    return {k: row[k] for k in keep if k in row}


def _write_report(
    results: Sequence[SpecimenResult], batch: Mapping[str, Any], config: ScreenConfig, *, title: str,
    summary: Mapping[str, Any], notes: Sequence[str],
) -> Path:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from xrai.pipeline.report import ReportData, figure_png, image_png, write_report

    specimens = []
    stage_seconds: dict[str, float] = {}
    for r in results:
        for rec in r.records:
            stage_seconds[rec.stage] = stage_seconds.get(rec.stage, 0.0) + rec.seconds
        thumbs: dict[str, bytes] = {}
        if "preview" in r.outputs:
            views = r.outputs["preview"].arrays
            thumbs["projection"] = image_png(views["projection"])
            thumbs["sinogram"] = image_png(views["sinogram"])
            thumbs["slice"] = image_png(views["slice"])
            thumbs["labels" if "labels" in views else "longitudinal"] = image_png(
                views["longitudinal"], overlay=views.get("labels")
            )
            thumbs["MIP"] = image_png(views["mip"])
        specimens.append(
            {"name": r.name, "group": r.group, "status": r.status, "error": r.error,
             "flags": batch["flags"].get(r.name, []), "thumbnails": thumbs}
        )  # fmt: skip
    figures: dict[str, bytes] = {}
    wide = batch["wide"]
    comparison = batch["comparison"]
    if comparison:
        features = [c["feature"] for c in comparison]
        columns = 5
        rows_n = math.ceil(len(features) / columns)
        fig, axes = plt.subplots(rows_n, columns, figsize=(3 * columns, 2.6 * rows_n), squeeze=False)
        groups = sorted({w["group"] for w in wide})
        for ax, c in zip(axes.flat, comparison, strict=False):
            data = [[w[c["feature"]] for w in wide if w["group"] == g] for g in groups]
            ax.boxplot(data, tick_labels=groups)
            for i, values in enumerate(data, start=1):
                ax.plot(np.full(len(values), i), values, "o", ms=3, alpha=0.6)
            mark = " *" if c.get("significant") else ""
            ax.set_title(
                f"{c['feature'].removesuffix('_volume_mm3')}{mark}\nq = {c['q_value']:.2g}", fontsize=9
            )
            ax.tick_params(labelsize=8)
        for ax in axes.flat[len(features) :]:
            ax.set_axis_off()
        fig.suptitle("Organ volume (mm³) per line; * = significant at FDR " + f"{config.alpha:g}")
        fig.tight_layout()
        figures["Organ volumes by line"] = figure_png(fig)
    if stage_seconds:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        names = list(stage_seconds)
        ax.barh(names, [stage_seconds[n] for n in names])
        ax.set_xlabel("seconds (all specimens)")
        fig.tight_layout()
        figures["Time per stage"] = figure_png(fig)
    comparison_rows = [
        {"feature": c["feature"].removesuffix("_volume_mm3") + " volume", "ratio": c.get("ratio"),
         "effect (Hedges g)": c.get("effect_size"), "p": c.get("p_value"), "q (BH)": c.get("q_value"),
         "significant": "yes" if c.get("significant") else "no"}
        for c in comparison
    ]  # fmt: skip
    evaluation = batch["evaluation"]
    extra_notes = list(notes)
    scored = [e["mean_dice"] for e in evaluation if e["mean_dice"] is not None]
    if scored:
        mean = float(np.mean(scored))
        extra_notes.append(
            f"Segmentation against the phantoms' exact labels: mean Dice {mean:.3f} over {len(evaluation)} fish."
        )
    report = ReportData(
        title=title, specimens=specimens, measurements=batch["measurements"], comparison=comparison_rows,
        figures=figures, stage_seconds=stage_seconds, summary=summary, notes=extra_notes,
        tables={"Screening (anomaly score vs. simulated normal pupae)": batch["screening"],
                "Segmentation vs. exact labels (simulated specimens)": evaluation},
    )  # fmt: skip
    return write_report(config.report, report)


def _fit_reference_on_instrument(*, n: int, size: int, config: ScreenConfig) -> Any:
    """Normal model from ``n`` normal pupae imaged like the demo (seed beamline and detector, same reconstruction).

    The reference must come from the instrument that made the batch: fitted on the fast approximate rendering
    (:func:`xrai.pipeline.screening_reference.fit_normal_model_from_phantoms`), normal pupae of the demo chain
    scored up to 13 against a threshold of 8.6 (false alarms); fitted on the chain itself they score at most 3.5.
    """
    import tempfile

    from xrai.analysis.screening import fit_normal_model, screening_features
    from xrai.pipeline.demo import DemoSpecimen, write_demo_scan
    from xrai.pipeline.stages_tomo import stage_reconstruct, stage_scan

    rows = []
    with tempfile.TemporaryDirectory(prefix="xrai-reference-") as folder:
        for i in range(n):
            spec = DemoSpecimen(name=f"normal-{i:03d}", kind="pupa", group="pupa", seed=900_000 + i, size=size,
                                n_projections=120)  # fmt: skip
            path = str(write_demo_scan(spec, folder))
            recon = stage_reconstruct(
                {"scan": stage_scan({}, path=path, fingerprint="")},
                rings=config.rings,
                filter_name=config.filter_name,
            )
            rows.append(
                screening_features(recon.arrays["volume"], voxel_size_m=recon.metadata["voxel_size_m"])
            )
    return fit_normal_model(rows, rng=0)
