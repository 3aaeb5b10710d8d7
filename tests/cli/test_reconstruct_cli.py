"""``xrai reconstruct`` and ``xrai preview`` on a DXchange file written with h5py (known truth) and on tooth.h5."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import typer
import zarr
from typer.testing import CliRunner

from xrai.cli.reconstruct import parse_center, parse_paganin, parse_rows, register
from xrai.errors import ConfigError

TOOTH = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "tooth.h5"
MU = 0.02  # 1/pixel
RADIUS = 14.0
AXIS = 33.4
CYLINDER = (5.0, -4.0)  # (x, y) of the cylinder's centre, pixels from the rotation axis
N_COLS = 64


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """xrai."""

    return app


def run(*args: str):
    return CliRunner().invoke(_app(), [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory) -> Path:
    """A DXchange scan of a cylinder (μ = 0.02 per pixel, centred at (x, y) = CYLINDER) with an off-centre
    axis, flats with a column gain, and darks."""
    n_angles, n_rows = 180, 6
    angles = np.linspace(0.0, np.pi, n_angles, endpoint=False)
    # s of the cylinder axis at each angle: s = x cos θ + y sin θ
    shift = CYLINDER[0] * np.cos(angles) + CYLINDER[1] * np.sin(angles)
    s = np.arange(N_COLS)[None, :] - AXIS - shift[:, None]
    sub = np.linspace(-0.5, 0.5, 41)[:, None, None]
    chord = 2 * MU * np.sqrt(np.clip(RADIUS**2 - (s[None] + sub) ** 2, 0, None)).mean(axis=0)
    gain = 1000.0 * (1 + 0.2 * np.sin(np.arange(N_COLS) / 5.0))
    signal = np.broadcast_to(gain, (n_rows, N_COLS))
    dark = np.full((n_rows, N_COLS), 100.0)
    data = dark + signal * np.exp(-chord[:, None, :])
    path = tmp_path_factory.mktemp("scan") / "cylinder.h5"
    with h5py.File(path, "w") as f:
        f["exchange/data"] = data.astype(np.float32)
        f["exchange/data_white"] = np.stack([dark + signal] * 4).astype(np.float32)
        f["exchange/data_dark"] = np.stack([dark] * 3).astype(np.float32)
        f["exchange/theta"] = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    return path


def _disc(n: int, radius: float, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    c = np.arange(n) - (n - 1) / 2
    return (c[None, :] - centre[0]) ** 2 + (c[:, None] - centre[1]) ** 2 < radius**2


def test_reconstruct_finds_axis_and_is_quantitative(scan_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "volume.zarr"
    result = run("reconstruct", scan_file, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    found = float(re.search(r"rotation axis: column ([\d.]+) \(auto", result.output).group(1))
    assert abs(found - AXIS) < 0.25
    volume = zarr.open_array(out, mode="r")
    assert volume.shape == (6, N_COLS, N_COLS)
    assert volume.attrs["center_col"] == pytest.approx(AXIS, abs=0.25)
    inside = volume[:][:, _disc(N_COLS, RADIUS - 3, CYLINDER)]
    assert inside.mean() == pytest.approx(MU, rel=0.01)
    assert "μ in 1/pixel" in result.output


def test_reconstruct_rows_pixel_size_filter_rings(scan_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "part.zarr"
    result = run("reconstruct", scan_file, "--out", out, "--center", str(AXIS), "--rows", "1:4",
                 "--pixel-size", "2 um", "--filter", "shepp-logan", "--method", "gridrec", "--chunk-rows", "2",
                 "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    volume = zarr.open_array(out, mode="r")
    assert volume.shape == (3, N_COLS, N_COLS)
    assert volume.attrs["voxel_size_m"] == pytest.approx([2e-6] * 3)
    assert volume.attrs["rows"] == [1, 4] and volume.attrs["filter_name"] == "shepp-logan"
    assert volume.attrs["method"] == "gridrec"
    assert volume[:][:, _disc(N_COLS, RADIUS - 3, CYLINDER)].mean() == pytest.approx(
        MU / 2e-6, rel=0.01
    )  # 1/m
    rings = run("reconstruct", scan_file, "--out", tmp_path / "rings.zarr", "--center", str(AXIS),
                "--rings", "wavelet_fourier", "--zingers", "--no-progress")  # fmt: skip
    assert rings.exit_code == 0, rings.output
    corrected = zarr.open_array(tmp_path / "rings.zarr", mode="r")
    assert corrected.attrs["rings"] == "wavelet_fourier" and corrected.attrs["zingers"] is True
    again = run("reconstruct", scan_file, "--out", out, "--center", "30")
    assert again.exit_code == 2 and "exists" in again.output


def test_reconstruct_with_paganin(scan_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "phase.zarr"
    result = run("reconstruct", scan_file, "--out", out, "--center", str(AXIS), "--chunk-rows", "2",
                 "--paganin", "delta_beta=100, energy=20 keV, distance=5 cm, pixel_size=2 um", "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Paganin δ/β = 100" in result.output
    volume = zarr.open_array(out, mode="r")[:]
    assert np.all(np.isfinite(volume))
    # an absorption-only object: the low-pass changes the edges, not the interior attenuation
    assert volume[:, _disc(N_COLS, 6, CYLINDER)].mean() == pytest.approx(MU / 2e-6, rel=0.05)


def test_preview_writes_a_png(scan_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "preview.png"
    result = run("preview", scan_file, "--out", png, "--row", "2", "--angle", "10")
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    found = float(re.search(r"rotation axis: column ([\d.]+)", result.output).group(1))
    assert abs(found - AXIS) < 0.25


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--center", "middle"], "--center = 'middle'"),
        (["--rows", "5:2"], "--rows = '5:2'"),
        (["--rings", "fft"], "--rings = 'fft'"),
        (["--filter", "butterworth"], "filter_name = 'butterworth'"),
        (["--paganin", "energy=20 keV"], "needs delta_beta"),
        (["--paganin", "delta_beta=100"], "--paganin needs energy"),
        (["--chunk-rows", "0"], "--chunk-rows = 0"),
        (["--method", "art"], "--method = 'art'"),
    ],
)
def test_bad_options_name_the_option_and_value(scan_file: Path, tmp_path: Path, args, message) -> None:
    result = run("reconstruct", scan_file, "--out", tmp_path / "x.zarr", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_missing_scan_is_a_clear_error(tmp_path: Path) -> None:
    result = run("reconstruct", tmp_path / "nope.h5", "--out", tmp_path / "x.zarr")
    assert result.exit_code == 2 and "nope.h5" in result.output


def test_option_parsers() -> None:
    assert parse_center("auto") == "auto" and parse_center(" 12.5") == 12.5
    assert (
        parse_rows(None, 10) == (0, 10)
        and parse_rows("2:", 10) == (2, 10)
        and parse_rows("-3:", 10) == (7, 10)
    )
    with pytest.raises(ConfigError, match="first:stop"):
        parse_rows("1-3", 10)
    assert parse_paganin("delta_beta=250,distance=10 cm,energy=20 keV,pixel_size=650 nm") == pytest.approx(
        {"delta_beta": 250.0, "distance_m": 0.1, "energy_kev": 20.0, "pixel_size_m": 6.5e-7}
    )
    with pytest.raises(ConfigError, match="colour"):
        parse_paganin("delta_beta=1,colour=red")


@pytest.mark.skipif(not TOOTH.exists(), reason="real data not available")
def test_tooth_scan_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "tooth.zarr"
    result = run("reconstruct", TOOTH, "--out", out, "--rings", "sorting", "--no-progress")
    assert result.exit_code == 0, result.output
    found = float(re.search(r"rotation axis: column ([\d.]+)", result.output).group(1))
    assert 289 <= found <= 297
    volume = zarr.open_array(out, mode="r")[:]
    assert volume.shape == (2, 640, 640) and np.all(np.isfinite(volume))
    tooth = volume[:, 200:400, 200:400].mean()
    air = volume[:, _disc(640, 300) & ~_disc(640, 200)].mean()
    assert tooth > 10 * abs(air)  # the tooth stands out of the air around it


def test_commands_are_registered_in_the_main_app() -> None:
    from xrai.cli.main import app

    names = {c.name for c in app.registered_commands}
    assert {"reconstruct", "preview"} <= names
