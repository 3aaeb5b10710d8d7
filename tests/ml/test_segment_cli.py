"""``xrai segment predict|evaluate``, ``xrai measure`` and ``xrai compare-groups`` end to end (small sizes)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
from typer.testing import CliRunner

from xrai.analysis.morphometrics import measure_labels, read_csv, wide_features, write_csv
from xrai.cli.main import app
from xrai.ml.label_io import read_labels, write_labels
from xrai.ml.synthetic import contrast_table, render_like_reconstruction
from xrai.physics.specimens import FishLine, fish_cohort, fish_phantom

runner = CliRunner()


def test_predict_evaluate_measure(tmp_path) -> None:
    fish = fish_phantom(shape=(64, 64, 64), rng=11)
    image = render_like_reconstruction(fish.labels, contrast_table(fish.materials, kind="density"), rng=1)
    np.save(tmp_path / "recon.npy", image)
    write_labels(
        tmp_path / "truth.nii.gz", fish.labels, voxel_size_m=fish.voxel_size_m, label_names=fish.label_names
    )

    result = runner.invoke(
        app, ["segment", "predict", str(tmp_path / "recon.npy"), "-o", str(tmp_path / "pred.nii.gz")]
    )
    assert result.exit_code == 0, result.output
    assert "swim_bladder" in result.output
    pred, _, names = read_labels(tmp_path / "pred.nii.gz")
    assert pred.shape == fish.labels.shape and names == list(fish.label_names)

    result = runner.invoke(
        app,
        [
            "segment",
            "evaluate",
            str(tmp_path / "pred.nii.gz"),
            str(tmp_path / "truth.nii.gz"),
            "--csv",
            str(tmp_path / "m.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "m.csv")
    assert [r["name"] for r in rows][:2] == ["brain", "eyes"] and all(0 <= r["dice"] <= 1 for r in rows)

    result = runner.invoke(
        app, ["measure", str(tmp_path / "truth.nii.gz"), "-o", str(tmp_path / "morph.csv")]
    )
    assert result.exit_code == 0, result.output
    table = read_csv(tmp_path / "morph.csv")
    assert table[1]["name"] == "eyes"
    assert table[1]["volume_m3"] == pytest.approx(np.sum(fish.labels == 2) * fish.voxel_size_m**3, rel=1e-5)

    result = runner.invoke(
        app, ["segment", "predict", str(tmp_path / "recon.npy"), "-o", str(tmp_path / "pred.nii.gz")]
    )
    assert result.exit_code != 0  # refuses to overwrite


def test_compare_groups_command(tmp_path) -> None:
    lines = [FishLine(name="A"), FishLine(name="B", organ_scale={"eyes": 1.2})]
    rows = []
    for i, fish in enumerate(fish_cohort(lines, n_per_line=6, shape=(48, 48, 48), rng=4)):
        table = measure_labels(
            fish.labels, voxel_size_m=fish.voxel_size_m, label_names=fish.label_names, surface=False
        )
        rows.append(
            wide_features(table, features=["volume_m3"], extra={"specimen": f"s{i}", "line": fish.line})
        )
    write_csv(rows, tmp_path / "specimens.csv")
    out = tmp_path / "cmp"
    result = runner.invoke(
        app, ["compare-groups", str(tmp_path / "specimens.csv"), "-g", "line", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    tests = read_csv(out / "tests.csv")
    significant = {r["feature"] for r in tests if r["significant"]}
    assert "eyes_volume_m3" in significant
    assert (out / "boxes.png").stat().st_size > 1000 and (out / "pca.png").stat().st_size > 1000
