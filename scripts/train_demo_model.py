"""Train (or verify) the demo fish-organ U-Net shipped in ``src/xrai/ml/models/fish_unet_demo.{pt,json}``.

The recipe is :func:`xrai.ml.segmentation.demo_recipe` (seed, sizes, steps, learning rate, augmentation); the
run is deterministic for a given torch version and thread count (one thread by default, as recorded in the
JSON). Checkpoints go to ``--checkpoint-dir``, so an interrupted run resumes where it stopped.

Usage::

    python scripts/train_demo_model.py                      # train and overwrite the shipped model
    python scripts/train_demo_model.py --verify             # retrain and compare with the shipped weights
    python scripts/train_demo_model.py --out /tmp/my_model  # train somewhere else

After training, the model is scored on held-out synthetic fish (:func:`xrai.ml.segmentation.evaluate_synthetic`)
and the numbers go into the JSON (``validation``).
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
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (part of the exact recipe)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's steps (not the demo)")
    parser.add_argument("--verify", action="store_true", help="retrain and compare with the shipped weights")
    args = parser.parse_args(argv)

    import dataclasses

    import monai
    import numpy as np
    import torch

    from xrai.ml.segmentation import demo_recipe, evaluate_synthetic, train
    from xrai.ml.unet import load_demo_model, save_model

    torch.set_num_threads(args.threads)
    config = demo_recipe()
    if args.steps is not None:
        config = dataclasses.replace(config, steps=args.steps)
    started = time.perf_counter()
    result = train(config, checkpoint_dir=args.checkpoint_dir, resume=True)
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
    model = result.model
    model.metadata.update(
        {
            "name": "fish_unet_demo",
            "description": "MONAI 3-D U-Net for the 10 organs of the xrai digital medaka, trained on synthetic "
            "fish rendered like reconstructions (xrai.ml.synthetic); a demo, not a production model",
            "recipe": config.to_dict(),
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
            "trained_with": "scripts/train_demo_model.py",
        }
    )
    weights, info = save_model(model, args.out)
    print(json.dumps(model.metadata["validation"], indent=2))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {info} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
