"""xrai.testing: the public testing API — assertions, Hypothesis strategies and small phantoms.

Use it in your own tests of code built on xrai (or of a new xrai kernel):

- assertions (:mod:`.assertions`): :func:`assert_adjoint` (the dot-product test ⟨Ax, y⟩ = ⟨x, Aᴴy⟩),
  :func:`assert_linear`, :func:`assert_relative_rms` (a message with the error, the largest difference and
  where), :func:`assert_backend_parity` (numpy vs torch on CPU, and CUDA when present),
  :func:`assert_energy_conserved`;
- Hypothesis strategies (:mod:`.strategies`, needs ``hypothesis``): ``energies_kev()``, ``pixel_sizes_m()``,
  ``materials()``, ``angles_rad()``, ``projection_stacks()``, ``volumes()``, ``label_volumes()``,
  ``parallel_geometries()``, ``unit_strings(name)``, ``scan_configs()``;
- phantoms (:mod:`.phantoms`): :func:`disc` / :func:`disc_sinogram`, :func:`point` / :func:`point_columns`,
  :func:`shepp_logan`, :func:`gaussian_field` / :func:`gaussian_field_propagated`.

Names load on first use: ``import xrai.testing`` imports neither hypothesis, torch nor scikit-image. Library
code never imports this package (an import-linter contract).

Examples
--------
>>> import numpy as np
>>> from xrai.testing import assert_adjoint
>>> from xrai.ops.projector import ParallelProjector
>>> op = ParallelProjector((8, 8), np.linspace(0, np.pi, 5, endpoint=False))
>>> assert_adjoint(op.forward, op.adjoint, op.volume_shape, op.projection_shape) < 1e-9
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrai._lazy import attach

#: Public name -> submodule of xrai.testing that defines it (one line per name).
_LAZY: dict[str, str] = {
    # assertions
    "assert_adjoint": "assertions",
    "assert_backend_parity": "assertions",
    "assert_energy_conserved": "assertions",
    "assert_linear": "assertions",
    "assert_relative_rms": "assertions",
    "available_devices": "assertions",
    # phantoms
    "disc": "phantoms",
    "disc_sinogram": "phantoms",
    "gaussian_field": "phantoms",
    "gaussian_field_propagated": "phantoms",
    "point": "phantoms",
    "point_columns": "phantoms",
    "shepp_logan": "phantoms",
}


if TYPE_CHECKING:  # for type checkers and IDEs; never executed. Keep in step with _LAZY.
    from xrai.testing import strategies as strategies
    from xrai.testing.assertions import (  # noqa: F401
        assert_adjoint,
        assert_backend_parity,
        assert_energy_conserved,
        assert_linear,
        assert_relative_rms,
        available_devices,
    )
    from xrai.testing.phantoms import (  # noqa: F401
        disc,
        disc_sinogram,
        gaussian_field,
        gaussian_field_propagated,
        point,
        point_columns,
        shepp_logan,
    )


__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
