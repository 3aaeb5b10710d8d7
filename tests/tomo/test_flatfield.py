"""Flat-field correction against analytic transmissions; interpolation of drifting flats; bad pixels; zingers."""

from __future__ import annotations

import numpy as np
import pytest

from xrai.errors import ConfigError, DataError
from xrai.tomo import flat_field_correct, minus_log, remove_zingers

ROWS, COLS = 6, 32


def _setup(n: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.5, 1.5, (ROWS, COLS))  # pixel gain (scintillator, optics, beam profile)
    dark = rng.uniform(90.0, 110.0, (ROWS, COLS))  # dark offset pattern
    transmission = rng.uniform(0.05, 1.0, (n, ROWS, COLS))
    return {"gain": gain, "dark": dark, "T": transmission}


def test_exact_transmission_for_known_beam_gain_and_dark() -> None:
    s = _setup()
    i0 = 1000.0
    flats = np.stack([i0 * s["gain"] + s["dark"]] * 4)
    darks = np.stack([s["dark"]] * 3)
    proj = s["T"] * i0 * s["gain"] + s["dark"]
    out = flat_field_correct(proj, flats, darks, dtype="float64")
    np.testing.assert_allclose(out, s["T"], rtol=1e-12)
    # float32 default, single image accepted
    out1 = flat_field_correct(proj[3], flats, darks)
    assert out1.dtype == np.float32 and out1.shape == (ROWS, COLS)
    np.testing.assert_allclose(out1, s["T"][3], rtol=1e-5)


def test_flats_before_and_after_are_interpolated_by_projection_index() -> None:
    n = 10
    s = _setup(n)
    i0_before, i0_after = 1000.0, 1300.0  # the beam brightens during the scan
    w = (np.arange(n) + 0.5) / n  # projection i sits between the flats at -0.5 and n - 0.5
    i0 = i0_before + (i0_after - i0_before) * w
    proj = s["T"] * i0[:, None, None] * s["gain"] + s["dark"]
    flats_before = np.stack([i0_before * s["gain"] + s["dark"]] * 2)
    flats_after = np.stack([i0_after * s["gain"] + s["dark"]] * 3)
    darks = s["dark"][None]
    out = flat_field_correct(proj, flats_before, darks, flats_after=flats_after, dtype="float64")
    np.testing.assert_allclose(out, s["T"], rtol=1e-12)
    # without the flats after, the drift biases the result by up to 30 %
    biased = flat_field_correct(proj, flats_before, darks, dtype="float64")
    assert np.max(np.abs(biased / s["T"] - 1)) > 0.2
    # the same through flat_positions (as xrai.io.Scan gives them), and for a block of angles
    flats = np.concatenate([flats_before, flats_after])
    positions = [-0.5] * 2 + [n - 0.5] * 3
    out2 = flat_field_correct(proj, flats, darks, flat_positions=positions, dtype="float64")
    np.testing.assert_allclose(out2, s["T"], rtol=1e-12)
    block = flat_field_correct(proj[4:7], flats, darks, flat_positions=positions, projection_indices=[4, 5, 6],
                               dtype="float64")  # fmt: skip
    np.testing.assert_allclose(block, s["T"][4:7], rtol=1e-12)


def test_interleaved_flat_groups() -> None:
    n = 20
    s = _setup(n, seed=1)
    # piecewise-linear beam: 1000 at the start, 800 at the interleaved flats after projection 9, 1100 at the end
    knots_pos = np.array([-0.5, 9.5, 19.5])
    knots_i0 = np.array([1000.0, 800.0, 1100.0])
    i0 = np.interp(np.arange(n), knots_pos, knots_i0)
    proj = s["T"] * i0[:, None, None] * s["gain"] + s["dark"]
    flats = np.concatenate([np.stack([v * s["gain"] + s["dark"]] * 2) for v in knots_i0])
    positions = np.repeat(knots_pos, 2)
    out = flat_field_correct(proj, flats, s["dark"][None], flat_positions=positions, dtype="float64")
    np.testing.assert_allclose(out, s["T"], rtol=1e-12)


