"""Train (or verify) the demo fish-organ U-Net shipped in ``src/xrai/ml/models/fish_unet_demo.{pt,json}``.

Two stages. Stage 1 (:func:`xrai.ml.segmentation.demo_pretrain_recipe`) trains from random weights on synthetic
fish rendered like reconstructions. Stage 2 (:func:`xrai.ml.segmentation.demo_recipe`) fine-tunes those weights on
the synthetic renders mixed with 64 "chain" fish: both demo lines (organ sizes jittered so the lines overlap),
seeds disjoint from the demo batch's, simulated with the seed beamline and detector
(:func:`xrai.pipeline.demo.write_demo_scan`) and reconstructed exactly as ``xrai screen`` does
(:func:`xrai.pipeline.stages_tomo.stage_reconstruct` with the :class:`~xrai.pipeline.screen.ScreenConfig`
defaults), cached under ``--chain-dir``. Every run is deterministic for a given torch version and thread count (one thread by default, as recorded in the
JSON). Checkpoints go to ``--checkpoint-dir``, so an interrupted run resumes where it stopped.

Usage::

    python scripts/train_demo_model.py                      # train and overwrite the shipped model
    python scripts/train_demo_model.py --verify             # retrain and compare with the shipped weights
    python scripts/train_demo_model.py --out /tmp/my_model  # train somewhere else
    python scripts/train_demo_model.py --pretrained M       # skip stage 1, start stage 2 from model M

After training, the model is scored on held-out synthetic fish (:func:`xrai.ml.segmentation.evaluate_synthetic`,
JSON ``validation``) and on held-out chain fish, 4 per line with the demo's exact line factors and their own seeds
(JSON ``chain_validation``: Dice and signed volume error per organ).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "xrai" / "ml" / "models" / "fish_unet_demo"
VALIDATION_SEED = 31337
VALIDATION_FISH = 8


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


#: Seeds of the chain (simulated scan → reconstruction) fish; disjoint from the demo batch (DemoBatch.seed = 2026).
CHAIN_TRAIN_SEED = 7101
CHAIN_TRAIN_FISH = 64
CHAIN_VALIDATION_SEED = 7202
CHAIN_VALIDATION_FISH_PER_LINE = 4


def chain_specimens(n: int, *, seed: int, jitter: bool) -> list:
    """Fish of both demo lines with their own seeds, imaged as ``xrai screen`` images its demo batch.

    With ``jitter`` every organ's linear scale is multiplied by a factor drawn from U(0.88, 1.12), so the organ
    sizes overlap between the lines and the network cannot learn a line from its neighbours (it must measure).
    Without it, the fish are exactly like the demo's (``n`` per line, the lines' built-in factors only).
    """
    import numpy as np

    from xrai.physics.specimens import FISH_ORGANS
    from xrai.pipeline.demo import DEMO_LINES, DemoBatch, DemoSpecimen

    batch = DemoBatch()
    gen = np.random.default_rng([seed, 0xC4A1])
    demo_seeds = {s for s in np.random.default_rng(batch.seed).integers(0, 2**31 - 1, size=1000).tolist()}
    specs = []
    lines = list(DEMO_LINES.items())
    for i in range(n * (1 if jitter else len(lines))):
        line, base = lines[i % len(lines)] if jitter else lines[i // n]
        scale = dict(base)
        if jitter:
            scale = {o: round(base.get(o, 1.0) * float(gen.uniform(0.88, 1.12)), 4) for o in FISH_ORGANS}
        fish_seed = int(gen.integers(0, 2**31 - 1))
        assert fish_seed not in demo_seeds
        specs.append(
            DemoSpecimen(
                name=f"chain-{seed}-{i:03d}-{line}", kind="fish", group=line, seed=fish_seed, size=batch.size,
                n_projections=batch.n_projections, organ_scale=scale,
            )
        )  # fmt: skip
    return specs


def chain_pair(spec, folder):  # type: ignore[no-untyped-def]
    """Simulate ``spec`` with the demo's beamline and detector, reconstruct it as ``xrai screen`` does.

    Returns ``(volume, labels)``: μ in 1/m ``[z, y, x]`` float32 and the phantom's exact labels (uint8), cached
    as ``<folder>/<name>.pair.npz``.
    """
    from pathlib import Path

    import numpy as np

    from xrai.pipeline.demo import write_demo_scan
    from xrai.pipeline.screen import ScreenConfig
    from xrai.pipeline.stages_tomo import stage_reconstruct, stage_scan

    cache = Path(folder) / f"{spec.name}.pair.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return data["volume"], data["labels"]
    config = ScreenConfig()
    path = write_demo_scan(spec, folder)
    scan = stage_scan({}, path=str(path), fingerprint=spec.name)
    recon = stage_reconstruct(
        {"scan": scan}, center=config.center, rings=config.rings, filter_name=config.filter_name
    )
    volume = np.asarray(recon.arrays["volume"], dtype=np.float32)
    with np.load(Path(folder) / f"{spec.name}.truth.npz") as truth:
        labels = np.asarray(truth["labels"], dtype=np.uint8)
    np.savez_compressed(cache, volume=volume, labels=labels)
    path.unlink()  # the scan itself is not needed again
    return volume, labels


def chain_validation(model, folder, *, tta: bool = True) -> dict:  # type: ignore[no-untyped-def]
    """Dice and signed volume error per organ on held-out chain fish (4 per demo line, own seeds)."""
    import numpy as np

    from xrai.ml.metrics import segmentation_metrics

    specs = chain_specimens(CHAIN_VALIDATION_FISH_PER_LINE, seed=CHAIN_VALIDATION_SEED, jitter=False)
    rows = []
    for spec in specs:
        volume, labels = chain_pair(spec, folder)
        predicted = model.predict(volume, tta=tta, progress=False).labels
        rows.append(segmentation_metrics(predicted, labels, label_names=model.label_names, distances=False))
    names = [r["name"] for r in rows[0]]
    dice = {n: round(float(np.mean([r[k]["dice"] for r in rows])), 4) for k, n in enumerate(names)}
    error = {n: round(float(np.mean([r[k]["volume_error"] for r in rows])), 4) for k, n in enumerate(names)}
    worst = {
        n: round(float(np.max([abs(r[k]["volume_error"]) for r in rows])), 4) for k, n in enumerate(names)
    }
    return {
        "fish": len(specs),
        "seed": CHAIN_VALIDATION_SEED,
        "tta": tta,
        "mean_dice": round(float(np.mean(list(dice.values()))), 4),
        "dice": dice,
        "volume_error_mean": error,
        "volume_error_max_abs": worst,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="model base path (writes .pt and .json)"
    )
    parser.add_argument(
        "--checkpoint-dir", type=Path, default=Path(tempfile.gettempdir()) / "xrai-demo-model-checkpoints"
    )
    parser.add_argument(
        "--chain-dir", type=Path, default=Path(tempfile.gettempdir()) / "xrai-demo-model-chain",
        help="cache of the simulated + reconstructed chain fish",
    )  # fmt: skip
    parser.add_argument(
        "--pretrained", type=Path, default=None,
        help="stage-1 weights (a model saved by save_model) instead of training stage 1 (~15 min)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (part of the exact recipe)")
    parser.add_argument("--steps", type=int, default=None, help="override stage 2's steps (not the demo)")
    parser.add_argument("--verify", action="store_true", help="retrain and compare with the shipped weights")
    args = parser.parse_args(argv)

    import dataclasses

    import monai
    import numpy as np
    import torch

    from xrai.ml.segmentation import demo_pretrain_recipe, demo_recipe, evaluate_synthetic, train
    from xrai.ml.unet import load_demo_model, load_model, save_model
    from xrai.pipeline.screen import ScreenConfig

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    # Stage 1: synthetic renders only, from random weights.
    pretrain = demo_pretrain_recipe()
    if args.pretrained is not None:
        initial = load_model(args.pretrained)
    else:
        initial = train(pretrain, checkpoint_dir=args.checkpoint_dir / "pretrain", resume=True).model
    # The chain fish: simulated scans reconstructed exactly as `xrai screen` reconstructs its demo batch.
    specs = chain_specimens(CHAIN_TRAIN_FISH, seed=CHAIN_TRAIN_SEED, jitter=True)
    pairs = [chain_pair(spec, args.chain_dir / "train") for spec in specs]
    # Stage 2: fine-tune on synthetic renders mixed with the chain fish.
    config = demo_recipe()
    if args.steps is not None:
        config = dataclasses.replace(config, steps=args.steps)
    result = train(
        config,
        checkpoint_dir=args.checkpoint_dir / "finetune",
        resume=True,
        real=pairs,
        initial_weights=initial,
    )
    seconds = time.perf_counter() - started

    if args.verify:
        shipped = load_demo_model()
        same = all(
            torch.equal(a, b)
            for a, b in zip(
                shipped.net.state_dict().values(), result.model.net.state_dict().values(), strict=True
            )
        )
        print("identical to the shipped weights" if same else "DIFFERENT from the shipped weights")
        return 0 if same else 1

    rows = evaluate_synthetic(result.model, n=VALIDATION_FISH, seed=VALIDATION_SEED)
    dice = {r["name"]: round(r["dice"], 4) for r in rows}
    chain = chain_validation(result.model, args.chain_dir / "validation")
    screen = ScreenConfig()
    model = result.model
    model.metadata.update(
        {
            "name": "fish_unet_demo",
            "description": "MONAI 3-D U-Net for the 10 organs of the xrai digital medaka: trained on synthetic "
            "fish rendered like reconstructions (xrai.ml.synthetic), then fine-tuned on a mix of those and "
            "fish simulated with the seed beamline and detector and reconstructed like `xrai screen` does; "
            "a demo, not a production model",
            "recipe": config.to_dict(),
            "pretrain_recipe": pretrain.to_dict(),
            "chain_data": {
                "fish": CHAIN_TRAIN_FISH,
                "seed": CHAIN_TRAIN_SEED,
                "lines": "HdrR and Cab alternating (xrai.pipeline.demo.DEMO_LINES)",
                "organ_scale_jitter": [0.88, 1.12],
                "scan": "xrai.pipeline.demo.write_demo_scan (DemoBatch size and projections)",
                "reconstruct": {
                    "center": screen.center,
                    "rings": screen.rings,
                    "filter_name": screen.filter_name,
                },
            },
            "git_commit": _git_commit(),
            "torch_version": torch.__version__,
            "monai_version": monai.__version__,
            "numpy_version": np.__version__,
            "torch_threads": args.threads,
            "training_seconds": round(seconds, 1),
            "final_loss_mean_last_20": float(np.mean(result.losses[-20:])),
            "losses_every_10": [round(v, 4) for v in result.losses[::10]],
            "validation": {
                "fish": VALIDATION_FISH,
                "seed": VALIDATION_SEED,
                "strength": 1.0,
                "mean_dice": round(float(np.mean(list(dice.values()))), 4),
                "dice": dice,
                "hd95_m": {r["name"]: r["hd95_m"] for r in rows},
            },
            "chain_validation": chain,
            "trained_with": "scripts/train_demo_model.py",
        }
    )
    weights, info = save_model(model, args.out)
    print(json.dumps({"synthetic": model.metadata["validation"], "chain": chain}, indent=2))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {info} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
