"""The PMMA-sphere images of syris (../shared/reference/) reproduced by xrai, thickness and intensity.

The reference JSONs document every formula and the δ/β syris used; xrai must agree to ≤ 1e-5 relative RMS in
float64 for both propagator modes (the README's independent re-implementation reached ~2e-7).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xrai.errors import SamplingWarning
from xrai.physics.bodies import Sphere, project_bodies
from xrai.physics.propagation import mollifier_cutoff_px, mollifier_sigma_px, polychromatic_intensity

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="syris reference outputs not available")
CASES = {"mollified": "syris_sphere_n256", "unmollified": "syris_sphere_n256_unmollified"}


class _TabulatedMaterial:
    """δ and β exactly as syris used them (from the reference JSON, one value per energy)."""

    def __init__(self, delta: list[float], beta: list[float]) -> None:
        self._delta, self._beta = np.asarray(delta), np.asarray(beta)

    def delta(self, energies_kev: object) -> np.ndarray:
        return self._delta

    def beta(self, energies_kev: object) -> np.ndarray:
        return self._beta


def _load(case: str) -> tuple[dict[str, object], np.ndarray]:
    name = CASES[case]
    meta = json.loads((REFERENCE / f"{name}.json").read_text())
    return meta, np.load(REFERENCE / f"{name}.npy")


def _relative_rms(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2)))


def test_point_sampled_sphere_equals_syris_thickness() -> None:
    reference = np.load(REFERENCE / "syris_sphere_n256_thickness_m.npy")
    n, pixel = 256, 4e-7
    maps = project_bodies([Sphere(radius_m=n / 4 * pixel, material="pmma")], (n, n), pixel_size_m=pixel)
    thickness = maps["pmma"]
    assert thickness.dtype == np.float32 and reference.dtype == np.float32
    np.testing.assert_allclose(thickness, reference, rtol=0, atol=2 * np.spacing(reference.max()))
    # the centre lies between pixels n/2-1 and n/2: the four central pixels are equal and maximal
    centre = thickness[n // 2 - 1 : n // 2 + 1, n // 2 - 1 : n // 2 + 1]
    assert np.all(centre == thickness.max())


def test_mollifier_parameters_match_syris() -> None:
    meta, _ = _load("mollified")
    for energy, cutoff, sigma in zip(
        meta["energies_keV"], meta["mollifier_cutoff_px"], meta["mollifier_sigma_freq_px"], strict=True
    ):
        kwargs = {"distance_m": 2.0, "energy_kev": float(energy), "pixel_size_m": 4e-7}
        assert mollifier_cutoff_px(256, **kwargs) == cutoff
        assert mollifier_sigma_px(256, **kwargs) == pytest.approx(sigma, rel=1e-12)


def _simulate(case: str, dtype: str, materials: object = None) -> tuple[np.ndarray, np.ndarray]:
    meta, reference = _load(case)
    thickness = np.load(REFERENCE / "syris_sphere_n256_thickness_m.npy")
    if materials is None:
        materials = {"pmma": _TabulatedMaterial(meta["delta"], meta["beta"])}  # type: ignore[arg-type]
    kwargs = {
        "energies_kev": meta["energies_keV"],
        "distance_m": meta["distance_m"],
        "pixel_size_m": meta["pixel_size_m"],
        "mollified": meta["mollified"],
        "dtype": dtype,
    }
    if case == "unmollified":  # n p² < λ z: syris's own example is under-sampled without the mollifier
        with pytest.warns(SamplingWarning, match="under-sampled"):
            image = polychromatic_intensity({"pmma": thickness}, materials, **kwargs)  # type: ignore[arg-type]
    else:
        image = polychromatic_intensity({"pmma": thickness}, materials, **kwargs)  # type: ignore[arg-type]
    return image, reference


@pytest.mark.parametrize("case", sorted(CASES))
def test_intensity_matches_syris_float64(case: str) -> None:
    image, reference = _simulate(case, "float64")
    assert image.dtype == np.float64 and image.shape == reference.shape
    assert _relative_rms(image, reference) <= 1e-5
    assert np.abs(image - reference).max() <= 1e-3


@pytest.mark.parametrize("case", sorted(CASES))
def test_intensity_matches_syris_float32(case: str) -> None:
    image, reference = _simulate(case, "float32")
    assert image.dtype == np.float32
    assert _relative_rms(image, reference) <= 1e-5


def test_xraylib_pmma_from_the_material_library_matches_syris() -> None:
    """The library's PMMA (xraylib, 1.18 g/cm³) gives syris's image: δ/β differ only by float32 rounding."""
    from xrai.physics.materials import compound

    pmma = compound("C5H8O2", density_g_cm3=1.18, name="PMMA")
    meta, _ = _load("mollified")
    energies = np.asarray(meta["energies_keV"], dtype=np.float64)
    np.testing.assert_allclose(pmma.delta(energies), meta["delta"], rtol=1e-6)
    np.testing.assert_allclose(pmma.beta(energies), meta["beta"], rtol=1e-6)
    image, reference = _simulate("mollified", "float64", materials={"pmma": pmma})
    assert _relative_rms(image, reference) <= 1e-5


def test_reference_is_sensitive_to_the_conventions() -> None:
    """The comparison can fail: the wrong phase sign or a shifted sphere are far above the tolerance."""
    meta, reference = _load("mollified")
    thickness = np.load(REFERENCE / "syris_sphere_n256_thickness_m.npy")
    flipped = {"pmma": _TabulatedMaterial([-d for d in meta["delta"]], meta["beta"])}
    kwargs = {
        "energies_kev": meta["energies_keV"],
        "distance_m": 2.0,
        "pixel_size_m": 4e-7,
        "mollified": True,
    }
    wrong_sign = polychromatic_intensity({"pmma": thickness}, flipped, dtype="float64", **kwargs)
    assert _relative_rms(wrong_sign, reference) > 1e-3
    right = {"pmma": _TabulatedMaterial(meta["delta"], meta["beta"])}
    shifted = polychromatic_intensity(
        {"pmma": np.roll(thickness, 1, axis=1)}, right, dtype="float64", **kwargs
    )
    assert _relative_rms(shifted, reference) > 1e-4


@pytest.mark.parametrize("case", sorted(CASES))
def test_example_script_reproduces_syris(case: str, tmp_path: Path) -> None:
    """examples/pmma_sphere.py (the seed's example, library PMMA from xraylib) writes syris's image."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "pmma_sphere.py"
    out = tmp_path / "image.npy"
    command = [sys.executable, "-W", "ignore::UserWarning", str(script), "--n", "256", "--out", str(out)]
    if case == "mollified":
        command.append("--mollified")
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    image = np.load(out)
    _, reference = _load(case)
    assert image.dtype == np.float32 and image.shape == (256, 256)
    assert _relative_rms(image, reference) <= 1e-5
