"""Ring-artefact removal: suppress the stripes that miscalibrated detector pixels draw in sinograms.

A pixel whose response differs from the flat-field model adds (after the minus-log) a nearly constant offset to
its column of every sinogram: a vertical *stripe* in ``[angle, col]``, which back-projects into a *ring*. Two
established methods are implemented:

``"sorting"`` (Vo, Atwood & Drakopoulos 2018, algorithm 3)
    Sort every column of the sinogram along the angle axis, median-filter the sorted image across columns, and
    put the values back in their original order. Sorting turns the object's structure into smooth profiles
    while a stripe stays a step across columns, which the median removes. Parameter: ``size`` (window across
    columns, larger than the widest stripe; default 21).

``"wavelet_fourier"`` (Münch, Trtik, Marone & Stampanoni 2009)
    Decompose the sinogram with a 2-D discrete wavelet transform to ``level`` levels; at each level, take the
    *vertical* detail coefficients (where stripes live), Fourier-transform them along the angle axis and damp
    the frequencies near zero with ``1 - exp(-k² / (2 σ²))``; reconstruct. Parameters: ``level`` (default 2;
    higher removes wider stripes), ``wavelet`` (default ``"sym8"``), ``sigma`` (width of the damping in
    frequency samples, default 2). The damping also removes the detail of the *angle-averaged* projection at
    the scales ``2 .. 2**level`` pixels, i.e. real structure that is centred on the rotation axis: keep
    ``level`` low (1-3) unless the stripes are wide. On a 256² Shepp–Logan sinogram (360 angles, 20 one-pixel
    stripes of 2 % of the maximum) the defaults cut the ring energy to 0.31 and the RMSE to 0.95 of the
    striped input; ``level=3`` damages the phantom (RMSE × 3).

Both methods work on minus-log data (sinograms ``[angle, col]``, or projections ``[angle, row, col]`` processed
as one sinogram per row); they are numpy/scipy kernels (torch tensors are processed on the CPU and returned on
their device).

References
----------
Vo, N. T., Atwood, R. C., Drakopoulos, M. (2018). Superior techniques for eliminating ring artifacts in X-ray
micro-tomography. Optics Express 26, 28396. doi:10.1364/OE.26.028396

Münch, B., Trtik, P., Marone, F., Stampanoni, M. (2009). Stripe and ring artifact removal with combined
wavelet–Fourier filtering. Optics Express 17, 8567. doi:10.1364/OE.17.008567
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from xrai._backend import array_namespace, device_of, is_torch, to_numpy
from xrai._typing import Array
from xrai.errors import ConfigError, DataError, check_range

__all__ = ["remove_rings", "remove_stripes_sorting", "remove_stripes_wavelet_fourier"]

RingMethod = Literal["sorting", "wavelet_fourier"]


def _prepare(data: Array) -> tuple[np.ndarray, bool, Any]:
    """A float ``[angle, row, col]`` numpy view of ``data``; whether it was 2-D; the original (for backend)."""
    arr = to_numpy(data)
    if arr.dtype.kind not in "uif":
        raise DataError(f"sinogram dtype {arr.dtype} is not allowed: must be integer or real float")
    if arr.ndim not in (2, 3):
        raise DataError(
            f"expected a sinogram [angle, col] or projections [angle, row, col], got shape {arr.shape}"
        )
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    single = arr.ndim == 2
    return (arr[:, None, :] if single else arr), single, data


def _finish(out: np.ndarray, single: bool, original: Any) -> Array:
    out = out[:, 0, :] if single else out
    if is_torch(original):
        xp = array_namespace(original)
        return xp.asarray(out, device=device_of(original))
    return out


def remove_stripes_sorting(data: Array, *, size: int = 21) -> Array:
    """Sorting-based stripe removal (Vo et al. 2018, algorithm 3); see :func:`remove_rings`.

    Parameters
    ----------
    data
        Sinogram ``[angle, col]`` or projections ``[angle, row, col]`` (minus-log).
    size
        Median window across columns (pixels, >= 3); a little wider than the widest stripe.
    """
    from scipy.ndimage import median_filter

    check_range("size", size, low=3)
    arr, single, original = _prepare(data)
    order = np.argsort(arr, axis=0, kind="stable")
    sorted_ = np.take_along_axis(arr, order, axis=0)
    smoothed = median_filter(sorted_, size=(1, 1, int(size)), mode="reflect")
    out = np.empty_like(arr)
    np.put_along_axis(out, order, smoothed, axis=0)
    return _finish(out, single, original)


def remove_stripes_wavelet_fourier(
    data: Array, *, level: int | None = 2, wavelet: str = "sym8", sigma: float = 2.0
) -> Array:
    """Combined wavelet–Fourier stripe removal (Münch et al. 2009); see :func:`remove_rings`.

    Parameters
    ----------
    data
        Sinogram ``[angle, col]`` or projections ``[angle, row, col]`` (minus-log).
    level
        Decomposition levels (>= 1); ``None`` = the largest level the data size allows for ``wavelet``.
        Stripes up to about ``2**level`` pixels wide are damped.
    wavelet
        A discrete wavelet known to PyWavelets (Münch et al. used Daubechies wavelets ``"db5"`` ... ``"db25"``;
        the symmetric ``"sym8"`` damaged our phantoms less at equal stripe removal).
    sigma
        Width (in frequency samples along the angle axis) of the Gaussian damping ``1 - exp(-k²/(2σ²))``.

    Notes
    -----
    Needs PyWavelets (``pip install PyWavelets``).
    """
    try:
        import pywt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("method 'wavelet_fourier' needs PyWavelets: pip install PyWavelets") from exc

    check_range("sigma", sigma, low=0, low_inclusive=False)
    if wavelet not in pywt.wavelist(kind="discrete"):
        raise ConfigError(
            f"wavelet = {wavelet!r} is not allowed: must be a discrete PyWavelets wavelet, e.g. 'db5'"
        )
    arr, single, original = _prepare(data)
    n_angles, _, n_cols = arr.shape
    max_level = pywt.dwt_max_level(min(n_angles, n_cols), pywt.Wavelet(wavelet).dec_len)
    if level is None:
        level = max(1, max_level)
    check_range("level", level, low=1)
    level = int(min(level, max(1, max_level)))
    coeffs = pywt.wavedec2(arr, wavelet, level=level, axes=(0, 2), mode="symmetric")
    filtered = [coeffs[0]]
    for c_h, c_v, c_d in coeffs[1:]:
        m = c_v.shape[0]
        k = np.fft.fftfreq(m) * m  # integer frequency index along the angle axis
        damp = (1.0 - np.exp(-(k**2) / (2.0 * sigma**2)))[:, None, None]
        c_v = np.real(np.fft.ifft(np.fft.fft(c_v, axis=0) * damp, axis=0))
        filtered.append((c_h, c_v.astype(c_h.dtype, copy=False), c_d))
    out = pywt.waverec2(filtered, wavelet, axes=(0, 2), mode="symmetric")
    out = np.ascontiguousarray(out[:n_angles, :, :n_cols], dtype=arr.dtype)
    return _finish(out, single, original)


def remove_rings(
    data: Array,
    *,
    method: RingMethod = "sorting",
    size: int = 21,
    level: int | None = 2,
    wavelet: str = "sym8",
    sigma: float = 2.0,
) -> Array:
    """Remove stripes from sinograms (rings in the reconstruction) with an established method.

    Parameters
    ----------
    data
        Sinogram ``[angle, col]`` or projections ``[angle, row, col]`` after minus-log, numpy or torch.
    method
        ``"sorting"`` (Vo et al. 2018; robust, preserves structure, good for narrow stripes) or
        ``"wavelet_fourier"`` (Münch et al. 2009; also removes wide, low-frequency stripes).
    size
        ``"sorting"``: median window across columns (pixels, default 21).
    level, wavelet, sigma
        ``"wavelet_fourier"``: decomposition levels (default 2), wavelet (``"sym8"``) and the damping width in
        frequency samples (2.0). Higher levels also smooth structure centred on the rotation axis.

    Returns
    -------
    Array
        Same shape, backend and floating dtype as ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> profile = np.r_[np.zeros(8), np.ones(48), np.zeros(8)]
    >>> sino = np.tile(profile, (90, 1))
    >>> sino[:, 20] += 0.1  # a stripe
    >>> clean = remove_rings(sino, method="sorting", size=5)
    >>> float(abs(clean - np.tile(profile, (90, 1))).max())
    0.0
    """
    if method == "sorting":
        return remove_stripes_sorting(data, size=size)
    if method == "wavelet_fourier":
        return remove_stripes_wavelet_fourier(data, level=level, wavelet=wavelet, sigma=sigma)
    raise ConfigError(f"method = {method!r} is not allowed: must be 'sorting' or 'wavelet_fourier'")
