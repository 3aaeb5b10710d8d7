"""Flat-field (and dark) correction, the minus-log transform and zinger removal.

The transmission of projection ``i`` at pixel ``(r, c)`` is

.. math:: T_i = \\frac{P_i - D}{F_i - D},

with ``D`` the mean dark and ``F_i`` the flat *for that projection*: flats taken before, after or during the scan
are averaged per group and interpolated linearly in projection index, because the beam (and the scintillator)
drift during a scan. Optionally the flat is modelled dynamically as the mean flat plus a weighted sum of
principal components ("eigenflats") of the flats, with weights fitted to each projection (Van Nieuwenhove et al.
2015).

Bad pixels never become ``inf`` or ``nan``: *dead* pixels (flat minus dark at most ``min_flat_fraction`` of the
median, or a saturated flat) and *saturated* projection pixels are filled by linear interpolation between the
nearest good pixels of the same row (1.0 when a whole row is bad).

Kernels accept numpy arrays and torch tensors (CPU or CUDA) and lazy stacks (anything ``numpy.asarray`` reads,
such as :class:`xrai.io.FrameStack`); work is done in blocks of projections to bound the memory of temporaries.

References
----------
Van Nieuwenhove, V., De Beenhouwer, J., De Carlo, F., Mancini, L., Marone, F., Sijbers, J. (2015). Dynamic
intensity normalization using eigen flat fields in X-ray imaging. Optics Express 23, 27975.
doi:10.1364/OE.23.027975
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, device_of, is_torch, real_dtype, to_numpy
from xrai._typing import Array
from xrai.errors import ConfigError, DataError, check_range

__all__ = ["flat_field_correct", "minus_log", "remove_zingers"]

_BLOCK_BYTES = 8 << 20  # projections per block: about this many bytes of float32 (cache-friendly)


def _as_array(x: Any, name: str) -> Array:
    """numpy arrays and tensors pass; lazy stacks (h5py, FrameStack) are read; other dtypes are refused."""
    if x is None:
        return None
    if is_torch(x):
        if x.dtype.is_complex or str(x.dtype) == "torch.bool":
            raise DataError(f"{name}: dtype {x.dtype} is not allowed: must be integer or real float")
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "uif":
        raise DataError(f"{name}: dtype {arr.dtype} is not allowed: must be integer or real float")
    return arr


def _as_stack(x: Array, name: str, ndim_frame: int = 2) -> Array:
    if x.ndim == ndim_frame:
        return x[None, ...]
    if x.ndim != ndim_frame + 1:
        raise DataError(
            f"{name} must be [frame, row, col] (or one [row, col] image), got shape {tuple(x.shape)}"
        )
    return x


def _saturation_default(dtype: Any) -> float | None:
    """The largest value of an integer camera dtype (numpy or torch), ``None`` for floats."""
    try:
        np_dtype = np.dtype(str(dtype).replace("torch.", "")) if not isinstance(dtype, np.dtype) else dtype
    except TypeError:
        return None
    return float(np.iinfo(np_dtype).max) if np_dtype.kind in "iu" else None


def _fill_masked_rows(xp: Any, t: Array, mask: Array) -> Array:
    """Replace ``t[mask]`` by linear interpolation between the nearest unmasked pixels of the same row."""
    n_cols = t.shape[-1]
    dev = device_of(t)
    cols = xp.reshape(xp.arange(n_cols, device=dev), (1,) * (t.ndim - 1) + (n_cols,))
    mask = xp.broadcast_to(mask, t.shape)
    left = xp.where(mask, xp.asarray(-1, device=dev), cols)
    right = xp.where(mask, xp.asarray(n_cols, device=dev), cols)
    if is_torch(t):
        left = left.cummax(dim=-1).values
        right = right.flip(-1).cummin(dim=-1).values.flip(-1)
    else:
        left = np.maximum.accumulate(left, axis=-1)
        right = np.minimum.accumulate(right[..., ::-1], axis=-1)[..., ::-1]
    has_left = left >= 0
    has_right = right < n_cols
    lv = xp.take_along_axis(t, xp.clip(left, 0, n_cols - 1), axis=-1)
    rv = xp.take_along_axis(t, xp.clip(right, 0, n_cols - 1), axis=-1)
    span = xp.astype(
        xp.where(has_left & has_right & (right > left), right - left, xp.asarray(1, device=dev)), t.dtype
    )
    w = xp.astype(cols - left, t.dtype) / span
    both = lv + w * (rv - lv)
    one = xp.asarray(1.0, dtype=t.dtype, device=dev)
    filled = xp.where(has_left & has_right, both, xp.where(has_left, lv, xp.where(has_right, rv, one)))
    return xp.where(mask, filled, t)


def _flat_groups(
    flats: Array,
    flats_after: Array | None,
    flat_positions: npt.ArrayLike | None,
    n_proj_total: float,
    reduce: str,
    xp: Any,
) -> tuple[list[Array], npt.NDArray[np.float64]]:
    """Mean (or median) flat of each group and the group positions (fractional projection indices)."""

    def combine(stack: Array) -> Array:
        if reduce == "median":
            return xp.asarray(np.median(to_numpy(stack), axis=0), dtype=stack.dtype, device=device_of(stack))
        return xp.mean(stack, axis=0)

    if flats_after is not None:
        if flat_positions is not None:
            raise ConfigError("give either flats_after or flat_positions, not both")
        return [combine(flats), combine(flats_after)], np.array([-0.5, n_proj_total - 0.5])
    if flat_positions is None:
        return [combine(flats)], np.array([0.0])
    pos = np.asarray(flat_positions, dtype=np.float64).reshape(-1)
    if pos.size != flats.shape[0]:
        raise DataError(f"flat_positions has {pos.size} entries for {flats.shape[0]} flats")
    groups = np.unique(pos)
    dev = device_of(flats)
    stacks = [
        combine(xp.take(flats, xp.asarray(np.flatnonzero(pos == g), device=dev), axis=0)) for g in groups
    ]
    return stacks, groups


def _interpolation_weights(positions: npt.NDArray[np.float64], groups: npt.NDArray[np.float64]) -> np.ndarray:
    """Weights ``[n_proj, n_groups]``: linear between the two bracketing groups, constant outside."""
    w = np.zeros((positions.size, groups.size))
    if groups.size == 1:
        w[:, 0] = 1.0
        return w
    j = np.clip(np.searchsorted(groups, positions, side="right") - 1, 0, groups.size - 2)
    t = np.clip((positions - groups[j]) / (groups[j + 1] - groups[j]), 0.0, 1.0)
    rows = np.arange(positions.size)
    w[rows, j] = 1.0 - t
    w[rows, j + 1] += t
    return w


def flat_field_correct(
    projections: Array,
    flats: Array,
    darks: Array | None,
    *,
    flats_after: Array | None = None,
    flat_positions: npt.ArrayLike | None = None,
    projection_indices: npt.ArrayLike | None = None,
    reduce: Literal["mean", "median"] = "mean",
    saturation_value: float | None = None,
    min_flat_fraction: float = 1e-3,
    dynamic_components: int = 0,
    dtype: Any = None,
) -> Array:
    """Transmission ``(P - D) / (F - D)`` with flats interpolated over the scan and bad pixels filled.

    Parameters
    ----------
    projections
        Raw projections ``[angle, row, col]`` (or one image ``[row, col]``), counts (any integer or float dtype).
        numpy, torch (CPU/CUDA) or a lazy stack.
    flats
        Open-beam images ``[n, row, col]``; all of them if ``flat_positions`` is given, else the flats taken
        before the scan (or the only flats).
    darks
        Dark images ``[n, row, col]``; averaged. ``None`` = no dark current.
    flats_after
        Flats taken after the scan: projection ``i`` of ``n`` then uses
        ``(1 - w) F_before + w F_after`` with ``w = (i + 0.5) / n`` (flats taken just before and just after).
    flat_positions
        Alternative to ``flats_after`` for flats taken in several groups (before, interleaved, after): the
        fractional projection index at which each flat was taken (``-0.5`` before the first projection,
        ``n - 0.5`` after the last), as given by :attr:`xrai.io.Scan.flat_positions`. Flats with equal positions
        are averaged; projections are interpolated linearly between the bracketing groups.
    projection_indices
        Index in the whole scan of each projection passed (default ``0 .. n-1``); needed when correcting a block
        of angles with ``flats_after``/``flat_positions``.
    reduce
        How a group of flats (and the darks) are combined: ``"mean"`` or ``"median"`` (robust to zingers).
    saturation_value
        Raw values at or above it are saturated (no information): default the maximum of an integer input dtype
        (65535 for uint16), none for float input. Saturated projection pixels are filled along the row;
        saturated flat pixels count as dead.
    min_flat_fraction
        A pixel is dead where ``F - D <= min_flat_fraction * median(F - D)``; dead pixels are filled along the
        row in every projection.
    dynamic_components
        ``0``: conventional correction. ``k > 0``: dynamic flat-field correction with the ``k`` leading
        eigenflats of the flats (Van Nieuwenhove et al. 2015); the weights of every projection minimise the
        total variation of its corrected image (on a 2×-binned copy). Needs at least ``k + 1`` flats; numpy
        only (tensors are copied to the CPU for this step). Weights are fitted on the rows given, so pass whole
        projections, or large row slabs.
    dtype
        Output real dtype (``"float32"``/``"float64"``); default from :func:`xrai.options.get_options`.

    Returns
    -------
    Array
        Transmission ``[angle, row, col]`` (dimensionless, 1 = open beam), same backend and device as
        ``projections``; 2-D if a single image was given. Finite everywhere.

    Notes
    -----
    With groups of flats :math:`F_g` at positions :math:`p_g`, projection :math:`i` at position :math:`p_i`
    between :math:`p_g` and :math:`p_{g+1}` uses

    .. math:: F_i = (1 - t) F_g + t F_{g+1},\\quad t = (p_i - p_g)/(p_{g+1} - p_g).

    Dynamic correction: :math:`F_i = \\bar F + \\sum_k w_{ik} u_k` with :math:`u_k` the principal components of
    the dark-subtracted flats and :math:`w_i = \\arg\\min_w \\mathrm{TV}((P_i - D)/(\\bar F - D + \\sum_k w_k u_k))`.

    Examples
    --------
    >>> import numpy as np
    >>> gain = np.array([[1.0, 2.0, 4.0]])
    >>> flats = np.stack([1000 * gain + 100] * 3)
    >>> darks = np.full((2, 1, 3), 100.0)
    >>> proj = (0.5 * 1000 * gain + 100)[None]
    >>> flat_field_correct(proj, flats, darks).round(6).tolist()
    [[[0.5, 0.5, 0.5]]]
    """
    check_range("min_flat_fraction", min_flat_fraction, low=0, high=1)
    check_range("dynamic_components", dynamic_components, low=0)
    if reduce not in ("mean", "median"):
        raise ConfigError(f"reduce = {reduce!r} is not allowed: must be 'mean' or 'median'")
    proj = _as_array(projections, "projections")
    if flats is None:
        raise DataError("flats are required for flat-field correction (got None)")
    single = proj.ndim == 2
    proj = _as_stack(proj, "projections")
    flats_a = _as_stack(_as_array(flats, "flats"), "flats")
    darks_a = None if darks is None else _as_stack(_as_array(darks, "darks"), "darks")
    after_a = None if flats_after is None else _as_stack(_as_array(flats_after, "flats_after"), "flats_after")
    frame = tuple(proj.shape[1:])
    for name, arr in (("flats", flats_a), ("darks", darks_a), ("flats_after", after_a)):
        if arr is not None and tuple(arr.shape[1:]) != frame:
            raise DataError(f"{name} frames have shape {tuple(arr.shape[1:])}, projections have {frame}")
        if arr is not None and arr.shape[0] == 0:
            raise DataError(f"{name} hold no frames")
    if saturation_value is None:
        saturation_value = _saturation_default(proj.dtype)

    xp = array_namespace(proj)
    dev = device_of(proj)
    fdt = real_dtype(xp, dtype)

    def to_float(a: Array) -> Array:
        return xp.asarray(a, device=dev) if a.dtype == fdt else xp.astype(xp.asarray(a, device=dev), fdt)

    n = proj.shape[0]
    positions = (
        np.arange(n, dtype=np.float64)
        if projection_indices is None
        else np.asarray(projection_indices, dtype=np.float64).reshape(-1)
    )
    if positions.size != n:
        raise DataError(f"projection_indices has {positions.size} entries for {n} projections")
    n_total = float(positions.max() + 1) if projection_indices is not None else float(n)

    flats_f = to_float(flats_a)
    dark = xp.zeros(frame, dtype=fdt, device=dev) if darks_a is None else None
    if darks_a is not None:
        darks_f = to_float(darks_a)
        dark = (xp.asarray(np.median(to_numpy(darks_f), axis=0), dtype=fdt, device=dev)
                if reduce == "median" else xp.mean(darks_f, axis=0))  # fmt: skip
    after_f = None if after_a is None else to_float(after_a)
    groups, group_pos = _flat_groups(flats_f, after_f, flat_positions, n_total, reduce, xp)
    gains = [g - dark for g in groups]

    # dead pixels: too little flat signal in any group, or a saturated flat
    dead = xp.zeros(frame, dtype=xp.bool, device=dev)
    for g in gains:
        med = float(np.median(to_numpy(g)))
        dead = dead | (g <= min_flat_fraction * max(med, 0.0))
    for stack in (flats_a, after_a):
        if stack is not None and saturation_value is not None and float(xp.max(stack)) >= saturation_value:
            dead = dead | xp.any(xp.asarray(stack, device=dev) >= saturation_value, axis=0)
    safe = [xp.where(dead, xp.asarray(1.0, dtype=fdt, device=dev), g) for g in gains]

    eigen = None
    if dynamic_components:
        all_flats = flats_f if after_f is None else xp.concat([flats_f, after_f], axis=0)
        eigen = _eigenflats(to_numpy(all_flats), to_numpy(dark), int(dynamic_components))

    weights = _interpolation_weights(positions, group_pos)
    any_dead = bool(xp.any(dead))
    inverse = 1.0 / safe[0] if (len(safe) == 1 and eigen is None) else None
    out = xp.empty(proj.shape, dtype=fdt, device=dev)
    block = max(1, _BLOCK_BYTES // max(1, int(np.prod(frame)) * 4))
    for a in range(0, n, block):
        b = min(n, a + block)
        raw = xp.asarray(proj[a:b], device=dev)
        t = out[a:b]  # a view: work in place in the output (the caller's array is never modified)
        t[...] = raw
        t -= dark
        if inverse is not None:
            t *= inverse
        elif eigen is not None:
            denom = xp.asarray(_dynamic_flats(to_numpy(t), eigen, to_numpy(dead)), dtype=fdt, device=dev)
            t /= xp.where(xp.abs(denom) > 0, denom, xp.asarray(1.0, dtype=fdt, device=dev))
        else:
            w = xp.asarray(weights[a:b], dtype=fdt, device=dev)
            t /= sum(w[:, k][:, None, None] * safe[k] for k in range(len(safe)))
        mask = None
        if saturation_value is not None and float(xp.max(raw)) >= saturation_value:
            saturated = raw >= saturation_value
            mask = saturated | dead if any_dead else saturated
        if mask is None and any_dead:
            mask = xp.broadcast_to(dead, t.shape)
        if mask is not None:
            out[a:b] = _fill_masked_rows(xp, t, mask)
    return out[0] if single else out


# -- dynamic flat field (Van Nieuwenhove et al. 2015) ---------------------------------------------------------


def _eigenflats(flats: np.ndarray, dark: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean dark-subtracted flat ``[row, col]`` and the ``k`` leading eigenflats ``[k, row, col]``."""
    n = flats.shape[0]
    if n < k + 1:
        raise ConfigError(f"dynamic_components = {k} needs at least {k + 1} flats, got {n}")
    f = flats.astype(np.float64) - dark
    mean = f.mean(axis=0)
    centred = (f - mean).reshape(n, -1)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    # scale eigenflats by their singular values / sqrt(n): weights of order 1 for typical flats
    eig = (vt[:k] * (s[:k, None] / np.sqrt(n))).reshape((k, *mean.shape))
    return mean, eig


