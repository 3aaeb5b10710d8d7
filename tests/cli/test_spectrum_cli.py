"""``xrai spectrum``: table, PNG, CSV and errors, through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from xrai.cli.spectrum import register
from xrai.physics.presets import seed_spectrum
from xrai.physics.spectrum import load_spectrum


def _app() -> typer.Typer:
    # Only this command, so the test does not depend on the other command modules.
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """xrai."""

    return app


def test_spectrum_command_prints_table_and_writes_plot_and_csv(tmp_path: Path) -> None:
    png, csv = tmp_path / "plots" / "spectrum.png", tmp_path / "seed.csv"
    result = CliRunner().invoke(
        _app(),
        ["spectrum", "--preset", "seed", "--out", str(png), "--csv", str(csv), "--pixel-size", "1.22 um"],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    assert "0.7 mm Al" in result.output and "total" in result.output
    assert "ph/pixel" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    written = load_spectrum(csv)
    expected = seed_spectrum()
    np.testing.assert_array_equal(written.energies_kev, np.arange(8.0, 31.0))
    np.testing.assert_allclose(written.photons_per_s_m2, expected.photons_per_s_m2, rtol=1e-9)
    # the table shows the filtered flux at 20 keV in photons/s/mm²
    assert f"{expected.photons_per_s_m2[12] * 1e-6:.3e}" in result.output


def test_spectrum_command_without_plot(tmp_path: Path) -> None:
    png = tmp_path / "none.png"
    result = CliRunner().invoke(_app(), ["spectrum", "--no-plot", "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert not png.exists()


def test_unknown_preset_and_bad_unit_give_clear_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["spectrum", "--preset", "nope", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "preset = 'nope' is unknown" in result.output
    result = CliRunner().invoke(_app(), ["spectrum", "--no-plot", "--pixel-size", "5 kg"])
    assert result.exit_code == 2
    assert "pixel_size_m" in result.output and "5 kg" in result.output


def test_spectrum_is_registered_in_the_main_app() -> None:
    from xrai.cli.main import COMMAND_MODULES

    assert "spectrum" in COMMAND_MODULES
