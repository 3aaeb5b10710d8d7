"""Segmentation: the shipped model on held-out fish, sliding window = whole volume, resumable training."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from xrai.errors import DataError  # noqa: E402
from xrai.ml.inference import predict_probabilities, segment_volume, window_starts  # noqa: E402
from xrai.ml.metrics import mean_dice, segmentation_metrics  # noqa: E402
from xrai.ml.segmentation import TrainConfig, demo_pretrain_recipe, demo_recipe, train  # noqa: E402
from xrai.ml.synthetic import contrast_table, random_look, render_like_reconstruction  # noqa: E402
from xrai.ml.unet import SegmentationModel, build_unet, demo_model_files, load_demo_model  # noqa: E402
from xrai.physics.specimens import FISH_LABELS, FishLine, fish_phantom  # noqa: E402

#: Mean Dice over the ten organs that the demo model must reach on held-out fish. An untrained network, or one
#: that labels every body voxel as muscle (mean Dice ≈ 0.09), cannot.
DICE_FLOOR = 0.6


@pytest.fixture(scope="module")
def demo_model() -> SegmentationModel:
    return load_demo_model()


def _held_out_fish(seed: int, *, strength: float = 1.0) -> tuple[np.ndarray, object]:
    """A fish never seen in training (own seed, other lines), rendered with a fresh random look."""
    gen = np.random.default_rng([seed, 777])
    line = FishLine(name="held-out", organ_scale={"eyes": 1.1, "liver": 0.9})
    fish = fish_phantom(shape=(64, 64, 64), line=line, medium=("ethanol", "water", "air")[seed % 3], rng=gen)
    kind = "delta" if seed % 3 == 1 or gen.random() < 0.5 else "attenuation"
    table = contrast_table(fish.materials, energy_kev=float(gen.uniform(15, 35)), kind=kind)
    image = render_like_reconstruction(fish.labels, table, look=random_look(gen, strength=strength), rng=gen)
    return image, fish


def test_demo_model_ships_with_its_recipe() -> None:
    weights, info = demo_model_files()
    assert weights.is_file() and info.is_file()
    with weights.open("rb") as fh:
        size = len(fh.read())
    assert size < 2_000_000
    meta = json.loads(info.read_text())
    # Two stages: synthetic pre-training, then fine-tuning mixed with fish from the real screen chain.
    assert meta["recipe"] == demo_recipe().to_dict()
    assert meta["pretrain_recipe"] == demo_pretrain_recipe().to_dict()
    assert meta["recipe"]["real_fraction"] > 0
    chain = meta["chain_data"]
    assert chain["fish"] >= 40 and chain["seed"] != 2026  # disjoint from the demo batch's seed
    assert chain["reconstruct"]["filter_name"] == "hann"
    assert {"dice", "volume_error_mean"} <= set(meta["chain_validation"])
    assert meta["label_names"] == list(FISH_LABELS)
    assert {"git_commit", "torch_version", "monai_version", "validation"} <= set(meta)


def test_demo_model_segments_held_out_fish(demo_model: SegmentationModel) -> None:
    dices = []
    per_organ = np.zeros(len(FISH_LABELS) - 1)
    for seed in range(3):
        image, fish = _held_out_fish(seed)
        labels = segment_volume(demo_model, image, progress=False).labels
        rows = segmentation_metrics(labels, fish.labels, label_names=FISH_LABELS, distances=False)
        per_organ += [r["dice"] for r in rows]
        dices.append(mean_dice(rows))
    assert np.mean(dices) > DICE_FLOOR, dict(zip(FISH_LABELS[1:], np.round(per_organ / 3, 2), strict=True))
    # Every organ is found in some measure (no organ silently dropped).
    assert np.all(per_organ / 3 > 0.2), dict(zip(FISH_LABELS[1:], np.round(per_organ / 3, 2), strict=True))


def test_untrained_model_cannot_reach_the_floor() -> None:
    torch.manual_seed(0)
    net = build_unet(len(FISH_LABELS)).eval()
    random_model = SegmentationModel(
        net, label_names=FISH_LABELS, roi_size=(64, 48, 48), architecture={"channels": [8, 16, 32, 64]}
    )
    image, fish = _held_out_fish(0)
    labels = segment_volume(random_model, image, progress=False).labels
    assert (
        mean_dice(segmentation_metrics(labels, fish.labels, label_names=FISH_LABELS, distances=False)) < 0.2
    )
    # The "everything in the body is muscle" answer scores about 0.09.
    body_is_muscle = np.where(fish.labels > 0, FISH_LABELS.index("muscle"), 0)
    assert (
        mean_dice(segmentation_metrics(body_is_muscle, fish.labels, label_names=FISH_LABELS, distances=False))
        < 0.2
    )


def test_window_starts_match_monai() -> None:
    assert window_starts(64, 64, 0.25) == [0]
    assert window_starts(40, 64, 0.25) == [0]
    assert window_starts(100, 64, 0.25) == [0, 36]
    assert window_starts(200, 64, 0.5) == [0, 32, 64, 96, 128, 136]


def test_sliding_window_equals_whole_volume(demo_model: SegmentationModel) -> None:
    """Where the window covers the volume, sliding-window inference is one plain forward pass."""
    image, _ = _held_out_fish(1)
    crop = image[:, 8:56, 8:56]  # exactly the model's window (64, 48, 48)
    probs = predict_probabilities(demo_model, crop)
    result = segment_volume(demo_model, crop, progress=False)
    np.testing.assert_array_equal(result.labels, np.argmax(probs, axis=0))
    soft = [r["soft_voxel_count"] for r in result.organs]
    np.testing.assert_allclose(soft, probs.sum(axis=(1, 2, 3)), rtol=1e-4)


def test_streamed_slabs_equal_monai_on_the_whole_volume(demo_model: SegmentationModel, tmp_path) -> None:
    """Slab-by-slab streaming to Zarr gives MONAI's whole-volume sliding-window result."""
    from monai.inferers import sliding_window_inference

    from xrai.io.zarr_volume import read_volume_zarr

    gen = np.random.default_rng(5)
    image, _ = _held_out_fish(2)
    big = np.pad(image, ((20, 16), (6, 10), (0, 8)), mode="reflect")  # 100 x 80 x 72: 2 x 2 x 2 windows
    big = big + 0.01 * gen.standard_normal(big.shape).astype(np.float32)
    streamed = segment_volume(
        demo_model, big, out=tmp_path / "labels.zarr", voxel_size_m=2e-6, progress=False
    )
    with torch.no_grad():
        x = torch.from_numpy(demo_model.normalize(big))[None, None]
        reference = sliding_window_inference(
            x,
            demo_model.roi_size,
            1,
            lambda t: torch.softmax(demo_model.net(t), 1),
            overlap=0.25,
            mode="constant",
        )
    expected = torch.argmax(reference[0], dim=0).numpy()
    written = read_volume_zarr(tmp_path / "labels.zarr")
    assert written.voxel_size_m == (2e-6, 2e-6, 2e-6)
    assert written.attrs["label_names"] == list(FISH_LABELS)
    np.testing.assert_array_equal(written[...], expected)
    np.testing.assert_array_equal(streamed.labels[...], expected)
    # In memory it is the same.
    np.testing.assert_array_equal(segment_volume(demo_model, big, progress=False).labels, expected)


