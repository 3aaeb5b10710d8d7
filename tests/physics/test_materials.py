"""Materials: δ, β, μ against xraylib, NIST XCOM tables and the free-electron limit; library; errors."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xraylib

from xrai.errors import ConfigError, MaterialError
from xrai.physics.materials import (
    HC_KEV_M,
    LIBRARY,
    Material,
    available_materials,
    compound,
    get_material,
    load_materials,
    mixture,
    register_material,
)

ENERGIES = np.array([1.0, 1.5, 5.0, 8.048, 15.0, 20.0, 33.0, 60.0, 100.0, 150.0])
FORMULA_MATERIALS = ["PMMA", "water", "paraffin_wax", "ethanol", "Al", "Si", "Cu", "W", "Au", "LSO:Tb",
                     "LuAG:Ce", "YAG:Ce", "GGG", "CdWO4", "CsI:Tl", "kapton"]  # fmt: skip


@pytest.mark.parametrize("name", FORMULA_MATERIALS)
def test_delta_beta_mu_equal_xraylib_compound_functions(name: str) -> None:
    material = get_material(name)
    assert material.formula is not None
    rho = material.density_g_cm3
    delta = [1 - xraylib.Refractive_Index_Re(material.formula, e, rho) for e in ENERGIES]
    beta = [xraylib.Refractive_Index_Im(material.formula, e, rho) for e in ENERGIES]
    total = [xraylib.CS_Total_CP(material.formula, e) * rho * 100 for e in ENERGIES]
    photo = [xraylib.CS_Photo_CP(material.formula, e) * rho * 100 for e in ENERGIES]
    # xraylib returns 1 − δ: δ ~ 1e-8 keeps only ~8 digits there; at a 1e4-fold density all of them.
    np.testing.assert_allclose(material.delta(ENERGIES), delta, rtol=1e-7)
    precise = [(1 - xraylib.Refractive_Index_Re(material.formula, e, 1e4)) * rho / 1e4 for e in ENERGIES]
    np.testing.assert_allclose(material.delta(ENERGIES), precise, rtol=1e-10)
    np.testing.assert_allclose(material.beta(ENERGIES), beta, rtol=1e-9)
    np.testing.assert_allclose(material.linear_attenuation_per_m(ENERGIES), total, rtol=1e-9)
    np.testing.assert_allclose(material.linear_attenuation_per_m(ENERGIES, kind="photo"), photo, rtol=1e-9)


def test_mass_fraction_material_equals_xraylib_nist_compound() -> None:
    # xraylib's NIST compound "Air, Dry (near sea level)" has the same composition (to 6 digits).
    air = get_material("air")
    nist = "Air, Dry (near sea level)"
    rho = air.density_g_cm3
    np.testing.assert_allclose(
        air.delta(ENERGIES), [1 - xraylib.Refractive_Index_Re(nist, e, rho) for e in ENERGIES], rtol=1e-5
    )
    np.testing.assert_allclose(
        air.linear_attenuation_per_m(ENERGIES),
        [xraylib.CS_Total_CP(nist, e) * rho * 100 for e in ENERGIES],
        rtol=1e-5,
    )


# NIST XCOM / Hubbell & Seltzer (NIST SRD 126, doi:10.18434/T4D01F), μ/ρ total with coherent scattering, cm²/g,
# as tabulated (4 significant digits). xraylib's cross sections agree with them to about 0.1 %.
NIST_MU_RHO = [
    ("water", 10.0, 5.329),
    ("water", 20.0, 0.8096),
    ("water", 60.0, 0.2059),
    ("water", 100.0, 0.1707),
    ("Al", 10.0, 26.23),
    ("Al", 20.0, 3.441),
    ("Al", 100.0, 0.1704),
    ("Cu", 20.0, 33.79),
    ("Cu", 50.0, 2.613),
    ("W", 100.0, 4.438),
]


@pytest.mark.parametrize(("name", "energy", "expected"), NIST_MU_RHO)
def test_mass_attenuation_against_nist_xcom(name: str, energy: float, expected: float) -> None:
    material = get_material(name)
    assert material.mass_attenuation_cm2_g(energy) == pytest.approx(expected, rel=3e-3)
    mu = material.linear_attenuation_per_m(energy)
    assert mu == pytest.approx(expected * material.density_g_cm3 * 100, rel=3e-3)


def test_water_linear_attenuation_at_20_kev() -> None:
    # NIST XCOM: water μ/ρ(20 keV) = 0.8096 cm²/g, ρ = 1 g/cm³ → μ = 80.96 1/m
    assert float(get_material("water").linear_attenuation_per_m(20.0)) == pytest.approx(80.96, rel=1e-3)


def test_delta_of_silicon_at_cu_k_alpha_against_henke() -> None:
    # Henke/CXRO tables: Si (2.33 g/cm³) at 8.048 keV, δ = 7.6e-6 (critical angle 0.223°).
    assert float(get_material("Si").delta(8.048)) == pytest.approx(7.6e-6, rel=1e-2)


@pytest.mark.parametrize("energy", [30.0, 60.0, 100.0])
def test_delta_approaches_free_electron_limit_for_water(energy: float) -> None:
    # Far above the K edge of O, δ = r_e λ² n_e / (2π) with n_e from the composition, to < 0.5 %.
    r_e = 2.8179403262e-15
    avogadro = 6.02214076e23
    molar_mass = 2 * xraylib.AtomicWeight(1) + xraylib.AtomicWeight(8)
    n_e = 1.0e6 * avogadro * 10 / molar_mass  # electrons per m³ at 1 g/cm³
    wavelength = HC_KEV_M / energy
    expected = r_e * wavelength**2 * n_e / (2 * math.pi)
    assert float(get_material("water").delta(energy)) == pytest.approx(expected, rel=5e-3)


@pytest.mark.parametrize("name", ["water", "PMMA", "cortical_bone", "LSO:Tb", "W"])
def test_beta_is_total_attenuation_times_wavelength_over_four_pi(name: str) -> None:
    material = get_material(name)
    wavelength = HC_KEV_M / ENERGIES
    np.testing.assert_allclose(
        4 * np.pi * material.beta(ENERGIES) / wavelength,
        material.linear_attenuation_per_m(ENERGIES),
        rtol=1e-6,
    )


def test_photo_absorption_is_part_of_total() -> None:
    for name in available_materials():
        material = get_material(name)
        photo = material.linear_attenuation_per_m(ENERGIES, kind="photo")
        total = material.linear_attenuation_per_m(ENERGIES)
        assert np.all(photo > 0) and np.all(photo < total), name


def test_shapes_dtype_and_cache_isolation() -> None:
    water = get_material("water")
    grid = np.array([[10.0, 20.0, 30.0], [20.0, 20.0, 10.0]])
    delta = water.delta(grid)
    assert delta.shape == grid.shape and delta.dtype == np.float64
    assert delta[0, 1] == delta[1, 0] == delta[1, 1]
    assert water.delta(20.0).shape == ()
    assert isinstance(water.delta([15.0]), np.ndarray)
    delta[...] = -1.0  # the caller's copy is writable and does not leak into the cache
    assert np.all(water.delta(grid) > 0)
    np.testing.assert_array_equal(water.refractive_index(grid)[1], water.beta(grid))
    np.testing.assert_allclose(water.delta_beta_ratio(grid), water.delta(grid) / water.beta(grid))


def test_density_scales_linearly() -> None:
    pmma = get_material("pmma")
    dense = pmma.with_density(2 * pmma.density_g_cm3)
    np.testing.assert_allclose(dense.delta(ENERGIES), 2 * pmma.delta(ENERGIES), rtol=1e-12)
    np.testing.assert_allclose(
        dense.linear_attenuation_per_m(ENERGIES), 2 * pmma.linear_attenuation_per_m(ENERGIES)
    )
    np.testing.assert_allclose(dense.mass_attenuation_cm2_g(ENERGIES), pmma.mass_attenuation_cm2_g(ENERGIES))


def test_mixture_is_mass_weighted_sum_of_components() -> None:
    water, pmma = get_material("water"), get_material("PMMA")
    blend = mixture({water: 0.3, "pmma": 0.7}, density_g_cm3=1.1, name="blend")
    expected = 0.3 * water.mass_attenuation_cm2_g(ENERGIES) + 0.7 * pmma.mass_attenuation_cm2_g(ENERGIES)
    np.testing.assert_allclose(blend.mass_attenuation_cm2_g(ENERGIES), expected, rtol=1e-10)
    per_density = 0.3 * water.delta(ENERGIES) / water.density_g_cm3 + 0.7 * pmma.delta(ENERGIES) / 1.18
    np.testing.assert_allclose(blend.delta(ENERGIES), 1.1 * per_density, rtol=1e-10)
    assert sum(blend.composition.values()) == pytest.approx(1.0)


def test_formula_and_element_fractions_agree() -> None:
    by_formula = compound("H2O", density_g_cm3=1.0)
    fractions = by_formula.composition
    by_fractions = Material(name="w2", density_g_cm3=1.0, mass_fractions=fractions)
    np.testing.assert_allclose(by_fractions.beta(ENERGIES), by_formula.beta(ENERGIES), rtol=1e-12)
    by_formula_keys = Material(name="w3", density_g_cm3=1.0, mass_fractions={"H2O": 1.0})
    np.testing.assert_allclose(by_formula_keys.delta(ENERGIES), by_formula.delta(ENERGIES), rtol=1e-12)


def test_icru_compositions_sum_to_one_and_bone_is_denser_and_more_absorbing() -> None:
    tissue, bone = get_material("soft tissue"), get_material("Cortical-Bone")
    for material in (tissue, bone):
        assert material.mass_fractions is not None
        assert sum(material.mass_fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert tissue.density_g_cm3 == 1.06 and bone.density_g_cm3 == 1.92
    assert np.all(bone.linear_attenuation_per_m(ENERGIES) > 3 * tissue.linear_attenuation_per_m(ENERGIES) / 2)


def test_library_is_documented_and_names_are_case_insensitive() -> None:
    required = {"PMMA", "water", "air", "soft_tissue", "cortical_bone", "paraffin_wax", "ethanol", "agarose",
                "steel", "Al", "Si", "Cu", "W", "Au", "LSO:Tb", "LuAG:Ce", "YAG:Ce", "GGG", "CdWO4"}  # fmt: skip
    assert required <= set(LIBRARY)
    for material in LIBRARY.values():
        assert material.reference and material.density_g_cm3 > 0
    lso = get_material("lso:tb")
    assert lso.formula == "Lu2SiO5" and lso.density_g_cm3 == 7.4
    assert get_material("LSO") is lso and get_material("Lu2SiO5") is lso
    assert get_material("Perspex") is get_material("pmma")
    assert get_material("ALUMINIUM") is get_material("al")
    assert get_material(lso) is lso
    iron = get_material("Fe")  # any element symbol: the element at its tabulated density
    assert iron.formula == "Fe" and iron.density_g_cm3 == pytest.approx(7.874)


def test_materials_hash_compare_and_pickle() -> None:
    bone = get_material("bone")
    assert pickle.loads(pickle.dumps(bone)) == bone
    assert hash(pickle.loads(pickle.dumps(bone))) == hash(bone)
    assert len({get_material("water"), compound("H2O", density_g_cm3=1.0, name="water")}) == 1


def test_user_materials_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[materials.test_epoxy_x1]\ndensity_g_cm3 = "1.15 g/cm3"\nformula = "C21H25ClO5"\n'
        'aliases = ["test_araldite_x1"]\nreference = "data sheet"\n'
        "[materials.test_fix_x1]\ndensity_g_cm3 = 1.02\nmass_fractions = { H2O = 0.96, CH2O = 0.04 }\n",
        encoding="utf-8",
    )
    loaded = load_materials(path)
    assert [m.name for m in loaded] == ["test_epoxy_x1", "test_fix_x1"]
    assert get_material("Test_Araldite_X1").density_g_cm3 == pytest.approx(1.15)
    assert get_material("test_fix_x1").composition["C"] > 0

    env_file = tmp_path / "env.toml"
    env_file.write_text('[materials.test_env_x1]\ndensity_g_cm3 = 2.0\nformula = "SiO2"\n', encoding="utf-8")
    monkeypatch.setenv("XRAI_MATERIALS", str(env_file))
    assert get_material("test_env_x1").formula == "SiO2"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[materials.a]\nformula = 'H2O'\n", "density_g_cm3 is missing"),
        ("[materials.b]\ndensity_g_cm3 = 1\nformula = 'H2O'\ncolour = 'red'\n", "unknown keys"),
        ("[materials.c]\ndensity_g_cm3 = '1 kg'\nformula = 'H2O'\n", "density_g_cm3"),
        ("[materials.d]\ndensity_g_cm3 = -1\nformula = 'H2O'\n", "density_g_cm3 = -1"),
        ("[materials.e]\ndensity_g_cm3 = 1\nformula = 'Qq2O'\n", "Qq2O"),
        ("not toml ===", "not valid TOML"),
        ("[other]\n", "no \\[materials"),
    ],
)
def test_bad_material_files_are_rejected_with_the_entry_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_materials(path)


def test_missing_material_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_materials("/nonexistent/xrai-materials.toml")


def test_register_refuses_to_shadow_silently() -> None:
    mine = compound("H2O", density_g_cm3=0.5, name="test_light_water_x1")
    register_material(mine)
    with pytest.raises(MaterialError, match="already taken"):
        register_material(compound("H2O2", density_g_cm3=1.1, name="test_light_water_x1"))
    with pytest.raises(MaterialError, match="already taken"):
        register_material(compound("H2O", density_g_cm3=2.0, name="something"), aliases=["water"])


def test_bad_inputs_name_the_value() -> None:
    water = get_material("water")
    with pytest.raises(MaterialError, match=r"energies_kev = \[0.5\].*1–150 keV"):
        water.delta(0.5)
    with pytest.raises(MaterialError, match=r"energies_kev = \[200.0\]"):
        water.linear_attenuation_per_m([20.0, 200.0])
    with pytest.raises(MaterialError, match="nan"):
        water.beta(np.nan)
    with pytest.raises(MaterialError, match="'Xy2O'"):
        compound("Xy2O", density_g_cm3=1.0)
    with pytest.raises(MaterialError, match=r"density_g_cm3 = -1.0"):
        compound("H2O", density_g_cm3=-1.0)
    with pytest.raises(MaterialError, match="density_g_cm3 = 0"):
        Material(name="x", density_g_cm3=0, formula="H2O")
    with pytest.raises(MaterialError, match=r"'unobtainium'.*unknown"):
        get_material("unobtainium")
    with pytest.raises(MaterialError, match="did you mean water"):
        get_material("watr")
    with pytest.raises(MaterialError, match=r"sum to 0\.5"):
        Material(name="half", density_g_cm3=1.0, mass_fractions={"H": 0.25, "O": 0.25})
    with pytest.raises(MaterialError, match="exactly one of"):
        Material(name="both", density_g_cm3=1.0, formula="H2O", mass_fractions={"H2O": 1.0})
    with pytest.raises(MaterialError, match="Zz"):
        Material(name="zz", density_g_cm3=1.0, mass_fractions={"Zz": 1.0})
    with pytest.raises(MaterialError, match=r"fraction of 'water' = -0\.1"):
        mixture({"water": -0.1, "pmma": 1.1}, density_g_cm3=1.0, name="neg")
    with pytest.raises(ConfigError, match="kind = 'compton'"):
        water.linear_attenuation_per_m(20.0, kind="compton")  # type: ignore[arg-type]


def test_import_physics_is_light() -> None:
    code = "import sys, xrai.physics; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not {"torch", "scipy", "xraylib", "matplotlib"} & loaded
