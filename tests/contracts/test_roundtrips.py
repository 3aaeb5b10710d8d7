"""Hypothesis round trips not covered elsewhere: units for every suffix, experiment → dict → TOML → experiment,
Zarr volumes, TIFF stacks, label files, and geometry → projector.

(NXtomo write → read and the KB put → get → verify have their own Hypothesis tests in ``tests/io`` and
``tests/kb``.)
"""

from __future__ import annotations

import math
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrai.testing import strategies as xst
from xrai.units import CANONICAL_UNITS, canonical_unit, to_canonical

FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=40, deadline=None)

# ----------------------------------------------------------------------------------------------------------------
# units
# ----------------------------------------------------------------------------------------------------------------

#: One parameter name per unit suffix of xrai.units (plural names share the singular's suffix).
NAMES = [f"value{suffix}" for suffix in CANONICAL_UNITS] + ["energies_kev", "angles_rad", "distances_m"]


@pytest.mark.parametrize("name", NAMES)
@SOME
@given(data=st.data())
def test_unit_strings_convert_to_the_canonical_value(name: str, data: st.DataObject) -> None:
    """ "12.5 mm" → 0.0125 for distance_m, checked against a factor table written independently of pint."""
    text, expected = data.draw(xst.unit_values(name))
    assert math.isclose(to_canonical(text, name=name), expected, rel_tol=1e-12), text


@pytest.mark.parametrize("name", NAMES)
@SOME
@given(value=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_subnormal=False))
def test_canonical_number_to_string_and_back_is_exact(name: str, value: float) -> None:
    """A canonical float written with its canonical unit reads back bit for bit."""
    text = f"{value!r} {canonical_unit(name).replace('**', '')}"
    assert to_canonical(text, name=name) == value


