"""``xrai reconstruct`` (a scan → a Zarr volume, slab by slab) and ``xrai preview`` (a quick-look PNG).

Both read any scan :func:`xrai.io.read_scan` knows (NXtomo, DXchange, TIFF/EDF folders), correct it (flats and
darks, optional zinger removal, Paganin phase retrieval or ``-ln``, optional ring removal) and reconstruct by
FBP. Heavy imports happen inside the commands, so ``xrai --help`` stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["preview_command", "reconstruct_command", "register"]

RING_METHODS = ("none", "sorting", "wavelet_fourier")
_PAGANIN_KEYS = {
    "delta_beta": ("delta_beta", None),
    "energy": ("energy_kev", "energy_kev"),
    "energy_kev": ("energy_kev", "energy_kev"),
    "distance": ("distance_m", "distance_m"),
    "distance_m": ("distance_m", "distance_m"),
    "pixel_size": ("pixel_size_m", "pixel_size_m"),
    "pixel_size_m": ("pixel_size_m", "pixel_size_m"),
}


# --------------------------------------------------------------------------------------------------------------
# option parsing (pure, tested)
# --------------------------------------------------------------------------------------------------------------


def parse_center(text: str) -> float | str:
    """``"auto"`` or a column (float)."""
    from xrai.errors import ConfigError

    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--center = {text!r} is not allowed: must be 'auto' or a column number") from None


def parse_rows(text: str | None, n_rows: int) -> tuple[int, int]:
    """``"a:b"`` (either side may be empty, negative counts from the end) → ``(first, stop)``."""
    from xrai.errors import ConfigError

    if text is None:
        return 0, n_rows
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        first, stop = slice(*(int(p) if p.strip() else None for p in parts)).indices(n_rows)[:2]
    except ValueError:
        raise ConfigError(f"--rows = {text!r} is not allowed: must be 'first:stop', e.g. '100:200'") from None
    if not 0 <= first < stop <= n_rows:
        raise ConfigError(f"--rows = {text!r} selects no rows of the {n_rows} detector rows")
    return first, stop


def parse_paganin(text: str | None) -> dict[str, float]:
    """``"delta_beta=1000[,energy=20 keV][,distance=0.1 m][,pixel_size=0.65 um]"`` → canonical numbers."""
    from xrai.errors import ConfigError
    from xrai.units import to_canonical

    if text is None:
        return {}
    out: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _PAGANIN_KEYS:
            raise ConfigError(
                f"--paganin item {item.strip()!r} is not allowed: use key=value with keys delta_beta, energy, "
                "distance, pixel_size"
            )
        name, unit_name = _PAGANIN_KEYS[key]
        if unit_name is None:
            try:
                out[name] = float(value)
            except ValueError:
                raise ConfigError(f"--paganin delta_beta = {value.strip()!r} is not a number") from None
        else:
            out[name] = float(to_canonical(value.strip(), name=unit_name))
    if "delta_beta" not in out:
        raise ConfigError(f"--paganin = {text!r} needs delta_beta=<number>")
    return out


# --------------------------------------------------------------------------------------------------------------
# the correction chain
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Corrections:
    """What is done to raw projections before the reconstruction."""

    flat_field: bool = True
    zingers: bool = False
    paganin: dict[str, float] | None = None
    rings: str = "none"

    @property
    def halo_rows(self) -> int:
        """Rows of context each slab needs (the Paganin filter mixes rows)."""
        if not self.paganin:
            return 0
        from xrai.tomo.phase import paganin_margin_px

        return paganin_margin_px(**self.paganin)


def resolve_corrections(
    scan: Any, *, paganin: str | None, rings: str, zingers: bool, pixel_size_m: float | None
) -> Corrections:
    """Check the options against the scan; fill Paganin's energy, distance and pixel size from the scan."""
    from xrai.errors import ConfigError

    if rings not in RING_METHODS:
        raise ConfigError(f"--rings = {rings!r} is not allowed: must be one of {', '.join(RING_METHODS)}")
    phase = parse_paganin(paganin)
    if phase:
        defaults = {
            "energy_kev": scan.energy_kev,
            "distance_m": scan.distance_m,
            "pixel_size_m": pixel_size_m,
        }
        for name, value in defaults.items():
            if name not in phase:
                if value is None:
                    key = name.rsplit("_", 1)[0]
                    raise ConfigError(
                        f"--paganin needs {key}: the scan {scan.source} does not say; add {key}=<value> to --paganin"
                    )
                phase[name] = float(value)
    flat_field = scan.flats is not None
    return Corrections(flat_field=flat_field, zingers=zingers, paganin=phase or None, rings=rings)


