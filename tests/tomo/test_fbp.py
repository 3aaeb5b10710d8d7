"""FBP, FDK and the back-projection kernel: analytic truths, scikit-image as the peer, numpy ↔ torch parity."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import zarr
from skimage.data import shepp_logan_phantom
from skimage.metrics import structural_similarity
from skimage.transform import iradon, radon, rescale

from xrai.errors import ApproximationWarning, ConfigError, DataError
from xrai.ops.backproject import backproject, backproject_gridding
from xrai.ops.projector import ParallelProjector
from xrai.tomo.fbp import (
    FILTERS,
    angular_weights,
    fourier_filter,
    reconstruct_fbp,
    reconstruct_fdk,
    reconstruct_to_zarr,
    stitch_half_acquisition,
)

torch = pytest.importorskip("torch")

SKIMAGE_FILTERS = {
    "ram-lak": "ramp",
    "shepp-logan": "shepp-logan",
    "cosine": "cosine",
    "hamming": "hamming",
    "hann": "hann",
}


def disc_sinogram(
    n_cols: int, n_angles: int, *, radius: float, mu: float, center: float, full_turn: bool = False
):
    """Exact (pixel-averaged) line integrals of a disc of attenuation ``mu`` centred on the rotation axis."""
    s = np.arange(n_cols) - center
    sub = np.linspace(-0.5, 0.5, 41)[:, None]
    chord = 2 * mu * np.sqrt(np.clip(radius**2 - (s[None, :] + sub) ** 2, 0, None)).mean(axis=0)
    end = 2 * np.pi if full_turn else np.pi
    angles = np.linspace(0, end, n_angles, endpoint=False)
    return np.tile(chord, (n_angles, 1)), angles


def disc_mask(n: int, radius: float) -> np.ndarray:
    c = np.arange(n) - (n - 1) / 2
    return c[:, None] ** 2 + c[None, :] ** 2 < radius**2


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    image = rescale(shepp_logan_phantom(), 0.5, anti_aliasing=True)  # 200 x 200
    return np.pad(image, ((0, 1), (0, 1)))  # odd size: skimage's centre N // 2 is our (N - 1) / 2


# ---------------------------------------------------------------------------------------------- against skimage


def _to_ours(sinogram_skimage: np.ndarray, theta_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """skimage's sinogram [col, angle] with its angles (degrees) → ours: [angle, col], θ = -θ_sk (rad).

    skimage samples t = c' cos θ - r' sin θ for the image pixel (row r, col c), ours s = x cos θ + y sin θ with
    (x, y) = (col, row): the same line for θ_ours = -θ_sk.
    """
    return sinogram_skimage.T.copy(), -np.deg2rad(theta_deg)


@pytest.mark.parametrize("filter_name", list(SKIMAGE_FILTERS))
def test_shepp_logan_no_worse_than_iradon(phantom: np.ndarray, filter_name: str) -> None:
    n = phantom.shape[0]
    theta = np.linspace(0.0, 180.0, 240, endpoint=False)
    sinogram = radon(phantom, theta)
    reference = iradon(sinogram, theta, filter_name=SKIMAGE_FILTERS[filter_name])
    sino, angles = _to_ours(sinogram, theta)
    ours = reconstruct_fbp(sino, angles_rad=angles, center=n // 2, filter_name=filter_name, padding=True)
    circle = disc_mask(n, n // 2)
    ours = np.where(circle, ours, 0.0)  # skimage zeroes outside the reconstruction circle

    def scores(image: np.ndarray) -> tuple[float, float]:
        rmse = float(np.sqrt(np.mean((image - phantom) ** 2)))
        return rmse, float(structural_similarity(image, phantom, data_range=1.0))

    rmse_ours, ssim_ours = scores(ours)
    rmse_ref, ssim_ref = scores(reference)
    assert rmse_ours <= rmse_ref * 1.001
    assert ssim_ours >= ssim_ref - 1e-3
    assert rmse_ours < 0.05  # and both are good reconstructions
    if filter_name != "ram-lak":  # windowed filters oversample by default: strictly better
        assert rmse_ours < 0.97 * rmse_ref and ssim_ours > ssim_ref
    else:  # the bare ramp: exactly skimage's FBP by default, sharper (lower RMSE) when oversampled
        assert abs(rmse_ours - rmse_ref) < 1e-4 * rmse_ref
        sharp = reconstruct_fbp(sino, angles_rad=angles, center=n // 2, oversampling=2)
        assert scores(np.where(circle, sharp, 0.0))[0] < 0.95 * rmse_ref


def test_orientation_matches_the_phantom(phantom: np.ndarray) -> None:
    """An asymmetric object comes back where it was (no flip, no rotation), with our own projector."""
    image = np.zeros((65, 65))
    image[10:20, 40:55] = 1.0  # top right in [y, x]
    angles = np.linspace(0, np.pi, 180, endpoint=False)
    sino = ParallelProjector(image.shape, angles).forward(image)
    rec = reconstruct_fbp(sino, angles_rad=angles)
    assert np.corrcoef(rec.ravel(), image.ravel())[0, 1] > 0.95
    assert rec[15, 47] == pytest.approx(1.0, abs=0.05)


# ------------------------------------------------------------------------------------------------ quantitative


@pytest.mark.parametrize("filter_name", FILTERS)
def test_disc_is_unbiased(filter_name: str) -> None:
    mu, radius, n = 0.02, 50.0, 161
    center = 83.35  # off-centre, sub-pixel axis
    sino, angles = disc_sinogram(n, 300, radius=radius, mu=mu, center=center)
    rec = reconstruct_fbp(sino, angles_rad=angles, center=center, filter_name=filter_name)
    inside = disc_mask(n, radius - 4)
    assert rec[inside].mean() == pytest.approx(mu, rel=2e-3)
    if filter_name == "ram-lak":
        assert rec[inside].std() < 0.005 * mu
    outside = ~disc_mask(n, radius + 4) & disc_mask(n, 75)
    assert abs(rec[outside].mean()) < 0.01 * mu


def test_pixel_size_gives_mu_in_inverse_metres() -> None:
    pixel_size_m = 2.0e-6
    mu_per_m = 800.0  # 1/m
    sino, angles = disc_sinogram(101, 200, radius=30, mu=mu_per_m * pixel_size_m, center=50.0)
    rec = reconstruct_fbp(sino, angles_rad=angles, pixel_size_m=pixel_size_m)
    assert rec[disc_mask(101, 26)].mean() == pytest.approx(mu_per_m, rel=2e-3)


def test_full_turn_is_unbiased_and_equals_half_turn() -> None:
    sino_half, angles_half = disc_sinogram(81, 180, radius=25, mu=0.05, center=40.0)
    sino_full, angles_full = disc_sinogram(81, 360, radius=25, mu=0.05, center=40.0, full_turn=True)
    half = reconstruct_fbp(sino_half, angles_rad=angles_half)
    full = reconstruct_fbp(sino_full, angles_rad=angles_full)
    assert full[disc_mask(81, 21)].mean() == pytest.approx(0.05, rel=2e-3)
    assert np.allclose(full, half, atol=1e-3 * 0.05)


def test_angular_weights() -> None:
    assert np.allclose(angular_weights(np.linspace(0, np.pi, 90, endpoint=False)), np.pi / 90)
    assert np.allclose(angular_weights(np.linspace(0, 2 * np.pi, 90, endpoint=False)), np.pi / 90)
    inclusive = angular_weights(np.linspace(0, np.pi, 91))  # 0° and 180° are the same direction
    assert inclusive[0] == pytest.approx(np.pi / 180) and inclusive[45] == pytest.approx(np.pi / 90)
    uneven = np.array([0.0, 0.1, 0.3, 0.6, 1.0, 1.5, 2.1, 2.6, 3.0])
    w = angular_weights(uneven[::-1])  # order does not matter
    assert w.sum() == pytest.approx(np.pi)
    assert w[-2] == pytest.approx(0.5 * (0.1 + 0.2))  # the angle 0.1 rad: half-gaps 0.05 and 0.1
    limited = angular_weights(np.linspace(0, 2.0, 21))  # 0..115°: the missing wedge is not wrapped
    assert limited.sum() == pytest.approx(2.1) and limited[0] == pytest.approx(0.1)


def test_ramp_filter_is_kak_slaney() -> None:
    filt = fourier_filter(512, "ram-lak")
    f = np.fft.rfftfreq(512)
    assert filt[-1] == pytest.approx(0.5, abs=1e-3)  # |f| at Nyquist
    assert filt[0] > 0  # the spatial-domain ramp keeps a small DC term (no mean bias)
    assert np.allclose(filt[5:], f[5:], atol=2e-3)
    for name in FILTERS:
        assert np.all(fourier_filter(64, name) <= fourier_filter(64, "ram-lak") + 1e-12)


def test_point_at_rotation_centre() -> None:
    """A point on the axis projects onto one column at every angle; FBP puts it back at the centre."""
    n = 63
    image = np.zeros((n, n))
    image[n // 2, n // 2] = 1.0
    angles = np.linspace(0, np.pi, 120, endpoint=False)
    sino = ParallelProjector(image.shape, angles).forward(image)
    assert np.all(np.argmax(sino, axis=1) == n // 2)  # a straight line in the sinogram
    rec = reconstruct_fbp(sino, angles_rad=angles)
    assert np.unravel_index(np.argmax(rec), rec.shape) == (n // 2, n // 2)
    assert np.allclose(rec, rec[::-1, ::-1], atol=1e-6)  # symmetric about the centre
    far = ~disc_mask(n, 3)
    assert rec.max() > 20 * np.abs(rec[far]).max()  # a point, not a streak or a ring


# ----------------------------------------------------------------------------------------- kernel and backends


def test_backproject_matches_direct_interpolation() -> None:
    rng = np.random.default_rng(1)
    proj = rng.random((11, 3, 37))
    proj[:, :, :2] = 0  # linear fall-off outside the detector aside, both agree
    proj[:, :, -2:] = 0
    angles = rng.uniform(0, 2 * np.pi, 11)
    center = 17.3
    out = backproject(proj, angles_rad=angles, center_col=center, n_x=40, n_y=29)
    x = np.arange(40) - 19.5
    y = np.arange(29) - 14.0
    expected = np.zeros((3, 29, 40))
    for a, theta in enumerate(angles):
        s = x[None, :] * np.cos(theta) + y[:, None] * np.sin(theta) + center
        for z in range(3):
            expected[z] += np.interp(s, np.arange(37), proj[a, z], left=0, right=0)
    assert np.allclose(out, expected, atol=1e-10)
    out_torch = backproject(torch.from_numpy(proj), angles_rad=angles, center_col=center, n_x=40, n_y=29)
    assert np.allclose(out_torch.numpy(), expected, atol=1e-10)


def test_pure_torch_kernel_matches_numba_and_is_differentiable() -> None:
    """CPU tensors without gradient run the numba kernel; with ``requires_grad`` (and on CUDA) the torch one."""
    rng = np.random.default_rng(5)
    proj = rng.random((40, 2, 33))
    angles = np.linspace(0, np.pi, 40, endpoint=False)
    ref = reconstruct_fbp(proj, angles_rad=angles, center=15.6, filter_name="hann")  # oversampled x2
    tensor = torch.from_numpy(proj).requires_grad_(True)
    got = reconstruct_fbp(tensor, angles_rad=angles, center=15.6, filter_name="hann")
    assert got.requires_grad
    assert np.allclose(got.detach().numpy(), ref, atol=1e-10)
    weights = torch.from_numpy(rng.random(ref.shape))
    (got * weights).sum().backward()
    assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0
    # FBP is linear: <FBP(p), w> = <p, grad>
    assert float((got.detach() * weights).sum()) == pytest.approx(
        float((tensor.grad * tensor.detach()).sum()), rel=1e-9
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_torch_parity(dtype: str) -> None:
    rng = np.random.default_rng(2)
    proj = rng.random((90, 4, 48)).astype(dtype)
    angles = np.linspace(0, np.pi, 90, endpoint=False)
    for filter_name in ("ram-lak", "parzen"):
        ref = reconstruct_fbp(proj, angles_rad=angles, center=22.7, filter_name=filter_name, chunk_rows=3)
        got = reconstruct_fbp(torch.from_numpy(proj), angles_rad=angles, center=22.7, filter_name=filter_name)
        assert isinstance(got, torch.Tensor) and str(got.dtype) == f"torch.{dtype}"
        assert ref.dtype == np.dtype(dtype)
        tol = 1e-4 if dtype == "float32" else 1e-11
        assert np.allclose(got.numpy(), ref, atol=tol * np.abs(ref).max())


def test_stack_and_sinogram_agree_and_chunks_do_not_matter() -> None:
    rng = np.random.default_rng(3)
    proj = rng.random((60, 5, 32))
    angles = np.linspace(0, np.pi, 60, endpoint=False)
    whole = reconstruct_fbp(proj, angles_rad=angles, chunk_rows=5)
    chunked = reconstruct_fbp(proj, angles_rad=angles, chunk_rows=2)
    assert np.allclose(whole, chunked, rtol=0, atol=1e-12)  # 4-slice and 1-slice kernels round alike
    assert np.allclose(reconstruct_fbp(proj[:, 3], angles_rad=angles), whole[3])
    assert reconstruct_fbp(proj.astype(np.uint16), angles_rad=angles).dtype == np.float32
    assert reconstruct_fbp(proj, angles_rad=angles, output_size=20).shape == (5, 20, 20)


def test_progress_callback_counts_rows() -> None:
    calls: list[tuple[int, int]] = []
    proj = np.ones((10, 5, 16))
    reconstruct_fbp(proj, angles_rad=np.linspace(0, np.pi, 10, endpoint=False), chunk_rows=2,
                    progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert calls == [(2, 5), (4, 5), (5, 5)]


# --------------------------------------------------------------------------------------------------- gridrec


@pytest.mark.parametrize(
    "n", [96, 97]
)  # even and odd slices (the even grid is half a pixel off the FFT grid)
def test_gridding_equals_direct_back_projection(n: int) -> None:
    """Two algorithms for the same sum: on smooth rows linear and band-limited interpolation agree."""
    angles = np.linspace(0, np.pi, 120, endpoint=False)
    cols = np.arange(n + 6)
    center = (n + 5) / 2 - 2.7
    rows = np.stack([np.exp(-(((cols - center - 9 * np.cos(a)) / 20.0) ** 2)) for a in angles])
    direct = backproject(rows, angles_rad=angles, center_col=center, n_x=n)
    fourier = backproject_gridding(rows, angles_rad=angles, center_col=center, n_xy=n, padding=False)
    assert fourier.shape == (n, n)
    assert np.abs(fourier - direct).max() < 1e-3 * np.abs(direct).max()


@pytest.mark.parametrize("filter_name", ["ram-lak", "shepp-logan", "parzen"])
def test_gridrec_is_unbiased_and_matches_oversampled_fbp(filter_name: str) -> None:
    mu, radius, n = 0.02, 50.0, 161
    center = 83.35
    sino, angles = disc_sinogram(n, 300, radius=radius, mu=mu, center=center)
    rec = reconstruct_fbp(sino, angles_rad=angles, center=center, filter_name=filter_name, method="gridrec")
    assert rec[disc_mask(n, radius - 4)].mean() == pytest.approx(mu, rel=2e-3)
    fine = reconstruct_fbp(sino, angles_rad=angles, center=center, filter_name=filter_name, oversampling=8)
    inside = disc_mask(n, 75)
    assert np.abs(rec - fine)[inside].max() < 0.03 * mu


def test_gridrec_no_worse_than_iradon(phantom: np.ndarray) -> None:
    n = phantom.shape[0]
    theta = np.linspace(0.0, 180.0, 240, endpoint=False)
    sinogram = radon(phantom, theta)
    reference = iradon(sinogram, theta, filter_name="shepp-logan")
    sino, angles = _to_ours(sinogram, theta)
    ours = reconstruct_fbp(
        sino, angles_rad=angles, center=n // 2, filter_name="shepp-logan", method="gridrec"
    )
    ours = np.where(disc_mask(n, n // 2), ours, 0.0)
    rmse = [float(np.sqrt(np.mean((image - phantom) ** 2))) for image in (ours, reference)]
    ssim = [float(structural_similarity(image, phantom, data_range=1.0)) for image in (ours, reference)]
    assert rmse[0] < 0.97 * rmse[1] and ssim[0] > ssim[1]
    tensor = reconstruct_fbp(torch.from_numpy(sino), angles_rad=angles, center=n // 2, method="gridrec")
    assert isinstance(tensor, torch.Tensor)
    with pytest.raises(ConfigError, match="method = 'nufft'"):
        reconstruct_fbp(sino, angles_rad=angles, method="nufft")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ half acquisition


@pytest.mark.parametrize("offset_axis", [60 - 1 - 8.25, 8.25])  # near the right, near the left edge
def test_half_acquisition_matches_full_field_scan(offset_axis: float) -> None:
    n = 96
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    image = ((x - 10) ** 2 + (y + 5) ** 2 < 30**2) * 0.02 + ((x + 20) ** 2 + (y - 15) ** 2 < 10**2) * 0.03
    angles_full = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    # detector of 60 columns with the axis 8.25 px from one edge: it sees one side of the sample only
    sino_half = ParallelProjector(image.shape, angles_full, n_cols=60, center_col=offset_axis).forward(image)
    stitched = stitch_half_acquisition(sino_half, angles_rad=angles_full, center=offset_axis)
    assert stitched.projections.shape == (180, 102)  # 2 x (distance to the far edge) + 1
    assert stitched.center == pytest.approx(offset_axis - min(0.0, np.ceil(2 * offset_axis - 59)))
    rec = reconstruct_fbp(
        sino_half, angles_rad=angles_full, center=offset_axis, half_acquisition=True, output_size=n
    )
    angles = angles_full[:180]
    sino_ref = ParallelProjector(image.shape, angles).forward(image)
    ref = reconstruct_fbp(sino_ref, angles_rad=angles)
    inside = disc_mask(n, 45)
    error = np.sqrt(np.mean((rec - ref)[inside] ** 2))
    assert error < 0.03 * 0.02
    assert rec[disc_mask(n, 12) & (np.abs(x - 10) < 5)].mean() == pytest.approx(0.02, rel=0.02)


def test_half_acquisition_needs_a_full_turn() -> None:
    sino = np.ones((90, 40))
    with pytest.raises(ConfigError, match="360"):
        stitch_half_acquisition(sino, angles_rad=np.linspace(0, np.pi, 90, endpoint=False), center=35.0)
    with pytest.raises(ConfigError, match="half_acquisition"):
        reconstruct_fbp(sino, angles_rad=np.linspace(0, 2 * np.pi, 90, endpoint=False), half_acquisition=True)


# ------------------------------------------------------------------------------------------------ streaming


def test_reconstruct_to_zarr_streams_from_hdf5(tmp_path) -> None:
    rng = np.random.default_rng(4)
    truth = rng.random((40, 7, 32)).astype(np.float32)
    flat = np.full((7, 32), 1000.0, dtype=np.float32)
    raw = flat * np.exp(-truth)
    angles = np.linspace(0, np.pi, 40, endpoint=False)
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["data"] = raw
    expected = reconstruct_fbp(truth, angles_rad=angles, center=15.2)
    calls = []

    def preprocess(slab, r0, r1):
        calls.append((r0, r1))
        return -np.log(slab / flat[r0:r1])

    with h5py.File(tmp_path / "scan.h5", "r") as f:
        out = reconstruct_to_zarr(
            f["data"], tmp_path / "volume.zarr", angles_rad=angles, center=15.2, chunk_rows=3,
            preprocess=preprocess, halo_rows=1, progress=False,
        )  # fmt: skip
    assert calls == [(0, 4), (2, 7), (5, 7)]
    volume = zarr.open_array(tmp_path / "volume.zarr", mode="r")
    assert volume.shape == (7, 32, 32) and volume.chunks[0] == 3
    assert np.allclose(volume[:], expected, atol=1e-4)
    assert volume.attrs["center_col"] == pytest.approx(15.2) and volume.attrs["axes"] == ["z", "y", "x"]
    part = reconstruct_to_zarr(
        truth, tmp_path / "part.zarr", angles_rad=angles, center=15.2, rows=(2, 5), progress=False
    )
    assert np.allclose(part[:], expected[2:5], atol=1e-5)
    assert out.shape == (7, 32, 32)


# ------------------------------------------------------------------------------------------------------- FDK


def sphere_cone_projections(angles, *, sod, odd, pixel, n_rows, n_cols, radius, mu, centre):
    """Exact line integrals of a sphere through a cone beam on a flat detector (independent ray tracing)."""
    u = (np.arange(n_cols) - (n_cols - 1) / 2) * pixel
    v = (np.arange(n_rows) - (n_rows - 1) / 2) * pixel
    proj = np.zeros((angles.size, n_rows, n_cols))
    for a, theta in enumerate(angles):
        beam = np.array([-np.sin(theta), np.cos(theta), 0.0])
        e_u = np.array([np.cos(theta), np.sin(theta), 0.0])
        source = -sod * beam
        pixels = (
            source + (sod + odd) * beam + u[None, :, None] * e_u + v[:, None, None] * np.array([0, 0, 1.0])
        )
        rays = pixels - source
        rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
        to_centre = centre - source
        along = rays @ to_centre
        d2 = to_centre @ to_centre - along**2
        proj[a] = 2 * mu * np.sqrt(np.clip(radius**2 - d2, 0, None))
    return proj


def test_fdk_recovers_an_off_centre_sphere() -> None:
    sod, odd, pixel = 0.2, 0.1, 100e-6
    n_rows, n_cols = 40, 64
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    radius, mu = 1.3e-3, 50.0
    centre = np.array([0.4e-3, -0.5e-3, 0.4e-3])  # (x, y, z) in m
    proj = sphere_cone_projections(angles, sod=sod, odd=odd, pixel=pixel, n_rows=n_rows, n_cols=n_cols,
                                   radius=radius, mu=mu, centre=centre)  # fmt: skip
    volume = reconstruct_fdk(
        proj, angles_rad=angles, source_origin_m=sod, origin_detector_m=odd, pixel_size_m=pixel
    )
    assert volume.shape == (n_rows, n_cols, n_cols)
    voxel = pixel * sod / (sod + odd)
    z = (np.arange(n_rows) - (n_rows - 1) / 2) * voxel
    yx = (np.arange(n_cols) - (n_cols - 1) / 2) * voxel
    zz, yy, xx = np.meshgrid(z, yx, yx, indexing="ij")
    distance = np.sqrt((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (zz - centre[2]) ** 2)
    assert volume[distance < radius - 3 * voxel].mean() == pytest.approx(mu, rel=0.01)
    assert abs(volume[(distance > radius + 3 * voxel) & (np.abs(zz) < 0.5e-3)].mean()) < 0.02 * mu
    tensor = reconstruct_fdk(torch.from_numpy(proj), angles_rad=angles, source_origin_m=sod,
                             origin_detector_m=odd, pixel_size_m=pixel)  # fmt: skip
    assert np.allclose(tensor.numpy(), volume)
    with pytest.warns(ApproximationWarning, match="full turn"):
        reconstruct_fdk(proj[:60], angles_rad=angles[:60], source_origin_m=sod, origin_detector_m=odd,
                        pixel_size_m=pixel, volume_shape=(2, 8, 8))  # fmt: skip


# ----------------------------------------------------------------------------------------------- bad input


def test_bad_input_names_field_and_value() -> None:
    sino = np.ones((10, 16))
    angles = np.linspace(0, np.pi, 10, endpoint=False)
    with pytest.raises(ConfigError, match="filter_name = 'butterworth'"):
        reconstruct_fbp(sino, angles_rad=angles, filter_name="butterworth")
    with pytest.raises(ConfigError, match=r"9 values .* 10 angles"):
        reconstruct_fbp(sino, angles_rad=angles[:9])
    with pytest.raises(ConfigError, match="pixel_size_m = -1"):
        reconstruct_fbp(sino, angles_rad=angles, pixel_size_m=-1.0)
    with pytest.raises(ConfigError, match="chunk_rows = 0"):
        reconstruct_fbp(sino, angles_rad=angles, chunk_rows=0)
    with pytest.raises(ConfigError, match="center = 'middle'"):
        reconstruct_fbp(sino, angles_rad=angles, center="middle")
    with pytest.raises(DataError, match="shape"):
        reconstruct_fbp(np.ones(16), angles_rad=angles)
    with pytest.raises(ConfigError, match="source_origin_px"):
        from xrai.ops.backproject import backproject_cone

        backproject_cone(np.ones((2, 4, 4)), angles_rad=[0, 1], source_origin_px=2.0, magnification=1.0,
                         volume_shape=(4, 8, 8))  # fmt: skip
