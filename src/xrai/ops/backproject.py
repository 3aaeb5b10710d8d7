"""Pixel-driven back-projection for parallel-beam and circular cone-beam tomography (CPU numba, torch).

The kernels here are the inner loop of filtered back-projection (FBP) and of the Feldkamp (FDK) algorithm: every
voxel collects, for every angle, the detector value where its centre projects, interpolated linearly between the
two nearest detector pixels. They follow :mod:`xrai.geometry`: projections ``[angle, row, col]``, volumes
``[z, y, x]``, voxel centres at ``(j - (n - 1) / 2)`` and the detector coordinate ``s = x cos θ + y sin θ``; the
rotation axis projects onto the float column ``center_col``.

numpy input runs a multi-threaded numba kernel (``parallel=True, fastmath=True, cache=True``) that keeps one
detector row and a block of output rows in L1 cache and vectorises the loop along ``x``; torch tensors (CPU or
CUDA) run a gather-based kernel over blocks of angles. Both process many slices at once.

:func:`backproject_gridding` computes the same sum in Fourier space (the "gridrec" algorithm): by the Fourier
slice theorem every projection's spectrum is a line through the origin of the slice's 2-D spectrum; the lines are
spread onto an oversampled Cartesian grid with a Kaiser–Bessel kernel and one inverse 2-D FFT gives the slice,
in ``O(n_angles n log n + n² log n)`` instead of ``O(n_angles n²)``, with band-limited (not linear) interpolation.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from xrai._backend import is_torch
from xrai._typing import Array
from xrai.errors import ConfigError, DataError, check_range
from xrai.geometry import centre_of

__all__ = ["backproject", "backproject_cone", "backproject_gridding"]

#: Zero columns added before (1) and after (2) the detector so the kernels need no bounds test.
_GUARD_LEFT = 1
_GUARD_RIGHT = 2
#: Output rows processed together by one numba task (their accumulators stay in L1 cache).
_BLOCK_ROWS = 8
#: Elements in one torch gather (bounds the temporary memory of the torch kernel).
_TORCH_GATHER_ELEMENTS = 1 << 24


@numba.njit(fastmath=True, cache=True)
def _bp_one_slice(q, z, cos_a, sin_a, weights, u0, umin, umax, x, y, y_start, y_stop, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Rows ``[y_start, y_stop)`` of slice ``z``; two angles per sweep halve the accumulator traffic."""
    na = q.shape[1]
    nx = x.size
    for a in range(0, na - 1, 2):
        row0 = q[z, a]
        row1 = q[z, a + 1]
        c0 = cos_a[a]
        c1 = cos_a[a + 1]
        w0 = weights[a]
        w1 = weights[a + 1]
        for iy in range(y_start, y_stop):
            b0 = y[iy] * sin_a[a] + u0
            b1 = y[iy] * sin_a[a + 1] + u0
            line = out[z, iy]
            for ix in range(nx):
                u = min(max(x[ix] * c0 + b0, umin), umax)
                v = min(max(x[ix] * c1 + b1, umin), umax)
                i = np.int32(u)
                j = np.int32(v)
                tu = u - i
                tv = v - j
                line[ix] += w0 * (row0[i] + tu * (row0[i + 1] - row0[i])) + w1 * (
                    row1[j] + tv * (row1[j + 1] - row1[j])
                )
    if na % 2 == 1:
        a = na - 1
        row0 = q[z, a]
        c0 = cos_a[a]
        w0 = weights[a]
        for iy in range(y_start, y_stop):
            b0 = y[iy] * sin_a[a] + u0
            line = out[z, iy]
            for ix in range(nx):
                u = min(max(x[ix] * c0 + b0, umin), umax)
                i = np.int32(u)
                tu = u - i
                line[ix] += w0 * (row0[i] + tu * (row0[i + 1] - row0[i]))