@SOME
@given(pairs=st.lists(xst.unit_values("energies_kev"), min_size=1, max_size=6))
def test_lists_of_unit_strings(pairs: list[tuple[str, float]]) -> None:
    converted = to_canonical([text for text, _ in pairs], name="energies_kev")
    np.testing.assert_allclose(converted, [value for _, value in pairs], rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# experiment configs: object → dict → TOML text → dict → object
# ----------------------------------------------------------------------------------------------------------------


def _toml_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value)
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(document: dict[str, Any]) -> str:
    """A minimal TOML writer: top-level scalars, then one ``[table]`` per section (nested dicts inline)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for section, table in document.items():
        if isinstance(table, dict):
            lines.append(f"\n[{_toml_key(section)}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@FEW
@given(experiment=xst.experiments())
def test_experiment_dict_toml_round_trip(experiment: Any) -> None:
    from xrai.physics.experiment import experiment_from_dict, experiment_to_dict

    data = experiment_to_dict(experiment)
    assert experiment_from_dict(data) == experiment
    text = to_toml(data)
    assert experiment_from_dict(tomllib.loads(text)) == experiment, text


def test_experiment_toml_file_round_trip(tmp_path: Path) -> None:
    from xrai.physics.experiment import experiment_to_dict, get_experiment, load_experiment

    for preset in ("wax-needle", "wax-needle-small", "cine-small"):
        experiment = get_experiment(preset)
        path = tmp_path / f"{preset}.toml"
        path.write_text(to_toml(experiment_to_dict(experiment)), encoding="utf-8")
        assert load_experiment(path) == experiment


@SOME
@given(scan=xst.scan_configs())
def test_scan_plans_count_every_frame(scan: Any) -> None:
    """The frame plan of any valid scan has every frame the scan asks for, one frame period or more apart."""
    from xrai.physics.acquisition import plan_frames

    plan = plan_frames(scan)
    counts = plan.counts()
    assert counts["projections"] == getattr(scan, "n_frames", None) or getattr(scan, "n_projections", None)
    assert counts["darks"] == scan.n_darks + scan.n_darks_after
    assert counts["flats"] >= scan.n_flats_before + scan.n_flats_after
    if not getattr(scan, "flat_every", 0):
        assert counts["flats"] == scan.n_flats_before + scan.n_flats_after
    assert sum(counts.values()) == plan.n_frames == plan.angles_rad.size == plan.times_s.size
    assert np.all(np.diff(plan.times_s) >= (1.0 / scan.frame_rate_hz) * (1 - 1e-9))


# ----------------------------------------------------------------------------------------------------------------
# arrays on disk
# ----------------------------------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])


@FEW
@given(
    volume=st.one_of(
        xst.volumes(max_side=9, dtype=np.float32, nonnegative=False),
        xst.label_volumes(max_side=9, dtype=np.uint16),
    ),
    data=st.data(),
)
def test_zarr_volume_round_trip(volume: np.ndarray, data: st.DataObject) -> None:
    from xrai.io.zarr_volume import read_volume_zarr, write_volume_zarr

    chunks = data.draw(st.none() | st.tuples(*[st.integers(1, n) for n in volume.shape]))
    voxel = data.draw(st.tuples(xst.pixel_sizes_m(), xst.pixel_sizes_m(), xst.pixel_sizes_m()))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v.zarr"
        write_volume_zarr(path, volume, voxel_size_m=voxel, chunks=chunks, attrs={"note": "round trip"})
        out = read_volume_zarr(path)
        assert out.shape == volume.shape and out.dtype == volume.dtype
        assert out.voxel_size_m == voxel and out.attrs["note"] == "round trip"
        np.testing.assert_array_equal(np.asarray(out), volume)


@FEW
@given(
    stack=xst.projection_stacks(
        max_angles=6, max_rows=7, max_cols=9, min_cols=1, dtype=np.float64, scale=200.0
    ),
    dtype=DTYPES,
    compression=st.sampled_from([None, "zlib"]),
    voxel=xst.pixel_sizes_m(),
)
def test_tiff_stack_round_trip(stack: np.ndarray, dtype: Any, compression: str | None, voxel: float) -> None:
    from xrai.io.tiff import read_tiff_stack, write_tiff_stack

    values = stack.astype(dtype)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_tiff_stack(values, folder, voxel_size_m=voxel, compression=compression)
        assert len(paths) == values.shape[0]
        out = read_tiff_stack(folder)
        assert out.shape == values.shape and out.dtype == values.dtype
        np.testing.assert_array_equal(np.asarray(out), values)


@FEW
@given(
    labels=xst.label_volumes(max_side=8, max_labels=4),
    suffix=st.sampled_from([".tif", ".zarr", ".nii.gz", ".npy"]),
    voxel=st.tuples(xst.pixel_sizes_m(), xst.pixel_sizes_m(), xst.pixel_sizes_m()),
    named=st.booleans(),
)
def test_label_file_round_trip(
    labels: np.ndarray, suffix: str, voxel: tuple[float, float, float], named: bool
) -> None:
    from xrai.ml.label_io import read_labels, write_labels

    names = [f"organ {i}" for i in range(int(labels.max()) + 1)] if named else None
    with tempfile.TemporaryDirectory() as folder:
        path = write_labels(Path(folder) / f"labels{suffix}", labels, voxel_size_m=voxel, label_names=names)
        out, voxel_out, names_out = read_labels(path)
    np.testing.assert_array_equal(out, labels)
    assert out.shape == labels.shape
    if suffix != ".npy":  # a bare .npy file carries no voxel size or names
        np.testing.assert_allclose(voxel_out, voxel, rtol=1e-6)
        assert names_out == names


def test_single_slice_tiff_labels(tmp_path: Path) -> None:
    from xrai.ml.label_io import read_labels, write_labels

    labels = np.array([[[0, 1, 2, 1], [2, 2, 0, 1], [1, 0, 0, 2]]], dtype=np.uint8)  # [1, 3, 4]
    out, _, _ = read_labels(write_labels(tmp_path / "one_slice.tif", labels, voxel_size_m=1e-6))
    np.testing.assert_array_equal(out, labels)


# ----------------------------------------------------------------------------------------------------------------
# geometry → operator
# ----------------------------------------------------------------------------------------------------------------


@SOME
@given(geometry=xst.parallel_geometries())
def test_projector_from_geometry_keeps_the_geometry(geometry: Any) -> None:
    from xrai.ops.projector import ParallelProjector

    op = ParallelProjector.from_geometry(geometry)
    assert op.projection_shape == geometry.projection_shape
    np.testing.assert_array_equal(op.angles_rad, geometry.angles_rad)
    assert op.center_col == geometry.rotation_center
    assert op.detector_spacing == 1.0