def make_preprocess(scan: Any, corrections: Corrections) -> Callable[[Any, int, int], Any]:
    """``f(raw_slab, r0, r1) -> line integrals`` for rows ``[r0, r1)`` of ``scan``."""
    import numpy as np

    from xrai.tomo.flatfield import flat_field_correct, minus_log, remove_zingers
    from xrai.tomo.phase import retrieve_phase_paganin
    from xrai.tomo.rings import remove_rings

    def preprocess(raw: Any, r0: int, r1: int) -> Any:
        data = np.asarray(raw)
        if corrections.zingers:
            data = remove_zingers(data)
        if corrections.flat_field:
            flats = scan.flats.rows(r0, r1)
            darks = None if scan.darks is None else scan.darks.rows(r0, r1)
            data = flat_field_correct(data, flats, darks, flat_positions=scan.flat_positions, dtype="float32")
        if corrections.paganin:
            p = corrections.paganin
            lines = retrieve_phase_paganin(
                data, delta_beta=p["delta_beta"], energy_kev=p["energy_kev"], distance_m=p["distance_m"],
                pixel_size_m=p["pixel_size_m"], dtype="float32",
            )  # fmt: skip
        elif corrections.flat_field:
            lines = minus_log(data)
        else:  # no flats: the projections are taken to be line integrals already
            lines = data.astype(np.float32, copy=False)
        if corrections.rings != "none":
            lines = remove_rings(lines, method=corrections.rings)  # type: ignore[arg-type]
        return lines

    return preprocess


def _line_integrals(
    scan: Any, preprocess: Callable[[Any, int, int], Any], halo: int, r0: int, r1: int
) -> Any:
    a0, a1 = max(0, r0 - halo), min(scan.n_rows, r1 + halo)
    return preprocess(scan.projections_rows(a0, a1), a0, a1)[:, r0 - a0 : r1 - a0]