@numba.njit(fastmath=True, cache=True)
def _bp_four_slices(q, z0, cos_a, sin_a, weights, u0, umin, umax, x, y, y_start, y_stop, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Rows ``[y_start, y_stop)`` of slices ``z0 .. z0 + 3``: they share every index and weight (the geometry
    does not depend on the slice), which saves a third of the work per interpolation."""
    na = q.shape[1]
    nx = x.size
    for a in range(na):
        ra = q[z0, a]
        rb = q[z0 + 1, a]
        rc = q[z0 + 2, a]
        rd = q[z0 + 3, a]
        c = cos_a[a]
        w = weights[a]
        for iy in range(y_start, y_stop):
            base = y[iy] * sin_a[a] + u0
            la = out[z0, iy]
            lb = out[z0 + 1, iy]
            lc = out[z0 + 2, iy]
            ld = out[z0 + 3, iy]
            for ix in range(nx):
                u = min(max(x[ix] * c + base, umin), umax)
                i = np.int32(u)
                right = w * (u - i)
                left = w - right
                la[ix] += left * ra[i] + right * ra[i + 1]
                lb[ix] += left * rb[i] + right * rb[i + 1]
                lc[ix] += left * rc[i] + right * rc[i + 1]
                ld[ix] += left * rd[i] + right * rd[i + 1]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _bp_parallel_kernel(q, cos_a, sin_a, weights, bounds, x, y, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    # q: [nz, na, nc + 3] with zero guards; bounds = (center_col + _GUARD_LEFT, 0, nc + 1) in q's dtype, so
    # that no float64 constant widens the float32 arithmetic; out: [nz, ny, nx] (zeroed). Work items are
    # blocks of _BLOCK_ROWS output rows (their accumulators stay in L1 cache) of four slices at a time, then
    # of the remaining single slices.
    nz = q.shape[0]
    ny = y.size
    u0 = bounds[0]
    umin = bounds[1]
    umax = bounds[2]
    n_y_blocks = (ny + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    n_quads = nz // 4
    n_z_blocks = n_quads + (nz - 4 * n_quads)
    for task in numba.prange(n_z_blocks * n_y_blocks):
        z_block = task // n_y_blocks
        y_start = (task % n_y_blocks) * _BLOCK_ROWS
        y_stop = min(y_start + _BLOCK_ROWS, ny)
        if z_block < n_quads:
            _bp_four_slices(q, 4 * z_block, cos_a, sin_a, weights, u0, umin, umax, x, y, y_start, y_stop, out)
        else:
            z = 4 * n_quads + (z_block - n_quads)
            _bp_one_slice(q, z, cos_a, sin_a, weights, u0, umin, umax, x, y, y_start, y_stop, out)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _bp_cone_kernel(q, cos_a, sin_a, weights, x, y, z, params, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    # q: [na, nr + 3, nc + 3] with zero guards (1 before, 2 after) on rows and columns.
    # params: source-origin distance, magnification scale (detector px per isocentre unit), u0, v0 (guarded).
    na, nrg, ncg = q.shape
    nz = z.size
    ny = y.size
    nx = x.size
    sod = params[0]
    scale = params[1]
    u0 = params[2]
    v0 = params[3]
    umax = ncg - 2.0
    vmax = nrg - 2.0
    for task in numba.prange(nz * ny):
        iz = task // ny
        iy = task % ny
        zz = z[iz]
        yy = y[iy]
        line = out[iz, iy]
        for a in range(na):
            c = cos_a[a]
            s = sin_a[a]
            img = q[a]
            w = weights[a]
            for ix in range(nx):
                xx = x[ix]
                depth = sod - xx * s + yy * c
                mag = sod / depth
                u = (xx * c + yy * s) * mag * scale + u0
                v = zz * mag * scale + v0
                u = min(max(u, 0.0), umax)
                v = min(max(v, 0.0), vmax)
                iu = int(u)
                iv = int(v)
                tu = u - iu
                tv = v - iv
                top = img[iv, iu] + tu * (img[iv, iu + 1] - img[iv, iu])
                bottom = img[iv + 1, iu] + tu * (img[iv + 1, iu + 1] - img[iv + 1, iu])
                line[ix] += w * mag * mag * (top + tv * (bottom - top))


#: Gridding kernel: Kaiser–Bessel of width _KB_WIDTH grid cells on a grid oversampled _KB_SIGMA times, with
#: the shape parameter of Beatty, Nishimura and Pauly (2005), doi:10.1109/TMI.2005.848376.
_KB_WIDTH = 6
_KB_SIGMA = 2.0
_KB_BETA = math.pi * math.sqrt((_KB_WIDTH / _KB_SIGMA) ** 2 * (_KB_SIGMA - 0.5) ** 2 - 0.8)
#: Samples of the kernel table per grid cell (nearest-sample lookup).
_KB_TABLE_STEPS = 2048


@numba.njit(parallel=True, fastmath=True, cache=True)
def _spread_kernel(spec, kx, ky, table, table_steps, width, n_threads, grid):  # type: ignore[no-untyped-def]  # pragma: no cover
    # spec: [nz, na, nk] complex samples at grid positions (kx, ky) [na, nk], already offset to the centred and
    # padded grid [nz, Lp, Lp]. Threads own bands of grid rows (no write conflicts); each scans all samples.
    nz, na, nk = spec.shape
    lp = grid.shape[1]
    half = width // 2
    band = (lp + n_threads - 1) // n_threads
    for t in numba.prange(n_threads):
        r0 = t * band
        r1 = min(r0 + band, lp)
        wx = np.empty(width, dtype=np.float32)
        for a in range(na):
            for k in range(nk):
                gy = ky[a, k]
                lo = int(gy) - half + 1
                if lo + width <= r0 or lo >= r1:
                    continue
                gx = kx[a, k]
                lx = int(gx) - half + 1
                for i in range(width):
                    wx[i] = table[int(abs(lx + i - gx) * table_steps + 0.5)]
                for j in range(max(0, r0 - lo), min(width, r1 - lo)):
                    row = lo + j
                    wy = table[int(abs(row - gy) * table_steps + 0.5)]
                    for z in range(nz):
                        v = spec[z, a, k] * wy
                        line = grid[z, row]
                        for i in range(width):
                            line[lx + i] += v * wx[i]


def _kaiser_bessel(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from scipy.special import i0

    arg = 1.0 - (2.0 * u / _KB_WIDTH) ** 2
    out: npt.NDArray[np.float64] = np.where(arg > 0, i0(_KB_BETA * np.sqrt(np.clip(arg, 0.0, None))), 0.0)
    return out


def _kaiser_bessel_transform(xi: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``∫ φ(u) exp(2πi u ξ) du`` of the kernel (ξ in cycles per grid cell, |π W ξ| < β)."""
    root = np.sqrt(_KB_BETA**2 - (np.pi * _KB_WIDTH * xi) ** 2)
    out: npt.NDArray[np.float64] = _KB_WIDTH * np.sinh(root) / root
    return out


def backproject_gridding(
    projections: Array,
    *,
    angles_rad: Any,
    center_col: float | None = None,
    n_xy: int | None = None,
    weights: Any = None,
    frequency_filter: Any = None,
    padding: bool = True,
) -> npt.NDArray[Any]:
    r"""Back-project with band-limited interpolation, in Fourier space (gridding, "gridrec").

    Parameters
    ----------
    projections
        ``[angle, row, col]`` or a sinogram ``[angle, col]`` (numpy; torch tensors are copied to the CPU).
    angles_rad, center_col, weights
        As in :func:`backproject`.
    n_xy
        Width of the square output slices (default ``n_cols``).
    frequency_filter
        ``f(n) -> H`` giving real filter values on the ``rfftfreq(n)`` grid for rows of length ``n`` (e.g.
        :func:`xrai.tomo.fbp.fourier_filter`), applied to every projection; ``None`` = no filtering.
    padding
        Extend rows with their edge values before the transform (as FBP's padding); ``False`` pads with zeros.

    Returns
    -------
    numpy.ndarray
        ``[z, y, x]`` (or ``[y, x]``), the input's floating dtype: ``Σ_a w_a q_a(x cos θ_a + y sin θ_a + c)`` with
        ``q_a`` the (filtered) projection interpolated band-limitedly.

    Notes
    -----
    By the Fourier slice theorem, :math:`b(\mathbf x) = \sum_a w_a \sum_k Q_a(\omega_k)\, e^{2\pi i \omega_k
    \mathbf n_a \cdot \mathbf x} / G` with :math:`Q_a` the DFT of the projection (length ``G ≥ 2 n``) times the
    filter: a type-1 non-uniform FFT, evaluated by spreading every sample onto a 2×-oversampled grid with a
    Kaiser–Bessel kernel of width 6, an inverse 2-D FFT and division by the kernel's transform (relative error
    ~1e-4).

    References
    ----------
    B. A. Dowd et al., "Developments in synchrotron x-ray computed microtomography at the National Synchrotron
    Light Source", Proc. SPIE 3772 (1999), doi:10.1117/12.363725; F. Marone and M. Stampanoni, "Regridding
    reconstruction algorithm for real-time tomographic imaging", J. Synchrotron Rad. 19, 1029 (2012),
    doi:10.1107/S0909049512032864.
    """
    from scipy import fft as sfft

    from xrai._backend import to_numpy

    stack, squeeze = _as_float_stack(to_numpy(projections))
    n_angles, n_rows, n_cols = stack.shape
    angles = _check_angles(angles_rad, n_angles)
    w = _check_weights(weights, n_angles)
    center = centre_of(n_cols) if center_col is None else check_range("center_col", center_col)
    size = n_cols if n_xy is None else int(check_range("n_xy", n_xy, low=1))
    dtype = stack.dtype
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    # grid of L cells (frequency spacing 1/L, image period L >= 2 x the slice); rows transformed at length L
    grid_n = int(sfft.next_fast_len(math.ceil(_KB_SIGMA * max(n_cols, size))))
    grid_n += grid_n % 2
    c0 = round(center)
    delta = center - c0
    # row sample j sits at s = j - c0 (+ delta); put s = 0 at index 0 of a circular buffer of length L
    buffer = np.zeros((n_rows, n_angles, grid_n), dtype=dtype)
    index = (np.arange(n_cols) - c0) % grid_n
    buffer[:, :, index] = stack.transpose(1, 0, 2)
    if padding:  # the gap between the row's two ends gets the edge values, half each
        gap = (np.arange(n_cols, grid_n) - c0) % grid_n
        split = (grid_n - n_cols) // 2
        buffer[:, :, gap[:split]] = stack.transpose(1, 0, 2)[:, :, -1:]
        buffer[:, :, gap[split:]] = stack.transpose(1, 0, 2)[:, :, :1]
    spectrum = sfft.rfft(buffer, axis=-1, workers=-1)  # [z, a, L/2 + 1]
    omega = np.arange(grid_n // 2 + 1) / grid_n
    response = (
        np.ones_like(omega) if frequency_filter is None else np.asarray(frequency_filter(grid_n), float)
    )
    if response.shape != omega.shape:
        raise ConfigError(f"frequency_filter({grid_n}) must return {omega.size} values, got {response.shape}")
    # output pixel j sits at x = (j - size // 2) + offset: half a pixel off the integer grid for even sizes
    offset = size // 2 - centre_of(size)
    cos_a, sin_a = np.cos(angles), np.sin(angles)
    phase = np.exp(2j * np.pi * omega[None, :] * (delta + offset * (cos_a + sin_a))[:, None])
    coeff = (response / grid_n)[None, :] * w[:, None] * phase
    coeff[:, 0] *= 0.5  # DC and Nyquist are shared by the two half-lines
    coeff[:, -1] *= 0.5
    samples = spectrum * coeff[None]
    spec = np.concatenate([samples, np.conj(samples)], axis=-1).astype(complex_dtype)
    radial = np.concatenate([omega, -omega]) * grid_n
    pad = _KB_WIDTH
    padded = grid_n + 2 * pad
    centre_index = padded // 2
    kx = (radial[None, :] * cos_a[:, None] + centre_index).astype(np.float32)
    ky = (radial[None, :] * sin_a[:, None] + centre_index).astype(np.float32)
    table = _kaiser_bessel(np.arange(_KB_WIDTH * _KB_TABLE_STEPS // 2 + 2) / _KB_TABLE_STEPS).astype(
        np.float32
    )
    grid = np.zeros((n_rows, padded, padded), dtype=complex_dtype)
    _spread_kernel(spec, kx, ky, table, _KB_TABLE_STEPS, _KB_WIDTH, numba.get_num_threads(), grid)
    # fold the padding back periodically; cell c holds frequency index c - padded // 2
    folded = grid[:, pad : pad + grid_n, :]
    folded[:, grid_n - pad :, :] += grid[:, :pad, :]
    folded[:, :pad, :] += grid[:, pad + grid_n :, :]
    folded2 = folded[:, :, pad : pad + grid_n].copy()
    folded2[:, :, grid_n - pad :] += folded[:, :, :pad]
    folded2[:, :, :pad] += folded[:, :, pad + grid_n :]
    image = sfft.ifft2(sfft.ifftshift(folded2, axes=(-2, -1)), axes=(-2, -1), workers=-1)
    m = np.arange(size) - size // 2
    rows = m % grid_n
    deapodise = 1.0 / _kaiser_bessel_transform(m / grid_n)
    out = image[:, rows[:, None], rows[None, :]].real * (grid_n * grid_n)
    out *= deapodise[None, :, None] * deapodise[None, None, :]
    result: npt.NDArray[Any] = out.astype(dtype)
    return result[0] if squeeze else result


def _coords(n: int, dtype: Any) -> npt.NDArray[Any]:
    return (np.arange(n, dtype=np.float64) - centre_of(n)).astype(dtype)


def _check_angles(angles_rad: Any, n_angles: int) -> npt.NDArray[np.float64]:
    angles = np.asarray(angles_rad, dtype=np.float64).reshape(-1)
    if angles.size != n_angles:
        raise ConfigError(
            f"angles_rad has {angles.size} values but the projections have {n_angles} angles (axis 0)"
        )
    if not np.all(np.isfinite(angles)):
        raise ConfigError("angles_rad contains non-finite values")
    return angles


def _check_weights(weights: Any, n_angles: int) -> npt.NDArray[np.float64]:
    if weights is None:
        return np.ones(n_angles)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != n_angles:
        raise ConfigError(f"weights has {w.size} values but there are {n_angles} angles")
    return w


def _backproject_guarded(
    q: Array,
    *,
    angles_rad: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    center_col: float,
    n_x: int,
    n_y: int,
    oversampling: int = 1,
) -> Array:
    """Back-project ``q`` ``[z, angle, cols + 3]`` (zero guard columns 1 before, 2 after) to ``[z, y, x]``.

    The internal entry point of FBP, which writes its filtered rows straight into such a buffer. With
    ``oversampling = k`` the rows are sampled every ``1/k`` detector pixel (column ``c`` of the detector is
    sample ``k c``), so the linear interpolation blurs ``k`` times less.
    """
    k = int(oversampling)
    if is_torch(q):
        if q.device.type != "cpu" or q.requires_grad:
            return _bp_parallel_torch(q, angles_rad, weights, center_col * k, n_x, n_y, float(k))
        # A CPU tensor that needs no gradient: the numba kernel on a zero-copy numpy view (the pure-torch
        # gather kernel is memory-bound on a CPU, ~10x slower).
        import torch

        volume = _backproject_guarded(
            q.detach().contiguous().numpy(), angles_rad=angles_rad, weights=weights, center_col=center_col,
            n_x=n_x, n_y=n_y, oversampling=k,
        )  # fmt: skip
        return torch.from_numpy(volume)
    dtype = q.dtype
    out = np.zeros((q.shape[0], n_y, n_x), dtype=dtype)
    _bp_parallel_kernel(
        q,
        np.cos(angles_rad).astype(dtype),
        np.sin(angles_rad).astype(dtype),
        weights.astype(dtype),
        np.array([center_col * k + _GUARD_LEFT, 0.0, q.shape[2] - 2.0], dtype=dtype),
        _coords(n_x, dtype) * dtype.type(k),
        _coords(n_y, dtype) * dtype.type(k),
        out,
    )
    return out


def _bp_parallel_torch(
    q: Any,
    angles: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    center: float,
    n_x: int,
    n_y: int,
    scale: float = 1.0,
) -> Any:
    import torch

    nz, na, ncg = q.shape
    dtype, device = q.dtype, q.device
    x = torch.as_tensor(_coords(n_x, np.float64) * scale, dtype=dtype, device=device)
    y = torch.as_tensor(_coords(n_y, np.float64) * scale, dtype=dtype, device=device)
    cos_a = torch.as_tensor(np.cos(angles), dtype=dtype, device=device)
    sin_a = torch.as_tensor(np.sin(angles), dtype=dtype, device=device)
    w = torch.as_tensor(weights, dtype=dtype, device=device)
    out = torch.zeros((nz, n_y * n_x), dtype=dtype, device=device)
    # (value, slope) pairs so one gather serves the linear interpolation
    pairs = torch.stack((q, torch.diff(q, dim=-1, append=torch.zeros_like(q[..., :1]))), dim=-1)
    pairs = pairs.reshape(nz, na * ncg, 2)
    block = max(1, _TORCH_GATHER_ELEMENTS // max(1, nz * n_y * n_x))
    for a0 in range(0, na, block):
        a1 = min(na, a0 + block)
        u = x[None, None, :] * cos_a[a0:a1, None, None] + y[None, :, None] * sin_a[a0:a1, None, None]
        u = (u + (center + _GUARD_LEFT)).clamp_(0.0, ncg - 2.0).reshape(a1 - a0, -1)
        i0 = u.floor()
        t = u - i0
        index = i0.long() + (torch.arange(a0, a1, device=device) * ncg)[:, None]
        gathered = pairs.index_select(1, index.reshape(-1)).reshape(nz, a1 - a0, -1, 2)
        values = gathered[..., 0] + t * gathered[..., 1]  # [nz, block, ny*nx]
        out += torch.einsum("zap,a->zp", values, w[a0:a1])
    return out.reshape(nz, n_y, n_x)


def _as_float_stack(projections: Array, *, name: str = "projections") -> tuple[Array, bool]:
    """``projections`` as a 3-D float array ``[angle, row, col]`` (a 2-D sinogram gets a row axis)."""
    if projections.ndim not in (2, 3):
        raise DataError(
            f"{name} must be [angle, row, col] or a sinogram [angle, col], got shape {tuple(projections.shape)}"
        )
    squeeze = projections.ndim == 2
    if squeeze:
        projections = projections[:, None, :]
    if is_torch(projections):
        if not projections.is_floating_point():
            projections = projections.float()
    else:
        projections = np.asarray(projections)
        if projections.dtype not in (np.float32, np.float64):
            projections = projections.astype(np.float32)
    return projections, squeeze


def backproject(
    projections: Array,
    *,
    angles_rad: Any,
    center_col: float | None = None,
    n_x: int | None = None,
    n_y: int | None = None,
    weights: Any = None,
) -> Array:
    r"""Back-project parallel-beam projections into a volume (no filtering).

    Parameters
    ----------
    projections
        ``[angle, row, col]`` (or a sinogram ``[angle, col]``), numpy (float32/float64) or a torch tensor (CPU or
        CUDA). Each detector row becomes one slice ``z``.
    angles_rad
        Rotation angle of every projection (rad).
    center_col
        Column coordinate (pixels, float) of the rotation axis; default the detector centre ``(n_cols - 1) / 2``.
    n_x, n_y
        Size of each output slice in voxels (voxel size = detector pixel size); default ``n_cols``.
    weights
        Weight of every angle (default 1, a plain sum; FBP uses the angular step, ``π / n_angles``).

    Returns
    -------
    Array
        ``[z, y, x]`` (or ``[y, x]`` for a sinogram), same backend, device and floating dtype as the input.

    Notes
    -----
    .. math:: b(x, y) = \sum_a w_a\, p_a\!\left(x \cos\theta_a + y \sin\theta_a + c\right)

    with ``p_a`` linearly interpolated between detector pixels and zero outside the detector; ``(x, y)`` are
    voxel-centre coordinates ``(j - (n - 1) / 2)`` and ``c`` is ``center_col``. See Kak & Slaney (1988), ch. 3,
    doi:10.1137/1.9780898719277.

    Examples
    --------
    >>> import numpy as np
    >>> sino = np.zeros((4, 5), dtype=np.float32); sino[:, 2] = 1.0  # a point on the axis
    >>> b = backproject(sino, angles_rad=np.linspace(0, np.pi, 4, endpoint=False))
    >>> float(b[2, 2])
    4.0
    """
    stack, squeeze = _as_float_stack(projections)
    n_angles, _, n_cols = stack.shape
    angles = _check_angles(angles_rad, n_angles)
    w = _check_weights(weights, n_angles)
    center = centre_of(n_cols) if center_col is None else check_range("center_col", center_col)
    nx = n_cols if n_x is None else int(check_range("n_x", n_x, low=1))
    ny = nx if n_y is None else int(check_range("n_y", n_y, low=1))
    q: Any
    if is_torch(stack):
        import torch.nn.functional as F

        q = F.pad(stack.permute(1, 0, 2), (_GUARD_LEFT, _GUARD_RIGHT)).contiguous()
    else:
        q = np.zeros((stack.shape[1], n_angles, n_cols + _GUARD_LEFT + _GUARD_RIGHT), dtype=stack.dtype)
        q[:, :, _GUARD_LEFT : _GUARD_LEFT + n_cols] = stack.transpose(1, 0, 2)
    out = _backproject_guarded(q, angles_rad=angles, weights=w, center_col=center, n_x=nx, n_y=ny)
    return out[0] if squeeze else out


def backproject_cone(
    projections: Array,
    *,
    angles_rad: Any,
    source_origin_px: float,
    magnification: float,
    volume_shape: tuple[int, int, int],
    center_col: float | None = None,
    center_row: float | None = None,
    weights: Any = None,
) -> Array:
    r"""Voxel-driven cone-beam back-projection for a circular orbit, with the FDK distance weight.

    Distances are in units of the *voxel* size. The source sits at ``source_origin_px`` from the rotation axis,
    opposite the beam direction ``(-sin θ, cos θ)``; a voxel at depth ``L = D - x sin θ + y cos θ`` from the
    source is seen with magnification ``D / L`` relative to the rotation axis plane, and ``magnification`` converts
    lengths in that plane to detector pixels (``source-detector / source-origin × voxel / detector pixel``).

    Parameters
    ----------
    projections
        ``[angle, row, col]`` (numpy, or a torch tensor which is processed on the CPU by the same kernel).
    angles_rad
        Rotation angles (rad).
    source_origin_px
        Source to rotation axis distance in voxels.
    magnification
        Detector pixels per voxel at the rotation axis.
    volume_shape
        ``(n_z, n_y, n_x)`` of the output.
    center_col, center_row
        Where the central ray hits the detector (pixels, float); default the detector centre.
    weights
        Weight of every angle (default 1).

    Returns
    -------
    Array
        ``[z, y, x]`` with ``b = Σ_a w_a (D / L)² p_a(u, v)``, the back-projection of Feldkamp et al. (1984),
        doi:10.1364/JOSAA.1.000612.
    """
    from xrai._backend import to_numpy

    torch_input = is_torch(projections)
    stack, _ = _as_float_stack(to_numpy(projections) if torch_input else projections)
    if projections.ndim != 3:
        raise DataError(
            f"cone-beam projections must be [angle, row, col], got shape {tuple(projections.shape)}"
        )
    n_angles, n_rows, n_cols = stack.shape
    angles = _check_angles(angles_rad, n_angles)
    w = _check_weights(weights, n_angles)
    sod = check_range("source_origin_px", source_origin_px, low=0, low_inclusive=False)
    mag = check_range("magnification", magnification, low=0, low_inclusive=False)
    nz, ny, nx = (int(check_range("volume_shape", n, low=1)) for n in volume_shape)
    if math.hypot(nx, ny) / 2 >= sod:
        raise ConfigError(
            f"source_origin_px = {source_origin_px!r} is not allowed: the source must lie outside the volume "
            f"(> {math.hypot(nx, ny) / 2:g} voxels)"
        )
    uc = centre_of(n_cols) if center_col is None else float(center_col)
    vc = centre_of(n_rows) if center_row is None else float(center_row)
    dtype = stack.dtype
    q = np.zeros((n_angles, n_rows + 3, n_cols + 3), dtype=dtype)
    q[:, 1 : 1 + n_rows, 1 : 1 + n_cols] = stack
    out = np.zeros((nz, ny, nx), dtype=dtype)
    params = np.array([sod, mag, uc + 1, vc + 1], dtype=dtype)
    _bp_cone_kernel(
        q,
        np.cos(angles).astype(dtype),
        np.sin(angles).astype(dtype),
        w.astype(dtype),
        _coords(nx, dtype),
        _coords(ny, dtype),
        _coords(nz, dtype),
        params,
        out,
    )
    if torch_input:
        import torch

        return torch.as_tensor(out, device=projections.device)
    return out
