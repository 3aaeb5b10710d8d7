"""``xrai segment train|predict|evaluate``, ``xrai measure`` and ``xrai compare-groups``.

- ``segment train``: train a U-Net on synthetic fish (``--recipe demo`` reproduces the shipped model),
  resumable from ``--checkpoint-dir``.
- ``segment predict``: segment a volume (``.zarr``, ``.npy``, ``.tif``, ``.nii[.gz]``) with the demo or a saved
  model; sliding window, labels streamed to Zarr; optional TTA / MC-dropout uncertainty per organ.
- ``segment evaluate``: per-organ Dice / HD95 / ASSD / volume error of a prediction against the truth, or of a
  model on held-out synthetic fish (``--synthetic N``).
- ``measure``: morphometrics table (CSV) of a label volume.
- ``compare-groups``: per-feature group tests with FDR control, effect sizes, PCA, box/PCA PNGs.

Heavy imports happen inside the commands, so ``xrai --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

segment_app = typer.Typer(
    help="3-D deep-learning segmentation: train, predict, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)


def _read_volume(path: Path) -> tuple[Any, tuple[float, float, float] | None]:
    """A ``[z, y, x]`` volume (lazy for Zarr) and its voxel size if the file knows it."""
    from xrai.errors import ConfigError, DataError

    name = path.name.lower()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if name.endswith(".zarr"):
        from xrai.io.zarr_volume import read_volume_zarr

        volume = read_volume_zarr(path)
        known = volume.attrs.get("voxel_size_known", True)
        return volume, (volume.voxel_size_m if known else None)
    if name.endswith(".npy"):
        import numpy as np

        return np.load(path, mmap_mode="r"), None
    if name.endswith((".tif", ".tiff")) or path.is_dir():
        from xrai.io.tiff import read_tiff_stack

        stack = read_tiff_stack(path)
        return stack[...] if hasattr(stack, "__getitem__") else stack, None
    if name.endswith((".nii", ".nii.gz")):
        import nibabel
        import numpy as np

        image = nibabel.load(path)
        zooms = image.header.get_zooms()[:3]  # type: ignore[attr-defined]
        data = np.asarray(image.dataobj).transpose(2, 1, 0)  # type: ignore[attr-defined]
        return data, (zooms[2] * 1e-3, zooms[1] * 1e-3, zooms[0] * 1e-3)
    raise ConfigError(
        f"{path}: unknown volume format; use .zarr, .npy, .tif/.tiff, a TIFF folder or .nii[.gz]"
    )


def _load(model: str, device: str) -> Any:
    from xrai.ml.unet import load_demo_model, load_model

    return load_demo_model(device=device) if model == "demo" else load_model(model, device=device)


def _print_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    Console().print(table)


@segment_app.command("train")
def train_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Model path (writes <out>.pt and <out>.json).")
    ] = Path("fish_unet"),
    recipe: Annotated[
        str, typer.Option("--recipe", help="'demo' (the shipped model) or a recipe JSON file.")
    ] = "demo",
    steps: Annotated[int | None, typer.Option("--steps", help="Override the number of steps.")] = None,
    checkpoint_dir: Annotated[
        Path | None, typer.Option("--checkpoint-dir", help="Checkpoints here; a rerun resumes.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Resume from the checkpoint.")] = True,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")] = None,
) -> None:
    """Train a segmentation U-Net on synthetic specimens (deterministic, resumable)."""
    import dataclasses

    import torch

    from xrai.ml.segmentation import TrainConfig, demo_recipe, train
    from xrai.ml.unet import save_model

    config = (
        demo_recipe() if recipe == "demo" else TrainConfig.from_dict(json.loads(Path(recipe).read_text()))
    )
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    if threads is not None:
        torch.set_num_threads(threads)
    result = train(config, checkpoint_dir=checkpoint_dir, resume=resume, device=device)
    weights, info = save_model(result.model, out)
    typer.echo(
        f"trained {result.steps_done} steps in {result.seconds:.0f} s; final loss {result.losses[-1]:.4f}"
    )
    typer.echo(f"wrote {weights} and {info}")


@segment_app.command("predict")
def predict_command(
    volume_path: Annotated[
        Path, typer.Argument(help="Volume: .zarr, .npy, .tif/.tiff or a TIFF folder, .nii[.gz].")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Labels: .zarr (streamed), .nii.gz, .tif or .npy.")
    ] = Path("labels.zarr"),
    model: Annotated[str, typer.Option("--model", "-m", help="'demo' or a saved model path.")] = "demo",
    tta: Annotated[bool, typer.Option("--tta", help="Test-time augmentation (flips).")] = False,
    mc_samples: Annotated[int, typer.Option("--mc-samples", help="Monte-Carlo dropout passes.")] = 0,
    overlap: Annotated[float, typer.Option("--overlap", help="Window overlap (0-1).")] = 0.25,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu or cuda (default: cuda if present).")
    ] = None,
    organs_csv: Annotated[
        Path | None, typer.Option("--organs-csv", help="Per-organ volume/uncertainty CSV.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Segment a volume with a sliding window (labels streamed to Zarr)."""
    from xrai.analysis.morphometrics import write_csv
    from xrai.errors import DataError
    from xrai.ml.inference import segment_volume
    from xrai.ml.label_io import write_labels

    volume, voxel = _read_volume(volume_path)
    seg = _load(model, device or "cpu")
    streamed = out.name.lower().endswith(".zarr")
    if out.exists() and not overwrite:
        raise DataError(f"{out}: exists; pass --overwrite to replace it")
    result = segment_volume(
        seg,
        volume,
        out=out if streamed else None,
        voxel_size_m=voxel,
        overwrite=overwrite,
        tta=tta,
        mc_samples=mc_samples,
        overlap=overlap,
        device=device,
    )
    if not streamed:
        write_labels(
            out, result.labels, voxel_size_m=voxel or 1.0, label_names=seg.label_names, overwrite=overwrite
        )
    columns = ["name", "voxel_count", "soft_voxel_count"]
    if tta or mc_samples:
        columns += ["mean_entropy", "mean_mutual_information"]
    _print_table(result.organs[1:], columns, f"{volume_path.name}: organs")
    if organs_csv is not None:
        write_csv(result.organs, organs_csv)
    typer.echo(f"wrote {out}")


