"""xrai.ml: deep learning for X-ray volumes (torch + MONAI); the only layer that imports torch at module level.

- :mod:`xrai.ml.synthetic`: training data that looks like reconstructed tomograms
  (:func:`render_like_reconstruction`, :func:`random_look`; numpy only).
- :mod:`xrai.ml.unet`: the MONAI 3-D U-Net, :class:`SegmentationModel`, save/load, the shipped demo model.
- :mod:`xrai.ml.segmentation`: resumable, deterministic training with physics-based augmentation.
- :mod:`xrai.ml.inference`: sliding-window inference streaming labels to Zarr, TTA / MC-dropout uncertainty.
- :mod:`xrai.ml.metrics`: Dice, HD95, surface distance, volume error per organ.
- :mod:`xrai.ml.label_io`: label volumes as NIfTI, TIFF, Zarr.

Names load lazily: ``import xrai.ml`` imports neither torch nor MONAI until a name that needs them is used.

Examples
--------
>>> import xrai.ml
>>> model = xrai.ml.load_demo_model()          # doctest: +SKIP
>>> result = model.predict(volume)              # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrai._lazy import attach

#: Public name -> submodule of xrai.ml that defines it.
_LAZY: dict[str, str] = {
    # synthetic training data (numpy only)
    "ReconstructionLook": "synthetic",
    "contrast_table": "synthetic",
    "normalize_intensity": "synthetic",
    "random_look": "synthetic",
    "render_like_reconstruction": "synthetic",
    "synthetic_pairs": "synthetic",
    # models
    "DEMO_MODEL_NAME": "unet",
    "SegmentationModel": "unet",
    "build_unet": "unet",
    "load_demo_model": "unet",
    "load_model": "unet",
    "save_model": "unet",
    # training
    "TrainConfig": "segmentation",
    "TrainResult": "segmentation",
    "demo_recipe": "segmentation",
    "train": "segmentation",
    # inference
    "SegmentationResult": "inference",
    "segment_volume": "inference",
    # metrics
    "mean_dice": "metrics",
    "segmentation_metrics": "metrics",
    # label files
    "read_labels": "label_io",
    "write_labels": "label_io",
}


if TYPE_CHECKING:  # keep in step with _LAZY
    from xrai.ml.inference import SegmentationResult, segment_volume  # noqa: F401
    from xrai.ml.label_io import read_labels, write_labels  # noqa: F401
    from xrai.ml.metrics import mean_dice, segmentation_metrics  # noqa: F401
    from xrai.ml.segmentation import TrainConfig, TrainResult, demo_recipe, train  # noqa: F401
    from xrai.ml.synthetic import (  # noqa: F401
        ReconstructionLook,
        contrast_table,
        normalize_intensity,
        random_look,
        render_like_reconstruction,
        synthetic_pairs,
    )
    from xrai.ml.unet import (  # noqa: F401
        DEMO_MODEL_NAME,
        SegmentationModel,
        build_unet,
        load_demo_model,
        load_model,
        save_model,
    )


__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
