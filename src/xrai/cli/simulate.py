"""``xrai simulate``: run a virtual experiment (TOML file or preset) into an NXtomo file, with the truth beside it.

Frames are simulated and written one at a time (:func:`xrai.physics.experiment.iter_experiment` →
:class:`xrai.io.nxtomo.NXtomoWriter`), so a full-size scan never has to fit in memory. Beside ``scan.nxs`` go
``scan.truth.json`` (rotation-axis column, tilt, drift and beam factor per frame, the configuration) and, when
the sample has one, ``scan.truth.zarr`` (the label volume ``[z, y, x]`` with its material table).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register", "simulate_command"]


def simulate_command(
    config: Annotated[
        str | None, typer.Argument(help="Experiment TOML file (see docs/simulation-detector-acquisition.md).")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", "-p", help="Experiment preset: wax-needle, wax-needle-small, cine-small."),
    ] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="NXtomo file to write (.nxs).")] = "scan.nxs",
    preview: Annotated[
        str | None,
        typer.Option("--preview", help="Write a PNG preview (projection, corrected, sinogram, truth)."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the experiment's seed.")] = None,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="Shot/read noise and zingers.")] = True,
    truth: Annotated[
        bool, typer.Option("--truth/--no-truth", help="Write the ground truth beside the scan.")
    ] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Simulate a scan (radiography, tomography or 4D) and write it as NXtomo."""
    from xrai.errors import XraiError

    try:
        _run(
            config=config,
            preset=preset,
            out=Path(out),
            preview=None if preview is None else Path(preview),
            seed=seed,
            noise=noise,
            truth=truth,
            overwrite=overwrite,
            progress=progress,
        )
    except XraiError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def truth_paths(out: Path) -> tuple[Path, Path]:
    """``(scan.truth.json, scan.truth.zarr)`` beside ``out``."""
    stem = out.with_suffix("")
    return stem.with_name(stem.name + ".truth.json"), stem.with_name(stem.name + ".truth.zarr")


def _load(config: str | None, preset: str | None) -> Any:
    from xrai.errors import ConfigError
    from xrai.physics.experiment import EXPERIMENT_PRESETS, get_experiment, load_experiment

    if (config is None) == (preset is None):
        raise ConfigError(
            f"give either an experiment TOML file or --preset NAME (presets: {', '.join(EXPERIMENT_PRESETS)})"
        )
    return load_experiment(config) if config is not None else get_experiment(str(preset))


def _run(
    *,
    config: str | None,
    preset: str | None,
    out: Path,
    preview: Path | None,
    seed: int | None,
    noise: bool,
    truth: bool,
    overwrite: bool,
    progress: bool,
) -> None:
    import dataclasses

    import numpy as np
    from rich.console import Console

    from xrai.cli._common import progress_bar
    from xrai.errors import DataError
    from xrai.io.nxtomo import NXtomoWriter
    from xrai.physics.experiment import build_detector, build_spectrum, experiment_to_dict, iter_experiment

    experiment = _load(config, preset)
    if seed is not None:
        experiment = dataclasses.replace(experiment, seed=seed)
    json_path, zarr_path = truth_paths(out)
    if not overwrite:
        for path in (out, json_path, zarr_path) if truth else (out,):
            if path.exists():
                raise DataError(f"{path} exists; pass --overwrite to replace it")
    detector = build_detector(experiment.detector)
    spectrum = build_spectrum(experiment.beam)
    camera = detector.camera
    max_value = camera.max_count * camera.binning**2
    dtype = "uint16" if max_value <= np.iinfo(np.uint16).max else "uint32"
    record: dict[str, Any] = {}
    plan, frames = iter_experiment(experiment, noise=noise, truth=record, ground_truth=truth)
    shape = (camera.n_rows // camera.binning, camera.n_cols // camera.binning)
    configuration = {
        "experiment": experiment_to_dict(experiment),
        "spectrum": {
            "energies_kev": spectrum.energies_kev.tolist(),
            "photons_per_s_m2": spectrum.photons_per_s_m2.tolist(),
        },
        "detector": {
            "effective_pixel_size_m": detector.pixel_size_m,
            "nominal_pixel_size_m": detector.nominal_pixel_size_m,
            "binning": camera.binning,
            "camera": camera.name,
        },
        "simulator": "xrai.physics.acquisition",
        "noise": noise,
    }
    console = Console(stderr=True)
    console.print(
        f"simulating {experiment.name!r}: {plan.n_frames} frames of {shape[0]} × {shape[1]} "
        f"({plan.counts()['projections']} projections), {spectrum.n_bins} energies → {out}"
    )
    collected = _Collector(shape, row=shape[0] // 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with (
            NXtomoWriter(
                out,
                frame_shape=shape,
                dtype=dtype,
                pixel_size_m=detector.output_pixel_size_m,
                energy_kev=spectrum.mean_energy_kev,
                distance_m=experiment.geometry.distance_m,
                configuration=configuration,
                expected_frames=plan.n_frames,
                title=experiment.description or experiment.name,
                sample_name=experiment.sample.kind,
                overwrite=overwrite,
            ) as writer,
            progress_bar("simulating", plan.n_frames, enabled=progress) as advance,
        ):
            for frame in frames:
                writer.write_frames(frame.counts, image_key=frame.image_key, angles_rad=frame.angle_rad)
                collected.add(frame)
                advance(1)
    for message in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught):
        console.print(f"[yellow]warning[/yellow] {message}", soft_wrap=True)
    console.print(f"wrote {out}")
    if truth:
        _write_truth(json_path, zarr_path, record, configuration, overwrite=overwrite)
        console.print(f"wrote {json_path}" + (f" and {zarr_path}" if "labels" in record else ""))
    if preview is not None:
        collected.plot(preview, record, title=experiment.name)
        console.print(f"wrote {preview}")


