"""Sliding-window inference on big volumes, streaming the label map slab by slab (to Zarr), with uncertainty.

:func:`segment_volume` walks the volume in slabs along ``z``, one window depth thick, at the ``z`` positions
MONAI's sliding window would use; each slab goes through MONAI
:func:`~monai.inferers.sliding_window_inference` (which tiles ``y`` and ``x``), and planes whose windows are
all done are turned into labels and written out at once. With the default ``mode="constant"`` blending the
result equals MONAI's sliding-window inference on the whole volume (the average over overlapping windows
factorises into ``z`` and ``y, x``), but only about ``roi_z + step_z`` planes of class probabilities are ever
held in memory, never a full probability volume.

Uncertainty: with test-time augmentation (``tta=True``: flips of ``y``, ``x`` and both) and/or Monte-Carlo
dropout (``mc_samples`` > 0; dropout kept active) the predictor averages the softmax over the samples. Per
voxel this gives the predictive entropy ``H[p̄]`` and the mutual information ``H[p̄] − mean_s H[p_s]`` (the
part of the uncertainty due to the model; Gal & Ghahramani 2016); per organ :func:`segment_volume` reports the
hard and soft (``Σ p̄_k``) volumes and the mean entropy and mutual information over the organ's voxels.

References
----------
Gal, Y. & Ghahramani, Z. (2016). Dropout as a Bayesian approximation. *ICML*, PMLR 48, 1050.
https://proceedings.mlr.press/v48/gal16.html

Wang, G. et al. (2019). Aleatoric uncertainty estimation with test-time augmentation for medical image
segmentation with convolutional neural networks. *Neurocomputing* 338, 34.
https://doi.org/10.1016/j.neucom.2019.01.103
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xrai.errors import ConfigError, DataError, check_range
from xrai.ml.unet import SegmentationModel

__all__ = [
    "SegmentationResult",
    "intensity_range",
    "predict_probabilities",
    "segment_volume",
    "window_starts",
]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SegmentationResult:
    """Output of :func:`segment_volume`.

    Attributes
    ----------
    labels
        ``uint8`` label volume ``[z, y, x]``: a numpy array, or the Zarr array written to ``out``.
    organs
        One row per label: ``label``, ``name``, ``voxel_count``, ``soft_voxel_count`` (Σ of the mean
        probability), ``mean_entropy`` and ``mean_mutual_information`` (nats) over the voxels given that label.
    uncertainty
        Per-voxel predictive entropy (``float32``, nats; numpy or Zarr) when asked for, else ``None``.
    """

    labels: Any
    organs: list[dict[str, Any]] = field(default_factory=list)
    uncertainty: Any = None


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Window start positions along one axis, as MONAI's ``sliding_window_inference`` places them."""
    if size <= roi:
        return [0]
    interval = max(int(roi * (1.0 - overlap)), 1)
    n = math.ceil((size - roi) / interval) + 1
    return sorted({min(i * interval, size - roi) for i in range(n)})


def intensity_range(
    volume: Any, *, low_percentile: float, high_percentile: float, max_samples: int = 16_000_000
) -> tuple[float, float]:
    """Percentiles of ``volume`` (any sliceable ``[z, y, x]`` array), from a regular subsample if it is large.

    Volumes with at most ``max_samples`` voxels are read whole, so the result equals
    :func:`xrai.ml.synthetic.normalize_intensity`'s.
    """
    shape = tuple(volume.shape)
    n = int(np.prod(shape))
    if n <= max_samples:
        data = np.asarray(volume[...], dtype=np.float32)
    else:
        stride = max(1, math.ceil((n / max_samples) ** (1 / 3)))
        data = np.concatenate(
            [
                np.asarray(volume[z, ::stride, ::stride], dtype=np.float32).ravel()
                for z in range(0, shape[0], stride)
            ]
        )
    lo, hi = np.percentile(data, [low_percentile, high_percentile])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _flips(tta: bool) -> list[tuple[int, ...]]:
    return [(), (3,), (4,), (3, 4)] if tta else [()]


def _set_dropout(net: torch.nn.Module, active: bool) -> None:
    for module in net.modules():
        if isinstance(
            module, torch.nn.Dropout | torch.nn.Dropout2d | torch.nn.Dropout3d | torch.nn.AlphaDropout
        ):
            module.train(active)


def _make_predictor(net: torch.nn.Module, *, tta: bool, mc_samples: int, with_entropy: bool) -> Any:
    flips = _flips(tta)
    samples = max(1, mc_samples)

    def predictor(x: torch.Tensor) -> torch.Tensor:
        mean_p = None
        mean_h = None
        count = 0
        for flip in flips:
            xf = torch.flip(x, flip) if flip else x
            for _ in range(samples):
                logits = net(xf)
                p = torch.softmax(logits.float(), dim=1)
                if flip:
                    p = torch.flip(p, flip)
                mean_p = p if mean_p is None else mean_p + p
                if with_entropy:
                    h = -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1, keepdim=True)
                    mean_h = h if mean_h is None else mean_h + h
                count += 1
        assert mean_p is not None
        mean_p = mean_p / count
        if not with_entropy:
            return mean_p
        assert mean_h is not None
        return torch.cat([mean_p, mean_h / count], dim=1)

    return predictor