def test_tta_and_mc_dropout_uncertainty(demo_model: SegmentationModel) -> None:
    image, fish = _held_out_fish(0)
    result = segment_volume(demo_model, image, tta=True, mc_samples=2, uncertainty_map=True, progress=False)
    organs = {r["name"]: r for r in result.organs}
    assert set(organs) == set(FISH_LABELS)
    for row in result.organs[1:]:
        if row["voxel_count"]:
            assert 0 <= row["mean_mutual_information"] <= row["mean_entropy"] <= math.log(len(FISH_LABELS))
    assert result.uncertainty.shape == image.shape and result.uncertainty.min() >= 0
    # The model is less sure at organ boundaries than deep inside the medium.
    from scipy import ndimage

    edges = ndimage.morphological_gradient(fish.labels, size=3) > 0
    far = ndimage.binary_erosion(fish.labels == 0, iterations=4)
    assert result.uncertainty[edges].mean() > 3 * result.uncertainty[far].mean()
    # MC dropout is reproducible by its seed and leaves the caller's torch RNG alone.
    state = torch.get_rng_state()
    a = segment_volume(demo_model, image, mc_samples=2, seed=7, uncertainty_map=True, progress=False)
    b = segment_volume(demo_model, image, mc_samples=2, seed=7, uncertainty_map=True, progress=False)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a.uncertainty, b.uncertainty)
    # Without dropout in the network, MC dropout is refused.
    no_dropout = SegmentationModel(
        build_unet(len(FISH_LABELS), dropout=0.0),
        label_names=FISH_LABELS,
        roi_size=(64, 48, 48),
        architecture={},
    )
    with pytest.raises(ValueError, match="dropout"):
        segment_volume(no_dropout, image, mc_samples=2, progress=False)