def test_dead_and_zero_pixels_never_give_inf_or_nan() -> None:
    s = _setup(4)
    i0 = 1000.0
    # a transmission linear along the row: dead pixels are recovered exactly by row interpolation
    t_profile = np.linspace(0.2, 0.9, COLS)
    T = np.broadcast_to(t_profile, (4, ROWS, COLS))
    flats = np.stack([i0 * s["gain"] + s["dark"]] * 2)
    flats[:, 2, 5] = 0.0  # dead pixel: flat below dark
    flats[:, 3, :2] = s["dark"][3, :2]  # dead at the row start: flat == dark
    proj = T * i0 * s["gain"] + s["dark"]
    proj[1, 4, 7] = 0.0  # a zero count (T < 0 after dark subtraction): kept finite
    out = flat_field_correct(proj, flats, s["dark"][None], dtype="float64")
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 2, 5], t_profile[5], rtol=1e-12)  # interpolated between cols 4 and 6
    np.testing.assert_allclose(out[:, 3, :2], t_profile[2], rtol=1e-12)  # edge: nearest good pixel
    assert out[1, 4, 7] < 0
    att = minus_log(out)
    assert np.all(np.isfinite(att))
    assert att[1, 4, 7] == pytest.approx(-np.log(1e-6))
    # flats that are all zero: no information anywhere, still finite (1.0 = no attenuation)
    out0 = flat_field_correct(proj, np.zeros_like(flats), np.zeros((1, ROWS, COLS)))
    assert np.all(out0 == 1.0)


def test_saturated_pixels_are_filled_along_the_row() -> None:
    s = _setup(3)
    t_profile = np.linspace(0.3, 0.95, COLS)
    flats = np.stack([30000 * s["gain"] + s["dark"]] * 2).astype(np.uint16)
    proj = (t_profile * 30000 * s["gain"] + s["dark"]).astype(np.uint16)
    proj = np.broadcast_to(proj, (3, ROWS, COLS)).copy()
    proj[0, 1, 10] = 65535  # saturated in one projection
    flats[1, 4, 20] = 65535  # saturated in one flat: dead for all projections
    out = flat_field_correct(proj, flats, s["dark"][None].astype(np.uint16), dtype="float64")
    ref = flat_field_correct(proj[1:2], flats[:1], s["dark"][None].astype(np.uint16), dtype="float64")[0]
    assert out[0, 1, 10] == pytest.approx(0.5 * (ref[1, 9] + ref[1, 11]), rel=1e-9)
    assert np.all(np.abs(out[:, 4, 20] - 0.5 * (ref[4, 19] + ref[4, 21])) < 1e-9)
    # rounding to integer counts aside, the transmission is recovered
    np.testing.assert_allclose(ref, np.broadcast_to(t_profile, (ROWS, COLS)), rtol=2e-3)


def test_dynamic_flat_field_removes_changing_flat_structure() -> None:
    rng = np.random.default_rng(5)
    rows, cols = 48, 48
    yy, xx = np.mgrid[:rows, :cols]
    base = 1000.0 * (1 + 0.3 * np.exp(-((xx - 24) ** 2) / 400.0))
    modes = np.stack([60.0 * np.sin(2 * np.pi * yy / 12.0), 60.0 * np.sin(2 * np.pi * (xx + yy) / 9.0)])

    def flat(w: np.ndarray) -> np.ndarray:
        return base + np.tensordot(w, modes, axes=1)

    flats = np.stack([flat(rng.normal(0, 1, 2)) for _ in range(20)])
    # a disc of transmission 0.6 on open beam
    T = np.where((xx - 20) ** 2 + (yy - 26) ** 2 < 12**2, 0.6, 1.0)
    weights = np.array([[1.5, -1.0], [-2.0, 0.5], [0.3, 1.8]])
    proj = np.stack([T * flat(w) for w in weights])
    static = flat_field_correct(proj, flats, None, dtype="float64")
    dynamic = flat_field_correct(proj, flats, None, dynamic_components=2, dtype="float64")
    err_static = np.sqrt(np.mean((static - T) ** 2))
    err_dynamic = np.sqrt(np.mean((dynamic - T) ** 2))
    assert err_dynamic < 0.1 * err_static
    assert err_dynamic < 2e-3
    with pytest.raises(ConfigError, match=r"dynamic_components = 5 needs at least 6 flats, got 3"):
        flat_field_correct(proj, flats[:3], None, dynamic_components=5)


