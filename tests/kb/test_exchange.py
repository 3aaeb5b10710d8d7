"""NXtomo / TIFF / NumPy / Zarr import and export round trips (local backend; exchange is backend-agnostic)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from xrai.errors import ConfigError, DataError
from xrai.io import read_scan, write_nxtomo
from xrai.kb import KnowledgeBase


@pytest.fixture
def local_kb(tmp_path):
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        yield kb


def _scan(rng):
    projections = rng.integers(100, 4000, size=(6, 5, 7)).astype(np.uint16)
    flats = rng.integers(3000, 4000, size=(2, 5, 7)).astype(np.uint16)
    darks = rng.integers(0, 50, size=(2, 5, 7)).astype(np.uint16)
    angles = np.linspace(0, np.pi, 6, endpoint=False)
    return projections, flats, darks, angles


def test_nxtomo_import_carries_energy_distance_pixel_size_and_exports_back(local_kb, tmp_path) -> None:
    projections, flats, darks, angles = _scan(np.random.default_rng(0))
    source = tmp_path / "scan.nxs"
    write_nxtomo(source, projections, angles_rad=angles, flats=flats, darks=darks, pixel_size_m=6.5e-7,
                 energy_kev=25.0, distance_m=0.082, configuration={"specimen": {"line": "HdrR"}})  # fmt: skip
    item = local_kb.import_file(source, tags=["imported"])
    assert item.kind == "dataset.raw_scan" and item.name == "scan.nxs"
    assert item.metadata["energy_kev"] == 25.0 and item.metadata["distance_m"] == 0.082
    assert item.metadata["pixel_size_m"] == pytest.approx(6.5e-7)
    assert item.metadata["configuration"]["specimen"]["line"] == "HdrR"
    assert [i.id for i in local_kb.search("energy_kev > 20 and configuration.specimen.line == 'HdrR'")] == [
        item.id
    ]
    np.testing.assert_array_equal(local_kb.read_array(item, "projections"), projections)
    np.testing.assert_array_equal(local_kb.read_array(item, "flats"), flats)
    np.testing.assert_array_equal(local_kb.read_array(item, "darks"), darks)
    np.testing.assert_allclose(local_kb.read_array(item, "angles_rad"), angles, rtol=1e-12)

    out = local_kb.export(item, tmp_path / "back.nxs")
    with read_scan(out) as scan:
        np.testing.assert_array_equal(scan.projections[:], projections)
        np.testing.assert_array_equal(scan.flats[:], flats)
        np.testing.assert_array_equal(scan.darks[:], darks)
        np.testing.assert_allclose(scan.angles_rad, angles, atol=1e-12)
        assert scan.energy_kev == 25.0 and scan.distance_m == 0.082
        assert scan.pixel_size_m == pytest.approx(6.5e-7)
    with pytest.raises(DataError, match="already exists"):
        local_kb.export(item, out)


def test_tiff_npy_zarr_export_and_import(local_kb, tmp_path) -> None:
    volume = np.random.default_rng(1).random((20, 9, 11)).astype(np.float32)
    item = local_kb.put(kind="dataset.volume", name="vol", metadata={"pixel_size_m": 1e-6},
                        arrays={"volume": volume, "mask": (volume > 0.5).astype(np.uint8)})  # fmt: skip
    tif = local_kb.export(item, tmp_path / "vol.tif")
    np.testing.assert_array_equal(tifffile.imread(tif), volume)
    folder = local_kb.export(item, tmp_path / "slices", format="tiff", array="mask")
    files = sorted(folder.glob("*.tif"))
    assert len(files) == 20
    np.testing.assert_array_equal(tifffile.imread(files[3]), (volume[3] > 0.5).astype(np.uint8))
    npy = local_kb.export(item, tmp_path / "vol.npy")
    np.testing.assert_array_equal(np.load(npy), volume)
    zarr_path = local_kb.export(item, tmp_path / "item.zarr")
    again = local_kb.import_file(zarr_path)
    assert (again.kind, again.name, again.metadata["pixel_size_m"]) == ("dataset.volume", "vol", 1e-6)
    assert again.arrays["volume"].hash == item.arrays["volume"].hash
    assert again.arrays["mask"].hash == item.arrays["mask"].hash
    from_npy = local_kb.import_file(npy)
    assert from_npy.arrays["data"].hash == item.arrays["volume"].hash
    from_tif = local_kb.import_file(tif, kind="dataset.volume")
    assert from_tif.arrays["volume"].hash == item.arrays["volume"].hash
    assert local_kb.stats()["blobs"] == 2  # every import deduplicated against the stored content
    with pytest.raises(ConfigError, match=r"suffix '\.png'"):
        local_kb.export(item, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="format = 'png'"):
        local_kb.export(item, tmp_path / "x.dat", format="png")
    with pytest.raises(DataError, match="NXtomo export needs projections"):
        local_kb.export(item, tmp_path / "x.nxs")
