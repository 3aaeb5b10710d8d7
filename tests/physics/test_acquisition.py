"""Acquisition: frame plans, Beer–Lambert through the whole chain, geometry imperfections, timing, configs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import xraylib

from xrai.errors import ConfigError, SamplingWarning
from xrai.physics.acquisition import (
    IMAGE_KEY_DARK,
    IMAGE_KEY_FLAT,
    IMAGE_KEY_PROJECTION,
    CineTomographyScan,
    Imperfections,
    RadiographyScan,
    TomographyScan,
    iter_frames,
    plan_frames,
    simulate_scan,
)
from xrai.physics.detector import Camera, Detector, Optics, Scintillator
from xrai.physics.experiment import (
    BodySample,
    experiment_from_dict,
    experiment_to_dict,
    get_experiment,
    label_volume,
    load_experiment,
)

PIXEL = 1e-6
ENERGY = [20.0]
FLUX = [1e19]  # photons/s/m² → 1e5 photons per 1 µm pixel in 10 ms


class Cylinder:
    """A vertical PMMA cylinder at (x0, y0) in the sample frame, point-sampled (the test's own analytic body)."""

    def __init__(self, radius_m: float, x0_m: float = 0.0, y0_m: float = 0.0, material: str = "pmma") -> None:
        self.radius, self.x0, self.y0, self.material = radius_m, x0_m, y0_m, material

    def chord(self, angle_rad: float, cols_m: np.ndarray) -> np.ndarray:
        s = self.x0 * math.cos(angle_rad) + self.y0 * math.sin(angle_rad)
        return 2 * np.sqrt(np.clip(self.radius**2 - (cols_m - s) ** 2, 0, None))

    def thickness_maps(self, *, angle_rad, time_s, shape, pixel_size_m, center_col):  # type: ignore[no-untyped-def]
        cols = (np.arange(shape[1]) - center_col) * pixel_size_m
        return {self.material: np.broadcast_to(self.chord(angle_rad, cols), shape).astype(np.float64)}


def ideal_detector(shape: tuple[int, int] = (8, 64)) -> Detector:
    camera = Camera(
        n_rows=shape[0],
        n_cols=shape[1],
        pixel_size_m=10e-6,
        quantum_efficiency=1.0,
        electrons_per_count=0.05,
        full_well_electrons=1e9,
        bit_depth=32,
        offset_counts=100.0,
    )
    scintillator = Scintillator(
        material="LSO:Tb", thickness_m=12e-6, light_yield_per_kev=36.0, emission_wavelength_m=545e-9
    )
    return Detector(
        scintillator=scintillator,
        optics=Optics(magnification=10.0, numerical_aperture=0.28),
        camera=camera,
        blur=False,
    )


def step_scan(**changes: object) -> TomographyScan:
    base = TomographyScan(
        n_projections=12, exposure_s=0.01, frame_rate_hz=25.0, n_darks=2, n_flats_before=3, n_flats_after=2
    )
    return dataclasses.replace(base, **changes)


def corrected(scan) -> np.ndarray:  # type: ignore[no-untyped-def]
    dark = scan.darks.mean(axis=0)
    return (scan.projections - dark) / (scan.flats.mean(axis=0) - dark)


def simulate(sample, scan, **options):  # type: ignore[no-untyped-def]
    options.setdefault("imperfections", Imperfections(camera_defects=False))
    return simulate_scan(
        sample,
        scan=scan,
        detector=ideal_detector(),
        energies_kev=ENERGY,
        photons_per_s_m2=FLUX,
        noise=False,
        rng=0,
        **options,
    )


# -- frame plans ---------------------------------------------------------------------------------------------------


def test_image_key_layout_and_angles() -> None:
    scan = TomographyScan(
        n_projections=10,
        angular_range_deg=360.0,
        exposure_s=0.01,
        frame_rate_hz=50.0,
        n_darks=3,
        n_flats_before=4,
        n_flats_after=2,
        n_darks_after=1,
        flat_every=4,
        n_flats_interleaved=2,
        start_angle_deg=10.0,
    )
    plan = plan_frames(scan)
    k = plan.image_key
    expected = [2] * 3 + [1] * 4 + [0] * 4 + [1] * 2 + [0] * 4 + [1] * 2 + [0] * 2 + [1] * 2 + [2]
    assert k.tolist() == expected
    assert plan.counts() == {"projections": 10, "flats": 10, "darks": 4}
    angles = plan.angles_rad[k == IMAGE_KEY_PROJECTION]
    np.testing.assert_allclose(angles, np.deg2rad(10.0 + 36.0 * np.arange(10)))
    np.testing.assert_allclose(plan.times_s, np.arange(k.size) / 50.0)
    assert np.all(plan.sweep_rad == 0)
    assert plan.n_frames == len(expected)


def test_continuous_rotation_sweeps_the_exposure_fraction_of_a_step() -> None:
    plan = plan_frames(
        TomographyScan(n_projections=100, rotation="continuous", exposure_s=0.01, frame_rate_hz=25.0)
    )
    step = np.pi / 100
    projections = plan.image_key == IMAGE_KEY_PROJECTION
    np.testing.assert_allclose(plan.sweep_rad[projections], step * 0.01 * 25.0)
    assert np.all(plan.sweep_rad[~projections] == 0)


def test_cine_frame_timing() -> None:
    scan = CineTomographyScan(
        n_tomograms=3, projections_per_tomogram=40, tomograms_per_s=20.0, n_darks=2, n_flats_before=3
    )
    assert scan.frame_rate_hz == 800.0
    assert scan.exposure_s == pytest.approx(1 / 800.0)
    plan = plan_frames(scan)
    projections = plan.image_key == IMAGE_KEY_PROJECTION
    times = plan.times_s[projections]
    np.testing.assert_allclose(times, (5 + np.arange(120)) / 800.0)
    # one tomogram (180°, 40 projections) every 1/20 s; angles keep increasing
    tomo = plan.tomogram[projections]
    assert tomo.tolist() == [i // 40 for i in range(120)]
    first = [times[tomo == t][0] for t in range(3)]
    np.testing.assert_allclose(np.diff(first), 0.05)
    np.testing.assert_allclose(plan.angles_rad[projections], np.arange(120) * np.pi / 40)
    np.testing.assert_allclose(plan.sweep_rad[projections], np.pi / 40)  # exposure = whole frame period


def test_radiography_time_series_with_beam_decay_and_fluctuations() -> None:
    scan = RadiographyScan(n_frames=40, exposure_s=0.01, frame_rate_hz=50.0, n_darks=1, n_flats_before=0)
    truth: dict[str, object] = {}
    imperfections = Imperfections(beam_lifetime_s=2.0, beam_fluctuation_rms=0.01, camera_defects=False)
    frames = list(
        iter_frames(
            None,
            scan=scan,
            detector=ideal_detector(),
            energies_kev=ENERGY,
            photons_per_s_m2=FLUX,
            imperfections=imperfections,
            rng=3,
            noise=False,
            truth=truth,
        )
    )
    dark = frames[0].counts.mean()
    signal = np.array([f.counts.mean() - dark for f in frames[1:]])
    beam = np.asarray(truth["beam_factor"])[1:]
    np.testing.assert_allclose(signal / signal[0], beam / beam[0], rtol=1e-5)
    t_mid = np.array([f.time_s for f in frames[1:]]) + 0.005
    fluctuation = beam / np.exp(-t_mid / 2.0)
    assert 0.004 < fluctuation.std() < 0.02


# -- physics through the chain -------------------------------------------------------------------------------------


def test_flat_corrected_projection_is_beer_lambert_at_zero_distance() -> None:
    body = Cylinder(20e-6, x0_m=5e-6)
    scan = simulate(body, step_scan())
    mu = xraylib.CS_Total_CP("C5H8O2", 20.0) * 1.18 * 100  # 1/m, PMMA 1.18 g/cm³
    cols = (np.arange(64) - 31.5) * PIXEL
    for k, angle in enumerate(scan.projection_angles_rad):
        expected = np.exp(-mu * body.chord(angle, cols))
        np.testing.assert_allclose(
            corrected(scan)[k], np.broadcast_to(expected, (8, 64)), rtol=2e-5, atol=2e-5
        )


def test_rotation_axis_offset_shifts_the_sinogram_by_the_offset() -> None:
    body = Cylinder(8e-6, x0_m=12e-6, y0_m=-5e-6)
    base = corrected(simulate(body, step_scan()))
    shifted = corrected(
        simulate(body, step_scan(), imperfections=Imperfections(axis_offset_px=3, camera_defects=False))
    )
    np.testing.assert_allclose(shifted[:, :, 3:], base[:, :, :-3], atol=2e-6)  # whole counts of ~1e6
    half = corrected(
        simulate(body, step_scan(), imperfections=Imperfections(axis_offset_px=2.5, camera_defects=False))
    )
    mu = xraylib.CS_Total_CP("C5H8O2", 20.0) * 1.18 * 100
    cols = (np.arange(64) - 31.5 - 2.5) * PIXEL
    angles = plan_frames(step_scan()).angles_rad[plan_frames(step_scan()).image_key == 0]
    expected = np.stack([np.exp(-mu * body.chord(a, cols)) for a in angles])
    np.testing.assert_allclose(half[:, 4, :], expected, rtol=2e-5, atol=2e-5)


def test_axis_tilt_tilts_a_vertical_structure() -> None:
    tilt = 0.05
    body = Cylinder(4e-6)  # on the axis: a vertical line through the axis point
    detector = dataclasses.replace(ideal_detector((64, 64)))
    scan = simulate_scan(
        body,
        scan=step_scan(n_projections=2),
        detector=detector,
        energies_kev=ENERGY,
        photons_per_s_m2=FLUX,
        noise=False,
        rng=0,
        imperfections=Imperfections(axis_tilt_rad=tilt, camera_defects=False),
    )
    absorption = 1 - corrected(scan)[0]
    rows = np.arange(8, 56)
    centroid = (absorption[rows] * np.arange(64)).sum(axis=1) / absorption[rows].sum(axis=1)
    slope = np.polyfit(rows, centroid, 1)[0]
    assert slope == pytest.approx(math.tan(tilt), rel=0.02)
    assert np.polyval(np.polyfit(rows, centroid, 1), 31.5) == pytest.approx(31.5, abs=0.05)


def test_sample_drift_moves_the_projection() -> None:
    body = Cylinder(6e-6)
    scan = RadiographyScan(n_frames=6, exposure_s=0.01, frame_rate_hz=10.0, n_darks=1, n_flats_before=1)
    drift = Imperfections(drift_px_per_s=(3.0, 2.0), camera_defects=False)
    result = simulate(body, scan, imperfections=drift)
    t_mid = result.times_s[result.image_key == IMAGE_KEY_PROJECTION] + 0.005
    np.testing.assert_allclose(
        result.ground_truth["drift_px"][result.image_key == 0], np.outer(t_mid, [3.0, 2.0])
    )
    mu = xraylib.CS_Total_CP("C5H8O2", 20.0) * 1.18 * 100
    for k, t in enumerate(t_mid):
        cols = (np.arange(64) - 31.5 - 2.0 * t) * PIXEL  # the horizontal drift moves the body, exactly
        expected = np.exp(-mu * body.chord(0.0, cols))
        np.testing.assert_allclose(corrected(result)[k, 4], expected, rtol=2e-5, atol=2e-5)


def test_continuous_rotation_integrates_the_angular_sweep() -> None:
    body = Cylinder(3e-6, x0_m=20e-6, material="Fe")  # 20 px from the axis: moves ~5 px within one exposure
    scan = step_scan(n_projections=6, rotation="continuous", exposure_s=0.04, sub_frames=32)
    result = corrected(simulate(body, scan))
    mu = xraylib.CS_Total(26, 20.0) * 7.874 * 100
    cols = (np.arange(64) - 31.5) * PIXEL
    sweep = np.pi / 6 * 0.04 * 25.0
    for k, angle in enumerate(np.arange(6) * np.pi / 6):
        dense = angle + (np.arange(2000) + 0.5) / 2000 * sweep - sweep / 2
        expected = np.mean([np.exp(-mu * body.chord(a, cols)) for a in dense], axis=0)
        np.testing.assert_allclose(result[k, 0], expected, atol=5e-4)
    stepped = corrected(simulate(body, dataclasses.replace(scan, rotation="step")))
    assert stepped[3].min() < result[3].min() - 0.02  # at 90° the body moves fastest: the sweep smears it


def test_beam_profile_drift_makes_flats_differ() -> None:
    scan = step_scan(n_projections=20, n_flats_before=1, n_flats_after=1)
    imperfections = Imperfections(flat_structure_rms=0.05, flat_drift_px_per_s=20.0, camera_defects=False)
    result = simulate(None, scan, imperfections=imperfections)
    dark = result.darks.mean(axis=0)
    first, last = result.flats[0] - dark, result.flats[-1] - dark
    assert np.std(first / first.mean()) == pytest.approx(0.05, rel=0.5)
    assert np.abs(first / last - 1).max() > 0.01


def test_zingers_only_with_noise_and_defects_fixed_over_frames() -> None:
    scan = step_scan(n_projections=4)
    options = {"scan": scan, "detector": ideal_detector(), "energies_kev": ENERGY, "photons_per_s_m2": FLUX}
    quiet = simulate_scan(
        None, noise=False, imperfections=Imperfections(zingers_per_frame=50.0), rng=1, **options
    )
    assert quiet.frames[quiet.image_key == IMAGE_KEY_FLAT].std(axis=0).max() < 1e-6
    noisy = simulate_scan(
        None, noise=True, imperfections=Imperfections(zingers_per_frame=50.0), rng=1, **options
    )
    darks = noisy.frames[noisy.image_key == IMAGE_KEY_DARK]
    assert darks.max() > 100 + 0.2 * 1e9 / 0.05 * 0.5  # a zinger deposits ≥ 0.2 full wells


# -- configurations ------------------------------------------------------------------------------------------------


def test_exposure_longer_than_frame_period_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"exposure_s = 0\.05 s .*frame_rate_hz = 25"):
        TomographyScan(n_projections=10, exposure_s=0.05, frame_rate_hz=25.0)
    with pytest.raises(ConfigError, match=r"frame_rate_hz = 600 Hz .*max_frame_rate_hz = 25"):
        experiment_from_dict(
            {
                "scan": {
                    "kind": "cine",
                    "n_tomograms": 1,
                    "projections_per_tomogram": 30,
                    "tomograms_per_s": 20,
                }
            }
        )


def test_toml_units_validation_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "scan.toml"
    path.write_text(
        'name = "t"\nseed = 3\n[beam]\nenergies_kev = ["12 keV", "20000 eV"]\n'
        '[sample]\nkind = "sphere"\nradius_m = "20 um"\n'
        '[detector]\nshape = [32, 48]\neffective_pixel_size_m = "nominal"\n'
        '[geometry]\ndistance_m = "82 mm"\n'
        '[scan]\nkind = "tomography"\nn_projections = 7\nexposure_s = "15 ms"\nframe_rate_hz = "25 Hz"\n'
        'angular_range_deg = "3.14159265358979 rad"\n'
        '[imperfections]\nbeam_lifetime_s = "10 h"\ndrift_px_per_s = [0.1, -0.2]\n'
    )
    experiment = load_experiment(path)
    assert experiment.geometry.distance_m == pytest.approx(0.082)
    assert experiment.scan.exposure_s == pytest.approx(0.015)
    assert experiment.scan.angular_range_deg == pytest.approx(180.0)
    assert experiment.beam.energies_kev == pytest.approx((12.0, 20.0))
    assert experiment.sample.radius_m == pytest.approx(20e-6)
    assert experiment.imperfections.beam_lifetime_s == pytest.approx(36000.0)
    assert experiment_from_dict(experiment_to_dict(experiment)) == experiment
    import json

    assert experiment_from_dict(json.loads(json.dumps(experiment_to_dict(experiment)))) == experiment


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"scan": {"n_projections": -5, "exposure_s": 0.01, "frame_rate_hz": 25}},
            r"\[scan\] n_projections = -5",
        ),
        ({"scan": {"n_projectons": 5}}, r"\[scan\] unknown field\(s\) \['n_projectons'\]"),
        ({"scan": {"kind": "helical"}}, r"kind = 'helical'"),
        (
            {"scan": {"n_projections": 5, "exposure_s": "5 kg", "frame_rate_hz": 25}},
            r"\[scan\] exposure_s = '5 kg'",
        ),
        (
            {
                "detector": {"shape": [0, 5]},
                "scan": {"n_projections": 5, "exposure_s": 0.01, "frame_rate_hz": 25},
            },
            r"\[detector\] shape = 0",
        ),
        (
            {
                "geometry": {"distance_m": "-1 m"},
                "scan": {"n_projections": 5, "exposure_s": 0.01, "frame_rate_hz": 25},
            },
            r"\[geometry\] distance_m = -1",
        ),
        ({"samples": {}, "scan": {}}, r"unknown section"),
    ],
)
def test_bad_configs_name_section_field_and_value(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        experiment_from_dict(data)


def test_seed_preset_full_size() -> None:
    experiment = get_experiment("wax-needle")
    assert experiment.scan.n_projections == 3000
    assert experiment.geometry.distance_m == pytest.approx(0.082)
    plan = experiment.plan
    assert plan.counts()["projections"] == 3000
    from xrai.physics.experiment import build_detector

    detector = build_detector(experiment.detector)
    assert detector.shape == (2016, 2016)
    assert detector.pixel_size_m == pytest.approx(1.22e-6)


def test_small_preset_runs_and_warns_once_about_the_needle_edge() -> None:
    from xrai.physics.experiment import simulate_experiment

    experiment = get_experiment("wax-needle-small")
    experiment = dataclasses.replace(experiment, scan=dataclasses.replace(experiment.scan, n_projections=6))
    with pytest.warns(SamplingWarning, match="reported once per scan") as caught:
        scan = simulate_experiment(experiment, keep_transmission=True)
    assert len([w for w in caught if issubclass(w.category, SamplingWarning)]) == 1
    assert scan.projections.shape == (6, 128, 128)
    assert scan.frames.dtype == np.float32
    truth = scan.ground_truth
    assert set(truth["label_materials"].values()) == {"paraffin_wax", "steel"}
    assert truth["labels"].shape == (128, 128, 128)
    assert truth["transmission"].shape == (6, 128, 128)
    flats = scan.flats.mean()
    assert 0.3 * 3700 < flats < 3700  # exposed, not saturated


def test_label_volume_of_a_sphere() -> None:
    from xrai.physics.bodies import Sphere

    labels, table = label_volume((Sphere(radius_m=10e-6, material="pmma"),), (32, 32, 32), voxel_size_m=1e-6)
    assert table == {1: "pmma"}
    assert np.count_nonzero(labels) == pytest.approx(4 / 3 * np.pi * 10**3, rel=0.03)
    assert labels[16, 16, 16] == 1 and labels[0, 0, 0] == 0


def test_moving_body_sample_translates() -> None:
    from xrai.physics.bodies import Sphere
    from xrai.physics.motion import LinearTrajectory

    sample = BodySample(
        bodies=(Sphere(radius_m=5e-6, material="pmma"),),
        sampling="point",
        trajectory=LinearTrajectory(velocity_m_s=np.array([1e-3, 0.0, 0.0])),
    )
    before = sample.thickness_maps(
        angle_rad=0.0, time_s=0.0, shape=(32, 32), pixel_size_m=1e-6, center_col=15.5
    )
    after = sample.thickness_maps(
        angle_rad=0.0, time_s=0.004, shape=(32, 32), pixel_size_m=1e-6, center_col=15.5
    )
    np.testing.assert_allclose(after["pmma"][:, 4:], before["pmma"][:, :-4], atol=1e-12)


@pytest.mark.parametrize("deforming", [False, True])
def test_cine_of_a_deforming_voxel_sample(deforming: bool) -> None:
    from xrai.physics.experiment import simulate_experiment

    experiment = experiment_from_dict(
        {
            "beam": {"energies_kev": [20.0, 25.0], "source_blur": False},
            "sample": {
                "kind": "shepp_logan",
                "volume_shape": [16, 24, 24],
                "deformation_max_px": 2.0 if deforming else 0.0,
                "deformation_smoothness_px": 4.0,
                "deformation_period_s": "100 ms",
            },
            "detector": {
                "shape": [16, 24],
                "defects": False,
                "blur": False,
                "camera": {"max_frame_rate_hz": 1000},
            },
            "geometry": {"distance_m": 0.0},
            "scan": {
                "kind": "cine",
                "n_tomograms": 2,
                "projections_per_tomogram": 6,
                "tomograms_per_s": 20,
                "angular_range_deg": 360,
                "n_darks": 1,
                "n_flats_before": 1,
                "sub_frames": 2,
            },
        }
    )
    scan = simulate_experiment(experiment, noise=False, keep_transmission=True)
    transmission = scan.ground_truth["transmission"]
    assert transmission.shape == (12, 16, 24)
    assert scan.tomogram[scan.image_key == 0].tolist() == [0] * 6 + [1] * 6
    same_angle = np.abs(transmission[:6] - transmission[6:]).max()  # 360° per tomogram: angles repeat
    if deforming:
        assert same_angle > 5e-4  # half a deformation period later, the sample has changed
    else:
        assert same_angle < 1e-6
    assert transmission.min() < 0.999  # the (29 µm) head absorbs a little