def test_bad_input_is_named() -> None:
    s = _setup(2)
    proj = s["T"] * 1000 + 100
    with pytest.raises(DataError, match=r"flats frames have shape \(6, 31\), projections have \(6, 32\)"):
        flat_field_correct(proj, np.ones((2, ROWS, COLS - 1)), None)
    with pytest.raises(DataError, match=r"darks frames have shape"):
        flat_field_correct(proj, np.ones((2, ROWS, COLS)), np.ones((1, ROWS + 1, COLS)))
    with pytest.raises(DataError, match=r"projections: dtype complex128 is not allowed"):
        flat_field_correct(proj.astype(complex), np.ones((2, ROWS, COLS)), None)
    with pytest.raises(ConfigError, match=r"reduce = 'max' is not allowed"):
        flat_field_correct(proj, np.ones((2, ROWS, COLS)), None, reduce="max")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="either flats_after or flat_positions"):
        flat_field_correct(proj, np.ones((2, ROWS, COLS)), None, flats_after=np.ones((1, ROWS, COLS)),
                           flat_positions=[0, 1])  # fmt: skip
    with pytest.raises(DataError, match="flat_positions has 3 entries for 2 flats"):
        flat_field_correct(proj, np.ones((2, ROWS, COLS)), None, flat_positions=[0, 1, 2])
    with pytest.raises(ConfigError, match=r"min_transmission = 0 is not allowed"):
        minus_log(proj, min_transmission=0)


def test_median_reduce_ignores_a_zinger_in_one_flat() -> None:
    s = _setup(2)
    flats = np.stack([1000 * s["gain"] + s["dark"]] * 5)
    flats[2, 1, 1] += 50000
    proj = s["T"] * 1000 * s["gain"] + s["dark"]
    out = flat_field_correct(proj, flats, s["dark"][None], reduce="median", dtype="float64")
    np.testing.assert_allclose(out, s["T"], rtol=1e-12)


def test_remove_zingers_replaces_only_outliers() -> None:
    rng = np.random.default_rng(2)
    clean = rng.poisson(1000.0, (4, 64, 64)).astype(np.float32)
    img = clean.copy()
    hits = (rng.integers(0, 4, 30), rng.integers(1, 63, 30), rng.integers(1, 63, 30))
    img[hits] += 5000.0
    out = remove_zingers(img)
    assert np.all(out[hits] < 1200)  # replaced by the local median
    changed = out != img
    changed[hits] = False
    assert changed.mean() < 1e-3  # noise is (almost) untouched
    # integer input stays integer; absolute threshold
    out_int = remove_zingers(img.astype(np.uint16), threshold=2000)
    assert out_int.dtype == np.uint16 and np.all(out_int[hits] < 1200)
    with pytest.raises(ConfigError, match="kernel_size = 4 is not allowed: must be odd"):
        remove_zingers(img, kernel_size=4)


def test_numpy_torch_parity() -> None:
    torch = pytest.importorskip("torch")
    s = _setup(5)
    flats = np.stack([1000 * s["gain"] + s["dark"]] * 2)
    flats[0, 2, 2] = 0
    after = np.stack([1100 * s["gain"] + s["dark"]] * 2)
    proj = s["T"] * 1000 * s["gain"] + s["dark"]
    proj[1, 3, 3] = 70000
    args = (proj, flats, s["dark"][None])
    ref = flat_field_correct(*args, flats_after=after, saturation_value=65535)
    got = flat_field_correct(*(torch.from_numpy(a) for a in args), flats_after=torch.from_numpy(after),
                             saturation_value=65535)  # fmt: skip
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(minus_log(got).numpy(), minus_log(ref), rtol=1e-6)
    z = remove_zingers(torch.from_numpy(proj.astype(np.float32)))
    np.testing.assert_array_equal(z.numpy(), remove_zingers(proj.astype(np.float32)))
