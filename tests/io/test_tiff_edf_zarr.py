"""TIFF stacks and scans, EDF (fabio), Zarr v3 volumes: round trips, lazy row slabs, errors that name files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from xrai.errors import ConfigError, DataError
from xrai.io import (
    create_volume_zarr,
    read_edf,
    read_edf_scan,
    read_scan,
    read_tiff_scan,
    read_tiff_stack,
    read_volume_zarr,
    write_edf,
    write_tiff_stack,
    write_volume_zarr,
)

RNG = np.random.default_rng(7)


def _scan_arrays(n: int = 6, rows: int = 5, cols: int = 7) -> dict[str, np.ndarray]:
    return {
        "projections": RNG.integers(0, 60000, (n, rows, cols)).astype(np.uint16),
        "flats": RNG.integers(0, 60000, (3, rows, cols)).astype(np.uint16),
        "darks": RNG.integers(0, 200, (2, rows, cols)).astype(np.uint16),
    }


# -- TIFF ------------------------------------------------------------------------------------------------------


def test_tiff_stack_round_trip_and_natural_order(tmp_path: Path) -> None:
    vol = RNG.random((12, 4, 6)).astype(np.float32)
    paths = write_tiff_stack(vol, tmp_path / "vol", prefix="s", digits=1, voxel_size_m=2e-6)
    assert Path(paths[10]).name == "s10.tif"  # unpadded numbers: natural sort must put s2 before s10
    stack = read_tiff_stack(tmp_path / "vol")
    assert stack.shape == (12, 4, 6) and stack.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(stack), vol)
    np.testing.assert_array_equal(stack.rows(1, 3), vol[:, 1:3])
    np.testing.assert_array_equal(stack[[0, 11, 5], 2], vol[[0, 11, 5], 2])
    with tifffile.TiffFile(paths[0]) as tif:
        assert '"voxel_size_m": 2e-06' in tif.pages.first.description
    with pytest.raises(DataError, match="file exists"):
        write_tiff_stack(vol, tmp_path / "vol", prefix="s", digits=1)


def test_multipage_and_compressed_tiff(tmp_path: Path) -> None:
    vol = RNG.integers(0, 1000, (5, 8, 9)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", vol, photometric="minisblack")
    stack = read_tiff_stack(tmp_path / "stack.tif")
    assert stack.shape == (5, 8, 9)
    np.testing.assert_array_equal(stack.rows(2, 5), vol[:, 2:5])
    write_tiff_stack(vol, tmp_path / "z", compression="zlib")
    np.testing.assert_array_equal(np.asarray(read_tiff_stack(tmp_path / "z")), vol)


def test_tiff_scan_from_folders(tmp_path: Path) -> None:
    a = _scan_arrays()
    for name in ("projections", "flats", "darks"):
        write_tiff_stack(a[name], tmp_path / "scan" / name, prefix=f"{name}_")
    angles = np.linspace(0, np.pi, 6, endpoint=False)
    with read_scan(tmp_path / "scan", angles_rad=angles, pixel_size_m=1e-6) as scan:
        assert scan.format == "tiff"
        for name in ("projections", "flats", "darks"):
            np.testing.assert_array_equal(np.asarray(getattr(scan, name)), a[name])
        np.testing.assert_array_equal(scan.projections_rows(2, 4), a["projections"][:, 2:4])
        np.testing.assert_allclose(scan.angles_rad, angles)
        assert scan.pixel_size_m == 1e-6
    # explicit folders and the default angles (evenly over 180 deg, no end point)
    scan = read_tiff_scan(tmp_path / "scan" / "projections", flats=tmp_path / "scan" / "flats",
                          darks=tmp_path / "scan" / "darks", angle_range_deg=360)  # fmt: skip
    np.testing.assert_allclose(scan.angles_rad, np.linspace(0, 2 * np.pi, 6, endpoint=False))


def test_tiff_errors_name_the_file(tmp_path: Path) -> None:
    a = _scan_arrays()
    for name in ("projections", "flats"):
        write_tiff_stack(a[name], tmp_path / "s" / name)
    with pytest.raises(DataError, match=r"no darks folder"):
        read_tiff_scan(tmp_path / "s")
    scan = read_tiff_scan(tmp_path / "s", require_references=False)
    assert scan.darks is None
    # an odd-sized file among the projections
    tifffile.imwrite(tmp_path / "s" / "projections" / "slice_00099.tif", np.zeros((5, 8), np.uint16))
    with pytest.raises(DataError, match=r"slice_00099\.tif: image shape \(5, 8\) differs from \(5, 7\)"):
        read_tiff_stack(tmp_path / "s" / "projections")
    # a truncated file
    (tmp_path / "s" / "projections" / "slice_00099.tif").unlink()
    victim = tmp_path / "s" / "projections" / "slice_00003.tif"
    victim.write_bytes(victim.read_bytes()[:20])
    with pytest.raises(DataError, match=r"slice_00003\.tif: cannot read TIFF header"):
        read_tiff_stack(tmp_path / "s" / "projections")
    with pytest.raises(DataError, match="angles given for"):
        read_tiff_scan(tmp_path / "s" / "flats", require_references=False, angles_rad=[0.0, 1.0])
    with pytest.raises(ConfigError, match=r"angle_range_deg = -5"):
        read_tiff_scan(tmp_path / "s" / "flats", require_references=False, angle_range_deg=-5)


# -- EDF -------------------------------------------------------------------------------------------------------


def test_edf_image_round_trip(tmp_path: Path) -> None:
    for dtype in (np.uint16, np.float32, np.int32):
        img = (RNG.random((6, 9)) * 1000).astype(dtype)
        write_edf(tmp_path / f"i_{np.dtype(dtype).name}.edf", img, header={"Energy": 17.5})
        out = read_edf(tmp_path / f"i_{np.dtype(dtype).name}.edf")
        assert out.dtype == img.dtype
        np.testing.assert_array_equal(out, img)


def test_edf_scan_esrf_one_folder_layout(tmp_path: Path) -> None:
    a = _scan_arrays(n=5)
    folder = tmp_path / "sample_"
    folder.mkdir()
    for i, img in enumerate(a["projections"]):
        write_edf(folder / f"sample_{i:04d}.edf", img)
    for i, img in enumerate(a["flats"]):
        write_edf(folder / f"refHST{i:04d}.edf", img)
    for i, img in enumerate(a["darks"]):
        write_edf(folder / f"darkend{i:04d}.edf", img)
    (folder / "sample_.info").write_text(
        "TOMO_N=        5\nScanRange=     360\nPixelSize=     0.65\nEnergy= 19\n"
    )
    with read_scan(folder) as scan:
        assert scan.format == "edf"
        for name in ("projections", "flats", "darks"):
            np.testing.assert_array_equal(np.asarray(getattr(scan, name)), a[name])
        np.testing.assert_allclose(scan.angles_rad, np.deg2rad(np.arange(5) * 72.0))
        assert scan.pixel_size_m == pytest.approx(0.65e-6)
        assert scan.energy_kev == pytest.approx(19.0)
        np.testing.assert_array_equal(scan.projections_rows(0, 2), a["projections"][:, :2])


def test_edf_scan_subfolders_and_errors(tmp_path: Path) -> None:
    a = _scan_arrays(n=4)
    for name in ("projections", "flats", "darks"):
        (tmp_path / name).mkdir()
        for i, img in enumerate(a[name]):
            write_edf(tmp_path / name / f"{name}{i}.edf", img)
    scan = read_edf_scan(tmp_path, angles_rad=[0, 1, 2, 3])
    np.testing.assert_array_equal(np.asarray(scan.darks), a["darks"])
    bad = tmp_path / "darks" / "darks1.edf"
    bad.write_bytes(bad.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"darks1\.edf: truncated EDF file"):
        np.asarray(read_edf_scan(tmp_path).darks)


# -- Zarr ------------------------------------------------------------------------------------------------------


def test_zarr_volume_round_trip(tmp_path: Path) -> None:
    vol = RNG.random((10, 12, 14)).astype(np.float32)
    write_volume_zarr(tmp_path / "v.zarr", vol, voxel_size_m=(2e-6, 1e-6, 1e-6), attrs={"algorithm": "fbp"})
    out = read_volume_zarr(tmp_path / "v.zarr")
    assert out.shape == (10, 12, 14) and out.dtype == np.float32
    assert out.voxel_size_m == (2e-6, 1e-6, 1e-6)
    assert out.attrs["algorithm"] == "fbp" and out.attrs["axes"] == ["z", "y", "x"]
    np.testing.assert_array_equal(np.asarray(out), vol)
    np.testing.assert_array_equal(out[3:5], vol[3:5])
    import zarr

    arr = zarr.open_array(str(tmp_path / "v.zarr"), mode="r")
    assert arr.metadata.zarr_format == 3
    assert tuple(arr.metadata.dimension_names) == ("z", "y", "x")
    with pytest.raises(DataError, match="exists"):
        write_volume_zarr(tmp_path / "v.zarr", vol, voxel_size_m=1e-6)


def test_zarr_volume_streams_slabs(tmp_path: Path) -> None:
    vol = RNG.random((9, 5, 6)).astype(np.float32)
    arr = create_volume_zarr(tmp_path / "s.zarr", shape=(9, 5, 6), voxel_size_m=1e-6, chunks=(2, 5, 6))
    for z0 in range(0, 9, 4):  # slabs that do not align with chunks
        arr[z0 : z0 + 4] = vol[z0 : z0 + 4]
    np.testing.assert_array_equal(np.asarray(read_volume_zarr(tmp_path / "s.zarr")), vol)
    # volumes out as TIFF stacks too, straight from the Zarr store
    write_tiff_stack(read_volume_zarr(tmp_path / "s.zarr").data, tmp_path / "tif")
    np.testing.assert_array_equal(np.asarray(read_tiff_stack(tmp_path / "tif")), vol)


def test_zarr_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"voxel_size_m\[z\] = -1"):
        create_volume_zarr(tmp_path / "a.zarr", shape=(2, 2, 2), voxel_size_m=(-1.0, 1.0, 1.0))
    with pytest.raises(ConfigError, match=r"shape = \(2, 2\)"):
        create_volume_zarr(tmp_path / "b.zarr", shape=(2, 2), voxel_size_m=1e-6)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"c\.zarr: no such Zarr store"):
        read_volume_zarr(tmp_path / "c.zarr")
    (tmp_path / "d.zarr").mkdir()
    with pytest.raises(DataError, match=r"d\.zarr: cannot open as a Zarr array"):
        read_volume_zarr(tmp_path / "d.zarr")
