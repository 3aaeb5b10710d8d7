"""Unit conversion at the boundary: round trips, wrong dimensions, name suffixes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xrai.errors import UnitError
from xrai.units import canonical_unit, to_canonical, ureg

finite = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)

# (name, value in a non-canonical unit, that unit, factor to canonical)
CASES = [
    ("pixel_size_m", "um", 1e-6),
    ("distance_m", "mm", 1e-3),
    ("exposure_s", "ms", 1e-3),
    ("energy_kev", "eV", 1e-3),
    ("ring_energy_gev", "MeV", 1e-3),
    ("density_g_cm3", "kg/m**3", 1e-3),
    ("field_t", "mT", 1e-3),
    ("current_a", "mA", 1e-3),
    ("angle_rad", "mrad", 1e-3),
]


@pytest.mark.parametrize(("name", "unit", "factor"), CASES)
@given(x=finite)
def test_string_and_quantity_round_trip(name: str, unit: str, factor: float, x: float) -> None:
    expected = x * factor
    from_string = to_canonical(f"{x!r} {unit}", name=name)
    from_quantity = to_canonical(ureg().Quantity(x, unit), name=name)
    assert math.isclose(from_string, expected, rel_tol=1e-12)
    assert math.isclose(from_quantity, expected, rel_tol=1e-12)
    # back to the user's unit
    assert math.isclose(ureg().Quantity(from_string, canonical_unit(name)).to(unit).magnitude, x, rel_tol=1e-12)


@given(x=finite)
def test_plain_numbers_are_already_canonical(x: float) -> None:
    assert to_canonical(x, name="distance_m") == x


def test_common_spellings() -> None:
    assert to_canonical("0.65 µm", name="pixel_size_m") == pytest.approx(0.65e-6)
    assert to_canonical("0.65 um", name="pixel_size_m") == pytest.approx(0.65e-6)
    assert to_canonical("1.18 g/cm3", name="density_g_cm3") == pytest.approx(1.18)
    assert to_canonical("2.5 GeV", name="ring_energy_gev") == pytest.approx(2.5)
    assert to_canonical("106 mA", name="current_a") == pytest.approx(0.106)
    assert to_canonical("180 deg", name="angle_rad") == pytest.approx(math.pi)
    np.testing.assert_allclose(to_canonical(["10 keV", "20000 eV"], name="energies_kev"), [10.0, 20.0])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("distance_m", "5 kg"),
        ("distance_m", "3 s"),
        ("energy_kev", "2 m"),
        ("density_g_cm3", "1 g"),
        ("field_t", "1 A"),
        ("exposure_s", "1 Hz"),
    ],
)
def test_wrong_dimension_names_parameter_value_and_unit(name: str, value: str) -> None:
    with pytest.raises(UnitError) as info:
        to_canonical(value, name=name)
    message = str(info.value)
    assert name in message and value in message and "expected" in message


def test_unparseable_and_unknown_suffix() -> None:
    with pytest.raises(UnitError, match="distance_m"):
        to_canonical("five metres", name="distance_m")
    with pytest.raises(UnitError, match="no unit suffix"):
        to_canonical(1.0, name="distance")
    with pytest.raises(UnitError, match="boolean"):
        to_canonical(True, name="distance_m")
