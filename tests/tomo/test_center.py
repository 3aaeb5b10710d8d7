"""Rotation-axis finding: phantoms projected with a known off-centre axis, and the real tooth scan."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import rescale

from xrai.errors import ConfigError, DataError
from xrai.ops.projector import ParallelProjector
from xrai.tomo.center import CenterResult, find_center
from xrai.tomo.fbp import reconstruct_fbp

TOOTH = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "tooth.h5"
N_COLS = 128


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return rescale(shepp_logan_phantom(), 0.25, anti_aliasing=True)  # 100 x 100


def project(image: np.ndarray, angles: np.ndarray, center: float) -> np.ndarray:
    return ParallelProjector(image.shape, angles, n_cols=N_COLS, center_col=center).forward(image)


ANGLE_SETS = {
    "0-180 inclusive": np.linspace(0, np.pi, 181),
    "0-179 (no exact pair)": np.deg2rad(np.linspace(0, 179, 150)),
    "full turn": np.linspace(0, 2 * np.pi, 240, endpoint=False),
}


@pytest.mark.parametrize("offset", [-12.37, -3.5, 0.0, 5.81, 13.25])
@pytest.mark.parametrize("method", ["registration", "quality", "auto"])
def test_off_centre_axis_found_within_a_quarter_pixel(
    phantom: np.ndarray, offset: float, method: str
) -> None:
    center = (N_COLS - 1) / 2 + offset
    angles = ANGLE_SETS["0-180 inclusive"]
    result = find_center(project(phantom, angles, center), angles_rad=angles, method=method)
    assert isinstance(result, CenterResult) and result.method == method
    assert abs(result.center - center) < 0.25
    assert 0.3 < result.confidence <= 1.0


@pytest.mark.parametrize("angle_set", list(ANGLE_SETS))
def test_angle_sets_and_projection_stacks(phantom: np.ndarray, angle_set: str) -> None:
    angles = ANGLE_SETS[angle_set]
    center = (N_COLS - 1) / 2 + 9.4
    sino = project(phantom, angles, center)
    stack = np.repeat(sino[:, None, :], 3, axis=1)  # [angle, row, col]
    for method in ("registration", "quality"):
        result = find_center(stack, angles_rad=angles, method=method)
        assert abs(result.center - center) < 0.25, (method, result.center - center)


def test_registration_works_on_raw_intensities(phantom: np.ndarray) -> None:
    angles = ANGLE_SETS["0-180 inclusive"]
    center = 70.6
    intensities = 1000.0 * np.exp(-0.05 * project(phantom, angles, center))
    result = find_center(intensities, angles_rad=angles, method="registration")
    assert abs(result.center - center) < 0.25


def test_confidence_drops_for_noise() -> None:
    rng = np.random.default_rng(0)
    angles = np.linspace(0, np.pi, 181)
    result = find_center(rng.random((181, N_COLS)), angles_rad=angles, method="registration")
    assert result.confidence < 0.3


def test_registration_without_opposite_pair_falls_back() -> None:
    angles = np.linspace(0, np.pi / 2, 60)
    image = np.zeros((48, 48))
    image[10:20, 25:35] = 1.0
    sino = ParallelProjector(image.shape, angles, n_cols=64).forward(image)
    with pytest.raises(DataError, match="180°"):
        find_center(sino, angles_rad=angles, method="registration")
    assert find_center(sino, angles_rad=angles, method="auto").method == "auto"


def test_bad_input_names_field_and_value() -> None:
    sino = np.ones((10, 16))
    angles = np.linspace(0, np.pi, 10)
    with pytest.raises(ConfigError, match="method = 'sharpest'"):
        find_center(sino, angles_rad=angles, method="sharpest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="9 values"):
        find_center(sino, angles_rad=angles[:9])
    with pytest.raises(ConfigError, match="search_range"):
        find_center(sino, angles_rad=angles, method="quality", search_range=(12, 40))
    with pytest.raises(DataError, match="shape"):
        find_center(np.ones(16), angles_rad=angles)


# ------------------------------------------------------------------------------------------------- real data


def _sharpness(image: np.ndarray) -> float:
    """Mean gradient magnitude over the mean absolute value inside the reconstruction circle (not the
    finder's metric)."""
    n = image.shape[0]
    c = np.arange(n) - (n - 1) / 2
    circle = c[:, None] ** 2 + c[None, :] ** 2 < (0.95 * (n - 1) / 2) ** 2
    gy, gx = np.gradient(image)
    return float(np.hypot(gx, gy)[circle].mean() / np.abs(image[circle]).mean())


@pytest.mark.skipif(not TOOTH.exists(), reason="real data not available")
def test_tooth_scan_centre_and_sharp_slice() -> None:
    with h5py.File(TOOTH, "r") as f:
        data = f["exchange/data"][:].astype(np.float64)
        flat = f["exchange/data_white"][:].astype(np.float64).mean(axis=0)
        dark = f["exchange/data_dark"][:].astype(np.float64).mean(axis=0)
        angles = np.deg2rad(f["exchange/theta"][:])
    line_integrals = -np.log(np.clip((data - dark) / (flat - dark), 1e-3, None))
    registration = find_center(line_integrals, angles_rad=angles, method="registration")
    quality = find_center(line_integrals[:, 1], angles_rad=angles, method="quality")  # whole search range
    for found in (registration, quality):
        assert 289.0 <= found.center <= 297.0
    assert abs(registration.center - quality.center) < 1.0  # independent methods agree
    center = quality.center
    sharp = {dc: _sharpness(reconstruct_fbp(line_integrals[:, 0], angles_rad=angles, center=center + dc))
             for dc in (-3.0, 0.0, 3.0)}  # fmt: skip
    assert sharp[0.0] > sharp[-3.0] and sharp[0.0] > sharp[3.0]