TINY = TrainConfig(
    shape=(32, 32, 32),
    crop=(32, 32, 32),
    n_specimens=2,
    steps=4,
    batch_size=1,
    lr=1e-2,
    channels=(4, 8, 16),
    strides=(2, 2),
    num_res_units=1,
    checkpoint_every=2,
    seed=3,
)


def test_checkpoint_resume_continues_identically(tmp_path) -> None:
    straight = train(TINY, progress=False)
    first = train(TINY, checkpoint_dir=tmp_path, stop_at_step=2, progress=False)
    assert first.steps_done == 2 and (tmp_path / "checkpoint.pt").is_file()
    resumed = train(TINY, checkpoint_dir=tmp_path, resume=True, progress=False)
    assert resumed.steps_done == 4
    assert resumed.losses == straight.losses
    for (name, a), b in zip(
        straight.model.net.state_dict().items(), resumed.model.net.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # A checkpoint from another recipe is refused, naming the differing field.
    with pytest.raises(ValueError, match="lr"):
        train(dataclasses.replace(TINY, lr=5e-3), checkpoint_dir=tmp_path, progress=False)


def test_fine_tuning_starts_from_the_given_weights() -> None:
    torch.manual_seed(123)
    start = build_unet(len(FISH_LABELS), **TINY.architecture()).state_dict()
    result = train(dataclasses.replace(TINY, steps=0), initial_weights=start, progress=False)
    for name, value in result.model.net.state_dict().items():
        assert torch.equal(value, start[name]), name
    # ... and training moves away from them.
    moved = train(dataclasses.replace(TINY, steps=1), initial_weights=start, progress=False)
    assert any(
        not torch.equal(v, start[k]) for k, v in moved.model.net.state_dict().items() if v.is_floating_point()
    )


def test_tiny_training_run_lowers_the_loss() -> None:
    config = dataclasses.replace(
        TINY, steps=24, n_specimens=1, augmentation_strength=0.0, checkpoint_every=100
    )
    result = train(config, progress=False)
    assert np.mean(result.losses[-4:]) < 0.8 * np.mean(result.losses[:4])


def test_training_mixes_real_labels() -> None:
    """With real_fraction = 1 every patch comes from the real pairs (here: a volume labelled 'heart' throughout)."""
    from xrai.ml.segmentation import make_training_batch

    config = dataclasses.replace(TINY, real_fraction=1.0, steps=2)
    real = [
        (np.random.default_rng(0).random((40, 36, 36)).astype(np.float32), np.full((40, 36, 36), 3, np.uint8))
    ]
    images, labels = make_training_batch(config, [], 0, real=real)
    assert images.shape == labels.shape == (1, 1, 32, 32, 32)
    assert np.all(labels == 3)
    result = train(config, real=real, progress=False)
    assert result.steps_done == 2 and np.all(np.isfinite(result.losses))
    with pytest.raises(DataError, match="real pair 0"):
        train(config, real=[(real[0][0], real[0][1][:20])], progress=False)


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ValueError, match=r"crop\[y\] = 30"):
        TrainConfig(crop=(64, 30, 48))
    with pytest.raises(ValueError, match="kind = 'frog'"):
        TrainConfig(kind="frog")
    with pytest.raises(ValueError, match="n_classes = 1"):
        build_unet(1)


def test_importing_ml_and_physics_loads_no_torch() -> None:
    code = (
        "import sys, xrai.ml, xrai.analysis, xrai.physics.specimens, xrai.ml.synthetic; "
        "print('torch' in sys.modules, 'monai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
