"""A small MONAI 3-D U-Net, the segmentation model that wraps it, saving/loading, and the shipped demo model.

A :class:`SegmentationModel` is the network plus what is needed to use it correctly: the label names, the
window size it was trained on, the input normalisation and the recipe that made it. It is stored as two files
side by side: ``<name>.pt`` (the ``state_dict``, loadable with ``torch.load(weights_only=True)``) and
``<name>.json`` (architecture, labels, normalisation, training recipe, validation numbers).

The demo model (:func:`load_demo_model`) ships inside the package (``xrai/ml/models/fish_unet_demo.*``) and
loads through :mod:`importlib.resources`: no download. ``scripts/train_demo_model.py`` reproduces it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.networks.nets import UNet

from xrai.errors import ConfigError, DataError

__all__ = [
    "DEMO_MODEL_NAME",
    "SegmentationModel",
    "build_unet",
    "demo_model_files",
    "load_demo_model",
    "load_model",
    "save_model",
]

#: Base name of the shipped demo model in ``xrai/ml/models``.
DEMO_MODEL_NAME = "fish_unet_demo"


def build_unet(
    n_classes: int,
    *,
    channels: Sequence[int] = (8, 16, 32, 64),
    strides: Sequence[int] = (2, 2, 2),
    num_res_units: int = 2,
    dropout: float = 0.1,
    in_channels: int = 1,
) -> UNet:
    """A MONAI 3-D U-Net (instance norm, PReLU) with ``n_classes`` output channels (logits).

    ``dropout`` > 0 makes Monte-Carlo-dropout uncertainty possible at inference. Inputs must have a size
    divisible by ``prod(strides)`` in every dimension.
    """
    if n_classes < 2:
        raise ConfigError(
            f"n_classes = {n_classes} is not allowed: must be >= 2 (background + one structure)"
        )
    if len(channels) != len(strides) + 1:
        raise ConfigError(
            f"channels = {tuple(channels)} and strides = {tuple(strides)}: need len(channels) == len(strides) + 1"
        )
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout = {dropout} is not allowed: must be in [0, 1)")
    return UNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=n_classes,
        channels=tuple(channels),
        strides=tuple(strides),
        num_res_units=num_res_units,
        dropout=dropout,
    )


class SegmentationModel:
    """A trained segmentation network with its label names, window size, normalisation and recipe.

    Parameters
    ----------
    net
        The network (``[B, 1, z, y, x]`` → logits ``[B, C, z, y, x]``).
    label_names
        ``label_names[k]`` names output channel / label ``k`` (0 = background).
    roi_size
        Window ``(z, y, x)`` in voxels for sliding-window inference (the training patch size).
    architecture
        Keyword arguments of :func:`build_unet` (to rebuild the network when loading).
    normalization
        ``(low_percentile, high_percentile)`` mapped to 0 and 1 before the network
        (:func:`xrai.ml.synthetic.normalize_intensity`).
    metadata
        Recipe, versions, validation numbers (stored in the JSON file).
    """

    def __init__(
        self,
        net: torch.nn.Module,
        *,
        label_names: Sequence[str],
        roi_size: Sequence[int],
        architecture: Mapping[str, Any],
        normalization: Sequence[float] = (1.0, 99.5),
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if len(roi_size) != 3:
            raise ConfigError(f"roi_size = {tuple(roi_size)} is not allowed: give three sizes (z, y, x)")
        self.net = net
        self.label_names = tuple(label_names)
        self.roi_size = tuple(int(n) for n in roi_size)
        self.architecture = dict(architecture)
        self.normalization = (float(normalization[0]), float(normalization[1]))
        self.metadata = dict(metadata or {})

    @property
    def n_classes(self) -> int:
        """Number of output channels (labels including background)."""
        return len(self.label_names)

    @property
    def device(self) -> torch.device:
        """Device of the network's parameters."""
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> SegmentationModel:
        """Move the network to ``device`` (in place); returns ``self``."""
        self.net.to(device)
        return self

    def normalize(self, volume: Any) -> np.ndarray:
        """The network input for ``volume`` (percentile normalisation as in training)."""
        from xrai.ml.synthetic import normalize_intensity

        return normalize_intensity(
            volume, low_percentile=self.normalization[0], high_percentile=self.normalization[1]
        )

    def predict(self, volume: Any, **kwargs: Any) -> Any:
        """Segment ``volume``; see :func:`xrai.ml.inference.segment_volume` for the options."""
        from xrai.ml.inference import segment_volume

        return segment_volume(self, volume, **kwargs)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.net.parameters())
        return f"SegmentationModel({len(self.label_names)} labels, roi {self.roi_size}, {n} parameters)"


