"""Segmentation speed: streamed sliding-window inference vs MONAI whole-volume inference, and training throughput.

For each size, a volume of tiled synthetic fish (rendered like reconstructions) is segmented with the shipped
demo model by :func:`xrai.ml.inference.segment_volume` (labels streamed slab by slab) and by MONAI's
``sliding_window_inference`` on the whole volume (the peer, which holds the full probability volume), in the
same run. Prints seconds, peak resident memory growth, the ratio, and the time against the seed's figure of
2 min per specimen. Training throughput is the number of synthetic training volumes per minute.

Usage::

    python benchmarks/bench_segment.py --small          # 96³ and 128³ (CI size, minutes on 2 cores)
    python benchmarks/bench_segment.py --sizes 256 512  # the issue's sizes (peer skipped above 256³)
    python benchmarks/bench_segment.py --device cuda
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import threading
import time

import numpy as np

SEED_SECONDS_PER_SAMPLE = 120.0  # the seed: a neural network segments a medaka in 2 min


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _PeakRSS:
    """Samples the resident set size in a thread; ``peak - start`` is the memory the call needed."""

    def __enter__(self) -> _PeakRSS:
        gc.collect()
        self.start = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def grown_mb(self) -> float:
        return self.peak - self.start


def _volume(size: int, rng: np.random.Generator) -> np.ndarray:
    """A size³ volume tiled with rendered 64³ fish."""
    from xrai.ml.synthetic import contrast_table, random_look, render_like_reconstruction
    from xrai.physics.specimens import fish_phantom

    tiles = []
    for _ in range(3):
        fish = fish_phantom(shape=(64, 64, 64), rng=rng)
        table = contrast_table(fish.materials, energy_kev=20.0, kind="delta")
        tiles.append(render_like_reconstruction(fish.labels, table, look=random_look(rng), rng=rng))
    reps = -(-size // 64)
    out = np.empty((reps * 64,) * 3, dtype=np.float32)
    for i in range(reps):
        for j in range(reps):
            for k in range(reps):
                out[i * 64 : (i + 1) * 64, j * 64 : (j + 1) * 64, k * 64 : (k + 1) * 64] = tiles[
                    (i + j + k) % 3
                ]
    return out[:size, :size, :size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--small", action="store_true", help="sizes 96 and 128 (CI)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train-steps", type=int, default=6)
    args = parser.parse_args(argv)
    sizes = [96, 128] if args.small else args.sizes

    import torch
    from monai.inferers import sliding_window_inference

    from xrai.ml.inference import segment_volume
    from xrai.ml.unet import load_demo_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_demo_model(device=args.device)
    rng = np.random.default_rng(0)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, window {model.roi_size}")
    print(
        f"{'size':>6} {'xrai s':>8} {'xrai MB':>8} {'MONAI s':>8} {'MONAI MB':>9} {'ratio':>6} {'vs 2 min':>9}"
    )
    for size in sizes:
        volume = _volume(size, rng)
        with _PeakRSS() as mem:
            t0 = time.perf_counter()
            segment_volume(model, volume, device=args.device, progress=False)
            ours = time.perf_counter() - t0
        ours_mb = mem.grown_mb
        peer = peer_mb = float("nan")
        probability_gb = model.n_classes * volume.size * 4 / 1e9
        if probability_gb < 2.0:
            with _PeakRSS() as mem, torch.no_grad():
                t0 = time.perf_counter()
                x = torch.from_numpy(model.normalize(volume))[None, None]
                out = sliding_window_inference(
                    x,
                    model.roi_size,
                    1,
                    lambda t: torch.softmax(model.net(t), 1),
                    overlap=0.25,
                    sw_device=args.device,
                    device="cpu",
                )
                torch.argmax(out[0], 0)
                peer = time.perf_counter() - t0
                del out, x
            peer_mb = mem.grown_mb
        print(
            f"{size:>5}³ {ours:8.1f} {ours_mb:8.0f} {peer:8.1f} {peer_mb:9.0f} {peer / ours:6.2f} "
            f"{ours / SEED_SECONDS_PER_SAMPLE:8.2f}×"
        )
        del volume
        gc.collect()

    from dataclasses import replace

    from xrai.ml.segmentation import demo_recipe, train

    config = replace(demo_recipe(), steps=args.train_steps, n_specimens=4)
    t0 = time.perf_counter()
    train(config, device=args.device, progress=False)
    seconds = time.perf_counter() - t0
    volumes = config.steps * config.batch_size
    print(
        f"training: {volumes} volumes of {config.crop} in {seconds:.1f} s = {60 * volumes / seconds:.1f} volumes/min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