@segment_app.command("evaluate")
def evaluate_command(
    prediction: Annotated[
        Path | None, typer.Argument(help="Predicted labels (.zarr, .nii[.gz], .tif, .npy).")
    ] = None,
    truth: Annotated[Path | None, typer.Argument(help="True labels.")] = None,
    synthetic: Annotated[
        int, typer.Option("--synthetic", help="Instead: score the model on N held-out fish.")
    ] = 0,
    model: Annotated[
        str, typer.Option("--model", "-m", help="'demo' or a saved model (with --synthetic).")
    ] = "demo",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out fish.")] = 424242,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the per-organ table here.")] = None,
) -> None:
    """Per-organ Dice, HD95, ASSD and volume error."""
    import numpy as np

    from xrai.analysis.morphometrics import write_csv
    from xrai.errors import ConfigError
    from xrai.ml.label_io import read_labels
    from xrai.ml.metrics import segmentation_metrics

    if synthetic > 0:
        from xrai.ml.segmentation import evaluate_synthetic

        rows = evaluate_synthetic(_load(model, "cpu"), n=synthetic, seed=seed)
        title = f"{synthetic} held-out synthetic fish (seed {seed})"
    else:
        if prediction is None or truth is None:
            raise ConfigError("give PREDICTION and TRUTH label files, or --synthetic N")
        pred, voxel, names = read_labels(prediction)
        true, _, true_names = read_labels(truth)
        rows = segmentation_metrics(pred, true, label_names=names or true_names, voxel_size_m=voxel)
        title = f"{prediction.name} vs {truth.name}"
    _print_table(rows, ["name", "dice", "hd95_m", "assd_m", "volume_error"], title)
    typer.echo(f"mean Dice {np.nanmean([r['dice'] for r in rows]):.3f}")
    if csv is not None:
        write_csv(rows, csv)