class _Collector:
    """What the preview needs, gathered while the frames stream past: one projection, means, a sinogram row."""

    def __init__(self, shape: tuple[int, int], *, row: int) -> None:
        import numpy as np

        self.row = row
        self.first: Any = None
        self.flat_sum = np.zeros(shape)
        self.dark_sum = np.zeros(shape)
        self.n_flats = 0
        self.n_darks = 0
        self.sinogram: list[Any] = []

    def add(self, frame: Any) -> None:
        import numpy as np

        counts = np.asarray(frame.counts, dtype=np.float64)
        if frame.image_key == 1:
            self.flat_sum += counts
            self.n_flats += 1
        elif frame.image_key == 2:
            self.dark_sum += counts
            self.n_darks += 1
        else:
            if self.first is None:
                self.first = counts
            self.sinogram.append(counts[self.row])

    def plot(self, path: Path, record: dict[str, Any], *, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        dark = self.dark_sum / max(self.n_darks, 1)
        flat = self.flat_sum / max(self.n_flats, 1)
        panels: list[tuple[str, Any]] = []
        if self.first is not None:
            panels.append(("first projection [counts]", self.first))
            if self.n_flats:
                with np.errstate(divide="ignore", invalid="ignore"):
                    panels.append(
                        ("flat-field corrected", (self.first - dark) / np.maximum(flat - dark, 1e-9))
                    )
                    rows = np.asarray(self.sinogram)
                    panels.append(
                        (
                            f"sinogram, row {self.row}",
                            (rows - dark[self.row]) / np.maximum(flat - dark, 1e-9)[self.row],
                        )
                    )
        elif self.n_flats:
            panels.append(("mean flat [counts]", flat))
        if "labels" in record:
            labels = np.asarray(record["labels"])
            panels.append(("truth labels, middle slice", labels[labels.shape[0] // 2]))
        fig, axes = plt.subplots(
            1, max(len(panels), 1), figsize=(4 * max(len(panels), 1), 4), layout="constrained"
        )
        for ax, (label, image) in zip(np.atleast_1d(axes), panels, strict=False):
            shown = ax.imshow(image, cmap="gray", aspect="auto" if label.startswith("sinogram") else "equal")
            ax.set_title(label, fontsize=9)
            fig.colorbar(shown, ax=ax, shrink=0.8)
        fig.suptitle(title, fontsize=10)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)


def _write_truth(
    json_path: Path,
    zarr_path: Path,
    record: dict[str, Any],
    configuration: dict[str, Any],
    *,
    overwrite: bool,
) -> None:
    import numpy as np

    from xrai.io.zarr_volume import write_volume_zarr

    plain: dict[str, Any] = {"configuration": configuration}
    for key, value in record.items():
        if key == "labels":
            continue
        if isinstance(value, np.ndarray):
            plain[key] = value.tolist()
        elif isinstance(value, dict):
            plain[key] = {str(k): v for k, v in value.items()}
        else:
            plain[key] = value
    if "labels" in record:
        plain["labels_file"] = zarr_path.name
        write_volume_zarr(
            zarr_path,
            np.asarray(record["labels"]),
            voxel_size_m=float(record["voxel_size_m"]),
            attrs={
                "label_materials": {str(k): v for k, v in record["label_materials"].items()},
                "center_col": record.get("center_col"),
                "axis_tilt_rad": record.get("axis_tilt_rad"),
                "description": "ground-truth labels of the simulated sample; z = rotation axis = detector rows",
            },
            overwrite=overwrite,
        )
    json_path.write_text(json.dumps(plain, indent=1))


def register(app: typer.Typer) -> None:
    """Add ``xrai simulate`` to the command line."""
    app.command("simulate")(simulate_command)
