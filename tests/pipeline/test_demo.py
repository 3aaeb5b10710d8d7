"""The embedded demo batch end to end: the planted truth is found, and nothing else (issue 8's validation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrai.pipeline.demo import DemoBatch, demo_specimens, write_demo_scan
from xrai.pipeline.screen import ScanInput, ScreenConfig, run_screen


def _inputs(folder: Path, batch: DemoBatch) -> tuple[list[ScanInput], set[str]]:
    inputs, planted = [], set()
    for spec in demo_specimens(batch):
        path = write_demo_scan(spec, folder)
        truth = str(path.with_suffix(".truth.npz")) if spec.kind == "fish" else None
        inputs.append(
            ScanInput(path=str(path), name=spec.name, kind=spec.kind, group=spec.group, truth_path=truth)
        )  # type: ignore[arg-type]
        if spec.parasitoid:
            planted.add(spec.name)
    return inputs, planted


def test_demo_specimens_are_reproducible_and_plant_what_they_say() -> None:
    batch = DemoBatch(n_fish_per_line=2, n_pupae=5, n_parasitised=2)
    first, second = demo_specimens(batch), demo_specimens(batch)
    assert first == second
    assert sum(s.parasitoid for s in first) == 2
    assert {s.group for s in first if s.kind == "fish"} == {"HdrR", "Cab"}
    assert all(s.organ_scale == {"swim_bladder": 1.3} for s in first if s.group == "Cab")
    assert len({s.seed for s in first}) == len(first)


def test_demo_batch_rejects_bad_sizes() -> None:
    from xrai.errors import ConfigError

    with pytest.raises(ConfigError, match="n_parasitised = 3"):
        DemoBatch(n_pupae=2, n_parasitised=3)
    with pytest.raises(ConfigError, match="size = 8"):
        DemoBatch(size=8)


@pytest.mark.slow
def test_screening_finds_exactly_the_parasitised_pupae(tmp_path: Path) -> None:
    batch = DemoBatch(n_fish_per_line=0, n_pupae=6, n_parasitised=2, seed=11)
    inputs, planted = _inputs(tmp_path / "scans", batch)
    assert len(planted) == 2
    result = run_screen(inputs, ScreenConfig(kb=str(tmp_path / "kb"), report=str(tmp_path / "r.html")))
    assert all(r.status == "succeeded" for r in result.results)
    assert set(result.flags) == planted
    for name in planted:
        assert any("inclusion" in reason for reason in result.flags[name])


@pytest.mark.slow
def test_group_comparison_finds_exactly_the_built_in_line_difference(tmp_path: Path) -> None:
    batch = DemoBatch(n_fish_per_line=4, n_pupae=0, n_parasitised=0, seed=11)
    inputs, _ = _inputs(tmp_path / "scans", batch)
    config = ScreenConfig(kb=str(tmp_path / "kb"), report=str(tmp_path / "r.html"), tta=False)
    result = run_screen(inputs, config)
    assert all(r.status == "succeeded" for r in result.results)
    significant = {c["feature"] for c in result.comparison if c["significant"]}
    assert significant == {"swim_bladder_volume_mm3"}
    bladder = next(c for c in result.comparison if c["feature"] == "swim_bladder_volume_mm3")
    assert 1.5 < bladder["ratio"] < 3.0  # true volume ratio 1.3³ = 2.2
    assert result.flags == {}  # no fish flagged
    dice = [e["mean_dice"] for e in result.evaluation]
    assert len(dice) == 8 and min(dice) > 0.6  # a broken model scores < 0.1