def measure_command(
    labels_path: Annotated[Path, typer.Argument(help="Label volume (.zarr, .nii[.gz], .tif, .npy).")],
    image: Annotated[
        Path | None, typer.Option("--image", help="Intensity volume for mean intensities.")
    ] = None,
    voxel_size: Annotated[
        str | None, typer.Option("--voxel-size", help="Voxel size, e.g. '0.65 um' (default: from the file).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV table.")] = Path("morphometrics.csv"),
    parquet: Annotated[bool, typer.Option("--parquet", help="Also write Parquet (needs pyarrow).")] = False,
) -> None:
    """Morphometrics per label: volume, surface, centroid, axes, sphericity, intensity."""
    import numpy as np

    from xrai.analysis.morphometrics import measure_labels, write_csv, write_parquet
    from xrai.ml.label_io import read_labels
    from xrai.units import to_canonical

    labels, voxel, names = read_labels(labels_path)
    if voxel_size is not None:
        voxel = (to_canonical(voxel_size, name="voxel_size_m"),) * 3
    intensity = np.asarray(_read_volume(image)[0]) if image is not None else None
    rows = measure_labels(labels, voxel_size_m=voxel, image=intensity, label_names=names)
    write_csv(rows, out)
    if parquet:
        write_parquet(rows, out.with_suffix(".parquet"))
    _print_table(
        rows, ["name", "volume_m3", "surface_area_m2", "sphericity", "axis_length_1_m"], labels_path.name
    )
    typer.echo(f"wrote {out}")


def compare_groups_command(
    table: Annotated[
        Path, typer.Argument(help="CSV, one row per specimen (e.g. from 'xrai measure' + wide).")
    ],
    group_column: Annotated[
        str, typer.Option("--group-column", "-g", help="Column naming the group.")
    ] = "line",
    test: Annotated[str, typer.Option("--test", help="welch or rank.")] = "welch",
    alpha: Annotated[float, typer.Option("--alpha", help="False-discovery rate.")] = 0.05,
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Results CSV and PNGs here.")] = Path(
        "group-comparison"
    ),
) -> None:
    """Per-feature group tests with Benjamini–Hochberg FDR control, effect sizes, PCA and plots."""
    from xrai.analysis.group_stats import (
        compare_groups,
        numeric_features,
        plot_feature_boxes,
        plot_pca,
        principal_components,
    )
    from xrai.analysis.morphometrics import read_csv, write_csv

    rows = read_csv(table)
    features = numeric_features(rows, exclude=(group_column,))
    results = compare_groups(rows, group_key=group_column, features=features, test=test, alpha=alpha)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(results, out_dir / "tests.csv")
    significant = [r["feature"] for r in results if r["significant"]]
    shown = significant[:16] or [r["feature"] for r in sorted(results, key=lambda r: r["p_value"])[:4]]
    plot_feature_boxes(rows, out_dir / "boxes.png", features=shown, group_key=group_column, results=results)
    pca = principal_components(rows, features=features)
    plot_pca(pca, [r[group_column] for r in rows], out_dir / "pca.png")
    _print_table(
        [r for r in results if r["significant"]] or results[:5],
        ["feature", "p_value", "q_value", "effect_size", "ratio"],
        f"{len(significant)} of {len(results)} features differ (FDR {alpha})",
    )
    typer.echo(f"wrote {out_dir / 'tests.csv'}, boxes.png, pca.png")


def register(app: typer.Typer) -> None:
    """Add ``segment``, ``measure`` and ``compare-groups`` to the ``xrai`` app."""
    app.add_typer(segment_app, name="segment")
    app.command("measure")(measure_command)
    app.command("compare-groups")(compare_groups_command)
