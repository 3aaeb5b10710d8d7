"""Assertions for tests of numerical kernels: adjointness, linearity, relative error, backend parity, energy.

Every assertion raises :class:`AssertionError` with a message that says what was compared, by how much it
missed and where, so a failing test explains itself. They accept numpy arrays and torch tensors alike (values
are compared on the CPU in float64/complex128), and none of them needs pytest.

Examples
--------
>>> import numpy as np
>>> from xrai.testing import assert_adjoint, assert_relative_rms
>>> a = np.random.default_rng(0).standard_normal((5, 3))
>>> rel = assert_adjoint(lambda x: a @ x, lambda y: a.T @ y, (3,), (5,), rng=1)
>>> rel < 1e-12
True
>>> assert_relative_rms(np.ones(4) * (1 + 1e-7), np.ones(4), max_rel_rms=1e-6) < 1e-6
True
"""

from __future__ import annotations

import math
import unittest
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng, is_torch, to_numpy
from xrai._typing import RngLike

__all__ = [
    "assert_adjoint",
    "assert_backend_parity",
    "assert_energy_conserved",
    "assert_linear",
    "assert_relative_rms",
    "available_devices",
    "default_rtol",
]

#: Default relative tolerance of the adjoint and linearity checks per working dtype.
_RTOL = {"float64": 1e-9, "complex128": 1e-9, "float32": 2e-4, "complex64": 2e-4}


def default_rtol(dtype: str) -> float:
    """The default relative tolerance of :func:`assert_adjoint` / :func:`assert_linear` for ``dtype``."""
    return _RTOL[_dtype_name(dtype)]


def _dtype_name(dtype: Any) -> str:
    name = str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
    if name not in _RTOL:
        raise ValueError(
            f"dtype = {dtype!r} is not allowed: must be 'float32', 'float64', 'complex64' or 'complex128'"
        )
    return name


def _random(rng: np.random.Generator, shape: Sequence[int], dtype: str) -> npt.NDArray[Any]:
    """A standard normal array (complex: independent real and imaginary parts of variance 1/2 each)."""
    shape = tuple(int(n) for n in shape)
    if dtype.startswith("complex"):
        values = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2.0)
    else:
        values = rng.standard_normal(shape)
    return np.asarray(values, dtype=dtype)


def _on_backend(array: npt.NDArray[Any], xp: Any, device: Any) -> Any:
    """``array`` moved to namespace ``xp`` (``None`` or numpy: unchanged) on ``device``."""
    if xp is None or xp is np or getattr(xp, "__name__", "").endswith("numpy"):
        return array
    if device is None:
        return xp.asarray(array)
    return xp.asarray(array, device=device)


def _as_numpy(x: Any, what: str) -> npt.NDArray[Any]:
    try:
        return np.asarray(to_numpy(x))
    except Exception as exc:  # a clear message instead of a conversion traceback
        raise AssertionError(f"{what} is not an array ({type(x).__name__}): {exc}") from None