def _find_axis(
    scan: Any, preprocess: Callable[[Any, int, int], Any], halo: int, rows: tuple[int, int]
) -> Any:
    """The rotation axis found on a band of up to 8 pre-processed rows in the middle of ``rows``."""
    from xrai.tomo.center import find_center

    mid = (rows[0] + rows[1]) // 2
    r0 = max(rows[0], mid - 4)
    r1 = min(rows[1], r0 + 8)
    band = _line_integrals(scan, preprocess, halo, r0, r1)
    return find_center(band, angles_rad=scan.angles_rad, method="auto", row=(r1 - r0) // 2)


# --------------------------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------------------------


def reconstruct_command(
    scan_path: Annotated[Path, typer.Argument(help="Scan: NXtomo/DXchange HDF5, or a TIFF/EDF folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output Zarr volume (folder).")] = Path(
        "volume.zarr"
    ),
    center: Annotated[str, typer.Option("--center", help="Rotation axis column, or 'auto'.")] = "auto",
    paganin: Annotated[
        str | None,
        typer.Option(
            "--paganin",
            help="Paganin phase retrieval: 'delta_beta=1000[,energy=20 keV,distance=0.1 m,pixel_size=0.65 um]' "
            "(energy, distance, pixel size default to the scan's).",
        ),
    ] = None,
    rings: Annotated[
        str, typer.Option("--rings", help="Ring removal: none, sorting, wavelet_fourier.")
    ] = "none",
    filter_name: Annotated[
        str, typer.Option("--filter", help="FBP filter: ram-lak, shepp-logan, cosine, hamming, hann, parzen.")
    ] = "ram-lak",
    method: Annotated[
        str, typer.Option("--method", help="Back-projection: direct, or gridrec (Fourier gridding, faster).")
    ] = "direct",
    rows: Annotated[
        str | None, typer.Option("--rows", help="Detector rows 'first:stop' (default all).")
    ] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", help="Rows per slab (memory bound).")] = 16,
    pixel_size: Annotated[
        str | None, typer.Option("--pixel-size", help="Pixel size, e.g. '0.65 um' (default the scan's).")
    ] = None,
    zingers: Annotated[bool, typer.Option("--zingers/--no-zingers", help="Remove zingers first.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Reconstruct a scan slab by slab into a Zarr volume (z, y, x), μ in 1/m when the pixel size is known."""
    from xrai.errors import XraiError

    try:
        _reconstruct(
            scan_path, out=out, center=center, paganin=paganin, rings=rings, filter_name=filter_name, rows=rows,
            method=method, chunk_rows=chunk_rows, pixel_size=pixel_size, zingers=zingers, overwrite=overwrite,
            progress=progress,
        )  # fmt: skip
    except XraiError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _reconstruct(
    scan_path: Path, *, out: Path, center: str, paganin: str | None, rings: str, filter_name: str,
    rows: str | None, method: str, chunk_rows: int, pixel_size: str | None, zingers: bool, overwrite: bool,
    progress: bool,
) -> None:  # fmt: skip
    from rich.console import Console

    from xrai.errors import ConfigError, DataError
    from xrai.io import create_volume_zarr, read_scan
    from xrai.tomo.fbp import _filter_name, reconstruct_to_zarr
    from xrai.units import to_canonical

    console = Console()
    axis_option = parse_center(center)
    _filter_name(filter_name)  # fail before reading anything
    if method not in ("direct", "gridrec"):
        raise ConfigError(f"--method = {method!r} is not allowed: must be 'direct' or 'gridrec'")
    if chunk_rows < 1:
        raise ConfigError(f"--chunk-rows = {chunk_rows} is not allowed: must be >= 1")
    if out.exists() and not overwrite:
        raise DataError(f"{out}: exists; pass --overwrite to replace it")
    start = time.perf_counter()
    with read_scan(scan_path) as scan:
        n_angles, n_rows, n_cols = scan.shape
        first, stop = parse_rows(rows, n_rows)
        pixel_size_m = (
            scan.pixel_size_m if pixel_size is None else to_canonical(pixel_size, name="pixel_size_m")
        )
        corrections = resolve_corrections(
            scan, paganin=paganin, rings=rings, zingers=zingers, pixel_size_m=pixel_size_m
        )
        if pixel_size_m is None and corrections.paganin:  # the pixel size given to --paganin
            pixel_size_m = corrections.paganin["pixel_size_m"]
        preprocess = make_preprocess(scan, corrections)
        halo = corrections.halo_rows
        console.print(
            f"scan {scan_path} ({scan.format}): {n_angles} angles × {n_rows} rows × {n_cols} columns, "
            f"{'flat-field' if corrections.flat_field else 'no flats: data taken as line integrals'}"
            + (f", Paganin δ/β = {corrections.paganin['delta_beta']:g}" if corrections.paganin else "")
            + (f", rings: {rings}" if rings != "none" else ""),
            soft_wrap=True,
            markup=False,
        )
        if axis_option == "auto":
            found = _find_axis(scan, preprocess, halo, (first, stop))
            axis = found.center
            console.print(f"rotation axis: column {axis:.2f} (auto, confidence {found.confidence:.2f})")
        else:
            axis = float(axis_option)
            console.print(f"rotation axis: column {axis:.2f}")
        shape = (stop - first, n_cols, n_cols)
        attrs = {
            "source": str(scan_path), "algorithm": "fbp", "method": method, "filter_name": filter_name,
            "center_col": axis,
            "rows": [first, stop], "paganin": corrections.paganin, "rings": rings, "zingers": zingers,
        }  # fmt: skip
        target: Any = out
        if pixel_size_m is not None:
            target = create_volume_zarr(
                out, shape=shape, voxel_size_m=pixel_size_m, chunks=(min(chunk_rows, shape[0]), n_cols, n_cols),
                attrs=attrs, overwrite=True,
            )  # fmt: skip
        volume = reconstruct_to_zarr(
            scan, target, angles_rad=scan.angles_rad, center=axis, chunk_rows=chunk_rows, rows=(first, stop),
            preprocess=preprocess, halo_rows=halo, filter_name=filter_name, method=method,  # type: ignore[arg-type]
            pixel_size_m=pixel_size_m,
            progress=progress, attributes=attrs,
        )  # fmt: skip
    unit = "1/m" if pixel_size_m is not None else "1/pixel"
    console.print(
        f"wrote {out}: volume {tuple(volume.shape)} [z, y, x], μ in {unit}, "
        f"{time.perf_counter() - start:.1f} s",
        soft_wrap=True,
        markup=False,
    )


def preview_command(
    scan_path: Annotated[Path, typer.Argument(help="Scan: NXtomo/DXchange HDF5, or a TIFF/EDF folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")] = Path("preview.png"),
    row: Annotated[int | None, typer.Option("--row", help="Detector row of the sinogram and slice.")] = None,
    angle: Annotated[int, typer.Option("--angle", help="Index of the projection shown.")] = 0,
    center: Annotated[str, typer.Option("--center", help="Rotation axis column, or 'auto'.")] = "auto",
    paganin: Annotated[str | None, typer.Option("--paganin", help="As for 'xrai reconstruct'.")] = None,
    rings: Annotated[str, typer.Option("--rings", help="none, sorting, wavelet_fourier.")] = "none",
) -> None:
    """Write a PNG with one corrected projection, the sinogram of one row and its reconstructed slice."""
    from xrai.errors import XraiError

    try:
        _preview(scan_path, out=out, row=row, angle=angle, center=center, paganin=paganin, rings=rings)
    except XraiError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _preview(
    scan_path: Path, *, out: Path, row: int | None, angle: int, center: str, paganin: str | None, rings: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from rich.console import Console

    from xrai.errors import ConfigError
    from xrai.io import read_scan
    from xrai.tomo.fbp import reconstruct_fbp

    console = Console()
    axis_option = parse_center(center)
    with read_scan(scan_path) as scan:
        n_angles, n_rows, _ = scan.shape
        r = n_rows // 2 if row is None else row
        if not 0 <= r < n_rows:
            raise ConfigError(f"--row = {row} is not allowed: the detector has rows 0..{n_rows - 1}")
        if not 0 <= angle < n_angles:
            raise ConfigError(f"--angle = {angle} is not allowed: the scan has projections 0..{n_angles - 1}")
        corrections = resolve_corrections(scan, paganin=paganin, rings=rings, zingers=False,
                                          pixel_size_m=scan.pixel_size_m)  # fmt: skip
        preprocess = make_preprocess(scan, corrections)
        halo = corrections.halo_rows
        # one corrected projection (every row, one angle): correct the whole stack's rows for that angle only
        raw = scan.projections[angle : angle + 1]
        if corrections.flat_field:
            from xrai.tomo.flatfield import flat_field_correct

            projection = flat_field_correct(
                raw, scan.flats[:], None if scan.darks is None else scan.darks[:],
                flat_positions=scan.flat_positions, projection_indices=[angle], dtype="float32",
            )[0]  # fmt: skip
        else:
            projection = np.asarray(raw[0], dtype=np.float32)
        sinogram = _line_integrals(scan, preprocess, halo, r, r + 1)[:, 0]
        if axis_option == "auto":
            from xrai.tomo.center import find_center

            found = find_center(sinogram, angles_rad=scan.angles_rad, method="auto")
            axis, label = found.center, f"auto, confidence {found.confidence:.2f}"
        else:
            axis, label = float(axis_option), "given"
        image = reconstruct_fbp(sinogram, angles_rad=scan.angles_rad, center=axis, progress=False)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), layout="constrained")
    panels = [
        (
            projection,
            f"projection {angle} ({'transmission' if corrections.flat_field else 'as stored'})",
            "gray",
        ),
        (sinogram, f"sinogram of row {r} (line integrals)", "gray"),
        (image, f"slice {r}, axis at column {axis:.2f} ({label})", "gray"),
    ]
    for ax, (data, title, cmap) in zip(axes, panels, strict=True):
        lo, hi = np.percentile(data, [0.5, 99.5])
        flat = data.shape[0] < data.shape[1] / 4  # few rows (or a sinogram): stretch to be readable
        shown = ax.imshow(
            data, cmap=cmap, vmin=lo, vmax=hi, aspect="auto" if flat or data is sinogram else "equal"
        )
        ax.set_title(title, fontsize=10)
        fig.colorbar(shown, ax=ax, shrink=0.8)
    axes[1].axvline(axis, color="tab:red", lw=0.8, alpha=0.7)
    axes[1].set_xlabel("column")
    axes[1].set_ylabel("projection")
    fig.suptitle(str(scan_path), fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    console.print(f"rotation axis: column {axis:.2f} ({label}); wrote {out}", soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``reconstruct`` and ``preview`` to the ``xrai`` app."""
    app.command("reconstruct")(reconstruct_command)
    app.command("preview")(preview_command)
