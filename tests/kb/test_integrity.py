"""Lineage, deletion with lineage protection, gc, verify, region reads, crashes and concurrent writers."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from zarr.storage import WrapperStore

from xrai.kb import KnowledgeBase, LineageError, NotFoundError

WORKER = Path(__file__).with_name("_worker.py")


# ------------------------------------------------------------------------------------------------ lineage


def _bfs(kb: KnowledgeBase, root: str, direction: str, items: list) -> dict[str, int]:
    """Shortest derivation distance computed in Python from the items' recorded inputs."""
    parents = {i.id: list(kb.get(i.id).inputs) for i in items}
    children: dict[str, list[str]] = {i.id: [] for i in items}
    for child, inputs in parents.items():
        for parent in inputs:
            children[parent].append(child)
    step = parents if direction == "ancestors" else children
    distance = {root: 0}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for nxt in step[node]:
            if nxt not in distance:
                distance[nxt] = distance[node] + 1
                queue.append(nxt)
    del distance[root]
    return distance


def test_lineage_to_any_depth_matches_breadth_first_search(kb: KnowledgeBase) -> None:
    run = kb.start_run(workflow="screen")
    specimen = kb.put(kind="specimen", name="medaka-1", metadata={"line": "HdrR"})
    raw = kb.put(kind="dataset.raw_scan", name="raw", inputs=[specimen], run=run)
    flats = kb.put(kind="dataset.flats", name="flats")
    corrected = kb.put(kind="dataset", name="corrected", inputs=[raw, flats], run=run)
    volume = kb.put(kind="dataset.volume", name="volume", inputs=[corrected], run=run)
    labels = kb.put(kind="dataset.labels", name="labels", inputs=[volume])
    segmentation = kb.put(kind="dataset.segmentation", name="seg", inputs=[volume])
    model = kb.put(kind="model", name="unet", inputs=[labels, volume])
    evaluation = kb.put(kind="evaluation", name="eval", inputs=[model, segmentation, labels],
                        metadata={"metric": "dice", "value": 0.9})  # fmt: skip
    everything = [specimen, raw, flats, corrected, volume, labels, segmentation, model, evaluation]
    for root, direction in [(evaluation, "ancestors"), (specimen, "descendants"), (volume, "descendants"),
                            (model, "ancestors")]:  # fmt: skip
        expected = _bfs(kb, root.id, direction, everything)
        lineage = kb.lineage(root, direction=direction)
        assert dict(lineage.depth) == expected
        assert set(lineage.ids) == set(expected)
        assert [lineage.depth[i] for i in lineage.ids] == sorted(lineage.depth[i] for i in lineage.ids)
        for depth in (1, 2):
            limited = kb.lineage(root, direction=direction, depth=depth)
            assert dict(limited.depth) == {k: v for k, v in expected.items() if v <= depth}
    full = kb.lineage(evaluation)
    known = {i.id for i in full} | {evaluation.id}
    expected_edges = {
        (p, i.id) for i in everything if i.id in known for p in kb.get(i.id).inputs if p in known
    }
    assert set(full.edges) == expected_edges
    assert kb.lineage(flats).items == ()
    with pytest.raises(Exception, match="direction = 'up'"):
        kb.lineage(flats, direction="up")


# ------------------------------------------------------------------------------------------------ delete, gc


def _store_bytes(kb: KnowledgeBase) -> int:
    return sum(kb.blobs.size(p) for p in kb.blobs.paths())


def test_delete_is_lineage_protected_and_frees_space(kb: KnowledgeBase) -> None:
    rng = np.random.default_rng(3)
    shared = rng.random((64, 64))
    raw = kb.put(kind="dataset", name="raw", arrays={"data": shared})
    derived = kb.put(kind="dataset", name="derived", arrays={"data": rng.random((64, 64))}, inputs=[raw])
    sibling = kb.put(kind="dataset", name="sibling", arrays={"same": shared})
    before = _store_bytes(kb)
    assert before > 2 * 64 * 64 * 8 * 0.5  # random doubles hardly compress
    with pytest.raises(LineageError, match=rf"{derived.id}.*recursive=True"):
        kb.delete(raw)
    assert kb.get(raw.id) == raw  # nothing happened
    report = kb.delete(derived)
    assert report.removed_items == (derived.id,) and report.removed_blobs == 1
    assert report.freed_bytes == before - _store_bytes(kb) > 0
    report = kb.delete(raw)  # its blob is still used by `sibling`
    assert report.removed_blobs == 0 and report.freed_bytes == 0
    np.testing.assert_array_equal(kb.read_array(sibling, "same"), shared)
    report = kb.delete(sibling)
    assert report.removed_blobs == 1 and _store_bytes(kb) == 0
    with pytest.raises(NotFoundError):
        kb.get(raw.id)
    assert kb.verify().checked == 0


