"""DXchange: the real APS tooth scan, and a file written with plain h5py to the DXchange layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from xrai.errors import DataError
from xrai.io import read_dxchange, read_scan

TOOTH = Path("/work/shared/data/real/tooth.h5")


@pytest.mark.skipif(not TOOTH.exists(), reason="tooth.h5 not available")
def test_reads_the_real_tooth_scan() -> None:
    with read_scan(TOOTH) as scan:
        assert scan.format == "dxchange"
        assert scan.shape == (181, 2, 640)
        assert scan.flats.shape == (10, 2, 640) and scan.darks.shape == (10, 2, 640)
        # theta is stored in degrees (181 angles, 0 to 179 deg)
        assert np.rad2deg(scan.angles_rad[[0, -1]]) == pytest.approx([0.0, 179.0], abs=0.01)
        with h5py.File(TOOTH) as f:
            np.testing.assert_allclose(scan.angles_rad, np.deg2rad(f["exchange/theta"][()]))
            np.testing.assert_array_equal(scan.projections_rows(1, 2), f["exchange/data"][:, 1:2])
            np.testing.assert_array_equal(np.asarray(scan.flats), f["exchange/data_white"][()])
        # the sample attenuates: projections are darker than the flats on average
        assert np.asarray(scan.projections).mean() < np.asarray(scan.flats).mean()


def _write_dxchange(path: Path, *, n: int = 12, rows: int = 3, cols: int = 8, theta_units: str | None = "degrees",
                    white: bool = True, dark: bool = True) -> dict:  # fmt: skip
    rng = np.random.default_rng(3)
    data = {
        "data": rng.integers(100, 4000, (n, rows, cols)).astype(np.uint16),
        "data_white": rng.integers(3000, 4000, (4, rows, cols)).astype(np.uint16),
        "data_dark": rng.integers(90, 110, (2, rows, cols)).astype(np.uint16),
        "theta": np.linspace(0, 180, n, endpoint=False),
    }
    with h5py.File(path, "w") as f:
        f["implements"] = "exchange:measurement"
        ex = f.create_group("exchange")
        ex["data"] = data["data"]
        if white:
            ex["data_white"] = data["data_white"]
        if dark:
            ex["data_dark"] = data["data_dark"]
        ex["theta"] = data["theta"] if theta_units != "rad" else np.deg2rad(data["theta"])
        if theta_units:
            ex["theta"].attrs["units"] = theta_units
        mono = f.create_group("measurement/instrument/monochromator")
        mono["energy"] = 25.0
        mono["energy"].attrs["units"] = "keV"
        obj = f.create_group("measurement/instrument/detection_system/objective")
        obj["resolution"] = 1.3
        obj["resolution"].attrs["units"] = "um"
    return data


def test_reads_a_file_written_with_h5py(tmp_path: Path) -> None:
    path = tmp_path / "dx.h5"
    data = _write_dxchange(path)
    with read_dxchange(path) as scan:
        np.testing.assert_array_equal(np.asarray(scan.projections), data["data"])
        np.testing.assert_array_equal(np.asarray(scan.flats), data["data_white"])
        np.testing.assert_array_equal(np.asarray(scan.darks), data["data_dark"])
        np.testing.assert_allclose(scan.angles_rad, np.deg2rad(data["theta"]))
        assert scan.energy_kev == pytest.approx(25.0)
        assert scan.pixel_size_m == pytest.approx(1.3e-6)
        assert scan.distance_m is None
        np.testing.assert_array_equal(scan.rows(1, 3).projections[:], data["data"][:, 1:3])


def test_theta_in_radians_and_without_units(tmp_path: Path) -> None:
    data = _write_dxchange(tmp_path / "rad.h5", theta_units="rad")
    with read_dxchange(tmp_path / "rad.h5") as scan:
        np.testing.assert_allclose(scan.angles_rad, np.deg2rad(data["theta"]))
    data = _write_dxchange(tmp_path / "none.h5", theta_units=None)
    with read_dxchange(tmp_path / "none.h5") as scan:  # DXchange default: degrees
        np.testing.assert_allclose(scan.angles_rad, np.deg2rad(data["theta"]))


def test_missing_and_mismatched_datasets_are_named(tmp_path: Path) -> None:
    _write_dxchange(tmp_path / "nowhite.h5", white=False)
    with pytest.raises(DataError, match=r"nowhite\.h5: dataset /exchange/data_white not found"):
        read_scan(tmp_path / "nowhite.h5")
    with read_dxchange(tmp_path / "nowhite.h5", require_references=False) as scan:
        assert scan.flats is None
    path = tmp_path / "mismatch.h5"
    _write_dxchange(path)
    with h5py.File(path, "a") as f:
        del f["exchange/data_dark"]
        f["exchange/data_dark"] = np.zeros((2, 3, 7), np.uint16)
    with pytest.raises(DataError, match=r"mismatch\.h5.*darks .*/exchange/data_dark.*\(3, 7\).*\(3, 8\)"):
        read_dxchange(path)
    with h5py.File(path, "a") as f:
        del f["exchange/theta"]
        f["exchange/theta"] = np.zeros(5)
    with pytest.raises(DataError, match=r"/exchange/theta has 5 angles but /exchange/data has 12 frames"):
        read_dxchange(path)
    path = tmp_path / "strings.h5"
    with h5py.File(path, "w") as f:
        f["exchange/data"] = np.array([[["a"]]], dtype="S1")
    with pytest.raises(DataError, match=r"strings\.h5:/exchange/data: dtype \|S1 is not allowed"):
        read_dxchange(path)


def test_not_hdf5_at_all(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(DataError, match=r"fake\.h5: cannot open as HDF5"):
        read_scan(path)
    with pytest.raises(DataError, match="no such file"):
        read_scan(tmp_path / "missing.h5")
