"""Data Exchange (DXchange, APS) HDF5 scans: ``/exchange/data``, ``data_white``, ``data_dark``, ``theta``.

Layout read (De Carlo et al. 2014, "Scientific data exchange: a schema for HDF5-based storage of raw and analyzed
data", J. Synchrotron Rad. 21, 1224, doi:10.1107/S160057751401604X)::

    /exchange/data        [angle, row, col]   projections
    /exchange/data_white  [n_flats, row, col] flats (open beam)
    /exchange/data_dark   [n_darks, row, col] darks
    /exchange/theta       [angle]             rotation angles, degrees unless its ``units`` attribute says radians

Instrument numbers are read where present (``/measurement/instrument/...``): the monochromator energy, the
detector or objective pixel size and the sample-detector distance, each converted from its ``units`` attribute.

Examples
--------
>>> from xrai.io import read_dxchange
>>> with read_dxchange("/work/shared/data/real/tooth.h5") as scan:  # doctest: +SKIP
...     scan.shape
(181, 2, 640)
"""

from __future__ import annotations

import os

import numpy as np

from xrai.errors import DataError
from xrai.io._hdf5 import angles_to_rad, attr_str, dataset, open_hdf5, read_quantity
from xrai.io._lazy import HDF5Stack, check_numeric_dtype
from xrai.io.scan import Scan

__all__ = ["read_dxchange"]

_PIXEL_PATHS = (
    "measurement/instrument/detection_system/objective/resolution",
    "measurement/instrument/detector/actual_pixel_size_x",
    "measurement/instrument/detector/pixel_size_x",
    "measurement/instrument/detector/pixel_size",
)
_ENERGY_PATHS = ("measurement/instrument/monochromator/energy", "measurement/instrument/source/energy")
_DISTANCE_PATHS = (
    "measurement/instrument/camera_motor_stack/setup/camera_distance",
    "measurement/instrument/detector/distance",
)


def read_dxchange(
    path: str | os.PathLike[str],
    *,
    require_references: bool = True,
    angles_rad: np.ndarray | None = None,
) -> Scan:
    """Read a DXchange HDF5 scan lazily.

    Parameters
    ----------
    path
        The ``.h5`` file.
    require_references
        Raise :class:`DataError` if ``data_white`` or ``data_dark`` is missing (``False``: read without them).
    angles_rad
        Angles (rad) to use when the file has no ``/exchange/theta`` (then required).

    Returns
    -------
    Scan
        ``projections`` = ``/exchange/data``, ``flats`` = ``data_white``, ``darks`` = ``data_dark``; no flat
        positions (DXchange does not say when the flats were taken).
    """
    source = os.fspath(path)
    f = open_hdf5(source)
    try:
        if "exchange" not in f:
            raise DataError(f"{source}: no /exchange group; not a DXchange file")
        data = dataset(f, "exchange/data", source=source)
        check_numeric_dtype(data.dtype, source=f"{source}:/exchange/data")
        if data.ndim != 3:
            raise DataError(f"{source}: /exchange/data has shape {data.shape}; expected [angle, row, col]")
        refs: dict[str, HDF5Stack | None] = {}
        for name in ("data_white", "data_dark"):
            if name in f["exchange"]:
                ds = dataset(f, f"exchange/{name}", source=source)
                check_numeric_dtype(ds.dtype, source=f"{source}:/exchange/{name}")
                if ds.ndim == 2:
                    raise DataError(
                        f"{source}: /exchange/{name} is 2-D {ds.shape}; expected [frame, row, col]"
                    )
                refs[name] = HDF5Stack(ds, source=f"{source}:/exchange/{name}")
            elif require_references:
                raise DataError(f"{source}: dataset /exchange/{name} not found; flat-field correction needs it "
                                f"(pass require_references=False to read without)")  # fmt: skip
            else:
                refs[name] = None
        if "theta" in f["exchange"]:
            theta_ds = dataset(f, "exchange/theta", source=source)
            try:
                theta_raw = np.asarray(theta_ds[()], dtype=np.float64)
            except (OSError, TypeError, ValueError) as exc:
                raise DataError(f"{source}: /exchange/theta cannot be read as numbers: {exc}") from exc
            theta = angles_to_rad(
                theta_raw, attr_str(theta_ds, "units"), source=source, path="/exchange/theta"
            )
        elif angles_rad is not None:
            theta = np.asarray(angles_rad, dtype=np.float64)
        else:
            raise DataError(f"{source}: dataset /exchange/theta not found; pass angles_rad=")
        if theta.size != data.shape[0]:
            raise DataError(
                f"{source}: /exchange/theta has {theta.size} angles but /exchange/data has {data.shape[0]} frames"
            )
        meta = {
            "pixel_size_m": read_quantity(
                f, _PIXEL_PATHS, name="pixel_size_m", default_unit="m", source=source
            ),
            "energy_kev": read_quantity(
                f, _ENERGY_PATHS, name="energy_kev", default_unit="keV", source=source
            ),
            "distance_m": read_quantity(
                f, _DISTANCE_PATHS, name="distance_m", default_unit="mm", source=source
            ),
        }
        scan = Scan(
            projections=HDF5Stack(data, source=f"{source}:/exchange/data"),
            flats=refs["data_white"],
            darks=refs["data_dark"],
            angles_rad=theta,
            source=source,
            format="dxchange",
            **meta,  # type: ignore[arg-type]
        )
    except BaseException:
        f.close()
        raise
    scan._closers.append(f.close)
    return scan