def test_recursive_delete_removes_descendants_children_first(kb: KnowledgeBase) -> None:
    root = kb.put(kind="dataset", name="root", arrays={"a": np.ones(10)})
    mid = kb.put(kind="dataset", name="mid", inputs=[root], arrays={"a": np.full(10, 2.0)})
    kb.put(kind="dataset", name="leaf", inputs=[mid, root], arrays={"a": np.full(10, 3.0)})
    keep = kb.put(kind="dataset", name="unrelated", arrays={"a": np.full(10, 4.0)})
    report = kb.delete(root, recursive=True)
    assert len(report.removed_items) == 3 and report.removed_blobs == 3
    assert [i.id for i in kb.search(latest=False)] == [keep.id]


def test_gc_removes_unreferenced_blobs_and_orphans_after_the_grace_period(kb: KnowledgeBase) -> None:
    digest = kb.put_blob(np.arange(1000.0))
    kb.blobs.write(np.arange(7.0), "ab" * 32)  # a copy no commit ever recorded
    assert kb.gc().removed_blobs == 0  # both are younger than the default grace period
    report = kb.gc(grace_s=0)
    assert report.removed_blobs == 2 and report.freed_bytes > 0
    assert list(kb.blobs.paths()) == []
    with pytest.raises(NotFoundError):
        kb.put(kind="dataset", name="x", arrays={"a": digest})


# ------------------------------------------------------------------------------------------------ verify


def _chunk_keys(kb: KnowledgeBase, path: str) -> list[str]:
    root = f"{kb.blobs.root}/{path}"
    kb.blobs.fs.invalidate_cache() if hasattr(kb.blobs.fs, "invalidate_cache") else None
    return sorted(f for f in kb.blobs.fs.find(root) if "/c/" in f)


def _blob_path(kb: KnowledgeBase, digest: str) -> str:
    import sqlalchemy as sa

    from xrai.kb import _schema as S

    with kb.engine.connect() as conn:
        return conn.execute(sa.select(S.blobs.c.path).where(S.blobs.c.hash == digest)).scalar_one()


def test_verify_finds_a_flipped_byte(kb: KnowledgeBase) -> None:
    data = np.random.default_rng(5).random((40, 40))
    item = kb.put(kind="dataset", name="victim", arrays={"a": data}, chunks={"a": (10, 40)})
    healthy = kb.put(kind="dataset", name="healthy", arrays={"b": data[:5]})
    assert kb.verify().ok
    digest = item.arrays["a"].hash
    chunk = _chunk_keys(kb, _blob_path(kb, digest))[2]
    raw = bytearray(kb.blobs.fs.cat_file(chunk))
    raw[len(raw) // 2] ^= 0x10
    kb.blobs.fs.pipe_file(chunk, bytes(raw))
    report = kb.verify()
    assert not report.ok and set(report.corrupted) == {digest}
    assert report.affected_items == (item.id,)
    assert kb.verify([healthy.id]).ok


def test_verify_rehashes_decodable_but_changed_chunks(kb: KnowledgeBase) -> None:
    data = np.arange(400, dtype=np.int32).reshape(20, 20)
    item = kb.put(kind="dataset", name="victim", arrays={"a": data}, chunks={"a": (10, 20)})
    changed = data.copy()
    changed[0, 0] += 1  # same chunking, one value differs: the chunk decodes fine
    other = kb.put(kind="dataset", name="other", arrays={"a": changed}, chunks={"a": (10, 20)})
    source = _chunk_keys(kb, _blob_path(kb, other.arrays["a"].hash))[0]
    target = _chunk_keys(kb, _blob_path(kb, item.arrays["a"].hash))[0]
    kb.blobs.fs.pipe_file(target, kb.blobs.fs.cat_file(source))
    report = kb.verify([item.id])
    assert set(report.corrupted) == {item.arrays["a"].hash}
    assert report.corrupted[item.arrays["a"].hash].startswith("content hash is")


# ------------------------------------------------------------------------------------------------ region reads


class CountingStore(WrapperStore):  # type: ignore[type-arg]
    """Records every key read from the wrapped store."""

    def __init__(self, store, keys: list[str] | None = None) -> None:
        super().__init__(store)
        self.keys: list[str] = [] if keys is None else keys

    def _with_store(self, store):  # zarr re-wraps the store read-only: share the record
        return type(self)(store, self.keys)

    async def get(self, key, prototype, byte_range=None):
        self.keys.append(key)
        return await self._store.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype, key_ranges):
        key_ranges = list(key_ranges)
        self.keys.extend(k for k, _ in key_ranges)
        return await self._store.get_partial_values(prototype, key_ranges)


