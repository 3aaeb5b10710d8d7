"""The loops behind :func:`xrai.physics.propagation.polychromatic_intensity` and its input checks (private).

Two engines: an allocation-free numpy hot loop (transmission only on the sample's bounding box with numpy's SIMD
exp/cos/sin, in-place scipy FFTs, fused numba passes) for the projection approximation, and an out-of-place
loop for any array namespace (torch on CPU or CUDA, autograd-safe) that also does multislice.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, device_of, is_torch, to_numpy
from xrai._typing import Array
from xrai.errors import ApproximationWarning, ConfigError, SamplingWarning
from xrai.physics.propagation import (
    RefractiveMaterial,
    _apply_kernel,
    _crop,
    _kernel,
    _kernel_on,
    _numba_kernels,
    _polar,
    _propagate_spectrum,
    _report,
    _weighted_sum,
    depth_of_field_m,
    slices_needed,
    wavenumber_per_m,
)

__all__ = [
    "as_slices",
    "check_sample_sampling",
    "check_thickness",
    "intensity_generic",
    "intensity_numpy",
    "optical_constants",
]


def optical_constants(
    names: Sequence[str],
    materials: Mapping[str, RefractiveMaterial | str] | None,
    energies: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    deltas = np.empty((len(names), energies.size))
    betas = np.empty((len(names), energies.size))
    for i, name in enumerate(names):
        material: Any = None if materials is None else materials.get(name)
        if material is None or isinstance(material, str):
            from xrai.physics.materials import get_material

            material = get_material(material or name)
        deltas[i] = np.broadcast_to(np.asarray(material.delta(energies), dtype=np.float64), energies.shape)
        betas[i] = np.broadcast_to(np.asarray(material.beta(energies), dtype=np.float64), energies.shape)
    return deltas, betas


def as_slices(thickness_m: Any) -> list[Mapping[str, Array]]:
    if isinstance(thickness_m, Mapping):
        slices = [thickness_m]
    elif isinstance(thickness_m, Sequence) and all(isinstance(s, Mapping) for s in thickness_m):
        slices = list(thickness_m)
    else:
        raise ConfigError(
            "thickness_m must be a mapping material -> thickness map (m), or a sequence of such mappings "
            f"(multislice), got {type(thickness_m).__name__}"
        )
    if not slices or not slices[0]:
        raise ConfigError("thickness_m is empty: give at least one material's thickness map")
    return slices


def check_thickness(name: str, t: Array) -> None:
    low = float(to_numpy(array_namespace(t).min(t))) if t.size else 0.0
    if not low >= 0:  # also catches NaN
        raise ConfigError(
            f"thickness of {name!r}: minimum {low:g} m is not allowed: must be >= 0 m (and finite)"
        )


def check_sample_sampling(
    slices: Sequence[Mapping[str, Array]],
    names: Sequence[str],
    deltas: npt.NDArray[np.float64],
    energies: npt.NDArray[np.float64],
    active: npt.NDArray[np.intp],
    pixels: tuple[float, float],
    spacing: float,
    multi: bool,
    propagates: bool,
) -> None:
    """Warn when the transmission phase is under-sampled (only matters if light propagates) or a slice exceeds
    the depth of field."""
    if not active.size:
        return
    e = int(active[np.argmin(energies[active])])  # the largest phase and the shortest depth of field
    k = wavenumber_per_m(float(energies[e]))
    for s in slices if propagates else ():
        maps = [to_numpy(s[name]) for name in names]
        phase = _weighted_sum(np, maps, [k * deltas[i, e] for i in range(len(names))])
        step = max(
            float(np.abs(np.diff(phase, axis=-1)).max(initial=0.0)),
            float(np.abs(np.diff(phase, axis=-2)).max(initial=0.0)),
        )
        if step > math.pi:
            _report(
                f"transmission under-sampled: the phase k·δ·t jumps by {step:.3g} rad > π between neighbouring "
                f"pixels at {energies[e]:g} keV; use a smaller pixel size or anti-aliased thickness maps",
                SamplingWarning,
                3,
            )
            break
    dof = depth_of_field_m(min(pixels), energy_kev=float(energies[e]))
    if multi:
        if spacing > dof:
            _report(
                f"slice_spacing_m = {spacing:g} m exceeds the depth of field p²/λ = {dof:.4g} m at "
                f"{energies[e]:g} keV: use {math.ceil(spacing / dof)}× more slices",
                ApproximationWarning,
                3,
            )
        return
    thickest = float(sum(to_numpy(slices[0][name]) for name in names).max(initial=0.0))  # type: ignore[union-attr]
    if thickest > dof:
        _report(
            f"projection approximation invalid: the sample is {thickest:.4g} m thick along the beam, more than "
            f"the depth of field p²/λ = {dof:.4g} m at {energies[e]:g} keV; use multislice with >= "
            f"{slices_needed(thickest, pixel_size_m=min(pixels), energy_kev=float(energies[e]))} slices",
            ApproximationWarning,
            3,
        )


def intensity_numpy(
    maps: Sequence[np.ndarray],
    deltas: npt.NDArray[np.float64],
    betas: npt.NDArray[np.float64],
    energies: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    active: npt.NDArray[np.intp],
    shape: tuple[int, int],
    target: tuple[int, int],
    pixels: tuple[float, float],
    z: float,
    method: str,
    mollified: bool,
) -> np.ndarray:
    """The numpy hot loop: T only where the sample is, SIMD cos/sin, pruned in-place FFTs, fused numba passes.

    One complex work buffer serves every energy (no allocation, hence no page faults, in the loop). The 2-D
    FFTs run axis by axis so that the expensive strided pass over the columns is skipped where its result is
    known: forward, the columns outside the sample's bounding box are all ones, whose transform is ``N·δ``;
    inverse, only the columns inside the crop (the unpadded field of view) are needed.
    """
    rdtype = maps[0].dtype
    cdtype = np.result_type(rdtype, np.complex64)
    support = np.zeros(target, dtype=bool)
    for t in maps:
        support |= t != 0
    rows = np.flatnonzero(support.any(axis=1))
    cols = np.flatnonzero(support.any(axis=0))
    total = np.zeros(shape, dtype=rdtype)
    work = np.empty(target, dtype=cdtype)
    r0, c0 = (target[0] - shape[0]) // 2, (target[1] - shape[1]) // 2
    crop = (slice(r0, r0 + shape[0]), slice(c0, c0 + shape[1]))
    box = (slice(0, 0), slice(0, 0))
    if rows.size:
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        local = [np.ascontiguousarray(t[box]) for t in maps]
        amplitude = np.empty_like(local[0])
        phase = np.empty_like(local[0])
        cosine = np.empty_like(local[0])
        scratch = np.empty_like(local[0]) if len(local) > 1 else None
    for e in active:
        energy = float(energies[e])
        k = wavenumber_per_m(energy)
        if rows.size:
            band = work[:, box[1]]  # the columns that hold the sample: T there, 1 above and below it
            band[: box[0].start] = 1.0
            band[box[0].stop :] = 1.0
            _weighted_sum_into(amplitude, local, -k * betas[:, e], scratch)
            _weighted_sum_into(phase, local, -k * deltas[:, e], scratch)
            np.exp(amplitude, out=amplitude)
            np.cos(phase, out=cosine)
            np.sin(phase, out=phase)
            window = work[box]
            np.multiply(amplitude, cosine, out=window.real)
            np.multiply(amplitude, phase, out=window.imag)
        kernel = _kernel_on(
            _kernel(target, pixels, distance_m=z, energy_kev=energy, method=method, mollified=mollified),
            work,
            None,
        )
        _forward_pruned(work, box[1])
        _apply_kernel(work, kernel)
        _inverse_pruned(work, crop[1])
        _accumulate_intensity(total, work[crop], float(weights[e]))
    return total


def _fft_in_place(view: np.ndarray, *, axis: int, inverse: bool) -> None:
    """1-D FFT of a (possibly strided) view along ``axis``, written back into the view."""
    import scipy.fft

    from xrai.ops.fft import default_workers

    if view.size == 0:
        return
    transform = scipy.fft.ifft if inverse else scipy.fft.fft
    out = transform(view, axis=axis, overwrite_x=True, workers=default_workers())
    if not np.shares_memory(out, view):  # pragma: no cover - scipy transforms complex views in place
        view[...] = out


def _forward_pruned(work: np.ndarray, cols: slice) -> None:
    """In-place 2-D FFT of ``work`` whose columns outside ``cols`` are all ones (their transform is N₀·δ)."""
    _fft_in_place(work[:, cols], axis=0, inverse=False)
    n0 = work.shape[0]
    for outside in (slice(0, cols.start), slice(cols.stop, None)):
        block = work[:, outside]
        block[0] = n0
        block[1:] = 0
    _fft_in_place(work, axis=1, inverse=False)


def _inverse_pruned(work: np.ndarray, cols: slice) -> None:
    """In-place inverse 2-D FFT of ``work``, exact in the columns ``cols`` only (the others are left garbage)."""
    _fft_in_place(work, axis=1, inverse=True)
    _fft_in_place(work[:, cols], axis=0, inverse=True)


def _support_box(xp: Any, maps: Sequence[Array]) -> tuple[slice, slice] | None:
    """The smallest (rows, cols) window holding every non-zero thickness (``None`` if there is none)."""
    nonzero = maps[0] != 0
    for t in maps[1:]:
        nonzero = nonzero | (t != 0)
    rows = xp.nonzero(xp.any(nonzero, axis=1))[0]
    cols = xp.nonzero(xp.any(nonzero, axis=0))[0]
    if rows.shape[0] == 0:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _squared_modulus(field: Array) -> Array:
    """|field|² as a real array (one pass on torch via view_as_real)."""
    if is_torch(field):
        return sys.modules["torch"].view_as_real(field).square().sum(dim=-1)
    return field.real**2 + field.imag**2


def _weighted_sum_into(out: np.ndarray, maps: Sequence[np.ndarray], coefficients: Any, scratch: Any) -> None:
    np.multiply(maps[0], out.dtype.type(coefficients[0]), out=out)
    for t, c in zip(maps[1:], coefficients[1:], strict=True):
        np.multiply(t, out.dtype.type(c), out=scratch)
        out += scratch


def intensity_generic(
    slices: Sequence[Sequence[Array]],
    deltas: npt.NDArray[np.float64],
    betas: npt.NDArray[np.float64],
    energies: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    active: npt.NDArray[np.intp],
    shape: tuple[int, int],
    target: tuple[int, int],
    pixels: tuple[float, float],
    z: float,
    spacing: float,
    method: str,
    mollified: bool,
    cdtype: Any,
) -> Array:
    """Any backend, out of place (autograd-safe), multislice included."""
    like = slices[0][0]
    xp = array_namespace(like)
    numpy_backend = isinstance(like, np.ndarray)
    device = device_of(like)
    box = _support_box(xp, [t for maps in slices for t in maps])
    local = [[t[box] for t in maps] for maps in slices] if box is not None else None
    total: Any = None
    for e in active:
        energy = float(energies[e])
        k = wavenumber_per_m(energy)
        last = _kernel_on(
            _kernel(target, pixels, distance_m=z, energy_kev=energy, method=method, mollified=mollified),
            like,
            cdtype,
        )
        step = None
        if len(slices) > 1:
            step = _kernel_on(
                _kernel(
                    target, pixels, distance_m=spacing, energy_kev=energy, method=method, mollified=mollified
                ),
                like,
                cdtype,
            )
        field: Any = None
        for index in range(len(slices)):
            t = xp.ones(target, dtype=cdtype, device=device)  # T = 1 where there is no sample
            if local is not None:
                maps = local[index]
                attenuation = _weighted_sum(xp, maps, [-k * b for b in betas[:, e]])
                phase = _weighted_sum(xp, maps, [-k * d for d in deltas[:, e]])
                t[box] = _polar(xp, xp.exp(attenuation), phase)
            if field is None:
                field = t
            else:
                assert step is not None
                field = _propagate_spectrum(field, step, in_place=numpy_backend) * t
        exit_wave = _crop(_propagate_spectrum(field, last, in_place=numpy_backend), shape)
        term = _squared_modulus(exit_wave)
        term *= float(weights[e])
        if total is None:
            total = term
        else:
            total += term
    if total is None:
        rdtype = xp.float64 if cdtype == xp.complex128 else xp.float32
        total = xp.zeros(shape, dtype=rdtype, device=device)
    return total


def _accumulate_intensity(total: np.ndarray, field: np.ndarray, weight: float) -> None:
    """total += weight · |field|², in place (field may be a cropped view)."""
    kernels = _numba_kernels()
    if kernels is not None and field.ndim == 2:
        kernels[1](total, field, total.dtype.type(weight))
        return
    square = np.multiply(field.real, field.real)
    square += field.imag * field.imag
    if weight != 1.0:
        square *= weight
    total += square
