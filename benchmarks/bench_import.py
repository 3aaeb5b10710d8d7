"""Import-time benchmark: ``import xrai``, ``import xrai.physics`` and ``xrai --help``.

Each statement runs in a fresh interpreter ``--repeat`` times; the median wall time is printed beside the peers
measured in the same run (a bare interpreter, ``import numpy``, ``import typer`` + ``rich``) and the ratio.
Also prints which heavy modules (torch, scipy, xraylib, matplotlib) each import loaded: none should.

    python benchmarks/bench_import.py            # 7 repeats
    python benchmarks/bench_import.py --small    # 3 repeats
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "scipy", "xraylib", "matplotlib", "monai", "sqlalchemy", "h5py", "zarr")


def _time_all(commands: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Median wall time per command; runs are interleaved (after one warm-up each) so drift hits all alike."""
    for argv in commands.values():
        subprocess.run(argv, check=True, capture_output=True)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _heavy_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    return sorted(m for m in HEAVY if m in loaded)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="runs per statement (median reported)")
    parser.add_argument("--small", action="store_true", help="3 repeats")
    args = parser.parse_args()
    repeat = 3 if args.small else args.repeat
    python = [sys.executable, "-c"]

    script = shutil.which("xrai")
    help_argv = (
        [script, "--help"] if script else [*python, "from xrai.cli.main import main; main()", "--help"]
    )
    measured = _time_all(
        {
            "python -c pass": [*python, "pass"],
            "import numpy": [*python, "import numpy"],
            "import typer, rich": [*python, "import typer, rich.console"],
            "import xrai": [*python, "import xrai"],
            "import xrai.physics": [*python, "import xrai.physics"],
            "xrai --help": help_argv,
        },
        repeat,
    )
    bare = measured["python -c pass"]
    peers = {name: measured[name] for name in ("python -c pass", "import numpy", "import typer, rich")}
    ours = {name: (name, measured[name]) for name in ("import xrai", "import xrai.physics")}
    help_time = measured["xrai --help"]

    print(f"median of {repeat} fresh interpreters (Python {sys.version.split()[0]})")
    print(f"{'statement':<28}{'time [s]':>10}{'minus bare [s]':>16}  heavy modules loaded")
    for name, seconds in peers.items():
        print(f"{name + '  (peer)':<28}{seconds:>10.3f}{seconds - bare:>16.3f}")
    for name, (statement, seconds) in ours.items():
        heavy = ", ".join(_heavy_after(statement)) or "none"
        print(f"{name:<28}{seconds:>10.3f}{seconds - bare:>16.3f}  {heavy}")
    print(f"{'xrai --help':<28}{help_time:>10.3f}{help_time - bare:>16.3f}")
    numpy_cost = peers["import numpy"] - bare
    for name, (_, seconds) in ours.items():
        print(f"ratio ({name} − bare) / (import numpy − bare): {(seconds - bare) / numpy_cost:.2f}")
    typer_cost = peers["import typer, rich"] - bare
    print(f"ratio (xrai --help − bare) / (import typer, rich − bare): {(help_time - bare) / typer_cost:.2f}")
    print(f"xrai --help under 0.5 s: {'yes' if help_time < 0.5 else 'NO'}")


if __name__ == "__main__":
    main()
