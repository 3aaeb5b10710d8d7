"""xrai.tomo: tomographic processing of real or simulated scans.

Pre-processing: :func:`flat_field_correct`, :func:`minus_log`, :func:`remove_zingers` (:mod:`.flatfield`),
:func:`remove_rings` (:mod:`.rings`), :func:`retrieve_phase_paganin`, :func:`retrieve_phase_ctf` (:mod:`.phase`).
Reconstruction: :func:`reconstruct_fbp`, :func:`reconstruct_fdk`, :func:`reconstruct_to_zarr` (:mod:`.fbp`),
:func:`find_center` (:mod:`.center`), :func:`reconstruct_sirt`, :func:`reconstruct_cgls` (:mod:`.iterative`).

Names load on first use (``import xrai.tomo`` imports neither scipy nor torch). To export a new public name, add
one line to :data:`_EXPORTS`.
"""

from __future__ import annotations

from xrai._lazy import attach

#: public name -> submodule of xrai.tomo that defines it (one line per name)
_EXPORTS: dict[str, str] = {
    # pre-processing
    "flat_field_correct": "flatfield",
    "minus_log": "flatfield",
    "remove_zingers": "flatfield",
    "remove_rings": "rings",
    "remove_stripes_sorting": "rings",
    "remove_stripes_wavelet_fourier": "rings",
    "retrieve_phase_paganin": "phase",
    "retrieve_phase_ctf": "phase",
    "paganin_margin_px": "phase",
    "wavelength_m": "phase",
    # reconstruction
    "reconstruct_fbp": "fbp",
    "reconstruct_fdk": "fbp",
    "reconstruct_to_zarr": "fbp",
    "stitch_half_acquisition": "fbp",
    "fourier_filter": "fbp",
    "angular_weights": "fbp",
    "FILTERS": "fbp",
    "find_center": "center",
    "CenterResult": "center",
    "reconstruct_sirt": "iterative",
    "reconstruct_cgls": "iterative",
}


__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
