"""NeXus NXtomo (HDF5): read any NXtomo-like scan lazily, write one frame block at a time.

Layout written (NeXus application definition NXtomo, https://manual.nexusformat.org/classes/applications/NXtomo.html)::

    /entry                              NXentry   attrs: default="data", xrai_complete=0|1, xrai_n_frames
      definition = "NXtomo"
      title, start_time, end_time
      configuration                     NXnote    type="application/json", data=<JSON string>
      beam/incident_energy              NXbeam    (keV)
      instrument                        NXinstrument
        source                          NXsource  type, probe="x-ray"
        detector                        NXdetector
          data [frame, row, col]        chunked, resizable along frames
          image_key [frame]             0 projection, 1 flat, 2 dark (3 invalid)
          x_pixel_size, y_pixel_size    (m)  effective, sample-plane pixel size
          distance                      (m)  sample-to-detector distance
      sample                            NXsample
        name
        rotation_angle [frame]          (degree), as NeXus requires
      data                              NXdata    links to detector/data, image_key, sample/rotation_angle

The writer (:class:`NXtomoWriter`) appends frames as they come (a simulator or an acquisition loop), flushes
after every chunk, and sets ``/entry@xrai_complete = 1`` only when closed normally. A file whose writer crashed
or was killed therefore reads as truncated (:class:`~xrai.errors.DataError`) unless ``allow_incomplete=True``.

The reader also understands Diamond-style NeXus files (data and angles behind HDF5 external links, the detector
group not called ``detector``, angles in an ``NXdata`` axis such as ``gts_theta_value``).

Examples
--------
>>> import numpy as np, tempfile, os
>>> from xrai.io import NXtomoWriter, read_nxtomo
>>> path = os.path.join(tempfile.mkdtemp(), "scan.nxs")
>>> with NXtomoWriter(path, frame_shape=(4, 6), dtype="uint16", pixel_size_m=1e-6, energy_kev=20.0) as w:
...     w.write_darks(np.zeros((2, 4, 6)))
...     w.write_flats(np.full((3, 4, 6), 1000))
...     w.write_projections(np.full((5, 4, 6), 500), angles_rad=np.linspace(0, np.pi, 5, endpoint=False))
>>> with read_nxtomo(path) as scan:
...     scan.shape, scan.flats.shape, scan.energy_kev
((5, 4, 6), (3, 4, 6), 20.0)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, DataError, check_range
from xrai.io._hdf5 import angles_to_rad, attr_str, dataset, open_hdf5, read_quantity, read_str
from xrai.io._lazy import HDF5Stack, check_numeric_dtype
from xrai.io.scan import Scan, parse_configuration

__all__ = ["IMAGE_KEY_DARK", "IMAGE_KEY_FLAT", "IMAGE_KEY_INVALID", "IMAGE_KEY_PROJECTION", "NXtomoWriter",
           "read_nxtomo", "write_nxtomo"]  # fmt: skip

IMAGE_KEY_PROJECTION = 0
IMAGE_KEY_FLAT = 1
IMAGE_KEY_DARK = 2
IMAGE_KEY_INVALID = 3

_COMPLETE_ATTR = "xrai_complete"
_NFRAMES_ATTR = "xrai_n_frames"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _cast_frames(
    frames: npt.ArrayLike, dtype: np.dtype[Any], frame_shape: tuple[int, int], path: str
) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != frame_shape:
        raise DataError(f"{path}: frames of shape {arr.shape} do not match frame_shape {frame_shape}")
    check_numeric_dtype(arr.dtype, source=f"{path}: frames")
    if dtype.kind in "iu" and arr.dtype != dtype:
        info = np.iinfo(dtype)
        if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < info.min or arr.max() > info.max):
            raise DataError(
                f"{path}: frame values [{arr.min()}, {arr.max()}] do not fit the file dtype {dtype} "
                f"([{info.min}, {info.max}]); clip them or choose another dtype"
            )
        if arr.dtype.kind == "f":
            arr = np.rint(arr)
    return arr.astype(dtype, copy=False)


class NXtomoWriter:
    """Write an NXtomo file frame block by frame block; a context manager that marks the file complete on exit.

    Parameters
    ----------
    path
        Output file (``.nxs``). An existing file is refused unless ``overwrite=True``.
    frame_shape
        ``(n_rows, n_cols)`` of every frame.
    dtype
        Stored dtype of the frames (``"uint16"`` for camera counts, ``"float32"`` for simulated intensities).
        Integer dtypes reject values that do not fit instead of wrapping them.
    pixel_size_m, energy_kev, distance_m
        Effective pixel size (m), photon energy (keV) and sample-to-detector distance (m); ``None`` = not written.
    configuration
        Free metadata (a JSON-serialisable ``dict`` or a JSON string), stored in ``/entry/configuration``.
    expected_frames
        If given, closing with a different number of frames written raises :class:`DataError` and leaves the
        file marked incomplete.
    frames_per_chunk
        Frames per HDF5 chunk (and per write: frames are buffered until a chunk is full).
    rows_per_chunk
        Rows per HDF5 chunk; ``None`` chooses about 1 MiB chunks, so a slab of rows reads little more than it
        needs.
    compression
        ``None`` (fastest), ``"gzip"`` or ``"lzf"``.
    title, sample_name
        Free text.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        frame_shape: tuple[int, int],
        dtype: Any = "uint16",
        pixel_size_m: float | None = None,
        energy_kev: float | None = None,
        distance_m: float | None = None,
        configuration: dict[str, Any] | str | None = None,
        expected_frames: int | None = None,
        frames_per_chunk: int = 8,
        rows_per_chunk: int | None = None,
        compression: str | None = None,
        title: str = "",
        sample_name: str = "",
        overwrite: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        if len(frame_shape) != 2:
            raise ConfigError(f"frame_shape = {frame_shape!r} is not allowed: must be (n_rows, n_cols)")
        rows, cols = (int(frame_shape[0]), int(frame_shape[1]))
        check_range("frame_shape[0]", rows, low=1)
        check_range("frame_shape[1]", cols, low=1)
        self.frame_shape = (rows, cols)
        self.dtype = check_numeric_dtype(dtype, source=f"{self.path}: dtype")
        check_range("frames_per_chunk", frames_per_chunk, low=1)
        if compression not in (None, "gzip", "lzf"):
            raise ConfigError(f"compression = {compression!r} is not allowed: must be None, 'gzip' or 'lzf'")
        for name, value in (
            ("pixel_size_m", pixel_size_m),
            ("energy_kev", energy_kev),
            ("distance_m", distance_m),
        ):
            if value is not None:
                check_range(name, value, low=0, low_inclusive=name == "distance_m")
        if expected_frames is not None:
            check_range("expected_frames", expected_frames, low=0)
        if isinstance(configuration, str):
            parse_configuration(configuration, source=f"{self.path}: configuration")
            config_text = configuration
        elif configuration is None:
            config_text = "{}"
        else:
            try:
                config_text = json.dumps(configuration, sort_keys=True)
            except TypeError as exc:
                raise ConfigError(f"configuration is not JSON-serialisable: {exc}") from exc
        if Path(self.path).exists() and not overwrite:
            raise DataError(f"{self.path}: file exists; pass overwrite=True to replace it")
        if rows_per_chunk is None:
            rows_per_chunk = max(1, (1 << 20) // max(1, frames_per_chunk * cols * self.dtype.itemsize))
        chunks = (int(frames_per_chunk), min(rows, int(rows_per_chunk)), cols)

        import h5py

        self._frames_per_chunk = int(frames_per_chunk)
        self._expected = expected_frames
        self._buffer: list[np.ndarray] = []
        self._buffer_keys: list[np.ndarray] = []
        self._buffer_angles: list[np.ndarray] = []
        self._n_flushed = 0
        self._closed = False
        try:
            self._file = h5py.File(self.path, "w")
        except OSError as exc:
            raise DataError(f"{self.path}: cannot create file: {exc}") from exc
        f = self._file
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        entry.attrs[_COMPLETE_ATTR] = 0
        entry.attrs[_NFRAMES_ATTR] = 0
        entry.attrs["xrai_writer"] = "xrai.io.nxtomo.NXtomoWriter"
        f.attrs["default"] = "entry"
        entry["definition"] = "NXtomo"
        entry["title"] = title
        entry["start_time"] = _now()
        note = entry.create_group("configuration")
        note.attrs["NX_class"] = "NXnote"
        note["type"] = "application/json"
        note["data"] = config_text
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        source = instrument.create_group("source")
        source.attrs["NX_class"] = "NXsource"
        source["type"] = "Synchrotron X-ray Source"
        source["probe"] = "x-ray"
        det = instrument.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"
        self._data = det.create_dataset(
            "data", shape=(0, rows, cols), maxshape=(None, rows, cols), dtype=self.dtype, chunks=chunks,
            compression=compression,
        )  # fmt: skip
        self._data.attrs["interpretation"] = "image"
        self._keys = det.create_dataset(
            "image_key", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(4096,)
        )
        if pixel_size_m is not None:
            for axis in ("x", "y"):
                ds = det.create_dataset(f"{axis}_pixel_size", data=float(pixel_size_m))
                ds.attrs["units"] = "m"
        if distance_m is not None:
            ds = det.create_dataset("distance", data=float(distance_m))
            ds.attrs["units"] = "m"
        if energy_kev is not None:
            beam = entry.create_group("beam")
            beam.attrs["NX_class"] = "NXbeam"
            ds = beam.create_dataset("incident_energy", data=float(energy_kev))
            ds.attrs["units"] = "keV"
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["name"] = sample_name
        self._angles = sample.create_dataset(
            "rotation_angle", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(4096,)
        )
        self._angles.attrs["units"] = "degree"
        nxdata = entry.create_group("data")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata.attrs["signal"] = "data"
        nxdata.attrs["axes"] = np.array(["rotation_angle", ".", "."], dtype=h5py.string_dtype())
        nxdata.attrs["rotation_angle_indices"] = 0
        nxdata["data"] = self._data
        nxdata["image_key"] = self._keys
        nxdata["rotation_angle"] = self._angles
        f.flush()

    # -- writing --------------------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Frames written so far (including buffered ones)."""
        return self._n_flushed + sum(int(b.shape[0]) for b in self._buffer)

    def write_frames(
        self, frames: npt.ArrayLike, *, image_key: int | npt.ArrayLike, angles_rad: float | npt.ArrayLike
    ) -> None:
        """Append frames ``[n, row, col]`` (or one ``[row, col]``) with their image keys and angles (rad)."""
        if self._closed:
            raise DataError(f"{self.path}: writer is closed")
        arr = _cast_frames(frames, self.dtype, self.frame_shape, self.path)
        n = arr.shape[0]
        keys = np.broadcast_to(np.asarray(image_key, dtype=np.int32), (n,)).copy()
        if not np.all(np.isin(keys, (0, 1, 2, 3))):
            raise ConfigError(f"image_key = {np.unique(keys).tolist()} is not allowed: must be 0, 1, 2 or 3")
        angles = np.broadcast_to(np.asarray(angles_rad, dtype=np.float64), (n,)).copy()
        if not np.all(np.isfinite(angles)):
            raise ConfigError("angles_rad contains NaN or inf")
        self._buffer.append(arr.copy() if arr.base is not None or arr is frames else arr)
        self._buffer_keys.append(keys)
        self._buffer_angles.append(angles)
        if sum(b.shape[0] for b in self._buffer) >= self._frames_per_chunk:
            self.flush()

    def write_projections(self, frames: npt.ArrayLike, *, angles_rad: float | npt.ArrayLike) -> None:
        """Append sample projections (``image_key`` 0) taken at ``angles_rad``."""
        self.write_frames(frames, image_key=IMAGE_KEY_PROJECTION, angles_rad=angles_rad)

    def write_flats(self, frames: npt.ArrayLike, *, angle_rad: float = 0.0) -> None:
        """Append open-beam images (``image_key`` 1)."""
        self.write_frames(frames, image_key=IMAGE_KEY_FLAT, angles_rad=angle_rad)

    def write_darks(self, frames: npt.ArrayLike, *, angle_rad: float = 0.0) -> None:
        """Append dark images (``image_key`` 2)."""
        self.write_frames(frames, image_key=IMAGE_KEY_DARK, angles_rad=angle_rad)

    def flush(self) -> None:
        """Write buffered frames to the file and flush it (the file stays marked incomplete)."""
        if not self._buffer:
            return
        block = np.concatenate(self._buffer, axis=0)
        keys = np.concatenate(self._buffer_keys)
        angles = np.concatenate(self._buffer_angles)
        a, b = self._n_flushed, self._n_flushed + block.shape[0]
        try:
            for ds in (self._data, self._keys, self._angles):
                ds.resize(b, axis=0)
            self._data[a:b] = block
            self._keys[a:b] = keys
            self._angles[a:b] = np.rad2deg(angles)
            self._file["entry"].attrs[_NFRAMES_ATTR] = b
            self._file.flush()
        except OSError as exc:
            raise DataError(f"{self.path}: cannot write frames {a}..{b} (disk full?): {exc}") from exc
        self._n_flushed = b
        self._buffer, self._buffer_keys, self._buffer_angles = [], [], []

    def close(self, *, complete: bool = True) -> None:
        """Flush, mark the file complete (unless ``complete=False`` or frames are missing) and close it."""
        if self._closed:
            return
        try:
            self.flush()
            entry = self._file["entry"]
            short = self._expected is not None and self._n_flushed != self._expected
            if complete and not short:
                entry["end_time"] = _now()
                entry.attrs[_COMPLETE_ATTR] = 1
            self._file.flush()
        finally:
            self._closed = True
            self._file.close()
        if complete and short:
            raise DataError(
                f"{self.path}: {self._n_flushed} frames written, {self._expected} expected; file left marked incomplete"
            )

    def __enter__(self) -> NXtomoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close(complete=exc_type is None)


def write_nxtomo(
    path: str | os.PathLike[str],
    projections: npt.ArrayLike,
    *,
    angles_rad: npt.ArrayLike,
    flats: npt.ArrayLike | None = None,
    darks: npt.ArrayLike | None = None,
    flats_after: npt.ArrayLike | None = None,
    dtype: Any = None,
    **options: Any,
) -> None:
    """Write a whole scan at once: darks, flats, projections, then ``flats_after`` (the usual acquisition order).

    ``dtype`` defaults to the projections' dtype; other keyword arguments go to :class:`NXtomoWriter`.
    """
    proj = np.asarray(projections)
    if proj.ndim != 3:
        raise DataError(f"{os.fspath(path)}: projections must be [angle, row, col], got shape {proj.shape}")
    with NXtomoWriter(path, frame_shape=proj.shape[1:], dtype=dtype or proj.dtype, **options) as w:
        if darks is not None:
            w.write_darks(darks)
        if flats is not None:
            w.write_flats(flats)
        w.write_projections(proj, angles_rad=angles_rad)
        if flats_after is not None:
            w.write_flats(flats_after, angle_rad=float(np.asarray(angles_rad).reshape(-1)[-1]))


# -- reading --------------------------------------------------------------------------------------------------


def _nx_class(obj: Any) -> str | None:
    return attr_str(obj, "NX_class")


def _find_entry(f: Any, entry: str | None, source: str) -> Any:
    import h5py

    if entry is not None:
        if entry not in f or not isinstance(f[entry], h5py.Group):
            raise DataError(f"{source}: no group {entry!r}")
        return f[entry]
    groups = []
    for k in f:
        try:
            g = f[k]
        except (KeyError, OSError):
            continue
        if isinstance(g, h5py.Group):
            groups.append(g)
    entries = [g for g in groups if _nx_class(g) == "NXentry"] or groups
    for g in entries:
        if read_str(g, "definition") == "NXtomo":
            return g
    for g in entries:
        if "instrument" in g:
            return g
    raise DataError(f"{source}: no NXentry with an NXtomo layout found")


def _find_detector(entry: Any, source: str) -> tuple[Any, Any, str]:
    """(data dataset, image_key dataset, detector group path) of the first detector whose data opens."""
    import h5py

    candidates: list[str] = []
    if "instrument" in entry:
        inst = entry["instrument"]
        if "detector" in inst:
            candidates.append(f"{inst.name}/detector")
        for k in inst:
            try:
                g = inst[k]
            except (KeyError, OSError):
                continue
            if (
                isinstance(g, h5py.Group)
                and _nx_class(g) == "NXdetector"
                and f"{inst.name}/{k}" not in candidates
            ):
                candidates.append(f"{inst.name}/{k}")
    errors: list[str] = []
    f = entry.file
    for path in candidates:
        g = f[path]
        if "data" not in g.keys() or "image_key" not in g:  # noqa: SIM118 (a broken link is "not in g")
            continue
        try:
            data = dataset(f, f"{path}/data", source=source)
        except DataError as exc:
            errors.append(str(exc))
            continue
        if data.ndim != 3:
            continue
        return data, dataset(f, f"{path}/image_key", source=source), path
    detail = ("; ".join(errors)) if errors else "no NXdetector group with 'data' and 'image_key'"
    raise DataError(f"{source}: no readable detector data in {entry.name}/instrument: {detail}")


_ANGLE_HINTS = ("rotation_angle", "theta", "angle", "rot", "omega")


def _find_angles(entry: Any, n_frames: int, source: str) -> tuple[np.ndarray, str]:
    """Rotation angles (rad) for every frame, from ``sample/rotation_angle`` or an NXdata axis."""
    import h5py

    f = entry.file
    tried: list[str] = []
    paths: list[str] = []
    if "sample" in entry and "rotation_angle" in entry["sample"]:
        paths.append(f"{entry.name}/sample/rotation_angle")
    # NXdata groups: datasets used as axis 0 of the signal (axes attribute or <name>_indices == 0)
    for k in entry:
        try:
            g = entry[k]
        except (KeyError, OSError):
            continue
        if not (isinstance(g, h5py.Group) and _nx_class(g) == "NXdata"):
            continue
        names: list[str] = []
        axes = g.attrs.get("axes")
        if axes is not None:
            axes_list = [a.decode() if isinstance(a, bytes) else str(a) for a in np.atleast_1d(axes)]
            if axes_list and axes_list[0] != ".":
                names.append(axes_list[0])
        for attr, value in g.attrs.items():
            if attr.endswith("_indices") and np.atleast_1d(value).tolist() == [0]:
                names.append(attr[: -len("_indices")])
        names.sort(key=lambda s: not any(h in s.lower() for h in _ANGLE_HINTS))
        paths.extend(f"{g.name}/{name}" for name in names if any(h in name.lower() for h in _ANGLE_HINTS))
    for path in paths:
        try:
            ds = f[path]
            values = np.asarray(ds[()], dtype=np.float64).reshape(-1)
        except (KeyError, OSError, TypeError, ValueError) as exc:
            tried.append(f"{path} ({exc})")
            continue
        if values.size != n_frames:
            tried.append(f"{path} (length {values.size} != {n_frames} frames)")
            continue
        return angles_to_rad(values, attr_str(ds, "units"), source=source, path=path), path
    detail = "; ".join(tried) if tried else "no sample/rotation_angle and no angle axis in an NXdata group"
    raise DataError(f"{source}: cannot find the rotation angles: {detail}")


def read_nxtomo(
    path: str | os.PathLike[str],
    *,
    entry: str | None = None,
    allow_incomplete: bool = False,
    require_references: bool = True,
) -> Scan:
    """Read an NXtomo scan lazily.

    Parameters
    ----------
    path
        The NeXus file. External links (e.g. Diamond's ``.nxs`` pointing to per-detector ``.h5`` files) are
        followed relative to the file's folder.
    entry
        The NXentry to read; default: the first with ``definition = "NXtomo"``, else the first NXentry.
    allow_incomplete
        Read a file whose xrai writer did not finish (a live or crashed acquisition) instead of raising.
    require_references
        Raise :class:`DataError` if the scan has no flats or no darks (set ``False`` for pre-corrected data).

    Returns
    -------
    Scan
        Frames with ``image_key`` 0 are the projections, 1 the flats (with ``flat_positions``), 2 the darks;
        key 3 (invalid) frames are skipped. Angles are converted from the stored unit (degrees by NeXus
        default) to radians.
    """
    source = os.fspath(path)
    f = open_hdf5(source)
    try:
        grp = _find_entry(f, entry, source)
        complete = grp.attrs.get(_COMPLETE_ATTR, None)
        if complete is not None and int(complete) == 0 and not allow_incomplete:
            n = int(grp.attrs.get(_NFRAMES_ATTR, -1))
            raise DataError(
                f"{source}: truncated scan: its writer did not finish ({grp.name}@{_COMPLETE_ATTR} = 0, "
                f"{n} frames written); pass allow_incomplete=True to read what is there"
            )
        data, keys_ds, det_path = _find_detector(grp, source)
        try:
            keys = np.asarray(keys_ds[()]).reshape(-1)
        except OSError as exc:
            raise DataError(f"{source}: {keys_ds.name} cannot be read: {exc}") from exc
        if keys.dtype.kind not in "iu":
            raise DataError(f"{source}: {keys_ds.name} has dtype {keys.dtype}, expected integers 0/1/2/3")
        n_frames = data.shape[0]
        if keys.size != n_frames:
            if keys.size > n_frames and allow_incomplete:
                keys = keys[:n_frames]
            else:
                raise DataError(
                    f"{source}: {keys_ds.name} has {keys.size} entries but {det_path}/data has {n_frames} frames "
                    f"(truncated or inconsistent file)"
                )
        bad = np.setdiff1d(np.unique(keys), [0, 1, 2, 3])
        if bad.size:
            raise DataError(f"{source}: {keys_ds.name} holds values {bad.tolist()}; allowed 0, 1, 2, 3")
        check_numeric_dtype(data.dtype, source=f"{source}:{data.name}")
        angles_all, _ = _find_angles(grp, n_frames, source)
        proj_idx = np.flatnonzero(keys == IMAGE_KEY_PROJECTION)
        flat_idx = np.flatnonzero(keys == IMAGE_KEY_FLAT)
        dark_idx = np.flatnonzero(keys == IMAGE_KEY_DARK)
        if proj_idx.size == 0:
            raise DataError(f"{source}: no projections (image_key 0) in {keys_ds.name}")
        if require_references and (flat_idx.size == 0 or dark_idx.size == 0):
            missing = " and ".join(n for n, i in (("flats (image_key 1)", flat_idx), ("darks (image_key 2)", dark_idx))
                                   if i.size == 0)  # fmt: skip
            raise DataError(
                f"{source}: no {missing} in {keys_ds.name}; pass require_references=False to read anyway"
            )
        n_before = np.cumsum(keys == IMAGE_KEY_PROJECTION)
        flat_positions = n_before[flat_idx] - 0.5 if flat_idx.size else None
        src = f"{source}:{det_path}/data"
        scan = Scan(
            projections=HDF5Stack(data, proj_idx, source=f"{src} (image_key 0)"),
            flats=HDF5Stack(data, flat_idx, source=f"{src} (image_key 1)") if flat_idx.size else None,
            darks=HDF5Stack(data, dark_idx, source=f"{src} (image_key 2)") if dark_idx.size else None,
            angles_rad=angles_all[proj_idx],
            flat_positions=flat_positions,
            pixel_size_m=read_quantity(
                grp, ("instrument/detector/x_pixel_size", f"{det_path}/x_pixel_size", "sample/x_pixel_size"),
                name="pixel_size_m", default_unit="m", source=source,
            ),
            energy_kev=read_quantity(
                grp, ("beam/incident_energy", "instrument/beam/incident_energy", "instrument/monochromator/energy"),
                name="energy_kev", default_unit="keV", source=source,
            ),
            distance_m=read_quantity(
                grp, ("instrument/detector/distance", f"{det_path}/distance"),
                name="distance_m", default_unit="m", source=source,
            ),
            configuration=parse_configuration(
                read_str(grp, "configuration/data") or read_str(grp, "configuration"), source=source
            ),
            source=source,
            format="nxtomo",
        )  # fmt: skip
    except BaseException:
        f.close()
        raise
    scan._closers.append(f.close)
    return scan