def _bin2(x: np.ndarray) -> np.ndarray:
    r, c = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    if r == 0 or c == 0:
        return x
    y = x[..., :r, :c]
    out: np.ndarray = 0.25 * (
        y[..., 0::2, 0::2] + y[..., 1::2, 0::2] + y[..., 0::2, 1::2] + y[..., 1::2, 1::2]
    )
    return out


def _tv_and_grad(
    w: np.ndarray, num: np.ndarray, mean: np.ndarray, eig: np.ndarray, eps: float
) -> tuple[float, np.ndarray]:
    """Smoothed isotropic total variation of ``num / (mean + Σ w_k eig_k)`` and its gradient in ``w``."""
    flat = mean + np.tensordot(w, eig, axes=1)
    flat = np.where(np.abs(flat) > 1e-12, flat, 1e-12)
    t = num / flat
    gx = np.diff(t, axis=-1, append=t[..., -1:])
    gy = np.diff(t, axis=-2, append=t[..., -1:, :])
    mag = np.sqrt(gx * gx + gy * gy + eps)
    tv = float(mag.sum())
    px, py = gx / mag, gy / mag
    # d TV / d t = -div(p) (forward differences, Neumann boundary)
    div = np.zeros_like(t)
    div[..., :, 0] += px[..., :, 0]
    div[..., :, 1:] += px[..., :, 1:] - px[..., :, :-1]
    div[..., 0, :] += py[..., 0, :]
    div[..., 1:, :] += py[..., 1:, :] - py[..., :-1, :]
    dtv_dt = -div
    dt_dflat = -t / flat
    grad = np.tensordot(eig, dtv_dt * dt_dflat, axes=([1, 2], [0, 1]))
    return tv, grad


