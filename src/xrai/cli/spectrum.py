"""``xrai spectrum``: the spectrum of a beamline preset before and after its filters, as a table and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register", "spectrum_command"]


def spectrum_command(
    preset: Annotated[str, typer.Option("--preset", "-p", help="Beamline preset (seed).")] = "seed",
    out: Annotated[str, typer.Option("--out", "-o", help="Where to write the plot (PNG).")] = "spectrum.png",
    csv: Annotated[str | None, typer.Option("--csv", help="Also write the filtered spectrum as CSV.")] = None,
    pixel_size: Annotated[
        str | None,
        typer.Option("--pixel-size", help="Effective pixel size (e.g. '1.22 um'): show photons/pixel."),
    ] = None,
    exposure: Annotated[
        str, typer.Option("--exposure", help="Exposure time for photons per pixel.")
    ] = "1 ms",
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write the PNG plot.")] = True,
) -> None:
    """Print the flux per energy bin before and after the filters, and plot it."""
    from xrai.errors import XraiError

    try:
        _run(
            preset=preset,
            out=Path(out),
            csv=None if csv is None else Path(csv),
            pixel_size=pixel_size,
            exposure=exposure,
            plot=plot,
        )
    except XraiError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _run(
    *, preset: str, out: Path, csv: Path | None, pixel_size: str | None, exposure: str, plot: bool
) -> None:
    from rich.console import Console
    from rich.table import Table

    from xrai.physics.presets import get_preset
    from xrai.units import to_canonical

    beamline = get_preset(preset)
    before = beamline.unfiltered_spectrum()
    after = beamline.spectrum()
    per_pixel = None
    if pixel_size is not None:
        pixel_size_m = to_canonical(pixel_size, name="pixel_size_m")
        exposure_s = to_canonical(exposure, name="exposure_s")
        per_pixel = after.photons_per_pixel(pixel_size_m=pixel_size_m, exposure_s=exposure_s)

    filters = ", ".join(f.label for f in beamline.filters) or "none"
    caption = "flux density at the sample in photons/s/mm² per energy bin"
    if per_pixel is not None:
        caption += f"; photons per {pixel_size} pixel in {exposure} behind the filters"
    table = Table(title=f"preset {beamline.name!r}", caption=caption)
    table.add_column("E keV", justify="right", no_wrap=True)
    table.add_column("before", justify="right", no_wrap=True)
    table.add_column("after", justify="right", no_wrap=True)
    table.add_column("T", justify="right", no_wrap=True)
    if per_pixel is not None:
        table.add_column("ph/pixel", justify="right", no_wrap=True)
    for i, energy in enumerate(before.energies_kev):
        raw, filtered = before.photons_per_s_m2[i] * 1e-6, after.photons_per_s_m2[i] * 1e-6
        row = [f"{energy:g}", f"{raw:.3e}", f"{filtered:.3e}", f"{filtered / raw if raw > 0 else 0.0:.3g}"]
        if per_pixel is not None:
            row.append(f"{per_pixel[i]:.4g}")
        table.add_row(*row)
    total_row = [
        "total",
        f"{before.total_photons_per_s_m2 * 1e-6:.3e}",
        f"{after.total_photons_per_s_m2 * 1e-6:.3e}",
        f"{after.total_photons_per_s_m2 / before.total_photons_per_s_m2:.3g}",
    ]
    if per_pixel is not None:
        total_row.append(f"{per_pixel.sum():.4g}")
    table.add_row(*total_row, style="bold")
    console = Console()
    console.print(f"source: {before.name}", soft_wrap=True)
    console.print(f"filters: {filters}", soft_wrap=True)
    console.print(table)
    console.print(
        f"mean energy {before.mean_energy_kev:.2f} keV → {after.mean_energy_kev:.2f} keV; "
        f"power {before.power_w_m2 * 1e-6:.3g} → {after.power_w_m2 * 1e-6:.3g} W/mm²"
    )
    if csv is not None:
        after.to_csv(csv)
        console.print(f"wrote {csv}")
    if plot:
        _plot(before, after, out, title=f"{beamline.name}: {before.name}", filters=filters)
        console.print(f"wrote {out}")


def _plot(before: Any, after: Any, out: Path, *, title: str, filters: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for spectrum, label in ((before, "before filters"), (after, f"after {filters}")):
        ax.step(spectrum.energies_kev, spectrum.per_kev() * 1e-6, where="mid", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("photon energy [keV]")
    ax.set_ylabel("flux density [photons / s / mm² / keV]")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    """Add ``xrai spectrum`` to the command line."""
    app.command("spectrum")(spectrum_command)
