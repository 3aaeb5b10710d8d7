"""The screening pipeline on simulated scans: resume after a kill, corrupt input, catalogue and report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrai.pipeline.demo import DemoBatch, demo_specimens, write_demo_scan
from xrai.pipeline.screen import ScanInput, ScreenConfig, run_screen


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> list[ScanInput]:
    folder = tmp_path_factory.mktemp("scans")
    batch = DemoBatch(n_fish_per_line=1, n_pupae=1, n_parasitised=0, size=32, n_projections=48, seed=7)
    out = []
    for spec in demo_specimens(batch):
        path = write_demo_scan(spec, folder)
        out.append(ScanInput(path=str(path), name=spec.name, kind="other", group=spec.group))
    return out


def config(tmp: Path, **kwargs: object) -> ScreenConfig:
    return ScreenConfig(kb=str(tmp / "kb"), report=str(tmp / "report.html"), **kwargs)  # type: ignore[arg-type]


def test_demo_scans_are_valid_nxtomo_with_truth(scans: list[ScanInput]) -> None:
    from xrai.io import read_scan

    for item in scans:
        scan = read_scan(item.path)
        try:
            assert scan.projections.shape == (48, 32, 32)
            assert scan.flats is not None and scan.flats.shape[0] == 10
            assert scan.pixel_size_m is not None and scan.pixel_size_m > 0
            flats = np.asarray(scan.flats[:], dtype=float)
            darks = np.asarray(scan.darks[:], dtype=float)  # type: ignore[index]
            # the exposure fills the flats to about half of the 12-bit range above the dark level
            assert 1500 < flats.mean() - darks.mean() < 2500
        finally:
            scan.close()
        assert Path(item.path).with_suffix(".truth.npz").exists()


def test_reconstruction_finds_the_axis_and_images_the_specimen(
    tmp_path: Path, scans: list[ScanInput]
) -> None:
    result = run_screen(scans, config(tmp_path))
    assert [r.status for r in result.results] == ["succeeded"] * len(scans)
    for r in result.results:
        meta = r.outputs["reconstruct"].metadata
        assert abs(meta["center_col"] - 15.5) < 0.5  # the simulated axis is the detector centre
        volume = r.outputs["reconstruct"].arrays["volume"]
        truth = np.load(Path(r.metadata["path"]).with_suffix(".truth.npz"))["labels"]
        inside, outside = volume[truth > 0].mean(), volume[truth == 0].mean()
        assert inside > outside + 5 * volume[truth == 0].std() / np.sqrt((truth > 0).sum())
    html = Path(result.report_path).read_text()  # type: ignore[arg-type]
    assert "data:image/png;base64," in html and scans[0].name in html


def test_killed_batch_resumes_without_recomputing_or_duplicating(
    tmp_path: Path, scans: list[ScanInput]
) -> None:
    from xrai.kb import KnowledgeBase

    reference = run_screen(scans, config(tmp_path / "ref"))
    calls = []

    def kill_after_first(result: object) -> None:
        calls.append(result)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_screen(scans, config(tmp_path / "run"), on_result=kill_after_first)
    resumed = run_screen(scans, config(tmp_path / "run"))
    assert resumed.results[0].computed_stages == []  # the first specimen was finished before the kill
    assert resumed.results[1].computed_stages != []
    for a, b in zip(reference.results, resumed.results, strict=True):
        np.testing.assert_array_equal(
            a.outputs["reconstruct"].arrays["volume"], b.outputs["reconstruct"].arrays["volume"]
        )
    with (
        KnowledgeBase.open(tmp_path / "ref" / "kb") as kb_ref,
        KnowledgeBase.open(tmp_path / "run" / "kb") as kb_run,
    ):
        stored_ref = sorted(i.name for i in kb_ref.search(kind="dataset", limit=1000))
        stored_run = sorted(i.name for i in kb_run.search(kind="dataset", limit=1000))
    assert stored_run == stored_ref  # nothing lost, nothing stored twice
    again = run_screen(scans, config(tmp_path / "run"))
    assert all(r.computed_stages == [] for r in again.results)


def test_corrupt_scan_fails_alone_with_a_clear_message(tmp_path: Path, scans: list[ScanInput]) -> None:
    good = Path(scans[0].path)
    corrupt = tmp_path / "corrupt.nxs"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 3])  # truncated transfer
    garbage = tmp_path / "garbage.nxs"
    garbage.write_bytes(b"not an HDF5 file at all")
    inputs = [
        scans[0],
        ScanInput(path=str(corrupt), name="corrupt"),
        ScanInput(path=str(garbage), name="garbage"),
        ScanInput(path=str(tmp_path / "missing.nxs"), name="missing"),
    ]
    result = run_screen(inputs, config(tmp_path))
    status = {r.name: r for r in result.results}
    assert status[scans[0].name].status == "succeeded"
    for name, path in (("corrupt", corrupt), ("garbage", garbage), ("missing", tmp_path / "missing.nxs")):
        assert status[name].status == "failed"
        assert str(path) in (status[name].error or "")
    html = Path(result.report_path).read_text()  # type: ignore[arg-type]
    assert "Failed specimens" in html and "corrupt.nxs" in html