def _dynamic_flats(num: np.ndarray, eigen: tuple[np.ndarray, np.ndarray], dead: np.ndarray) -> np.ndarray:
    """The fitted dark-subtracted flat of each projection ``[n, row, col]`` (numpy, float64)."""
    from scipy.optimize import minimize

    mean, eig = eigen
    good = ~dead
    mean_b = _bin2(np.where(good, mean, 0.0))
    eig_b = _bin2(np.where(good, eig, 0.0))
    scale = float(np.median(np.abs(mean_b))) or 1.0
    out = np.empty(num.shape, dtype=np.float64)
    for i in range(num.shape[0]):
        num_b = _bin2(np.where(good, num[i], 0.0))
        eps = (1e-3 * float(np.median(np.abs(num_b))) / scale) ** 2 + 1e-12
        res = minimize(
            _tv_and_grad,
            np.zeros(eig.shape[0]),
            args=(num_b, mean_b, eig_b, eps),
            jac=True,
            method="L-BFGS-B",
        )
        out[i] = mean + np.tensordot(res.x, eig, axes=1)
    return out


# -- minus log and zingers -------------------------------------------------------------------------------------


def minus_log(transmission: Array, *, min_transmission: float = 1e-6) -> Array:
    """Line integral of attenuation ``-ln(T)``, with ``T`` clipped below at ``min_transmission``.

    Parameters
    ----------
    transmission
        Flat-field corrected projections (numpy or torch, any shape).
    min_transmission
        Lower clip of ``T`` (noise and bad pixels can give ``T <= 0``): the result is at most
        ``-ln(min_transmission)`` (13.8 for the default 1e-6) and always finite. Values above 1 (noise in open
        beam) are kept, giving small negative attenuation, so noise stays unbiased.

    Returns
    -------
    Array
        ``-ln(max(T, min_transmission))``, same shape, backend and floating dtype (integer input becomes the
        default float dtype).
    """
    check_range("min_transmission", min_transmission, low=0, low_inclusive=False, high=1)
    t = _as_array(transmission, "transmission")
    xp = array_namespace(t)
    if not xp.isdtype(t.dtype, "real floating"):
        t = xp.astype(t, real_dtype(xp, None))
    if isinstance(t, np.ndarray):  # one temporary instead of three
        out = np.maximum(t, t.dtype.type(min_transmission))
        np.log(out, out=out)
        return np.negative(out, out=out)
    return -xp.log(xp.clip(t, min_transmission, None))