def save_model(model: SegmentationModel, path: str | Path, *, half: bool = False) -> tuple[Path, Path]:
    """Write ``<path>.pt`` (state dict; float16 if ``half``) and ``<path>.json``; returns both paths."""
    base = Path(path)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).cpu()
        for k, v in model.net.state_dict().items()
    }
    weights = base.with_suffix(".pt")
    torch.save(state, weights)
    meta = {
        "format": "xrai.segmentation-model/1",
        "architecture": model.architecture,
        "label_names": list(model.label_names),
        "roi_size": list(model.roi_size),
        "normalization": list(model.normalization),
        "weights_dtype": "float16" if half else "float32",
        **model.metadata,
    }
    info = base.with_suffix(".json")
    info.write_text(json.dumps(meta, indent=2, sort_keys=False, default=_json_default) + "\n")
    return weights, info


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the model JSON")


def _from_files(weights: Any, meta: Mapping[str, Any], *, device: str | torch.device) -> SegmentationModel:
    try:
        architecture = dict(meta["architecture"])
        label_names = list(meta["label_names"])
        roi_size = list(meta["roi_size"])
    except KeyError as exc:
        raise DataError(f"model JSON lacks the field {exc.args[0]!r}") from None
    net = build_unet(len(label_names), **architecture)
    with weights.open("rb") if hasattr(weights, "open") else open(weights, "rb") as fh:
        state = torch.load(fh, map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    net.load_state_dict(state)
    net.eval()
    known = {"architecture", "label_names", "roi_size", "normalization", "format", "weights_dtype"}
    model = SegmentationModel(
        net,
        label_names=label_names,
        roi_size=roi_size,
        architecture=architecture,
        normalization=meta.get("normalization", (1.0, 99.5)),
        metadata={k: v for k, v in meta.items() if k not in known},
    )
    return model.to(device)


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> SegmentationModel:
    """Load a model saved by :func:`save_model` (give ``<name>``, ``<name>.pt`` or ``<name>.json``)."""
    base = Path(path)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    weights, info = base.with_suffix(".pt"), base.with_suffix(".json")
    for f in (weights, info):
        if not f.is_file():
            raise DataError(f"model file {str(f)!r} does not exist")
    return _from_files(weights, json.loads(info.read_text()), device=device)


def demo_model_files() -> tuple[Any, Any]:
    """The shipped demo model's weight and JSON resources (``importlib.resources`` traversables)."""
    folder = resources.files("xrai.ml") / "models"
    return folder / f"{DEMO_MODEL_NAME}.pt", folder / f"{DEMO_MODEL_NAME}.json"


def load_demo_model(*, device: str | torch.device = "cpu") -> SegmentationModel:
    """The small fish-organ U-Net shipped with xrai (trained on synthetic fish; see its JSON for the recipe)."""
    weights, info = demo_model_files()
    if not weights.is_file() or not info.is_file():
        raise DataError(
            "the demo model is missing from this installation (xrai/ml/models); "
            "rebuild it with scripts/train_demo_model.py"
        )
    return _from_files(weights, json.loads(info.read_text()), device=device)
