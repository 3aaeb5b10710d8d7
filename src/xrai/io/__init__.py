"""xrai.io: scan and volume formats, read lazily and written in chunks.

Scans (all readers return a lazy :class:`Scan`; :func:`read_scan` picks the reader):

- :mod:`xrai.io.nxtomo`: NeXus NXtomo HDF5, read and write (:class:`NXtomoWriter` appends frames as they come).
- :mod:`xrai.io.dxchange`: APS Data Exchange HDF5 (``/exchange/data``, ``data_white``, ``data_dark``, ``theta``).
- :mod:`xrai.io.tiff`: TIFF stacks (projections plus flats/darks folders) in, TIFF stacks out.
- :mod:`xrai.io.edf`: ESRF EDF images and scans (through fabio).

Volumes: :mod:`xrai.io.zarr_volume` (chunked Zarr v3 with the voxel size), and TIFF stacks.

Names load on first use, so ``import xrai.io`` is cheap.
"""

from __future__ import annotations

from xrai._lazy import attach

#: public name -> module that defines it (add a line to export a new name)
_EXPORTS: dict[str, str] = {
    "Scan": "xrai.io.scan",
    "read_scan": "xrai.io.scan",
    "FrameStack": "xrai.io._lazy",
    "NXtomoWriter": "xrai.io.nxtomo",
    "read_nxtomo": "xrai.io.nxtomo",
    "write_nxtomo": "xrai.io.nxtomo",
    "read_dxchange": "xrai.io.dxchange",
    "read_tiff_scan": "xrai.io.tiff",
    "read_tiff_stack": "xrai.io.tiff",
    "write_tiff_stack": "xrai.io.tiff",
    "read_edf": "xrai.io.edf",
    "read_edf_scan": "xrai.io.edf",
    "read_edf_stack": "xrai.io.edf",
    "write_edf": "xrai.io.edf",
    "ZarrVolume": "xrai.io.zarr_volume",
    "create_volume_zarr": "xrai.io.zarr_volume",
    "read_volume_zarr": "xrai.io.zarr_volume",
    "write_volume_zarr": "xrai.io.zarr_volume",
}


__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
