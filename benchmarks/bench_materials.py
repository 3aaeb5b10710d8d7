"""Optical constants: xrai's cached, per-element evaluation against plain scalar xraylib calls.

For a material and an energy grid, xrai evaluates δ, β, μ_total and μ_photo once per element and grid and
caches them; the peer is the obvious loop of scalar xraylib compound calls (``Refractive_Index_Re/Im``,
``CS_Total_CP``, ``CS_Photo_CP``) per energy.

    python benchmarks/bench_materials.py              # 2000 energies
    python benchmarks/bench_materials.py --small      # 200 energies
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xraylib

from xrai.physics.materials import _ELEMENT_CACHE, _material_table, get_material


def _peer(formula: str, density: float, energies: np.ndarray) -> np.ndarray:
    out = np.empty((4, energies.size))
    for j, e in enumerate(energies.tolist()):
        out[0, j] = 1 - xraylib.Refractive_Index_Re(formula, e, density)
        out[1, j] = xraylib.Refractive_Index_Im(formula, e, density)
        out[2, j] = xraylib.CS_Total_CP(formula, e) * density * 100
        out[3, j] = xraylib.CS_Photo_CP(formula, e) * density * 100
    return out


def _ours(name: str, energies: np.ndarray) -> np.ndarray:
    m = get_material(name)
    return np.stack([m.delta(energies), m.beta(energies), m.linear_attenuation_per_m(energies),
                     m.linear_attenuation_per_m(energies, kind="photo")])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="number of energies")
    parser.add_argument("--small", action="store_true", help="200 energies")
    args = parser.parse_args()
    n = 200 if args.small else args.n
    energies = np.linspace(5.0, 60.0, n)
    print(f"{n} energies, 4 quantities (δ, β, μ_total, μ_photo)")
    print(f"{'material':<10}{'xraylib loop [ms]':>19}{'xrai cold [ms]':>16}{'xrai cached [ms]':>18}"
          f"{'cold ratio':>12}{'cached ratio':>14}{'max rel diff':>14}")  # fmt: skip
    for name in ("LSO:Tb", "PMMA", "water"):
        material = get_material(name)
        assert material.formula is not None
        start = time.perf_counter()
        reference = _peer(material.formula, material.density_g_cm3, energies)
        peer = time.perf_counter() - start
        _ELEMENT_CACHE.clear()
        _material_table.cache_clear()
        start = time.perf_counter()
        result = _ours(name, energies)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(10):
            _ours(name, energies)
        cached = (time.perf_counter() - start) / 10
        diff = np.max(np.abs(result - reference) / np.abs(reference))
        print(f"{name:<10}{peer * 1e3:>19.2f}{cold * 1e3:>16.2f}{cached * 1e3:>18.3f}"
              f"{peer / cold:>12.2f}{peer / cached:>14.0f}{diff:>14.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
