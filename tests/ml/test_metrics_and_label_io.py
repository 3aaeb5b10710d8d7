"""Segmentation metrics against analytic shapes; label files round-trip through NIfTI, TIFF, Zarr, NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from xrai.errors import ConfigError, DataError
from xrai.ml.label_io import read_labels, write_labels
from xrai.ml.metrics import mean_dice, segmentation_metrics


def _sphere(n: int, radius: float, centre: tuple[float, float, float] | None = None) -> np.ndarray:
    c = centre or ((n - 1) / 2,) * 3
    z, y, x = np.ogrid[:n, :n, :n]
    return (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= radius**2


def test_dice_and_volume_error_of_shifted_boxes() -> None:
    truth = np.zeros((20, 20, 20), dtype=np.uint8)
    pred = np.zeros_like(truth)
    truth[2:12, 2:12, 2:12] = 1  # 1000 voxels
    pred[3:13, 2:12, 2:12] = 1  # shifted by one: overlap 900
    pred[15:17, 15:17, 15:17] = 2  # 8 voxels of a label absent from the truth
    rows = segmentation_metrics(pred, truth, voxel_size_m=0.5, distances=False)
    one, two = rows
    assert one["dice"] == pytest.approx(2 * 900 / 2000)
    assert one["volume_error"] == 0.0 and one["volume_true_m3"] == pytest.approx(1000 * 0.125)
    assert two["dice"] == 0.0 and math.isnan(two["volume_error"])
    assert mean_dice(rows) == pytest.approx(0.45)


def test_hausdorff_and_surface_distance_of_concentric_spheres() -> None:
    """Spheres of radius 10 and 13 voxels: every surface point is 3 voxels from the other surface."""
    truth = _sphere(40, 10.0).astype(np.uint8)
    pred = _sphere(40, 13.0).astype(np.uint8)
    row = segmentation_metrics(pred, truth, voxel_size_m=(2e-6, 2e-6, 2e-6))[0]
    assert row["hd95_m"] == pytest.approx(3 * 2e-6, abs=1.0 * 2e-6)
    assert row["assd_m"] == pytest.approx(3 * 2e-6, abs=0.7 * 2e-6)
    assert row["dice"] == pytest.approx(2 * 10**3 / (10**3 + 13**3), rel=0.03)
    assert row["volume_error"] == pytest.approx(13**3 / 10**3 - 1, rel=0.05)
    # Anisotropic voxels (3 × 1 × 1 µm): physical spheres of radius 12 and 18 µm are voxel ellipsoids; the
    # distances come out right (≈ 6 µm) only with the spacing applied per axis.
    z, y, x = np.ogrid[:20, :48, :48]
    inner = ((z - 9.5) / 4) ** 2 + ((y - 23.5) / 12) ** 2 + ((x - 23.5) / 12) ** 2 <= 1
    outer = ((z - 9.5) / 6) ** 2 + ((y - 23.5) / 18) ** 2 + ((x - 23.5) / 18) ** 2 <= 1
    right = segmentation_metrics(
        outer.astype(np.uint8), inner.astype(np.uint8), voxel_size_m=(3e-6, 1e-6, 1e-6)
    )
    wrong = segmentation_metrics(outer.astype(np.uint8), inner.astype(np.uint8), voxel_size_m=1e-6)
    assert right[0]["assd_m"] == pytest.approx(6e-6, abs=1e-6)
    assert right[0]["hd95_m"] == pytest.approx(6e-6, abs=1e-6)
    assert wrong[0]["assd_m"] < 4e-6


def test_identical_and_empty_labels() -> None:
    truth = _sphere(24, 6.0).astype(np.uint8)
    row = segmentation_metrics(truth, truth)[0]
    assert row["dice"] == 1.0 and row["hd95_m"] == 0.0 and row["assd_m"] == 0.0
    empty = np.zeros_like(truth)
    row = segmentation_metrics(empty, truth, labels=[1])[0]
    assert row["dice"] == 0.0 and math.isnan(row["hd95_m"]) and row["volume_error"] == -1.0
    with pytest.raises(DataError, match="same shape"):
        segmentation_metrics(truth, truth[1:])


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".tif", ".zarr", ".npy"])
def test_label_files_round_trip(tmp_path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, size=(6, 7, 8)).astype(np.uint8)
    names = ["background", *[f"organ{i}" for i in range(1, 11)]]
    voxel = (3e-6, 2e-6, 1e-6)
    path = write_labels(tmp_path / f"labels{suffix}", labels, voxel_size_m=voxel, label_names=names)
    back, back_voxel, back_names = read_labels(path)
    np.testing.assert_array_equal(back, labels)
    if suffix != ".npy":
        np.testing.assert_allclose(back_voxel, voxel, rtol=1e-6)
        assert (
            back_names == names or suffix == ".nii"
        )  # plain .nii keeps the names too, but allow readers without
    with pytest.raises(DataError, match="exists"):
        write_labels(path, labels)


def test_nifti_axes_follow_the_convention(tmp_path) -> None:
    """An independent reader (nibabel) sees (x, y, z) with the voxel sizes in mm."""
    import nibabel

    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    labels[3, 0, 0] = 7  # last z plane
    write_labels(tmp_path / "a.nii.gz", labels, voxel_size_m=(3e-6, 2e-6, 1e-6))
    image = nibabel.load(tmp_path / "a.nii.gz")
    assert image.shape == (6, 5, 4)
    assert np.asarray(image.dataobj)[0, 0, 3] == 7
    np.testing.assert_allclose(image.header.get_zooms(), (1e-3, 2e-3, 3e-3))


def test_label_file_errors_are_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="label format"):
        write_labels(tmp_path / "a.png", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(DataError, match="integer"):
        write_labels(tmp_path / "a.npy", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(DataError, match="no such file"):
        read_labels(tmp_path / "missing.nii.gz")
    (tmp_path / "x.am").write_text("# AmiraMesh BINARY-LITTLE-ENDIAN 2.1\n")
    with pytest.raises(ConfigError, match="Amira"):
        read_labels(tmp_path / "x.am")
