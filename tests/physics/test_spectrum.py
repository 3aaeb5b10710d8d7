"""Spectrum: weights, photons per pixel, rebinning conserves photons, files round-trip, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrai.errors import ConfigError, DataError
from xrai.physics.spectrum import KEV_TO_J, Spectrum, bin_edges, bin_widths, load_spectrum


def test_weights_totals_and_units() -> None:
    s = Spectrum.from_table([10.0, 20.0, 30.0], [1e15, 2e15, 1e15], name="t")
    np.testing.assert_allclose(s.weights(), [0.25, 0.5, 0.25])
    assert s.weights().sum() == pytest.approx(1.0)
    assert s.total_photons_per_s_m2 == 4e15
    assert s.mean_energy_kev == pytest.approx(20.0)
    assert s.power_w_m2 == pytest.approx((10 + 40 + 30) * 1e15 * KEV_TO_J)
    np.testing.assert_allclose(s.per_kev(), [1e14, 2e14, 1e14])
    np.testing.assert_allclose(s.photons_per_pixel(pixel_size_m=2e-6, exposure_s=0.5), [2e3, 4e3, 2e3])
    np.testing.assert_allclose(
        s.photons_per_pixel(pixel_size_m=(1e-6, 4e-6), exposure_s=0.5), [2e3, 4e3, 2e3]
    )
    assert not s.photons_per_s_m2.flags.writeable


def test_bin_widths_and_edges() -> None:
    np.testing.assert_allclose(bin_widths([8.0, 9.0, 10.0]), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(bin_widths([1.0, 2.0, 4.0]), [1.0, 1.0, 2.0])
    np.testing.assert_allclose(bin_edges([8.0, 9.0]), [[7.5, 8.5], [8.5, 9.5]])
    with pytest.raises(ConfigError, match="single energy"):
        bin_widths([20.0])


def test_per_kev_tables_and_rebinning_conserve_photons() -> None:
    fine = Spectrum.from_table(np.arange(5.05, 40.0, 0.1), np.full(350, 3e12), per_kev=True)
    assert fine.total_photons_per_s_m2 == pytest.approx(3e12 * 35.0)
    coarse = fine.rebinned(np.arange(5.5, 40.0, 1.0))
    assert coarse.total_photons_per_s_m2 == pytest.approx(fine.total_photons_per_s_m2, rel=1e-12)
    np.testing.assert_allclose(coarse.photons_per_s_m2, 3e12)
    partial = fine.rebinned([10.0], bin_widths_kev=[2.0])
    assert partial.total_photons_per_s_m2 == pytest.approx(6e12)
    gappy = Spectrum(
        energies_kev=np.array([10.0, 20.0]), photons_per_s_m2=np.array([1.0, 2.0]), bin_widths_kev=1.0
    )
    assert gappy.rebinned([15.0], bin_widths_kev=[20.0]).total_photons_per_s_m2 == pytest.approx(3.0)


def test_csv_round_trip(tmp_path: Path) -> None:
    s = Spectrum.from_table([8.0, 9.0, 11.0], [1.5e14, 2.25e14, 0.0], name="seed white")
    path = s.to_csv(tmp_path / "s.csv")
    back = load_spectrum(path)
    assert back == s
    plain = tmp_path / "plain.txt"
    plain.write_text("# two columns, per keV\n10 1e10\n20 2e10\n", encoding="utf-8")
    per_kev = load_spectrum(plain, per_kev=True)
    np.testing.assert_allclose(per_kev.photons_per_s_m2, [1e11, 2e11])
    assert per_kev.name == "plain"


@pytest.mark.parametrize(
    ("text", "match"),
    [("10 1\n20 x\n", "not a row of numbers"), ("10 1 1 1\n", "2 or 3 columns"), ("# nothing\n", "no rows"),
     ("20 1\n10 1\n", "strictly increasing")],
)  # fmt: skip
def test_bad_spectrum_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load_spectrum(path)


def test_bad_spectra_name_the_value() -> None:
    with pytest.raises(ConfigError, match="strictly increasing"):
        Spectrum.from_table([20.0, 10.0], [1.0, 1.0])
    with pytest.raises(ConfigError, match=r"photons_per_s_m2 contains \[-1.0\]"):
        Spectrum.from_table([10.0, 20.0], [1.0, -1.0])
    with pytest.raises(ConfigError, match="shape"):
        Spectrum.from_table([10.0, 20.0], [1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="overlap"):
        Spectrum(energies_kev=np.array([10.0, 11.0]), photons_per_s_m2=np.ones(2), bin_widths_kev=3.0)
    with pytest.raises(ConfigError, match=r"pixel_size_m = -1"):
        Spectrum.from_table([10.0, 20.0], [1.0, 1.0]).photons_per_pixel(pixel_size_m=-1, exposure_s=1)
    with pytest.raises(DataError, match="no photons"):
        Spectrum.from_table([10.0, 20.0], [0.0, 0.0]).weights()
    with pytest.raises(DataError, match="does not exist"):
        load_spectrum("/nonexistent/spectrum.csv")


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.floats(min_value=0.0, max_value=1e15), min_size=2, max_size=20),
    step=st.floats(min_value=0.05, max_value=2.0),
    new_step=st.floats(min_value=0.05, max_value=5.0),
)
def test_rebinning_onto_a_covering_grid_conserves_photons(
    counts: list[float], step: float, new_step: float
) -> None:
    energies = 10.0 + step * np.arange(len(counts))
    s = Spectrum.from_table(energies, counts)
    low, high = s.edges_kev[0, 0], s.edges_kev[1, -1]
    n_new = int(np.ceil((high - low) / new_step))
    new = s.rebinned(low + new_step * (np.arange(n_new) + 0.5), bin_widths_kev=new_step)
    assert new.total_photons_per_s_m2 == pytest.approx(s.total_photons_per_s_m2, rel=1e-9, abs=1e-3)
