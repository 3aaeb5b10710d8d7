"""The pipeline runner: memoisation by content keys, resume after interruption, failure isolation, Dask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrai.errors import ConfigError
from xrai.pipeline.kb_store import KnowledgeBaseStoreFactory
from xrai.pipeline.runner import SpecimenJob, run_batch, run_specimen
from xrai.pipeline.stages import Stage, StageOutput, stage_key


def make(inputs: dict[str, StageOutput], *, n: int, seed: int) -> StageOutput:
    rng = np.random.default_rng(seed)
    return StageOutput(arrays={"data": rng.normal(size=(n, n))}, metadata={"n": n})


def double(inputs: dict[str, StageOutput], *, fail_if_negative_sum: bool = False) -> StageOutput:
    data = inputs["make"].arrays["data"]
    if fail_if_negative_sum and data.sum() < 0:
        raise ValueError("negative sum")
    return StageOutput(arrays={"data": 2 * data}, metadata={"sum": float(data.sum())})


def total(inputs: dict[str, StageOutput]) -> StageOutput:
    return StageOutput(metadata={"total": float(inputs["double"].arrays["data"].sum())})


def job(name: str, seed: int, *, fail: bool = False) -> SpecimenJob:
    return SpecimenJob(
        name=name,
        group="a",
        stages=(
            Stage(name="make", func=make, params={"n": 8, "seed": seed}),
            Stage(name="double", func=double, inputs=("make",), params={"fail_if_negative_sum": fail}),
            Stage(name="total", func=total, inputs=("double",)),
        ),
    )


def test_keys_change_with_params_version_and_inputs() -> None:
    a = Stage(name="make", func=make, params={"n": 8, "seed": 1})
    assert stage_key(a, {}) == stage_key(Stage(name="make", func=make, params={"seed": 1, "n": 8}), {})
    assert stage_key(a, {}) != stage_key(Stage(name="make", func=make, params={"n": 8, "seed": 2}), {})
    assert stage_key(a, {}) != stage_key(
        Stage(name="make", func=make, params={"n": 8, "seed": 1}, version="2"), {}
    )
    b = Stage(name="double", func=double, inputs=("make",))
    assert stage_key(b, {"make": "x"}) != stage_key(b, {"make": "y"})


def test_bad_graphs_are_rejected() -> None:
    with pytest.raises(ConfigError, match="needs \\['make'\\]"):
        SpecimenJob(name="s", stages=(Stage(name="double", func=double, inputs=("make",)),))
    with pytest.raises(ConfigError, match="stage name"):
        Stage(name="not valid", func=make)
    with pytest.raises(ConfigError, match="not JSON-serialisable"):
        Stage(name="make", func=make, params={"x": object()})


def test_rerun_computes_nothing_and_results_are_identical(tmp_path: Path) -> None:
    factory = KnowledgeBaseStoreFactory(str(tmp_path / "kb"))
    first = run_specimen(job("s1", 1), factory(), keep=["total"])
    assert first.status == "succeeded" and first.computed_stages == ["make", "double", "total"]
    second = run_specimen(job("s1", 1), factory(), keep=["total", "double"])
    assert second.computed_stages == []
    assert second.outputs["total"].metadata == first.outputs["total"].metadata
    expected = 2 * np.random.default_rng(1).normal(size=(8, 8))
    np.testing.assert_array_equal(second.outputs["double"].arrays["data"], expected)
    # a changed parameter recomputes exactly the stages downstream of it
    third = run_specimen(
        SpecimenJob(
            name="s1",
            stages=(
                Stage(name="make", func=make, params={"n": 8, "seed": 1}),
                Stage(name="double", func=double, inputs=("make",), params={"fail_if_negative_sum": False}),
                Stage(name="total", func=total, inputs=("double",), version="2"),
            ),
        ),
        factory(),
    )
    assert third.computed_stages == ["total"]


def test_resume_after_interruption_stores_nothing_twice(tmp_path: Path) -> None:
    factory = KnowledgeBaseStoreFactory(str(tmp_path / "kb"))
    calls: list[str] = []

    def interrupting(name: str) -> None:
        calls.append(name)
        if name == "double":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_specimen(job("s1", 3), factory(), on_stage=interrupting)
    resumed = run_specimen(job("s1", 3), factory())
    assert resumed.computed_stages == ["total"]
    kb = factory().kb
    assert len(kb.search(kind="dataset", limit=100)) == 3


def test_a_failing_specimen_does_not_stop_the_batch(tmp_path: Path) -> None:
    factory = KnowledgeBaseStoreFactory(str(tmp_path / "kb"))
    seeds = [s for s in range(40) if np.random.default_rng(s).normal(size=(8, 8)).sum() < 0][:1]
    seeds += [s for s in range(40) if np.random.default_rng(s).normal(size=(8, 8)).sum() > 0][:2]
    jobs = [job(f"s{i}", seed, fail=True) for i, seed in enumerate(seeds)]
    results = run_batch(jobs, factory, keep=["total"])
    assert [r.status for r in results] == ["failed", "succeeded", "succeeded"]
    assert results[0].error is not None and "double: ValueError: negative sum" in results[0].error
    assert "total" in results[1].outputs


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    factory = KnowledgeBaseStoreFactory(str(tmp_path / "kb"))
    jobs = [job(f"s{i}", i) for i in range(3)]
    on_dask = run_batch(jobs, factory, keep=["total"], cluster="local:2")
    assert all(r.status == "succeeded" for r in on_dask)
    again = run_batch(jobs, factory, keep=["total"])
    assert all(r.computed_stages == [] for r in again)
    for a, b in zip(on_dask, again, strict=True):
        assert a.outputs["total"].metadata == b.outputs["total"].metadata


@pytest.mark.slow
def test_local_process_pool_gives_the_same_results(tmp_path: Path) -> None:
    factory = KnowledgeBaseStoreFactory(str(tmp_path / "kb"))
    jobs = [job(f"s{i}", i) for i in range(3)]
    pooled = run_batch(jobs, factory, keep=["total"], workers=2)
    assert [r.name for r in pooled] == ["s0", "s1", "s2"]  # results come back in the order of the jobs
    serial = run_batch(jobs, KnowledgeBaseStoreFactory(str(tmp_path / "kb2")), keep=["total"])
    for a, b in zip(pooled, serial, strict=True):
        assert a.outputs["total"].metadata == b.outputs["total"].metadata
