"""Training 3-D segmentation on synthetic specimens (plus a few real labels), resumable and deterministic.

Each training step draws a batch of patches. A synthetic patch is a phantom from a fixed pool (fish from
random lines, sizes and media, generated once from the seed), given a random contrast table (absorption at
12–40 keV or phase-retrieved δ, with per-organ jitter) and rendered with a random reconstruction look
(:func:`xrai.ml.synthetic.random_look`: blur, resolution change, phase-contrast fringes, rings, streaks,
noise, bias, scaling); then cropped, flipped and rotated by multiples of 90° about ``z``. A real patch (with
probability ``real_fraction`` when real pairs are given) is a random crop of a labelled real volume with the
same geometric augmentation and mild extra noise. The loss is Dice + cross-entropy (MONAI ``DiceCELoss``).

Determinism and resuming: the data of step ``s`` come from ``numpy.random.default_rng([seed, s])`` and the
dropout masks from ``torch.manual_seed`` of a value derived from ``(seed, s)``, so a run interrupted at any
checkpoint and resumed gives the same weights as an uninterrupted one (on the same machine, torch version and
thread count). Checkpoints (``checkpoint.pt``) hold the step, the network and optimiser states and the loss
history, written atomically.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xrai.errors import ConfigError, DataError, check_range
from xrai.ml.unet import SegmentationModel, build_unet

__all__ = [
    "TrainConfig",
    "TrainResult",
    "demo_pretrain_recipe",
    "demo_recipe",
    "evaluate_synthetic",
    "make_training_batch",
    "train",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Everything that determines a training run (stored in checkpoints and in the model JSON).

    Attributes
    ----------
    kind
        Synthetic specimens: ``"fish"`` (11 labels) or ``"pupa"`` (8 labels).
    shape
        Shape ``(z, y, x)`` of the synthetic specimen volumes.
    crop
        Training patch ``(z, y, x)`` (each a multiple of ``2**len(strides)``); also the inference window.
    n_specimens
        Size of the phantom pool (each is rendered anew every time it is drawn).
    steps, batch_size
        Optimiser steps and patches per step.
    lr, weight_decay
        AdamW learning rate and weight decay.
    lr_milestones, lr_gamma
        Multiply the learning rate by ``lr_gamma`` at each of these steps.
    augmentation_strength
        Strength of the physics-based augmentation (0–2, see :func:`xrai.ml.synthetic.random_look`).
    real_fraction
        Probability that a patch comes from the real labelled volumes (when some are given).
    channels, strides, num_res_units, dropout
        U-Net architecture (:func:`xrai.ml.unet.build_unet`).
    seed
        Seed of the phantom pool, the data of every step and the initial weights.
    checkpoint_every
        Steps between checkpoints.
    """

    kind: str = "fish"
    shape: tuple[int, int, int] = (64, 64, 64)
    crop: tuple[int, int, int] = (64, 48, 48)
    n_specimens: int = 48
    steps: int = 400
    batch_size: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-5
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.3
    augmentation_strength: float = 1.0
    real_fraction: float = 0.0
    channels: tuple[int, ...] = (8, 16, 32, 64)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 2
    dropout: float = 0.1
    seed: int = 0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.kind not in ("fish", "pupa"):
            raise ConfigError(f"kind = {self.kind!r} is not allowed: must be 'fish' or 'pupa'")
        for name in ("shape", "crop", "channels", "strides", "lr_milestones"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if len(self.shape) != 3 or len(self.crop) != 3:
            raise ConfigError(f"shape = {self.shape} and crop = {self.crop} must have three sizes (z, y, x)")
        factor = int(np.prod(self.strides))
        for axis, c, s in zip("zyx", self.crop, self.shape, strict=True):
            if c % factor or c > s:
                raise ConfigError(
                    f"crop[{axis}] = {c} is not allowed: must be a multiple of {factor} and <= shape[{axis}] = {s}"
                )
        check_range("n_specimens", self.n_specimens, low=1)
        check_range("steps", self.steps, low=0)
        check_range("batch_size", self.batch_size, low=1)
        check_range("lr", self.lr, low=0.0, low_inclusive=False, high=1.0)
        check_range("weight_decay", self.weight_decay, low=0.0)
        check_range("lr_gamma", self.lr_gamma, low=0.0, low_inclusive=False, high=1.0)
        check_range("augmentation_strength", self.augmentation_strength, low=0.0, high=2.0)
        check_range("real_fraction", self.real_fraction, low=0.0, high=1.0)
        check_range("dropout", self.dropout, low=0.0, high=0.9)
        check_range("checkpoint_every", self.checkpoint_every, low=1)

    def architecture(self) -> dict[str, Any]:
        """Keyword arguments of :func:`xrai.ml.unet.build_unet`."""
        return {
            "channels": list(self.channels),
            "strides": list(self.strides),
            "num_res_units": self.num_res_units,
            "dropout": self.dropout,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown TrainConfig field(s) {sorted(unknown)}")
        return cls(**data)


def demo_recipe() -> TrainConfig:
    """The fine-tuning recipe of the shipped demo model (``scripts/train_demo_model.py``).

    The demo model is trained in two stages: :func:`demo_pretrain_recipe` on synthetic renders only, then this
    recipe, started from those weights, mixing the synthetic renders with fish that went through the real chain
    of ``xrai screen`` (simulated scan of the seed's beamline and detector → flat field, rings, centre, FBP),
    drawn with probability ``real_fraction``.
    """
    return TrainConfig(
        kind="fish",
        shape=(64, 64, 64),
        crop=(64, 48, 48),
        n_specimens=32,
        steps=400,
        batch_size=2,
        lr=1e-3,
        lr_milestones=(250, 350),
        augmentation_strength=1.0,
        real_fraction=0.75,
        seed=20250707,
        checkpoint_every=50,
    )


def demo_pretrain_recipe() -> TrainConfig:
    """Stage 1 of the demo model: synthetic renders only (:mod:`xrai.ml.synthetic`), from random weights."""
    return TrainConfig(
        kind="fish",
        shape=(64, 64, 64),
        crop=(64, 48, 48),
        n_specimens=64,
        steps=700,
        batch_size=2,
        lr=4e-3,
        lr_milestones=(450, 600),
        augmentation_strength=1.0,
        seed=20250101,
        checkpoint_every=50,
    )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TrainResult:
    """What :func:`train` returns."""

    model: SegmentationModel
    losses: list[float] = field(default_factory=list)
    steps_done: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def _label_names(kind: str) -> tuple[str, ...]:
    from xrai.physics.specimens import FISH_LABELS, PUPA_LABELS

    return FISH_LABELS if kind == "fish" else PUPA_LABELS


def _specimen_pool(config: TrainConfig) -> list[Any]:
    from xrai.physics.specimens import FISH_ORGANS, FishLine, fish_phantom, pupa_phantom

    gen = np.random.default_rng([config.seed, 0x5EED])
    pool = []
    for _ in range(config.n_specimens):
        factor = float(gen.uniform(0.88, 1.12))
        if config.kind == "fish":
            line = FishLine(
                name="random", organ_scale={o: float(gen.uniform(0.85, 1.15)) for o in FISH_ORGANS}
            )
            medium = ("ethanol", "water", "air", "agarose")[int(gen.integers(4))]
            voxel = line.body_length_m / (0.85 * config.shape[0]) * factor
            pool.append(
                fish_phantom(shape=config.shape, voxel_size_m=voxel, line=line, medium=medium, rng=gen)
            )
        else:
            pool.append(pupa_phantom(shape=config.shape, parasitoid=bool(gen.random() < 0.5), rng=gen))
    return pool


def _random_crop_start(shape: Sequence[int], crop: Sequence[int], gen: np.random.Generator) -> list[int]:
    return [int(gen.integers(0, s - c + 1)) for s, c in zip(shape, crop, strict=True)]


def _geometric(
    image: np.ndarray, labels: np.ndarray, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random flips of y and x and a random multiple of 90° about z (when the patch is square in y, x)."""
    for axis in (1, 2):
        if gen.random() < 0.5:
            image, labels = np.flip(image, axis), np.flip(labels, axis)
    if image.shape[1] == image.shape[2]:
        k = int(gen.integers(4))
        image, labels = np.rot90(image, k, axes=(1, 2)), np.rot90(labels, k, axes=(1, 2))
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def make_training_batch(
    config: TrainConfig,
    pool: Sequence[Any],
    step: int,
    *,
    real: Sequence[tuple[np.ndarray, np.ndarray]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """The batch of step ``step``: images ``[B, 1, z, y, x]`` float32 and labels ``[B, 1, z, y, x]`` int64."""
    from xrai.ml.synthetic import contrast_table, normalize_intensity, random_look, render_like_reconstruction

    gen = np.random.default_rng([config.seed, step])
    images, labels = [], []
    for _ in range(config.batch_size):
        if real and gen.random() < config.real_fraction:
            image, lab = real[int(gen.integers(len(real)))]
            start = _random_crop_start(lab.shape, config.crop, gen)
            box = tuple(slice(s, s + c) for s, c in zip(start, config.crop, strict=True))
            img = normalize_intensity(image)[box]
            img = img + float(gen.uniform(0.0, 0.05)) * gen.standard_normal(img.shape).astype(np.float32)
            lab = np.asarray(lab[box])
        else:
            specimen = pool[int(gen.integers(len(pool)))]
            energy = float(gen.uniform(12.0, 40.0))
            water_mount = specimen.materials[0].name in ("water", "agarose")
            kind = "delta" if water_mount or gen.random() < 0.5 else "attenuation"
            table = contrast_table(specimen.materials, energy_kev=energy, kind=kind, jitter=0.1, rng=gen)
            look = random_look(gen, strength=config.augmentation_strength)
            start = _random_crop_start(specimen.labels.shape, config.crop, gen)
            box = tuple(slice(s, s + c) for s, c in zip(start, config.crop, strict=True))
            # Render the whole specimen (rings and fringes depend on the full field), then crop.
            rendered = render_like_reconstruction(specimen.labels, table, look=look, rng=gen)
            img = normalize_intensity(rendered)[box]
            lab = specimen.labels[box]
        img, lab = _geometric(img, lab, gen)
        images.append(img)
        labels.append(lab)
    return (
        np.stack(images)[:, None].astype(np.float32),
        np.stack(labels)[:, None].astype(np.int64),
    )


# --------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------


def _torch_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919 + 17) % (2**63 - 1)


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def train(
    config: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    real: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    initial_weights: Any = None,
    device: str | torch.device = "cpu",
    stop_at_step: int | None = None,
    callback: Callable[[int, float], None] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train a U-Net on synthetic specimens (and optional real labelled volumes).

    Parameters
    ----------
    config
        The recipe.
    checkpoint_dir
        Folder for ``checkpoint.pt`` (written every ``config.checkpoint_every`` steps and at the end).
    resume
        Continue from the checkpoint in ``checkpoint_dir`` if there is one (it must come from the same config,
        ``steps`` and ``checkpoint_every`` aside).
    real
        Real ``(image, labels)`` pairs, each ``[z, y, x]`` at least as large as ``config.crop``, labels in the
        same numbering as the synthetic kind.
    initial_weights
        Start from these network weights (a ``state_dict`` or a :class:`~xrai.ml.unet.SegmentationModel` of the
        same architecture: fine-tuning) instead of the seeded random initialisation. A checkpoint being
        resumed takes precedence.
    device
        ``"cpu"``, ``"cuda"`` or a torch device.
    stop_at_step
        Stop (after checkpointing) once this many steps are done: to split a run over several calls.
    callback
        Called as ``callback(step, loss)`` after every step.
    progress
        Show a progress bar (default: :func:`xrai.options.get_options` ``().progress``).

    Returns
    -------
    TrainResult
        The model (on ``device``, in eval mode), the loss of every step so far, steps done, seconds spent.
    """
    from monai.losses import DiceCELoss

    from xrai.options import get_options

    label_names = _label_names(config.kind)
    for i, (image, lab) in enumerate(real):
        if np.shape(image) != np.shape(lab) or any(
            s < c for s, c in zip(np.shape(lab), config.crop, strict=True)
        ):
            raise DataError(
                f"real pair {i}: image {np.shape(image)} and labels {np.shape(lab)} must match and be >= crop"
            )
        if int(np.max(lab)) >= len(label_names):
            raise DataError(
                f"real pair {i}: label {int(np.max(lab))} is beyond the {len(label_names)} {config.kind} labels"
            )
    torch.manual_seed(_torch_seed(config.seed, -1))
    net = build_unet(len(label_names), **config.architecture()).to(device)
    if initial_weights is not None:
        state = (
            initial_weights.net.state_dict()
            if isinstance(initial_weights, SegmentationModel)
            else initial_weights
        )
        net.load_state_dict(state)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    losses: list[float] = []
    step = 0
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = Path(checkpoint_dir) / "checkpoint.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        if resume and checkpoint.is_file():
            state = torch.load(checkpoint, map_location=device, weights_only=False)
            saved = dict(state["config"])
            mine = config.to_dict()
            for k in ("steps", "checkpoint_every"):
                saved.pop(k, None)
                mine.pop(k, None)
            if saved != mine:
                diff = sorted(k for k in mine if saved.get(k) != mine[k])
                raise ConfigError(
                    f"checkpoint {str(checkpoint)!r} comes from another config (differs in {diff})"
                )
            net.load_state_dict(state["net"])
            optimizer.load_state_dict(state["optimizer"])
            losses = list(state["losses"])
            step = int(state["step"])
    pool = _specimen_pool(config) if step < config.steps else []
    end = config.steps if stop_at_step is None else min(config.steps, int(stop_at_step))
    show = get_options().progress if progress is None else progress
    started = time.perf_counter()

    def save() -> None:
        if checkpoint is not None:
            _save_checkpoint(
                checkpoint,
                {
                    "step": step,
                    "net": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "losses": losses,
                    "config": config.to_dict(),
                },
            )

    bar = _progress(show, "training", end - step if end > step else 0)
    with bar as advance:
        net.train()
        while step < end:
            lr = config.lr * config.lr_gamma ** sum(step >= m for m in config.lr_milestones)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, labels = make_training_batch(config, pool, step, real=real)
            torch.manual_seed(_torch_seed(config.seed, step))
            x = torch.from_numpy(images).to(device)
            y = torch.from_numpy(labels).to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if callback is not None:
                callback(step, losses[-1])
            advance(1)
            if step % config.checkpoint_every == 0:
                save()
    if checkpoint is not None and (step % config.checkpoint_every != 0 or step == 0):
        save()
    net.eval()
    model = SegmentationModel(
        net,
        label_names=label_names,
        roi_size=config.crop,
        architecture=config.architecture(),
        metadata={"recipe": config.to_dict(), "steps_done": step},
    )
    return TrainResult(model=model, losses=losses, steps_done=step, seconds=time.perf_counter() - started)


class _progress:
    """A rich progress bar as a context manager yielding ``advance(n)`` (or a no-op when disabled)."""

    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled = enabled and total > 0
        self.description = description
        self.total = total
        self._progress: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n=1: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self._progress.__enter__()
        task = self._progress.add_task(self.description, total=self.total)
        return lambda n=1: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def evaluate_synthetic(
    model: SegmentationModel,
    *,
    n: int,
    seed: int,
    shape: tuple[int, int, int] = (64, 64, 64),
    strength: float = 1.0,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Per-organ metrics of ``model`` on ``n`` held-out synthetic fish, averaged over the fish.

    The fish come from ``numpy.random.default_rng([seed, 0xE7A1])`` (disjoint from any training pool, which
    uses ``[seed, 0x5EED]``), from lines with random organ scales (0.85–1.15), in random media, rendered with
    random contrast tables and reconstruction looks of the given ``strength``. Rows: ``label``, ``name``,
    ``dice``, ``hd95_m``, ``assd_m``, ``volume_error`` (means over the fish, ``nan`` ignored).
    """
    from xrai.ml.inference import segment_volume
    from xrai.ml.metrics import segmentation_metrics
    from xrai.ml.synthetic import contrast_table, random_look, render_like_reconstruction
    from xrai.physics.specimens import FISH_ORGANS, FishLine, fish_phantom

    check_range("n", n, low=1)
    gen = np.random.default_rng([seed, 0xE7A1])
    per_fish = []
    for _ in range(int(n)):
        line = FishLine(name="held-out", organ_scale={o: float(gen.uniform(0.85, 1.15)) for o in FISH_ORGANS})
        medium = ("ethanol", "water", "air")[int(gen.integers(3))]
        fish = fish_phantom(shape=shape, line=line, medium=medium, rng=gen)
        kind = "delta" if medium == "water" or gen.random() < 0.5 else "attenuation"
        table = contrast_table(fish.materials, energy_kev=float(gen.uniform(15.0, 35.0)), kind=kind)
        image = render_like_reconstruction(
            fish.labels, table, look=random_look(gen, strength=strength), rng=gen
        )
        labels = segment_volume(model, image, device=device, progress=False).labels
        per_fish.append(
            segmentation_metrics(
                labels, fish.labels, label_names=fish.label_names, voxel_size_m=fish.voxel_size_m
            )
        )
    rows = []
    for k, row in enumerate(per_fish[0]):
        merged: dict[str, Any] = {"label": row["label"], "name": row["name"]}
        for key in ("dice", "hd95_m", "assd_m", "volume_error"):
            values = [fish_rows[k][key] for fish_rows in per_fish]
            finite = [v for v in values if v == v]
            merged[key] = float(np.mean(finite)) if finite else float("nan")
        rows.append(merged)
    return rows