def _where(diff: npt.NDArray[Any]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.size else ()


# ----------------------------------------------------------------------------------------------------------------
# Adjointness and linearity
# ----------------------------------------------------------------------------------------------------------------


def assert_adjoint(
    forward: Callable[[Any], Any],
    adjoint: Callable[[Any], Any],
    x_shape: Sequence[int],
    y_shape: Sequence[int],
    *,
    rng: RngLike = 0,
    rtol: float | None = None,
    dtype: str = "float64",
    xp: Any = None,
    device: Any = None,
    n_trials: int = 1,
) -> float:
    """Assert ``⟨A x, y⟩ = ⟨x, Aᴴ y⟩`` for random ``x`` and ``y`` (the dot-product test).

    Parameters
    ----------
    forward, adjoint
        ``A`` (maps an array of ``x_shape`` to one of ``y_shape``) and its claimed adjoint ``Aᴴ``.
    x_shape, y_shape
        Shapes of the domain and range.
    rng
        Seed or Generator of the standard normal test vectors.
    rtol
        Allowed relative difference (see Notes); default 1e-9 in double and 2e-4 in single precision.
    dtype
        ``"float64"`` (default), ``"float32"``, ``"complex128"`` or ``"complex64"``: the test vectors' dtype.
        Complex vectors test the Hermitian adjoint.
    xp, device
        Array namespace (``None`` = numpy; ``torch`` or an array-API namespace) and device of the test vectors.
    n_trials
        Number of independent ``(x, y)`` pairs.

    Returns
    -------
    float
        The largest relative difference found.

    Notes
    -----
    The difference ``|⟨Ax, y⟩ − ⟨x, Aᴴy⟩|`` is divided by
    ``max(|⟨Ax, y⟩|, ‖Ax‖‖y‖/√M, ‖x‖‖Aᴴy‖/√N)`` (``M``, ``N`` the sizes of range and domain): the products of
    norms are the typical size of the inner product of independent random vectors, so a draw that happens to
    make ``⟨Ax, y⟩`` small does not inflate the error. A wrong adjoint (a missing conjugate, a transposed
    index, a scale error of ε) gives a relative difference of order 1 (ε), far above rounding.
    This is the test of deepinv's ``adjointness_test`` and of Claerbout's "dot-product test".

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> assert_adjoint(lambda x: a @ x, lambda y: a.T @ y, (3,), (2,)) < 1e-12
    True
    """
    name = _dtype_name(dtype)
    tolerance = default_rtol(name) if rtol is None else float(rtol)
    generator = as_rng(rng)
    worst = 0.0
    for trial in range(int(n_trials)):
        x = _random(generator, x_shape, name)
        y = _random(generator, y_shape, name)
        ax = _as_numpy(forward(_on_backend(x, xp, device)), "forward(x)")
        aty = _as_numpy(adjoint(_on_backend(y, xp, device)), "adjoint(y)")
        if ax.shape != tuple(y_shape):
            raise AssertionError(f"forward(x) has shape {ax.shape}, expected y_shape {tuple(y_shape)}")
        if aty.shape != tuple(x_shape):
            raise AssertionError(f"adjoint(y) has shape {aty.shape}, expected x_shape {tuple(x_shape)}")
        for label, value in (("forward(x)", ax), ("adjoint(y)", aty)):
            if not np.all(np.isfinite(value)):
                raise AssertionError(f"{label} has {int(np.sum(~np.isfinite(value)))} non-finite values")
        wide = np.complex128 if name.startswith("complex") else np.float64
        lhs = complex(np.vdot(y.astype(wide), ax.astype(wide)))  # ⟨Ax, y⟩ = Σ conj(y) A x
        rhs = complex(np.vdot(aty.astype(wide), x.astype(wide)))  # ⟨x, Aᴴy⟩ = Σ conj(Aᴴy) x
        if not name.startswith("complex"):
            lhs, rhs = complex(lhs.real), complex(rhs.real)
        norm = np.linalg.norm
        typical = max(
            float(norm(ax) * norm(y)) / math.sqrt(max(y.size, 1)),
            float(norm(x) * norm(aty)) / math.sqrt(max(x.size, 1)),
        )
        scale = max(abs(lhs), typical, np.finfo(np.float64).tiny)
        relative = abs(lhs - rhs) / scale
        worst = max(worst, relative)
        if not relative <= tolerance:
            raise AssertionError(
                f"not an adjoint pair: <A x, y> = {_fmt(lhs)} but <x, A^H y> = {_fmt(rhs)}; relative difference "
                f"{relative:.3g} > rtol = {tolerance:g} (trial {trial}, x_shape {tuple(x_shape)}, "
                f"y_shape {tuple(y_shape)}, dtype {name}; |A x| = {float(norm(ax)):.4g}, "
                f"|A^H y| = {float(norm(aty)):.4g})"
            )
    return worst


def _fmt(value: complex) -> str:
    return f"{value.real:.10g}" if value.imag == 0 else f"{value:.10g}"


def assert_linear(
    operator: Callable[[Any], Any],
    x_shape: Sequence[int],
    *,
    rng: RngLike = 0,
    rtol: float | None = None,
    dtype: str = "float64",
    xp: Any = None,
    device: Any = None,
) -> float:
    """Assert ``A(a x₁ + b x₂) = a A x₁ + b A x₂`` for random ``x₁, x₂`` and random scalars ``a, b``.

    ``a + b ≠ 1``, so an affine map ``x ↦ Lx + c`` (an offset, a dark level) fails too. The error is
    ``‖lhs − rhs‖ / max(‖rhs‖, |a|‖Ax₁‖, |b|‖Ax₂‖)`` against ``rtol`` (default as :func:`assert_adjoint`).
    Returns the relative error.

    Examples
    --------
    >>> import numpy as np
    >>> assert_linear(np.cumsum, (8,)) < 1e-12
    True
    """
    name = _dtype_name(dtype)
    tolerance = default_rtol(name) if rtol is None else float(rtol)
    generator = as_rng(rng)
    x1 = _random(generator, x_shape, name)
    x2 = _random(generator, x_shape, name)
    a = float(generator.uniform(0.5, 2.0) * generator.choice([-1.0, 1.0]))
    b = float(generator.uniform(0.5, 2.0))
    if abs(a + b - 1.0) < 0.25:
        b += 0.5
    combined = np.asarray(a * x1 + b * x2, dtype=name)
    lhs = _as_numpy(operator(_on_backend(combined, xp, device)), "operator(a x1 + b x2)").astype(
        np.complex128
    )
    ax1 = _as_numpy(operator(_on_backend(x1, xp, device)), "operator(x1)").astype(np.complex128)
    ax2 = _as_numpy(operator(_on_backend(x2, xp, device)), "operator(x2)").astype(np.complex128)
    if not (lhs.shape == ax1.shape == ax2.shape):
        raise AssertionError(f"operator outputs differ in shape: {lhs.shape}, {ax1.shape}, {ax2.shape}")
    rhs = a * ax1 + b * ax2
    norm = np.linalg.norm
    scale = max(float(norm(rhs)), abs(a) * float(norm(ax1)), abs(b) * float(norm(ax2)), np.finfo(float).tiny)
    error = float(norm(lhs - rhs)) / scale
    if not error <= tolerance:
        diff = np.abs(lhs - rhs)
        at = _where(diff)
        raise AssertionError(
            f"not linear: |A(a x1 + b x2) - (a A x1 + b A x2)| / |a A x1 + b A x2| = {error:.3g} > rtol = "
            f"{tolerance:g} (a = {a:.4g}, b = {b:.4g}, dtype {name}); largest difference {float(diff[at]):.4g} "
            f"at index {at}"
        )
    return error


# ----------------------------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------------------------


def assert_relative_rms(
    actual: Any,
    expected: Any,
    *,
    max_rel_rms: float,
    mask: Any = None,
    err_msg: str = "",
) -> float:
    """Assert that the relative RMS error ``‖actual − expected‖₂ / ‖expected‖₂`` is at most ``max_rel_rms``.

    Parameters
    ----------
    actual, expected
        Arrays of the same shape (no broadcasting), numpy or torch, real or complex.
    max_rel_rms
        The bound on the relative RMS error.
    mask
        Boolean array of the same shape: compare only where it is true (e.g. inside the field of view).
    err_msg
        Prefixed to the failure message.

    Returns
    -------
    float
        The relative RMS error (0 when both are zero; infinite when only ``expected`` is zero).

    Notes
    -----
    The failure message gives the relative RMS error, the RMS of ``expected``, and the largest absolute
    difference with its index and both values there. A non-finite value in ``actual`` where ``expected`` is
    finite fails with its count and first index.
    """
    a = _as_numpy(actual, "actual")
    e = _as_numpy(expected, "expected")
    prefix = f"{err_msg}: " if err_msg else ""
    if a.shape != e.shape:
        raise AssertionError(f"{prefix}shape mismatch: actual {a.shape}, expected {e.shape}")
    if mask is not None:
        m = _as_numpy(mask, "mask").astype(bool)
        if m.shape != a.shape:
            raise AssertionError(f"{prefix}mask has shape {m.shape}, expected {a.shape}")
        index_map = np.argwhere(m)
        a, e = a[m], e[m]
    else:
        index_map = None

    def original_index(flat: int) -> tuple[int, ...]:
        if index_map is not None:
            return tuple(int(i) for i in index_map[flat])
        return tuple(int(i) for i in np.unravel_index(flat, e.shape)) if e.ndim else ()

    bad = ~np.isfinite(a) & np.isfinite(e)
    if np.any(bad):
        first = original_index(int(np.flatnonzero(bad.reshape(-1))[0]))
        raise AssertionError(
            f"{prefix}actual has {int(bad.sum())} non-finite values where expected is finite (first at index "
            f"{first})"
        )
    wide = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64
    diff = np.abs(a.astype(wide) - e.astype(wide)).reshape(-1)
    ref = np.abs(e.astype(wide)).reshape(-1)
    if diff.size == 0:
        return 0.0
    rms_diff = float(np.sqrt(np.mean(diff**2)))
    rms_ref = float(np.sqrt(np.mean(ref**2)))
    relative = rms_diff / rms_ref if rms_ref > 0 else (0.0 if rms_diff == 0 else math.inf)
    if not relative <= max_rel_rms:
        flat = int(np.argmax(diff))
        at = original_index(flat)
        raise AssertionError(
            f"{prefix}relative RMS error {relative:.3g} exceeds max_rel_rms = {max_rel_rms:g} "
            f"(RMS of the difference {rms_diff:.4g}, RMS of expected {rms_ref:.4g}, {diff.size} values); "
            f"max |actual - expected| = {float(diff[flat]):.4g} at index {at} "
            f"(actual {a.reshape(-1)[flat]!r}, expected {e.reshape(-1)[flat]!r})"
        )
    return relative


def assert_energy_conserved(
    before: Any,
    after: Any,
    *,
    rtol: float = 1e-5,
    axes: tuple[int, ...] = (-2, -1),
    kind: Literal["field", "intensity"] = "field",
) -> float:
    """Assert that a transformation kept the energy: ``Σ|u|²`` (a field) or ``Σ I`` (an intensity).

    Sums run over ``axes`` (default the image axes, so a batch is checked image by image). Returns the
    largest relative change. Pure-phase propagation keeps ``Σ|u|²`` (Parseval, ``|H| = 1``); a normalised blur
    keeps ``Σ I`` of an image far from its borders.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.exp(1j * np.random.default_rng(0).standard_normal((8, 8)))
    >>> assert_energy_conserved(u, np.fft.fft2(u, norm="ortho")) < 1e-12
    True
    """
    if kind not in ("field", "intensity"):
        raise ValueError(f"kind = {kind!r} is not allowed: must be 'field' or 'intensity'")
    b = _as_numpy(before, "before")
    a = _as_numpy(after, "after")
    if a.shape != b.shape:
        raise AssertionError(f"shape changed: before {b.shape}, after {a.shape}")

    def energy(u: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        values = np.abs(u.astype(np.complex128)) ** 2 if kind == "field" else u.astype(np.float64)
        return np.asarray(np.sum(values, axis=axes), dtype=np.float64)

    e_before, e_after = energy(b), energy(a)
    scale = np.maximum(np.abs(e_before), np.finfo(np.float64).tiny)
    relative = np.abs(e_after - e_before) / scale
    worst = float(np.max(relative)) if relative.size else 0.0
    if not worst <= rtol:
        at = _where(np.atleast_1d(relative))
        what = "sum |u|^2" if kind == "field" else "sum I"
        raise AssertionError(
            f"energy not conserved: {what} went from {float(np.atleast_1d(e_before)[at]):.10g} to "
            f"{float(np.atleast_1d(e_after)[at]):.10g} (relative change {worst:.3g} > rtol = {rtol:g}"
            f"{f', batch index {at}' if np.ndim(relative) else ''})"
        )
    return worst


# ----------------------------------------------------------------------------------------------------------------
# numpy <-> torch parity
# ----------------------------------------------------------------------------------------------------------------


def available_devices() -> list[str]:
    """The torch devices a parity test runs on: ``["cpu"]``, plus ``"cuda"`` when a GPU is visible.

    Empty when torch is not installed.
    """
    try:
        import torch
    except ImportError:
        return []
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _map_arrays(value: Any, convert: Callable[[npt.NDArray[Any]], Any]) -> Any:
    """Apply ``convert`` to every numeric numpy array inside ``value`` (mappings, lists and tuples)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return convert(value)
    if isinstance(value, Mapping):
        return type(value)({k: _map_arrays(v, convert) for k, v in value.items()})  # type: ignore[call-arg]
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return type(value)(_map_arrays(v, convert) for v in value)
    return value


def _leaves(value: Any, path: str = "output") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, f"{path}[{k!r}]")
    elif isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _torch_dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def assert_backend_parity(
    func: Callable[..., Any],
    *args: Any,
    rtol: float = 1e-5,
    atol: float = 0.0,
    devices: Sequence[str] | None = None,
    tensor_kwargs: Sequence[str] = (),
    check_dtype: bool = True,
    check_grad: bool = False,
    **kwargs: Any,
) -> list[str]:
    """Assert that ``func`` gives the same result on numpy arrays and on torch tensors (CPU, and CUDA if any).

    ``func(*args, **kwargs)`` runs once on the numpy inputs; then every numeric numpy array in ``args``
    (also inside mappings, lists and tuples), and in the keyword arguments named in ``tensor_kwargs``, becomes
    a torch tensor on each device, and ``func`` runs again. Other keyword arguments (angles, energies: the
    parameters of the kernel) stay as they are.

    Parameters
    ----------
    func
        The kernel.
    *args, **kwargs
        Its arguments, with numpy arrays.
    rtol, atol
        Tolerances of the element-wise comparison (:func:`numpy.testing.assert_allclose`).
    devices
        torch devices to test; default :func:`available_devices` (``"cuda"`` only where a GPU is visible).
    tensor_kwargs
        Names of keyword arguments that are data (converted to tensors too).
    check_dtype
        Every output array must come back as a tensor of the same dtype, on the device of the input.
    check_grad
        Also run with ``requires_grad=True`` on the floating-point inputs, compare that result too (a kernel may
        take another code path under autograd), and check that ``sum(output)`` back-propagates a finite
        gradient to every such input.

    Returns
    -------
    list of str
        The devices tested.

    Raises
    ------
    unittest.SkipTest
        torch is not installed (pytest reports a skip).
    AssertionError
        A value, dtype, backend or device differs, or no gradient reached an input.
    """
    try:
        import torch
    except ImportError:
        raise unittest.SkipTest("torch is not installed: numpy/torch parity not tested") from None
    expected = func(*args, **kwargs)
    expected_leaves = list(_leaves(expected))
    tested = list(available_devices() if devices is None else devices)
    label = getattr(func, "__qualname__", repr(func))
    for device in tested:
        for with_grad in (False, True) if check_grad else (False,):
            targs, tkwargs, inputs = _to_torch(torch, args, kwargs, tensor_kwargs, device, with_grad)
            actual = func(*targs, **tkwargs)
            mode = " (requires_grad)" if with_grad else ""
            actual_leaves = list(_leaves(actual))
            if [p for p, _ in actual_leaves] != [p for p, _ in expected_leaves]:
                raise AssertionError(
                    f"{label} on torch/{device}{mode} returned a different structure: "
                    f"{[p for p, _ in actual_leaves]} vs numpy {[p for p, _ in expected_leaves]}"
                )
            for (path, want), (_, got) in zip(expected_leaves, actual_leaves, strict=True):
                _compare_leaf(torch, label, path, want, got, device, mode, rtol, atol, check_dtype)
            if with_grad:
                _check_gradients(torch, label, actual_leaves, inputs, device)
    return tested


def _to_torch(
    torch: Any, args: tuple[Any, ...], kwargs: dict[str, Any], names: Sequence[str], device: str, grad: bool
) -> tuple[Any, dict[str, Any], list[Any]]:
    """The arguments with numpy arrays as tensors on ``device``; the tensors that require a gradient."""
    inputs: list[Any] = []

    def to_tensor(array: npt.NDArray[Any]) -> Any:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
        if grad and (tensor.is_floating_point() or tensor.is_complex()):
            tensor.requires_grad_(True)
            inputs.append(tensor)
        return tensor

    targs = _map_arrays(args, to_tensor)
    tkwargs = {k: (_map_arrays(v, to_tensor) if k in names else v) for k, v in kwargs.items()}
    return targs, tkwargs, inputs


def _compare_leaf(
    torch: Any,
    label: str,
    path: str,
    want: Any,
    got: Any,
    device: str,
    mode: str,
    rtol: float,
    atol: float,
    check_dtype: bool,
) -> None:
    where = f"{label} {path} on torch/{device}{mode}"
    if not isinstance(want, np.ndarray | np.generic):
        if is_torch(got) or got != want:
            raise AssertionError(f"{where}: {got!r} differs from the numpy result {want!r}")
        return
    if check_dtype:
        if not is_torch(got):
            raise AssertionError(f"{where}: expected a torch tensor (backend kept), got {type(got).__name__}")
        if got.device.type != torch.device(device).type:
            raise AssertionError(f"{where}: result on device {got.device}, expected {device}")
        if _torch_dtype_name(got) != str(np.asarray(want).dtype):
            raise AssertionError(
                f"{where}: dtype {_torch_dtype_name(got)} differs from numpy's {np.asarray(want).dtype}"
            )
    got_np = _as_numpy(got, where)
    want_np = np.asarray(want)
    if got_np.shape != want_np.shape:
        raise AssertionError(f"{where}: shape {got_np.shape} differs from numpy's {want_np.shape}")
    try:
        np.testing.assert_allclose(got_np, want_np, rtol=rtol, atol=atol, err_msg=where)
    except AssertionError as exc:
        raise AssertionError(str(exc)) from None


def _check_gradients(
    torch: Any, label: str, leaves: list[tuple[str, Any]], inputs: list[Any], device: str
) -> None:
    outputs = [v for _, v in leaves if is_torch(v) and v.requires_grad]
    if inputs and not outputs:
        raise AssertionError(
            f"{label} on torch/{device}: no output carries a gradient (the kernel detached its inputs)"
        )
    if not inputs:
        return
    loss = sum((o.real if o.is_complex() else o).sum() for o in outputs)
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    for index, grad in enumerate(grads):
        if grad is None:
            raise AssertionError(f"{label} on torch/{device}: no gradient reached input {index}")
        if not bool(torch.all(torch.isfinite(grad))):
            raise AssertionError(f"{label} on torch/{device}: the gradient of input {index} is not finite")