def _create_zarr(path: Any, shape: tuple[int, int, int], depth: int, dtype: str, **kwargs: Any) -> Any:
    from xrai.io.zarr_volume import create_volume_zarr

    chunks = (max(1, depth), shape[1], shape[2])
    return create_volume_zarr(path, shape=shape, dtype=dtype, chunks=chunks, **kwargs)


def segment_volume(
    model: SegmentationModel,
    volume: Any,
    *,
    out: str | Path | None = None,
    uncertainty_out: str | Path | None = None,
    voxel_size_m: float | tuple[float, float, float] | None = None,
    overwrite: bool = False,
    overlap: float = 0.25,
    mode: str = "constant",
    sw_batch_size: int = 1,
    tta: bool = False,
    mc_samples: int = 0,
    uncertainty_map: bool = False,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> SegmentationResult:
    """Segment a volume of any size with a sliding window, writing labels slab by slab.

    Parameters
    ----------
    model
        The segmentation model (its ``roi_size`` is the window).
    volume
        ``[z, y, x]`` reconstructed volume: numpy array, Zarr/HDF5 dataset or memmap (read slab by slab).
    out
        Zarr v3 volume (folder or fsspec URL) to stream the labels into (written with
        :func:`xrai.io.create_volume_zarr`; label names in the attributes); ``None`` returns a numpy array.
    uncertainty_out
        Zarr volume for the per-voxel predictive entropy (``float32``, nats); implies ``uncertainty_map``.
    voxel_size_m
        Voxel size stored with the outputs; default: the input's ``voxel_size_m`` attribute, else 1.
    overwrite
        Replace existing output volumes (otherwise a :class:`~xrai.errors.DataError`).
    overlap
        Fraction of overlap between neighbouring windows (0 ≤ overlap < 1).
    mode
        MONAI blending, ``"constant"`` (exactly MONAI's whole-volume result) or ``"gaussian"`` (smoother seams;
        within a slab only).
    sw_batch_size
        Windows per forward pass.
    tta
        Test-time augmentation by flips (4 passes).
    mc_samples
        Monte-Carlo dropout passes per flip (0 = dropout off).
    uncertainty_map
        Also return the per-voxel predictive entropy (numpy, unless ``uncertainty_out`` is given).
    device
        ``"cpu"``, ``"cuda"``; default: CUDA when available.
    seed
        Seed of the dropout masks (MC dropout).
    progress
        Progress bar over slabs (default from :func:`xrai.options.get_options`).

    Returns
    -------
    SegmentationResult
    """
    from monai.inferers import sliding_window_inference

    from xrai.ml.segmentation import _progress
    from xrai.options import get_options

    shape = tuple(int(s) for s in volume.shape)
    if len(shape) != 3:
        raise DataError(f"volume must be 3-D [z, y, x]; got shape {shape}")
    check_range("overlap", overlap, low=0.0, high=1.0, high_inclusive=False)
    check_range("mc_samples", mc_samples, low=0, high=1000)
    if mode not in ("constant", "gaussian"):
        raise ConfigError(f"mode = {mode!r} is not allowed: must be 'constant' or 'gaussian'")
    if mc_samples > 0 and not any(
        isinstance(m, torch.nn.Dropout | torch.nn.Dropout3d) and m.p > 0 for m in model.net.modules()
    ):
        raise ConfigError("mc_samples > 0 needs a model trained with dropout > 0")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    net = model.net.to(device)
    net.eval()
    _set_dropout(net, mc_samples > 0)
    n_classes = model.n_classes
    with_entropy = tta or mc_samples > 0 or uncertainty_map
    predictor = _make_predictor(net, tta=tta, mc_samples=mc_samples, with_entropy=with_entropy)
    lo, hi = intensity_range(
        volume, low_percentile=model.normalization[0], high_percentile=model.normalization[1]
    )

    roi = model.roi_size
    starts = window_starts(shape[0], roi[0], overlap)
    depth = min(roi[0], shape[0])
    uncertainty_map = uncertainty_map or uncertainty_out is not None
    if voxel_size_m is None:
        voxel_size_m = getattr(volume, "voxel_size_m", 1.0)
    attrs = {"label_names": list(model.label_names), "model": model.metadata.get("name", "")}
    if out is None:
        labels_out: Any = np.zeros(shape, dtype=np.uint8)
    else:
        labels_out = _create_zarr(
            out, shape, depth, "uint8", voxel_size_m=voxel_size_m, attrs=attrs, overwrite=overwrite
        )
    entropy_out: Any = None
    if uncertainty_out is not None:
        entropy_out = _create_zarr(
            uncertainty_out, shape, depth, "float32", voxel_size_m=voxel_size_m,
            attrs={"quantity": "predictive entropy (nats)"}, overwrite=overwrite,
        )  # fmt: skip
    elif uncertainty_map:
        entropy_out = np.zeros(shape, dtype=np.float32)

    stats = np.zeros((n_classes, 4), dtype=np.float64)  # count, soft count, Σ entropy, Σ mutual information
    buffer: dict[int, list[Any]] = {}  # z -> [Σ slab outputs (C' × y × x), number of slabs]
    show = get_options().progress if progress is None else progress
    fork = torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])

    def flush(upto: int) -> None:
        """Turn the planes below ``upto`` (all their windows done) into labels, a few planes at a time."""
        ready = sorted(z for z in buffer if z < upto)
        if not ready:
            return
        z0, z1 = ready[0], ready[-1] + 1
        labels_block = np.empty((z1 - z0, shape[1], shape[2]), dtype=np.uint8)
        entropy_block = np.empty(labels_block.shape, dtype=np.float32) if entropy_out is not None else None
        for i in range(0, len(ready), 8):
            planes = ready[i : i + 8]
            block = torch.stack([buffer[z][0] / buffer[z][1] for z in planes])  # [k, C', y, x]
            for z in planes:
                del buffer[z]
            probs = block[:, :n_classes]
            hard = torch.argmax(probs, dim=1)
            flat = hard.flatten()
            labels_block[i : i + len(planes)] = hard.numpy()
            stats[:, 0] += torch.bincount(flat, minlength=n_classes).numpy()
            stats[:, 1] += probs.sum(dim=(0, 2, 3), dtype=torch.float64).numpy()
            if with_entropy:
                entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1)
                mutual = (entropy - block[:, n_classes]).clamp_min(0.0)
                sums = torch.zeros((2, n_classes), dtype=torch.float64)
                sums[0].index_add_(0, flat, entropy.flatten().to(torch.float64))
                sums[1].index_add_(0, flat, mutual.flatten().to(torch.float64))
                stats[:, 2:] += sums.T.numpy()
                if entropy_block is not None:
                    entropy_block[i : i + len(planes)] = entropy.numpy()
        labels_out[z0:z1] = labels_block
        if entropy_block is not None:
            entropy_out[z0:z1] = entropy_block

    # Dropout masks come from the global torch RNG: seed a forked copy, leave the caller's state untouched.
    with fork, _progress(show, "segmenting", len(starts)) as advance, torch.no_grad():
        torch.manual_seed(seed)
        for i, start in enumerate(starts):
            slab = np.asarray(volume[start : start + depth], dtype=np.float32)
            x = torch.from_numpy((slab - lo) / (hi - lo))[None, None]
            result = sliding_window_inference(
                x,
                roi_size=roi,
                sw_batch_size=sw_batch_size,
                predictor=predictor,
                overlap=overlap,
                mode=mode,
                sw_device=device,
                device=torch.device("cpu"),
            )
            assert isinstance(result, torch.Tensor)
            next_start = starts[i + 1] if i + 1 < len(starts) else shape[0]
            slab_out = result[0]
            for k in range(slab_out.shape[1]):
                plane = slab_out[:, k]
                if start + k in buffer:
                    buffer[start + k][0] += plane
                    buffer[start + k][1] += 1
                else:
                    # Planes that the next window also covers are copied; the others stay views until flushed.
                    buffer[start + k] = [plane.clone() if start + k >= next_start else plane, 1]
            del result, slab_out, plane, x
            flush(next_start)
            advance(1)
    flush(shape[0])
    _set_dropout(net, False)

    organs = []
    for k, name in enumerate(model.label_names):
        count = stats[k, 0]
        organs.append(
            {
                "label": k,
                "name": name,
                "voxel_count": int(count),
                "soft_voxel_count": float(stats[k, 1]),
                "mean_entropy": float(stats[k, 2] / count) if with_entropy and count else float("nan"),
                "mean_mutual_information": float(stats[k, 3] / count)
                if with_entropy and count
                else float("nan"),
            }
        )
    return SegmentationResult(labels=labels_out, organs=organs, uncertainty=entropy_out)


def predict_probabilities(model: SegmentationModel, volume: np.ndarray, *, device: str = "cpu") -> np.ndarray:
    """Softmax probabilities ``[C, z, y, x]`` of one whole-volume forward pass (no windows; small volumes).

    The volume's sizes must be multiples of the network's total stride.
    """
    net = model.net.to(device).eval()
    with torch.no_grad():
        x = torch.from_numpy(model.normalize(volume))[None, None].to(device)
        return torch.softmax(net(x), dim=1)[0].cpu().numpy()