def remove_zingers(
    images: Array,
    *,
    kernel_size: int = 3,
    n_sigma: float = 5.0,
    threshold: float | None = None,
) -> Array:
    """Replace zingers (isolated bright outliers from direct hits on the camera) by the local median.

    Parameters
    ----------
    images
        ``[frame, row, col]`` or one ``[row, col]`` image (raw counts or transmission), numpy or torch
        (tensors are processed on the CPU with scipy and returned on their device).
    kernel_size
        Side of the square median window (odd, >= 3); larger than a zinger (zingers are 1-3 pixels).
    n_sigma
        A pixel is a zinger where ``x - median > n_sigma * σ``, with σ the robust noise of the frame
        (``1.4826 · MAD`` of ``x - median``).
    threshold
        An absolute threshold in data units instead of ``n_sigma · σ``.

    Returns
    -------
    Array
        A corrected copy, same shape, dtype and backend; only bright outliers change.

    Notes
    -----
    Median-based outlier replacement, as in TomoPy's ``remove_outlier`` (Gürsoy et al. 2014,
    doi:10.1107/S1600577514013939), with a threshold relative to a robust per-frame noise estimate so one value
    works for raw counts and for transmission.
    """
    from scipy.ndimage import median_filter

    check_range("kernel_size", kernel_size, low=3)
    if int(kernel_size) % 2 == 0:
        raise ConfigError(f"kernel_size = {kernel_size} is not allowed: must be odd")
    check_range("n_sigma", n_sigma, low=0, low_inclusive=False)
    if threshold is not None:
        check_range("threshold", threshold, low=0)
    x = _as_array(images, "images")
    torch_in = is_torch(x)
    arr = to_numpy(x)
    single = arr.ndim == 2
    stack = _as_stack(arr, "images")
    work = stack.astype(np.float64 if stack.dtype == np.float64 else np.float32)
    med = median_filter(work, size=(1, int(kernel_size), int(kernel_size)), mode="reflect")
    diff = work - med
    if threshold is None:
        mad = np.median(
            np.abs(diff - np.median(diff, axis=(1, 2), keepdims=True)), axis=(1, 2), keepdims=True
        )
        thr = n_sigma * 1.4826 * np.maximum(mad, np.finfo(work.dtype).tiny)
    else:
        thr = np.asarray(threshold, dtype=work.dtype)
    zinger = diff > thr
    out = np.where(zinger, med, work)
    if stack.dtype.kind in "iu":
        out = np.rint(out)
    out = out.astype(stack.dtype, copy=False)
    out = out[0] if single else out
    if torch_in:
        xp = array_namespace(x)
        return xp.asarray(out, device=device_of(x))
    return out
