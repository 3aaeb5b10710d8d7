"""VolumeSample in an acquisition: composition groups and angle blocks change nothing but the speed."""

from __future__ import annotations

import numpy as np
import pytest

from xrai.physics.acquisition import Imperfections, Propagation, TomographyScan, plan_frames, simulate_scan
from xrai.physics.experiment import (
    BeamConfig,
    DetectorConfig,
    VolumeSample,
    build_detector,
    build_spectrum,
)
from xrai.physics.volumes import VoxelSample

SHAPE = (12, 20)
VOXEL = 2e-6


def _sample() -> VoxelSample:
    from xrai.physics.materials import get_material

    tissue = get_material("soft_tissue")
    labels = np.zeros((SHAPE[0], 20, 20), dtype=np.uint8)
    yy, xx = np.mgrid[:20, :20] - 9.5
    labels[:, (yy**2 + xx**2) < 64] = 1
    labels[:, (yy - 2) ** 2 + (xx + 1) ** 2 < 9] = 2
    labels[2:8, (yy + 3) ** 2 + (xx - 3) ** 2 < 4] = 3
    labels[:, 0:2, 0:2] = 4
    materials = {1: tissue, 2: tissue.with_density(1.15), 3: "cortical_bone", 4: tissue.with_density(0.9)}
    return VoxelSample(labels=labels, materials=materials, voxel_size_m=VOXEL)


def _scan(sample: VolumeSample, *, rotation: str = "step", prefetch: bool = False) -> np.ndarray:
    detector = build_detector(
        DetectorConfig(preset="seed", shape=SHAPE, effective_pixel_size_m=VOXEL, defects=False)
    )
    spectrum = build_spectrum(BeamConfig(energies_kev=(12.0, 20.0, 28.0)))
    scan = TomographyScan(
        n_projections=9, exposure_s=0.01, frame_rate_hz=25.0, rotation=rotation,  # type: ignore[arg-type]
        sub_frames=3 if rotation == "continuous" else None, n_darks=1, n_flats_before=1, n_flats_after=1,
    )  # fmt: skip
    if prefetch:  # every angle the acquisition will ask for, in order (sub-frames of continuous rotation too)
        plan = plan_frames(scan)
        angles = []
        for index in np.flatnonzero(plan.image_key == 0):
            sweep = float(plan.sweep_rad[index])
            subs = 3 if sweep > 0 else 1
            angles += [float(plan.angles_rad[index]) + ((s + 0.5) / subs - 0.5) * sweep for s in range(subs)]
        sample.prefetch(angles, shape=SHAPE, pixel_size_m=VOXEL, center_col=(SHAPE[1] - 1) / 2)
    result = simulate_scan(
        sample, scan=scan, detector=detector, energies_kev=spectrum.energies_kev,
        photons_per_s_m2=spectrum.photons_per_s_m2, propagation=Propagation(distance_m=0.0),
        imperfections=Imperfections(camera_defects=False), rng=0, noise=False, keep_transmission=True,
    )  # fmt: skip
    return np.asarray(result.ground_truth["transmission"])


@pytest.mark.parametrize("rotation", ["step", "continuous"])
def test_prefetched_blocks_are_bitwise_one_angle_at_a_time(rotation: str) -> None:
    volume = _sample()
    reference = _scan(VolumeSample(volume=volume), rotation=rotation)
    assert reference.min() < 0.99  # the sample attenuates
    per_angle = 3 * SHAPE[0] * SHAPE[1] * 4  # at most 3 (float32) maps per angle
    for cache_bytes in (64 * 2**20, 4 * per_angle, 0):  # all angles at once, blocks of 4, one at a time
        sample = VolumeSample(volume=volume, cache_bytes=cache_bytes)
        np.testing.assert_array_equal(_scan(sample, rotation=rotation, prefetch=True), reference)
        block = sample._cache["block"][
            1
        ]  # the memory stays bounded: at most cache_bytes of maps (or 1 angle)
        assert len(block) <= max(1, cache_bytes // per_angle)
        if cache_bytes == 0:
            assert len(block) == 1
        elif cache_bytes > 2**20:  # every planned angle was served from the single block
            assert len(block) == (27 if rotation == "continuous" else 9)


def test_composition_groups_change_the_image_only_by_rounding() -> None:
    volume = _sample()
    grouped = _scan(VolumeSample(volume=volume))
    apart = _scan(VolumeSample(volume=volume, group_compositions=False))
    assert apart.min() < 0.99
    np.testing.assert_allclose(grouped, apart, rtol=2e-6)
    maps = VolumeSample(volume=volume).thickness_maps(
        angle_rad=0.3, time_s=0.0, shape=SHAPE, pixel_size_m=VOXEL, center_col=9.5
    )
    assert len(maps) == 2  # soft tissue at three densities is one map, bone the other


def test_maps_are_read_only_and_a_repeated_angle_is_projected_once() -> None:
    sample = VolumeSample(volume=_sample())
    grid = {"shape": SHAPE, "pixel_size_m": VOXEL, "center_col": 9.5}
    first = sample.thickness_maps(angle_rad=0.5, time_s=0.0, **grid)
    again = sample.thickness_maps(angle_rad=0.5, time_s=1.0, **grid)  # a static sample: time does not matter
    assert all(again[key] is first[key] for key in first)
    assert not any(m.flags.writeable for m in first.values())
    other_grid = sample.thickness_maps(angle_rad=0.5, time_s=0.0, **{**grid, "center_col": 10.0})
    assert not np.array_equal(next(iter(other_grid.values())), next(iter(first.values())))


def test_a_deforming_sample_ignores_the_prefetch() -> None:
    volume = _sample()
    field = np.zeros((3, *volume.shape))
    field[2] = 1.5  # shift along x
    grid = {"shape": SHAPE, "pixel_size_m": VOXEL, "center_col": 9.5}
    sample = VolumeSample(volume=volume, displacement_px=field, period_s=0.04)
    sample.prefetch([0.0, 0.1], **grid)
    still = sample.thickness_maps(angle_rad=0.0, time_s=0.0, **grid)
    moved = sample.thickness_maps(angle_rad=0.0, time_s=0.01, **grid)  # a quarter period: amplitude 1
    assert not np.array_equal(still[volume.materials[1]], moved[volume.materials[1]])


def test_samples_pickle_without_their_cache() -> None:
    import pickle

    sample = VolumeSample(volume=_sample(), cache_bytes=10**6)
    grid = {"shape": SHAPE, "pixel_size_m": VOXEL, "center_col": 9.5}
    maps = sample.thickness_maps(angle_rad=0.2, time_s=0.0, **grid)
    copy = pickle.loads(pickle.dumps(sample))  # e.g. sent to a Dask worker
    assert copy._cache == {} and copy.cache_bytes == 10**6
    assert dict(copy.volume.materials) == dict(sample.volume.materials)
    again = copy.thickness_maps(angle_rad=0.2, time_s=0.0, **grid)
    for key in maps:
        np.testing.assert_array_equal(again[key], maps[key])
