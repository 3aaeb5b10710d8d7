"""Errors echo the bad value; options are scoped; geometry conventions; import hygiene."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from xrai.errors import ConfigError, XraiError, check_range
from xrai.geometry import ParallelBeamGeometry, pixel_centres
from xrai.options import get_options, set_options


def test_check_range_echoes_name_value_and_bound() -> None:
    with pytest.raises(ConfigError, match=r"thickness_m = -0.001 is not allowed: must be >= 0 m"):
        check_range("thickness_m", -0.001, low=0, unit="m")
    with pytest.raises(ConfigError, match="must be < 1"):
        check_range("fraction", 1.0, high=1, high_inclusive=False)
    with pytest.raises(ConfigError, match="nan"):
        check_range("x", float("nan"), low=0)
    assert issubclass(ConfigError, XraiError) and issubclass(ConfigError, ValueError)


def test_options_are_scoped() -> None:
    assert get_options().dtype == "float32"
    with set_options(dtype="float64", on_undersampling="raise"):
        assert get_options().dtype == "float64"
        assert get_options().on_undersampling == "raise"
    assert get_options().dtype == "float32"
    with pytest.raises(ConfigError, match="dtype"), set_options(dtype="int8"):
        pass
    with pytest.raises(ConfigError, match="unknown option"), set_options(colour="red"):
        pass


def test_pixel_centres_are_symmetric_about_the_optical_axis() -> None:
    for n in (1, 2, 7, 256):
        centres = pixel_centres(n, 0.4e-6)
        assert centres.sum() == pytest.approx(0.0, abs=1e-18)
        assert np.allclose(np.diff(centres), 0.4e-6)
    # syris: x = (j - n/2 + 0.5) * ps
    n = 256
    assert np.allclose(pixel_centres(n, 1.0), np.arange(n) - n / 2 + 0.5)


def test_parallel_beam_geometry_validates() -> None:
    g = ParallelBeamGeometry(angles_rad=np.linspace(0, np.pi, 5), n_rows=2, n_cols=10)
    assert g.rotation_center == 4.5 and g.projection_shape == (5, 2, 10)
    with pytest.raises(ConfigError, match="n_cols = 0"):
        ParallelBeamGeometry(angles_rad=np.zeros(3), n_rows=2, n_cols=0)
    with pytest.raises(ConfigError, match="angles_rad"):
        ParallelBeamGeometry(angles_rad=np.zeros((2, 2)), n_rows=2, n_cols=3)


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    ["import xrai", "import xrai.physics", "import xrai.tomo", "import xrai.io", "import xrai.kb",
     "import xrai.analysis", "import xrai.units, xrai.geometry, xrai.options"],
)  # fmt: skip
def test_library_layers_load_no_torch(statement: str) -> None:
    loaded = _modules_after(statement)
    assert "torch" not in loaded
    assert "monai" not in loaded


def test_import_xrai_is_cheap() -> None:
    loaded = _modules_after("import xrai")
    heavy = {"scipy", "matplotlib", "h5py", "zarr", "pint", "numba", "sqlalchemy", "xraylib"}
    assert not (heavy & loaded)
