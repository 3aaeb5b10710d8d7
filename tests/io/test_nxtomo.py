"""NXtomo: write -> read round trips (Hypothesis), truncation and corruption detection, the Diamond scan."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrai.errors import ConfigError, DataError
from xrai.io import NXtomoWriter, read_nxtomo, read_scan, write_nxtomo

DIAMOND = Path("/work/shared/data/tomo_real/k11_diad/k11-18014.nxs")


@st.composite
def scans(draw: st.DrawFn) -> dict:
    rows = draw(st.integers(1, 9))
    cols = draw(st.integers(1, 11))
    n = draw(st.integers(1, 12))
    n_flats = draw(st.integers(1, 4))
    n_darks = draw(st.integers(1, 3))
    dtype = np.dtype(draw(st.sampled_from(["uint16", "uint8", "int32", "float32", "float64"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hi = 200 if dtype == np.uint8 else 60000

    def frames(k: int) -> np.ndarray:
        return rng.integers(0, hi, size=(k, rows, cols)).astype(dtype)

    angles = np.asarray(
        draw(st.lists(st.floats(-2 * np.pi, 4 * np.pi, allow_nan=False), min_size=n, max_size=n))
    )
    return {
        "projections": frames(n), "flats": frames(n_flats), "darks": frames(n_darks),
        "flats_after": frames(draw(st.integers(0, 2))), "angles_rad": angles, "dtype": dtype,
        "frames_per_chunk": draw(st.integers(1, 5)),
    }  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=scans())
def test_write_read_round_trip(tmp_path: Path, data: dict) -> None:
    path = tmp_path / f"scan_{os.getpid()}_{np.random.default_rng().integers(1 << 30)}.nxs"
    after = data["flats_after"] if data["flats_after"].shape[0] else None
    config = {"sample": "sphere", "n": [1, 2, 3], "nested": {"a": 1.5}}
    write_nxtomo(
        path, data["projections"], angles_rad=data["angles_rad"], flats=data["flats"], darks=data["darks"],
        flats_after=after, pixel_size_m=6.5e-7, energy_kev=21.5, distance_m=0.082, configuration=config,
        frames_per_chunk=data["frames_per_chunk"],
    )  # fmt: skip
    with read_nxtomo(path) as scan:
        assert scan.projections.dtype == data["dtype"]
        np.testing.assert_array_equal(np.asarray(scan.projections), data["projections"])
        np.testing.assert_array_equal(np.asarray(scan.darks), data["darks"])
        flats = data["flats"] if after is None else np.concatenate([data["flats"], after])
        np.testing.assert_array_equal(np.asarray(scan.flats), flats)
        np.testing.assert_allclose(scan.angles_rad, data["angles_rad"], rtol=1e-12, atol=1e-12)
        n = data["projections"].shape[0]
        expected_pos = [-0.5] * data["flats"].shape[0] + (
            [n - 0.5] * after.shape[0] if after is not None else []
        )
        np.testing.assert_array_equal(scan.flat_positions, expected_pos)
        assert scan.pixel_size_m == pytest.approx(6.5e-7)
        assert scan.energy_kev == pytest.approx(21.5)
        assert scan.distance_m == pytest.approx(0.082)
        assert scan.configuration == config
        # a slab of rows equals the same rows of the whole stack
        r1 = max(1, scan.n_rows // 2)
        np.testing.assert_array_equal(scan.projections_rows(0, r1), data["projections"][:, :r1])
        slab = scan.rows(0, r1)
        np.testing.assert_array_equal(np.asarray(slab.flats), flats[:, :r1])


def test_file_follows_nexus_layout(tmp_path: Path) -> None:
    path = tmp_path / "scan.nxs"
    write_nxtomo(path, np.ones((3, 2, 4), np.uint16), angles_rad=np.deg2rad([0, 60, 120]),
                 flats=np.full((1, 2, 4), 5, np.uint16), darks=np.zeros((1, 2, 4), np.uint16))  # fmt: skip
    with h5py.File(path) as f:
        assert f["entry"].attrs["NX_class"] == "NXentry"
        assert f["entry/definition"][()] == b"NXtomo"
        assert f["entry/instrument/detector"].attrs["NX_class"] == "NXdetector"
        np.testing.assert_array_equal(f["entry/instrument/detector/image_key"][()], [2, 1, 0, 0, 0])
        angle = f["entry/sample/rotation_angle"]
        assert angle.attrs["units"] == "degree"
        np.testing.assert_allclose(angle[2:], [0, 60, 120])
        assert f["entry/data/data"].shape == (5, 2, 4)
        assert int(f["entry"].attrs["xrai_complete"]) == 1


def test_writer_streams_frames_and_marks_completion(tmp_path: Path) -> None:
    path = tmp_path / "live.nxs"
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 4000, (7, 4, 5)).astype(np.uint16)
    w = NXtomoWriter(path, frame_shape=(4, 5), dtype="uint16", frames_per_chunk=2, expected_frames=9)
    w.write_darks(np.zeros((4, 5)))
    w.write_flats(np.full((4, 5), 4000))
    for i, frame in enumerate(frames):
        w.write_projections(frame, angles_rad=0.1 * i)
    w.flush()
    # while the writer is open, the file reads as truncated ...
    with pytest.raises(DataError, match=r"truncated scan.*xrai_complete = 0.*9 frames written"):
        read_nxtomo(path)
    # ... unless asked to read what is there
    with read_nxtomo(path, allow_incomplete=True) as scan:
        np.testing.assert_array_equal(np.asarray(scan.projections), frames)
    w.close()
    with read_nxtomo(path) as scan:
        np.testing.assert_allclose(scan.angles_rad, 0.1 * np.arange(7))


def test_crashed_writer_leaves_a_file_detected_as_truncated(tmp_path: Path) -> None:
    path = tmp_path / "crash.nxs"
    with pytest.raises(RuntimeError, match="simulator died"), NXtomoWriter(path, frame_shape=(3, 3)) as w:
        w.write_flats(np.ones((3, 3)))
        w.write_darks(np.zeros((3, 3)))
        w.write_projections(np.ones((2, 3, 3)), angles_rad=[0.0, 0.1])
        raise RuntimeError("simulator died")
    with pytest.raises(DataError, match=str(path)):
        read_scan(path)


def test_too_few_frames_for_expected_count(tmp_path: Path) -> None:
    path = tmp_path / "short.nxs"
    w = NXtomoWriter(path, frame_shape=(2, 2), expected_frames=10)
    w.write_projections(np.ones((3, 2, 2)), angles_rad=[0, 1, 2])
    with pytest.raises(DataError, match="3 frames written, 10 expected"):
        w.close()
    with pytest.raises(DataError, match="truncated"):
        read_nxtomo(path)


def test_byte_truncated_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.nxs"
    write_nxtomo(path, np.ones((20, 16, 16), np.uint16), angles_rad=np.zeros(20),
                 flats=np.ones((2, 16, 16), np.uint16), darks=np.zeros((2, 16, 16), np.uint16))  # fmt: skip
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.nxs.*(truncated|corrupt)"), read_scan(path) as scan:
        np.asarray(scan.projections)


def test_inconsistent_files_name_file_and_dataset(tmp_path: Path) -> None:
    path = tmp_path / "bad.nxs"
    write_nxtomo(path, np.ones((4, 2, 3), np.uint16), angles_rad=np.zeros(4),
                 flats=np.ones((1, 2, 3), np.uint16), darks=np.zeros((1, 2, 3), np.uint16))  # fmt: skip
    with h5py.File(path, "a") as f:
        keys = f["entry/instrument/detector/image_key"]
        keys.resize(5, axis=0)
    with pytest.raises(
        DataError,
        match=r"bad\.nxs: /entry/instrument/detector/image_key has 5 entries but .*detector/data has 6 frames",
    ):
        read_nxtomo(path)
    # missing flats
    path2 = tmp_path / "noflat.nxs"
    write_nxtomo(
        path2, np.ones((4, 2, 3), np.uint16), angles_rad=np.zeros(4), darks=np.zeros((1, 2, 3), np.uint16)
    )
    with pytest.raises(DataError, match=r"noflat\.nxs.*no flats \(image_key 1\).*image_key"):
        read_nxtomo(path2)
    with read_nxtomo(path2, require_references=False) as scan:
        assert scan.flats is None
        with pytest.raises(DataError, match="no flats"):
            scan.require_references()
    # wrong dtype
    path3 = tmp_path / "complex.nxs"
    with h5py.File(path3, "w") as f:
        e = f.create_group("entry")
        e.attrs["NX_class"] = "NXentry"
        e["definition"] = "NXtomo"
        d = e.create_group("instrument/detector")
        d.attrs["NX_class"] = "NXdetector"
        d["data"] = np.ones((2, 2, 2), np.complex64)
        d["image_key"] = np.array([0, 1])
        e["sample/rotation_angle"] = np.zeros(2)
    with pytest.raises(DataError, match=r"complex\.nxs:/entry/instrument/detector/data.*complex64"):
        read_nxtomo(path3, require_references=False)


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"frame_shape\[0\] = 0"):
        NXtomoWriter(tmp_path / "a.nxs", frame_shape=(0, 4))
    with NXtomoWriter(tmp_path / "b.nxs", frame_shape=(2, 2), dtype="uint8") as w:
        with pytest.raises(DataError, match=r"values \[0.0, 300.0\] do not fit the file dtype uint8"):
            w.write_projections(np.array([[0.0, 300.0], [1.0, 2.0]]), angles_rad=0.0)
        with pytest.raises(DataError, match=r"frames of shape \(1, 3, 3\) do not match frame_shape \(2, 2\)"):
            w.write_flats(np.ones((3, 3)))
        with pytest.raises(ConfigError, match=r"image_key = \[7\]"):
            w.write_frames(np.ones((2, 2)), image_key=7, angles_rad=0.0)
    with pytest.raises(DataError, match="file exists"):
        NXtomoWriter(tmp_path / "b.nxs", frame_shape=(2, 2))
    with pytest.raises(ConfigError, match="JSON"):
        NXtomoWriter(tmp_path / "c.nxs", frame_shape=(2, 2), configuration={"x": object()})


@pytest.mark.skipif(not DIAMOND.exists(), reason="Diamond K11 scan not available")
def test_reads_the_real_diamond_scan_through_external_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # external links resolve relative to the .nxs, not the working directory
    with read_scan(DIAMOND) as scan:
        assert scan.format == "nxtomo"
        assert scan.shape == (3001, 22, 26)
        assert scan.flats.shape == (100, 22, 26) and scan.darks.shape == (100, 22, 26)
        assert scan.projections.dtype == np.uint16
        # gts_theta runs 90 deg -> 270 deg
        assert np.rad2deg(scan.angles_rad[0]) == pytest.approx(90.0, abs=0.1)
        assert np.rad2deg(scan.angles_rad[-1]) == pytest.approx(270.0, abs=0.1)
        assert np.all(np.diff(scan.angles_rad) > 0)
        # 50 flats before the projections, 50 after
        assert np.unique(scan.flat_positions).tolist() == [-0.5, 3000.5]
        slab = scan.projections_rows(10, 12)
        with h5py.File(DIAMOND) as f:
            raw = f["entry/imaging/data"][100:3101, 10:12]
            keys = f["entry/instrument/imaging/image_key"][()]
        assert np.all(keys[100:3101] == 0)
        np.testing.assert_array_equal(slab, raw)
        flats = np.asarray(scan.flats, dtype=np.float64).mean()
        darks = np.asarray(scan.darks, dtype=np.float64).mean()
        assert flats > darks  # open beam is brighter than dark