def test_region_reads_fetch_only_the_chunks_the_region_touches(kb: KnowledgeBase) -> None:
    volume = np.random.default_rng(9).random((48, 40, 36)).astype(np.float32)
    chunks = (8, 10, 12)
    item = kb.put(kind="dataset.volume", name="v", arrays={"volume": volume}, chunks={"volume": chunks})
    counting = CountingStore(kb.blobs.zarr_store)
    kb.blobs.zarr_store = counting
    kb.blobs._opened.clear()  # opened arrays are cached: open again through the counting store
    region = (slice(5, 20), slice(12, 13), slice(0, 36))
    np.testing.assert_array_equal(kb.read_array(item, "volume", region=region), volume[region])
    fetched = {k for k in counting.keys if "/c/" in k}
    # independent count: chunk indices intersecting [start, stop) on each axis
    expected = math.prod(
        len(range(s.start // c, (s.stop - 1) // c + 1)) for s, c in zip(region, chunks, strict=True)
    )
    total = math.prod(math.ceil(n / c) for n, c in zip(volume.shape, chunks, strict=True))
    assert len(fetched) == expected == 3 * 1 * 3 and total == 6 * 4 * 3


# ------------------------------------------------------------------------------------------------ processes


def _worker(spec, **task) -> subprocess.Popen:
    config = json.dumps({**spec.to_dict(), **task})
    return subprocess.Popen([sys.executable, str(WORKER), config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def test_crash_between_blob_write_and_commit_leaves_no_half_item(proc_spec, proc_kb: KnowledgeBase) -> None:
    proc = _worker(proc_spec, task="crash_after_blobs")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    assert proc_kb.count(latest=False) == 0 and proc_kb.search(text="half") == []
    assert proc_kb.stats()["blobs"] == 0
    leftovers = list(proc_kb.blobs.paths())
    assert len(leftovers) == 1  # the array copy was written before the kill
    report = proc_kb.gc(grace_s=0)
    assert report.removed_blobs == 1 and report.freed_bytes > 0 and list(proc_kb.blobs.paths()) == []


def test_a_writer_killed_at_a_random_moment_leaves_a_consistent_store(
    proc_spec, proc_kb: KnowledgeBase
) -> None:
    proc = _worker(proc_spec, task="put_forever")
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    lines = 0
    while lines < 3 and time.monotonic() < deadline and proc.poll() is None:
        if proc.stdout.readline():
            lines += 1
    time.sleep(float(np.random.default_rng().uniform(0, 0.3)))  # land anywhere inside a put
    proc.kill()
    proc.wait(timeout=30)
    assert lines >= 3, proc.stderr.read() if proc.stderr else ""
    visible = proc_kb.search(limit=10_000)
    assert len(visible) >= 3
    for item in visible:
        assert proc_kb.read_array(item, "v").shape == (32, 32, 32)
    assert proc_kb.verify().ok


def test_concurrent_writer_processes_lose_nothing(proc_spec, proc_kb: KnowledgeBase) -> None:
    workers, count, distinct = 3, 8, 4
    procs = [
        _worker(proc_spec, task="put_many", worker=w, count=count, distinct=distinct) for w in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    items = proc_kb.search(limit=1000)
    assert sorted(i.name for i in items) == sorted(f"w{w}-{n}" for w in range(workers) for n in range(count))
    assert (
        proc_kb.stats()["blobs"] == distinct
    )  # identical content stored once, even when written concurrently
    for item in items:
        assert float(proc_kb.read_array(item, "v", region=(0, 0, 0))) == item.metadata["n"] % distinct
    assert proc_kb.verify().ok
    assert proc_kb.gc(grace_s=0).removed_blobs == 0  # racing writers removed their redundant copies
    assert len(list(proc_kb.blobs.paths())) == distinct


def test_concurrent_puts_with_one_cache_key_store_one_item(proc_spec, proc_kb: KnowledgeBase) -> None:
    procs = [
        _worker(proc_spec, task="put_many", worker=w, count=3, distinct=1, cache_key="stage:42")
        for w in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert proc_kb.count(latest=False) == 1
    assert proc_kb.find_by_key("stage:42") is not None
