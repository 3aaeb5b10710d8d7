"""``xrai simulate``: presets and TOML files end to end into NXtomo, read back with h5py and xrai.io."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import typer
from typer.testing import CliRunner

from xrai.cli.simulate import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """xrai."""

    return app


def test_small_preset_end_to_end(tmp_path: Path) -> None:
    out, preview = tmp_path / "scan.nxs", tmp_path / "preview.png"
    result = CliRunner().invoke(
        _app(),
        [
            "simulate",
            "--preset",
            "wax-needle-small",
            "--out",
            str(out),
            "--preview",
            str(preview),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SamplingWarning" in result.output  # the steel needle's edge, reported once
    with h5py.File(out, "r") as f:
        entry = f["entry"]
        assert entry["definition"][()].decode() == "NXtomo"
        assert entry.attrs["xrai_complete"] == 1
        detector = entry["instrument/detector"]
        data, keys = detector["data"], detector["image_key"][()]
        assert data.shape == (105, 128, 128) and data.dtype == np.uint16
        assert (keys == 0).sum() == 90 and (keys == 1).sum() == 10 and (keys == 2).sum() == 5
        assert (
            keys[:5].tolist() == [2] * 5 and keys[5:10].tolist() == [1] * 5 and keys[-5:].tolist() == [1] * 5
        )
        angles = entry["sample/rotation_angle"][()][keys == 0]
        np.testing.assert_allclose(angles, np.arange(90) * 2.0)
        assert entry["sample/rotation_angle"].attrs["units"] == "degree"
        assert detector["x_pixel_size"][()] == 1.22e-6
        assert detector["distance"][()] == 0.082
        assert 15.0 < entry["beam/incident_energy"][()] < 30.0
        configuration = json.loads(entry["configuration/data"][()])
        assert configuration["experiment"]["name"] == "wax-needle-small"
        assert configuration["experiment"]["scan"]["n_projections"] == 90
        assert len(configuration["spectrum"]["energies_kev"]) == 6
        frames = data[()]
        darks, flats, projections = frames[keys == 2], frames[keys == 1], frames[keys == 0]
        assert 99 < darks.mean() < 102  # black level 100 counts + dark current
        assert projections.max() <= 4095
        corrected = (projections[:, 100, 64] - darks.mean()) / (flats.mean() - darks.mean())
        assert corrected.max() < 0.8  # the steel needle absorbs at row 100 at every angle
    truth = json.loads((tmp_path / "scan.truth.json").read_text())
    assert truth["center_col"] == 63.5 and len(truth["drift_px"]) == 105
    from xrai.io import read_nxtomo, read_volume_zarr

    labels = read_volume_zarr(tmp_path / "scan.truth.zarr")
    assert labels.shape == (128, 128, 128)
    with read_nxtomo(out) as scan:
        assert scan.shape == (90, 128, 128)
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_toml_config_and_errors(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        'name = "tiny"\n[beam]\nenergies_kev = [15, 25]\n[sample]\nkind = "sphere"\nradius_m = "8 um"\n'
        'material = "pmma"\n[detector]\nshape = [32, 32]\ndefects = false\n[geometry]\ndistance_m = "0 m"\n'
        '[scan]\nkind = "radiography"\nn_frames = 3\nexposure_s = "10 ms"\nframe_rate_hz = "20 Hz"\n'
        "n_darks = 1\nn_flats_before = 2\n"
    )
    out = tmp_path / "tiny.nxs"
    runner = CliRunner()
    result = runner.invoke(
        _app(), ["simulate", str(config), "--out", str(out), "--no-progress", "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as f:
        assert f["entry/instrument/detector/data"].shape == (6, 32, 32)
        assert json.loads(f["entry/configuration/data"][()])["experiment"]["seed"] == 7
    again = runner.invoke(_app(), ["simulate", str(config), "--out", str(out), "--no-progress"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    neither = runner.invoke(_app(), ["simulate", "--out", str(out)])
    assert neither.exit_code == 2 and "wax-needle-small" in neither.output
    config.write_text(config.read_text().replace("n_frames = 3", "n_frames = -3"))
    bad = runner.invoke(_app(), ["simulate", str(config), "--out", str(tmp_path / "bad.nxs")])
    assert bad.exit_code == 2 and "n_frames = -3" in bad.output
