"""A separate writer process for the concurrency and crash tests: ``python _worker.py '<json>'``.

Tasks:
- ``put_many``: put ``count`` items; item ``n`` holds an array whose content repeats every ``distinct`` items (so
  processes store identical blobs concurrently) and an optional shared cache key.
- ``crash_after_blobs``: put one item, but SIGKILL this process after its blobs are written and before the commit.
- ``put_forever``: put items until killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np


def main() -> None:
    config = json.loads(sys.argv[1])
    from xrai.kb import KnowledgeBase

    kb = KnowledgeBase.open(
        config["location"], store_url=config["store_url"], storage_options=config["storage_options"]
    )
    task = config["task"]
    worker = config.get("worker", 0)
    if task == "put_many":
        for n in range(config["count"]):
            content = np.full((16, 16, 16), n % config["distinct"], dtype=np.float32)
            kb.put(
                kind="dataset", name=f"w{worker}-{n}", metadata={"worker": worker, "n": n},
                arrays={"v": content}, cache_key=config.get("cache_key"),
            )  # fmt: skip
    elif task == "crash_after_blobs":
        import xrai.kb.local as local

        local._FAULT_HOOK = lambda stage: os.kill(os.getpid(), signal.SIGKILL)
        kb.put(kind="dataset", name="half-written", arrays={"v": np.arange(5000, dtype=np.float64)})
    elif task == "put_forever":
        rng = np.random.default_rng(worker)
        n = 0
        while True:
            kb.put(kind="dataset", name=f"f{n}", arrays={"v": rng.random((32, 32, 32))})
            n += 1
            print(n, flush=True)
    else:
        raise SystemExit(f"unknown task {task!r}")


if __name__ == "__main__":
    main()
