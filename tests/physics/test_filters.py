"""Filters and mirrors: Beer–Lambert against xraylib, invariants, the Fresnel asymptote; the seed preset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xraylib

from xrai.errors import ConfigError
from xrai.physics.filters import Filter, MirrorCutoff, apply_filters, transmission
from xrai.physics.materials import get_material
from xrai.physics.presets import PRESETS, get_preset, seed_beamline, seed_spectrum
from xrai.physics.sources import BendingMagnet, energy_grid

ENERGIES = energy_grid(8, 30, 1)


def test_aluminium_filter_against_beer_lambert_with_xraylib() -> None:
    # T = exp(−(μ/ρ) ρ d), xraylib μ/ρ in cm²/g, ρ = 2.6989 g/cm³, d = 0.07 cm
    expected = np.array([math.exp(-xraylib.CS_Total_CP("Al", e) * 2.6989 * 0.07) for e in ENERGIES])
    np.testing.assert_allclose(transmission("Al", ENERGIES, thickness_m=0.7e-3), expected, rtol=1e-10)
    np.testing.assert_allclose(
        Filter(material="al", thickness_m=0.7e-3).transmission(ENERGIES), expected, rtol=1e-10
    )
    # published order of magnitude: 0.7 mm Al passes about half at 20 keV (NIST μ/ρ = 3.441 cm²/g)
    assert float(transmission("Al", 20.0, thickness_m=0.7e-3)) == pytest.approx(
        math.exp(-3.441 * 2.6989 * 0.07), rel=2e-3
    )


def test_filter_invariants() -> None:
    white = BendingMagnet(ring_energy_gev=2.5, field_t=1.5, current_a=0.106, distance_m=30.0).spectrum(
        ENERGIES
    )
    none = apply_filters(white, [Filter(material="Cu", thickness_m=0.0)])
    np.testing.assert_array_equal(none.photons_per_s_m2, white.photons_per_s_m2)
    split = apply_filters(
        white, [Filter(material="Al", thickness_m=0.3e-3), Filter(material="Al", thickness_m=0.4e-3)]
    )
    whole = white.filtered("Al", thickness_m=0.7e-3)
    np.testing.assert_allclose(split.photons_per_s_m2, whole.photons_per_s_m2, rtol=1e-12)
    ab = apply_filters(
        white, [Filter(material="Al", thickness_m=1e-3), Filter(material="Cu", thickness_m=50e-6)]
    )
    ba = apply_filters(
        white, [Filter(material="Cu", thickness_m=50e-6), Filter(material="Al", thickness_m=1e-3)]
    )
    np.testing.assert_allclose(ab.photons_per_s_m2, ba.photons_per_s_m2, rtol=1e-12)
    assert np.all(ab.photons_per_s_m2 <= white.photons_per_s_m2)
    assert whole.mean_energy_kev > white.mean_energy_kev  # beam hardening
    photo = white.filtered("Al", thickness_m=0.7e-3, kind="photo")
    assert np.all(photo.photons_per_s_m2 > whole.photons_per_s_m2)


def test_mirror_reflectivity_limits() -> None:
    mirror = MirrorCutoff(material="Rh", angle_rad=3e-3)
    cutoff = mirror.cutoff_energy_kev
    delta = float(get_material("Rh").delta(cutoff))
    assert math.sqrt(2 * delta) == pytest.approx(3e-3, rel=1e-6)  # θ = θ_c(E_cut)
    energies = np.linspace(5.0, 60.0, 111)
    reflectivity = mirror.reflectivity(energies)
    assert np.all((reflectivity > 0) & (reflectivity <= 1))
    assert np.all(reflectivity[energies < 0.7 * cutoff] > 0.75)
    assert np.all(reflectivity[energies > 1.5 * cutoff] < 0.05)
    # far above the critical angle: R → (δ² + β²) / (4θ⁴), corrections O(θ_c²/θ²) (2.5 % at 140 keV)
    far = 140.0
    d, b = (float(v) for v in get_material("Rh").refractive_index(far))
    asymptote = (d**2 + b**2) / (4 * 3e-3**4)
    assert float(mirror.reflectivity(far)) == pytest.approx(asymptote, rel=3 * 2 * d / 3e-3**2)
    # a lower angle reaches higher energies; roughness and more reflections only take photons away
    assert MirrorCutoff(material="Rh", angle_rad=2e-3).cutoff_energy_kev == pytest.approx(
        cutoff * 1.5, rel=0.05
    )
    rough = MirrorCutoff(material="Rh", angle_rad=3e-3, roughness_m=1e-9).reflectivity(energies)
    assert np.all(rough <= reflectivity)
    double = MirrorCutoff(material="Rh", angle_rad=3e-3, n_reflections=2)
    np.testing.assert_allclose(double.transmission(energies), reflectivity**2)
    assert double.label == "Rh mirror 3 mrad ×2"


def test_mirror_without_absorption_reflects_totally_below_the_critical_angle() -> None:
    silicon = get_material("Si")
    mirror = MirrorCutoff(material=silicon, angle_rad=2e-3)
    energies = np.array([5.0, 8.0])
    delta = silicon.delta(energies)
    root = np.sqrt(2e-3**2 - 2 * delta + 0j)  # β = 0: |r| = 1 exactly below θ_c
    assert np.allclose(np.abs((2e-3 - root) / (2e-3 + root)) ** 2, 1.0)
    assert np.all(mirror.reflectivity(energies) > 0.9)


def test_seed_preset() -> None:
    beamline = seed_beamline()
    assert beamline.energies_kev == tuple(float(e) for e in range(8, 31))
    source = beamline.source
    assert isinstance(source, BendingMagnet)
    assert (source.ring_energy_gev, source.field_t, source.current_a) == (2.5, 1.5, 0.106)
    assert source.distance_m == 30.0
    (al,) = beamline.filters
    assert isinstance(al, Filter) and al.material.name == "Al" and al.thickness_m == 0.7e-3
    white, filtered = beamline.unfiltered_spectrum(), seed_spectrum()
    expected = white.photons_per_s_m2 * transmission("Al", ENERGIES, thickness_m=0.7e-3)
    np.testing.assert_allclose(filtered.photons_per_s_m2, expected, rtol=1e-12)
    np.testing.assert_array_equal(seed_spectrum(filtered=False).photons_per_s_m2, white.photons_per_s_m2)
    assert get_preset("SEED") == beamline and "seed" in PRESETS


def test_bad_filter_inputs_name_the_value() -> None:
    with pytest.raises(ConfigError, match=r"thickness_m = -0.001 is not allowed"):
        Filter(material="Al", thickness_m=-1e-3)
    with pytest.raises(ConfigError, match="'Alu'"):
        Filter(material="Alu", thickness_m=1e-3)
    with pytest.raises(ConfigError, match=r"angle_rad = 0\.5"):
        MirrorCutoff(material="Rh", angle_rad=0.5)
    with pytest.raises(ConfigError, match="n_reflections = 0"):
        MirrorCutoff(material="Rh", angle_rad=3e-3, n_reflections=0)
    with pytest.raises(ConfigError, match="preset = 'nope'"):
        get_preset("nope")
    with pytest.raises(ConfigError, match="not a Spectrum"):
        apply_filters([1.0, 2.0], [])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="energies_kev"):
        transmission("Al", 0.1, thickness_m=1e-3)
