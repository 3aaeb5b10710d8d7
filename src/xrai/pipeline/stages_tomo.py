"""Pipeline stages that turn a scan file into a reconstructed volume (and the small previews of it).

Each stage is a pure module-level function ``stage(inputs, **params) -> StageOutput`` so it can run in a worker
process or on a Dask worker. Large raw data never enters the knowledge base: the ``scan`` stage records where
the file is and a fingerprint of its content; ``reconstruct`` reads the file again, by slabs of rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from xrai.errors import DataError
from xrai.pipeline.stages import StageOutput

__all__ = ["file_fingerprint", "preview_images", "stage_preview", "stage_reconstruct", "stage_scan"]

_EDGE_BYTES = 1 << 20


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """A cheap content fingerprint of a scan file or folder: BLAKE3 over sizes and the first/last MiB.

    Hashing a 30 GB scan completely would cost more than reconstructing it; sizes plus both ends catch a
    rewritten, truncated or appended file. For a folder (TIFF stacks) every file's name and size count.
    """
    import blake3

    digest = blake3.blake3()
    root = Path(path)
    if not root.exists():
        raise DataError(f"scan {os.fspath(path)!r} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root) if root.is_dir() else file.name}:{size};".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(_EDGE_BYTES))
            if size > 2 * _EDGE_BYTES:
                handle.seek(size - _EDGE_BYTES)
                digest.update(handle.read(_EDGE_BYTES))
    return digest.hexdigest()


def stage_scan(inputs: dict[str, StageOutput], *, path: str, fingerprint: str) -> StageOutput:
    """Open the scan, check it, and record its geometry and metadata (no pixel data is stored)."""
    from xrai.io import read_scan

    scan = read_scan(path)
    try:
        n_angles, n_rows, n_cols = scan.projections.shape
        if scan.flats is None:
            raise DataError(f"{path}: the scan has no flat fields; flat-field correction needs them")
        angles = np.asarray(scan.angles_rad, dtype=np.float64)
        metadata: dict[str, Any] = {
            "path": os.fspath(path),
            "format": scan.format,
            "fingerprint": fingerprint,
            "n_angles": int(n_angles),
            "n_rows": int(n_rows),
            "n_cols": int(n_cols),
            "n_flats": int(scan.flats.shape[0]),
            "n_darks": 0 if scan.darks is None else int(scan.darks.shape[0]),
            "angular_range_deg": float(np.degrees(np.ptp(angles))) if angles.size > 1 else 0.0,
            "pixel_size_m": scan.pixel_size_m,
            "energy_kev": scan.energy_kev,
            "distance_m": scan.distance_m,
            "specimen": dict(scan.configuration.get("specimen", {})),
            "bytes": int(n_angles * n_rows * n_cols * np.dtype(scan.projections.dtype).itemsize),
        }
        return StageOutput(metadata=metadata)
    finally:
        scan.close()


def stage_reconstruct(
    inputs: dict[str, StageOutput],
    *,
    center: float | str = "auto",
    rings: str = "sorting",
    ring_size: int | None = None,
    filter_name: str = "shepp-logan",
    paganin_delta_beta: float = 0.0,
    energy_kev: float | None = None,
) -> StageOutput:
    """Flat-field correct, remove rings, find the centre, retrieve phase (optional), and reconstruct by FBP.

    The result is the linear attenuation coefficient μ in 1/m when the scan knows its pixel size (else per
    pixel). Alongside the volume the output holds a corrected projection and the middle sinogram (for the
    report) and the centre with its confidence.
    """
    from xrai.io import read_scan
    from xrai.tomo import find_center, flat_field_correct, minus_log, reconstruct_fbp, remove_rings

    meta = inputs["scan"].metadata
    scan = read_scan(meta["path"])
    try:
        projections = np.asarray(scan.projections[:], dtype=np.float32)
        flats = np.asarray(scan.flats[:], dtype=np.float32) if scan.flats is not None else None
        darks = np.asarray(scan.darks[:], dtype=np.float32) if scan.darks is not None else None
        transmission = flat_field_correct(
            projections, flats, darks, flat_positions=scan.flat_positions, reduce="median"
        )
        angles = np.asarray(scan.angles_rad, dtype=np.float64)
        pixel_size_m = scan.pixel_size_m
        distance_m = scan.distance_m
        energy = energy_kev if energy_kev is not None else scan.energy_kev
    finally:
        scan.close()
    if paganin_delta_beta > 0:
        from xrai.tomo import retrieve_phase_paganin

        if pixel_size_m is None or distance_m is None or energy is None:
            raise DataError(
                f"{meta['path']}: Paganin phase retrieval needs pixel size, distance and energy; the scan gives "
                f"pixel_size_m={pixel_size_m}, distance_m={distance_m}, energy_kev={energy}"
            )
        sinograms = retrieve_phase_paganin(
            transmission, delta_beta=paganin_delta_beta, energy_kev=energy, distance_m=distance_m,
            pixel_size_m=pixel_size_m, output="attenuation",
        )  # fmt: skip
    else:
        sinograms = minus_log(transmission)
    if rings == "sorting":
        # Vo et al.'s median window: ~1/10 of the detector width, odd, 5..21 px (21 suits wide detectors only)
        size = ring_size or int(np.clip(sinograms.shape[-1] // 10 | 1, 5, 21))
        sinograms = remove_rings(sinograms, method="sorting", size=size)
    elif rings != "none":
        sinograms = remove_rings(sinograms, method=rings)
    if center == "auto":
        found = find_center(sinograms, angles_rad=angles, method="auto")
        center_col, confidence, method = float(found.center), float(found.confidence), found.method
    else:
        center_col, confidence, method = float(center), 1.0, "given"
    volume = reconstruct_fbp(
        sinograms, angles_rad=angles, center=center_col, filter_name=filter_name, pixel_size_m=pixel_size_m,
        progress=False,
    )  # fmt: skip
    volume = np.asarray(volume, dtype=np.float32)
    middle = sinograms.shape[1] // 2
    return StageOutput(
        arrays={
            "volume": volume,
            "projection": np.asarray(transmission[0], dtype=np.float32),
            "sinogram": np.asarray(sinograms[:, middle, :], dtype=np.float32),
        },
        metadata={
            "center_col": center_col,
            "center_confidence": confidence,
            "center_method": method,
            "units": "1/m" if pixel_size_m else "1/pixel",
            "voxel_size_m": pixel_size_m,
            "mean_mu": float(volume.mean()),
        },
    )


def preview_images(volume: np.ndarray, labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Small 2-D views of a volume: the middle axial slice, a longitudinal slice and the maximum-intensity
    projection (and the labels on the longitudinal slice)."""
    z, y = volume.shape[0] // 2, volume.shape[1] // 2
    views = {
        "slice": volume[z],
        "longitudinal": volume[:, y, :],
        "mip": volume.max(axis=1),
    }
    if labels is not None:
        views["labels"] = labels[:, y, :]
    return views


def stage_preview(inputs: dict[str, StageOutput]) -> StageOutput:
    """Small 2-D views for the report: corrected projection, sinogram, slices, MIP, label overlay."""
    recon = inputs["reconstruct"]
    labels = inputs["segment"].arrays["labels"] if "segment" in inputs else None
    views = preview_images(recon.arrays["volume"], labels)
    views["projection"] = recon.arrays["projection"]
    views["sinogram"] = recon.arrays["sinogram"]
    return StageOutput(arrays={k: np.ascontiguousarray(v) for k, v in views.items()})
