"""Knowledge-base speed against plain peers measured in the same run.

Usage::

    python benchmarks/bench_kb.py                    # 256 MiB ingest, 10^5 records, slice reads (local + HTTP)
    python benchmarks/bench_kb.py --small            # quick: 64 MiB, 2*10^4 records
    python benchmarks/bench_kb.py --records 1000000  # the issue's 10^6 records (about 2-3 min of bulk insert)
    python benchmarks/bench_kb.py --scan-gb 4        # the issue's 4 GB scan (needs ~9 GB of RAM and disk)
    python benchmarks/bench_kb.py --postgres postgresql+psycopg://xrai:xrai@127.0.0.1:5432/xrai_test

1. **Ingest**: ``kb.put`` of a scan-like uint16 array ``[angle, row, col]`` (hash with BLAKE3, write chunked Zarr v3,
   commit) against a plain ``zarr`` write of the same array with the same chunks and codec. Goal: >= 0.9x.
2. **Metadata queries** at N records (bulk-inserted with ``put_many``): ``kb.search`` with the generic metadata
   index (``item_props``) against a plain-SQL baseline, a bespoke table with one typed, indexed column per field,
   queried with hand-written SQL on the same database engine. Median latency of repeated queries.
3. **Slice reads**: one projection-sized slice and a 64^3 cube of a volume, through ``kb.read_array`` (local) and
   through the HTTP client against ``xrai serve``'s app on uvicorn (loopback), against plain ``zarr`` indexing.

Times are medians over ``--repeat`` runs; every round runs every method, so a varying load on a shared machine
affects all alike.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

LINES = [f"L{n:02d}" for n in range(20)]


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median time of each function, calling them in turn every round (a load change hits all alike)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def row(label: str, ours: float, peer: float, unit: str = "ms", scale: float = 1e3) -> None:
    print(f"  {label:<44s} xrai {ours * scale:9.2f} {unit}   peer {peer * scale:9.2f} {unit}   "
          f"ratio peer/xrai {peer / ours:6.2f}")  # fmt: skip


# ------------------------------------------------------------------------------------------------ 1. ingest


def bench_ingest(folder: Path, scan_mib: float, repeat: int) -> None:
    import zarr
    from zarr.storage import LocalStore

    from xrai.kb import KnowledgeBase
    from xrai.kb._blobs import default_chunks

    rows, cols = 512, 512
    angles = max(1, int(scan_mib * 2**20 / (rows * cols * 2)))
    rng = np.random.default_rng(0)
    scan = rng.poisson(800, size=(angles, rows, cols)).astype(np.uint16)  # photon-noise-like counts
    chunks = default_chunks(scan.shape, scan.itemsize)
    mib = scan.nbytes / 2**20
    print(f"\n1. ingest of a {angles} x {rows} x {cols} uint16 scan ({mib:.0f} MiB), chunks {chunks}")
    ours, peers = [], []
    warm = KnowledgeBase.open(folder / "kb-warm-up")  # codecs, thread pools, imports
    warm.put(kind="dataset", name="warm-up", arrays={"a": scan[:2]})
    warm.close()

    def plain(r: int) -> None:
        target = folder / f"plain-{r}.zarr"
        start = time.perf_counter()
        array = zarr.create_array(store=LocalStore(target), shape=scan.shape, dtype=scan.dtype, chunks=chunks,
                                  config={"write_empty_chunks": True})  # fmt: skip
        array[...] = scan
        peers.append(time.perf_counter() - start)
        shutil.rmtree(target)

    def put(r: int) -> None:
        kb = KnowledgeBase.open(folder / f"kb-ingest-{r}")
        start = time.perf_counter()
        kb.put(kind="dataset.raw_scan", name="scan", arrays={"projections": scan})
        ours.append(time.perf_counter() - start)
        kb.close()
        shutil.rmtree(folder / f"kb-ingest-{r}")

    for r in range(repeat):  # alternate the order, so neither always runs on a warmer page cache
        for step in (plain, put) if r % 2 else (put, plain):
            step(r)
    t_ours, t_peer = statistics.median(ours), statistics.median(peers)
    start = time.perf_counter()
    from xrai.kb.hashing import array_hash

    array_hash(scan)
    t_hash = time.perf_counter() - start
    print(f"  kb.put (hash + Zarr + commit)   {mib / t_ours:8.1f} MiB/s   plain zarr write {mib / t_peer:8.1f} MiB/s   "
          f"ratio xrai/zarr {t_peer / t_ours:5.2f} (goal >= 0.9)   [BLAKE3 alone {mib / t_hash:.0f} MiB/s]")  # fmt: skip


# ------------------------------------------------------------------------------------------------ 2. queries


def records(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append({
            "kind": "dataset.volume" if i % 3 else "dataset.raw_scan",
            "name": f"fish-{i:07d}",
            "metadata": {
                "energy_kev": round(float(rng.uniform(10, 40)), 4),
                "specimen": {"line": LINES[int(rng.integers(20))], "group": "treated" if i % 2 else "control"},
                "n_angles": int(rng.choice([900, 1500, 3000])),
            },
        })  # fmt: skip
    return out


QUERIES = [
    # (label, kb query, kb kwargs, baseline SQL where clause)
    ("range + equality (~0.2%)", "energy_kev > 39 and specimen.line == 'L07'", {}, "energy_kev > 39 AND line = 'L07'"),
    ("narrow range (~0.3%)", "20 <= energy_kev < 20.1", {}, "energy_kev >= 20 AND energy_kev < 20.1"),
    ("equality (5%)", "specimen.line == 'L03'", {}, "line = 'L03'"),
    ("kind + range (~10%)", "energy_kev < 13", {"kind": "dataset.raw_scan"},
     "kind = 'dataset.raw_scan' AND energy_kev < 13"),
]  # fmt: skip


def bench_queries(label: str, kb: Any, baseline: Callable[[str, bool], Any], n: int, repeat: int) -> None:
    print(f"\n2. metadata queries on {label} at {n:,} records (newest 100 / count), median of {repeat}")
    for name, query, kwargs, where in QUERIES:
        expected = baseline(where, True)
        got = kb.count(query, **kwargs)
        assert got == expected, (name, got, expected)
        t = interleaved({
            "search": lambda q=query, k=kwargs: kb.search(q, limit=100, **k),
            "plain": lambda w=where: baseline(w, False),
            "count": lambda q=query, k=kwargs: kb.count(q, **k),
            "plain_count": lambda w=where: baseline(w, True),
        }, repeat)  # fmt: skip
        row(f"{name}: search, {expected} hits", t["search"], t["plain"])
        row(f"{name}: count", t["count"], t["plain_count"])
    t_text = median_time(lambda: kb.search(text="fish-0001234"), repeat)
    print(f"  full text 'fish-0001234'                     xrai {t_text * 1e3:9.2f} ms")


def sqlite_baseline(path: Path, recs: list[dict[str, Any]]) -> Callable[[str, bool], Any]:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE plain (id INTEGER PRIMARY KEY, kind TEXT, name TEXT, energy_kev REAL, line TEXT, "
               "grp TEXT, n_angles INTEGER, metadata TEXT)")  # fmt: skip
    import json

    db.executemany(
        "INSERT INTO plain (kind, name, energy_kev, line, grp, n_angles, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(r["kind"], r["name"], r["metadata"]["energy_kev"], r["metadata"]["specimen"]["line"],
          r["metadata"]["specimen"]["group"], r["metadata"]["n_angles"], json.dumps(r["metadata"])) for r in recs],
    )  # fmt: skip
    for column in ("kind", "energy_kev", "line", "grp", "n_angles"):
        db.execute(f"CREATE INDEX ix_{column} ON plain ({column})")
    db.commit()
    db.execute("ANALYZE")

    def query(where: str, count: bool) -> Any:
        if count:
            return db.execute(f"SELECT count(*) FROM plain WHERE {where}").fetchone()[0]
        return db.execute(f"SELECT * FROM plain WHERE {where} ORDER BY id DESC LIMIT 100").fetchall()

    return query


def postgres_baseline(url: str, recs: list[dict[str, Any]]) -> Callable[[str, bool], Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS plain"))
        conn.execute(sa.text("CREATE TABLE plain (id BIGSERIAL PRIMARY KEY, kind TEXT, name TEXT, energy_kev "
                             "DOUBLE PRECISION, line TEXT, grp TEXT, n_angles INTEGER)"))  # fmt: skip
        conn.execute(
            sa.text("INSERT INTO plain (kind, name, energy_kev, line, grp, n_angles) VALUES (:k, :n, :e, :l, :g, :a)"),
            [{"k": r["kind"], "n": r["name"], "e": r["metadata"]["energy_kev"], "l": r["metadata"]["specimen"]["line"],
              "g": r["metadata"]["specimen"]["group"], "a": r["metadata"]["n_angles"]} for r in recs],
        )  # fmt: skip
        for column in ("kind", "energy_kev", "line", "grp", "n_angles"):
            conn.execute(sa.text(f"CREATE INDEX ix_plain_{column} ON plain ({column})"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE plain"))

    def query(where: str, count: bool) -> Any:
        with engine.connect() as conn:
            if count:
                return conn.execute(sa.text(f"SELECT count(*) FROM plain WHERE {where}")).scalar()
            return conn.execute(
                sa.text(f"SELECT * FROM plain WHERE {where} ORDER BY id DESC LIMIT 100")
            ).all()

    return query


def load(kb: Any, recs: list[dict[str, Any]], label: str) -> None:
    start = time.perf_counter()
    for first in range(0, len(recs), 20_000):
        kb.put_many(recs[first : first + 20_000])
    seconds = time.perf_counter() - start
    if kb.dialect == "postgresql":  # what autovacuum does after a bulk load; the baseline gets the same
        import sqlalchemy as sa

        with kb.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    print(
        f"\n   bulk insert ({label}): {len(recs):,} items in {seconds:.1f} s = {len(recs) / seconds:,.0f} items/s"
    )


# ------------------------------------------------------------------------------------------------ 3. slice reads


def bench_slices(folder: Path, repeat: int) -> None:
    import uvicorn
    import zarr

    from xrai.api import create_app
    from xrai.kb import KnowledgeBase
    from xrai.kb.remote import RemoteKnowledgeBase

    volume = np.random.default_rng(1).random((256, 512, 512)).astype(np.float32)  # 256 MiB
    kb = KnowledgeBase.open(folder / "kb-slices")
    item = kb.put(kind="dataset.volume", name="volume", arrays={"volume": volume})
    token = kb.create_token("bench", scopes=["read"])  # type: ignore[attr-defined]
    plain = zarr.open_array(kb.open_array(item, "volume").store_path, mode="r")  # the same Zarr array, no KB
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(kb), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    remote = RemoteKnowledgeBase(f"http://127.0.0.1:{port}", token=token)
    print(f"\n3. slice reads of a {volume.shape} float32 volume (chunks {item.arrays['volume'].chunks}), "
          f"median of {repeat}")  # fmt: skip
    regions = {"one z slice [100, :, :] (1 MiB)": (100, slice(None), slice(None)),
               "64^3 cube (1 MiB)": (slice(96, 160), slice(200, 264), slice(300, 364))}  # fmt: skip
    for label, region in regions.items():
        expected = volume[region]
        assert np.array_equal(kb.read_array(item, "volume", region=region), expected)
        assert np.array_equal(remote.read_array(item, "volume", region=region), expected)
        t = interleaved({
            "plain": lambda r=region: plain[r],
            "local": lambda r=region: kb.read_array(item, "volume", region=r),
            "http": lambda r=region: remote.read_array(item, "volume", region=r),
        }, repeat)  # fmt: skip
        row(f"{label}: local", t["local"], t["plain"])
        row(f"{label}: HTTP", t["http"], t["plain"])
    remote.close()
    server.should_exit = True
    thread.join(timeout=10)
    kb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="quick run: 64 MiB scan, 2*10^4 records")
    parser.add_argument("--records", type=int, default=100_000, help="records for the query benchmark")
    parser.add_argument("--scan-gb", type=float, default=0.25, help="size of the ingested scan (GiB)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", help="also run the query benchmark on this PostgreSQL database URL")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ingest", "queries", "slices"])
    args = parser.parse_args()
    if args.small:
        args.records, args.scan_gb = 20_000, 1 / 16
    from xrai.kb import KnowledgeBase

    with tempfile.TemporaryDirectory(prefix="bench-kb-") as tmp:
        folder = Path(tmp)
        if "ingest" not in args.skip:
            bench_ingest(folder, args.scan_gb * 1024, max(3, args.repeat // 2 + 1))
        if "queries" not in args.skip:
            recs = records(args.records, np.random.default_rng(2))
            kb = KnowledgeBase.open(folder / "kb-queries")
            load(kb, recs, "SQLite")
            bench_queries("SQLite (embedded)", kb, sqlite_baseline(folder / "plain.sqlite", recs), args.records,
                          args.repeat)  # fmt: skip
            kb.close()
            if args.postgres:
                import sqlalchemy as sa

                admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
                name = "xrai_bench_kb"
                with admin.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    conn.execute(sa.text(f"CREATE DATABASE {name}"))
                url = sa.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
                kb = KnowledgeBase.open(url, store_url=str(folder / "pg-blobs"))
                load(kb, recs, "PostgreSQL")
                bench_queries("PostgreSQL", kb, postgres_baseline(url, recs), args.records, args.repeat)
                kb.close()
                with admin.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        if "slices" not in args.skip:
            bench_slices(folder, args.repeat * 4)


if __name__ == "__main__":
    main()
