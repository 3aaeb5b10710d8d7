"""Run a batch of specimens through a stage graph: memoised, resumable, failure-isolated, local or on Dask.

Keys depend only on parameters and upstream keys (:func:`xrai.pipeline.stages.stage_key`), so the runner first
computes every key of a specimen, asks the store which outputs exist, and then computes only what is missing,
loading a stored upstream output only when a missing stage needs it. An interrupted batch therefore resumes where
it stopped, and a rerun of a finished batch computes nothing.

A specimen whose stage raises is recorded as failed with the error message; the other specimens go on.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from xrai.errors import ConfigError
from xrai.pipeline.stages import Stage, StageOutput, stage_key

__all__ = ["SpecimenJob", "SpecimenResult", "StageRecord", "StageStore", "run_batch", "run_specimen"]

log = logging.getLogger(__name__)


class StageStore(Protocol):
    """Where stage outputs live (the knowledge base in production)."""

    def lookup(self, key: str) -> str | None:
        """The stored item id for ``key``, or ``None``."""

    def load(self, key: str) -> StageOutput:
        """The stored output for ``key``."""

    def save(
        self,
        key: str,
        output: StageOutput,
        *,
        stage: Stage,
        specimen: Mapping[str, Any],
        input_items: Sequence[str],
        seconds: float,
    ) -> str:
        """Store ``output`` under ``key`` (idempotent) with lineage to ``input_items``; return its item id."""  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecimenJob:
    """One specimen: its identity (name, group, free metadata) and its stages in topological order."""

    name: str
    stages: tuple[Stage, ...]
    group: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for stage in self.stages:
            missing = [name for name in stage.inputs if name not in seen]
            if missing:
                raise ConfigError(
                    f"specimen {self.name!r}: stage {stage.name!r} needs {missing}, which no earlier stage makes"
                )
            if stage.name in seen:
                raise ConfigError(f"specimen {self.name!r}: stage name {stage.name!r} is used twice")
            seen.add(stage.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRecord:
    """What happened to one stage of one specimen."""

    stage: str
    key: str
    item_id: str | None
    cached: bool
    seconds: float
    nbytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecimenResult:
    """The outcome for one specimen: per-stage records, the outputs asked for, or the error."""

    name: str
    group: str
    status: str  # "succeeded" | "failed"
    records: tuple[StageRecord, ...]
    outputs: Mapping[str, StageOutput] = field(default_factory=dict)
    error: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def computed_stages(self) -> list[str]:
        """Names of the stages that ran (not served from the store)."""
        return [r.stage for r in self.records if not r.cached]


def run_specimen(
    job: SpecimenJob,
    store: StageStore,
    *,
    keep: Iterable[str] = (),
    on_stage: Callable[[str], None] | None = None,
) -> SpecimenResult:
    """Run (or reuse) every stage of ``job``; return records and the outputs of the stages named in ``keep``."""
    keep = set(keep)
    by_name = {s.name: s for s in job.stages}
    keys: dict[str, str] = {}
    for stage in job.stages:
        keys[stage.name] = stage_key(stage, keys)
    stored = {name: store.lookup(key) for name, key in keys.items()}
    outputs: dict[str, StageOutput] = {}
    records: list[StageRecord] = []
    specimen = {"name": job.name, "group": job.group, **job.metadata}

    def output_of(name: str) -> StageOutput:
        if name not in outputs:
            outputs[name] = store.load(keys[name])
        return outputs[name]

    try:
        for stage in job.stages:
            if stored[stage.name] is not None:
                records.append(
                    StageRecord(
                        stage=stage.name,
                        key=keys[stage.name],
                        item_id=stored[stage.name],
                        cached=True,
                        seconds=0.0,
                    )
                )
            else:
                inputs = {name: output_of(name) for name in stage.inputs}
                start = time.perf_counter()
                result = stage.func(inputs, **stage.params)
                seconds = time.perf_counter() - start
                if not isinstance(result, StageOutput):
                    raise TypeError(
                        f"stage {stage.name!r} returned {type(result).__name__}, expected StageOutput"
                    )
                outputs[stage.name] = result
                item = store.save(
                    keys[stage.name], result, stage=stage, specimen=specimen,
                    input_items=[item for name in stage.inputs if (item := stored[name]) is not None], seconds=seconds,
                )  # fmt: skip
                stored[stage.name] = item
                records.append(
                    StageRecord(
                        stage=stage.name, key=keys[stage.name], item_id=item, cached=False, seconds=seconds,
                        nbytes=result.nbytes(),
                    )
                )  # fmt: skip
            if on_stage is not None:
                on_stage(stage.name)
        kept = {name: output_of(name) for name in keep if name in by_name}
        return SpecimenResult(
            name=job.name, group=job.group, status="succeeded", records=tuple(records), outputs=kept,
            metadata=dict(job.metadata),
        )  # fmt: skip
    except Exception as exc:  # one bad specimen must not stop the batch
        failed_stage = job.stages[len(records)].name if len(records) < len(job.stages) else "?"
        log.warning("specimen %s failed in stage %s: %s", job.name, failed_stage, exc)
        message = f"{failed_stage}: {type(exc).__name__}: {exc}"
        return SpecimenResult(
            name=job.name, group=job.group, status="failed", records=tuple(records), error=message,
            metadata={**job.metadata, "traceback": traceback.format_exc(limit=8)},
        )  # fmt: skip


def _run_in_worker(
    job: SpecimenJob, store_factory: Callable[[], StageStore], keep: tuple[str, ...]
) -> SpecimenResult:
    return run_specimen(job, store_factory(), keep=keep)


def run_batch(
    jobs: Sequence[SpecimenJob],
    store_factory: Callable[[], StageStore],
    *,
    keep: Iterable[str] = (),
    workers: int = 1,
    cluster: str | None = None,
    on_result: Callable[[SpecimenResult], None] | None = None,
) -> list[SpecimenResult]:
    """Run every job; return their results in the order of ``jobs``.

    Parameters
    ----------
    jobs
        The specimens.
    store_factory
        A picklable callable that opens the store (each worker process opens its own handle).
    keep
        Stage names whose outputs the caller wants back (e.g. for the report).
    workers
        ``1`` runs in this process; ``N > 1`` uses a local process pool of N workers.
    cluster
        ``"dask://host:port"`` (or ``"tcp://host:port"``) runs on that Dask scheduler; ``"local:N"`` starts a
        Dask ``LocalCluster`` with N single-threaded worker processes.
    on_result
        Called with each result as it arrives (progress bars, logs).
    """
    keep_t = tuple(sorted(set(keep)))
    if workers < 1:
        raise ConfigError(f"workers = {workers} is not allowed: must be >= 1")
    results: dict[int, SpecimenResult] = {}
    for index, result in _iterate(jobs, store_factory, keep_t, workers, cluster):
        results[index] = result
        if on_result is not None:
            on_result(result)
    return [results[i] for i in range(len(jobs))]


def _iterate(
    jobs: Sequence[SpecimenJob], store_factory: Callable[[], StageStore], keep: tuple[str, ...],
    workers: int, cluster: str | None,
) -> Iterator[tuple[int, SpecimenResult]]:  # fmt: skip
    if cluster:
        yield from _iterate_dask(jobs, store_factory, keep, cluster)
    elif workers == 1:
        store = store_factory()
        for index, job in enumerate(jobs):
            yield index, run_specimen(job, store, keep=keep)
    else:
        import concurrent.futures as cf
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # numba/torch threads do not survive fork
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_run_in_worker, job, store_factory, keep): i for i, job in enumerate(jobs)}
            for future in cf.as_completed(futures):
                yield futures[future], future.result()


def _iterate_dask(
    jobs: Sequence[SpecimenJob], store_factory: Callable[[], StageStore], keep: tuple[str, ...], cluster: str
) -> Iterator[tuple[int, SpecimenResult]]:
    from dask.distributed import Client, LocalCluster, as_completed

    local = None
    if cluster.startswith("local:"):
        try:
            n = int(cluster.split(":", 1)[1])
        except ValueError:
            raise ConfigError(
                f"cluster = {cluster!r} is not allowed: use 'local:N' with an integer N"
            ) from None
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)  # type: ignore[no-untyped-call]
        address: Any = local
    elif cluster.startswith(("dask://", "tcp://")):
        address = "tcp://" + cluster.split("://", 1)[1]
    else:
        raise ConfigError(
            f"cluster = {cluster!r} is not allowed: use 'dask://host:port', 'tcp://host:port' or 'local:N'"
        )
    try:
        with Client(address) as client:  # type: ignore[no-untyped-call]
            futures = [
                client.submit(
                    _run_in_worker, job, store_factory, keep, key=f"xrai-{i}-{job.name}", pure=False
                )
                for i, job in enumerate(jobs)
            ]
            index = {f.key: i for i, f in enumerate(futures)}
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                yield index[future.key], future.result()
    finally:
        if local is not None:
            local.close()
