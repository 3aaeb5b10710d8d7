"""Detector presets: the seed's indirect detector (LSO:Tb 12 µm, Mitutoyo Plan Apo 10× NA 0.28, PCO.dimax).

Values from the seed's table "Detector system" unless marked *assumed* (not in the seed; typical datasheet values
that the seed's numbers imply or that are usual for the device):

============================  ====================  ===========================================================
quantity                      value                 source
============================  ====================  ===========================================================
scintillator                  LSO:Tb, 12 µm         seed
density                       7.4 g/cm³             seed
light yield                   36 photons/keV        seed
emission peak                 545 nm                seed
refractive index              1.82                  assumed (LSO; Koch et al. 1998)
objective                     10×, NA 0.28          seed (Mitutoyo Plan Apo)
objective transmission        1.0                   assumed (not given)
sensor                        2016 × 2016, 11 µm    seed (PCO.dimax)
quantum efficiency            0.49                  seed (at 525 nm; used at the 545 nm emission)
conversion                    10 e⁻/count           seed
full well                     36 000 e⁻             assumed (PCO.dimax datasheet)
read noise                    22.5 e⁻               full well / dynamic range 1600:1 (seed)
ADC                           12 bit                assumed (PCO.dimax)
black level                   100 counts            assumed
dark current                  100 e⁻/s              assumed (uncooled CMOS; 4 e⁻ in a 40 ms frame)
max frame rate                25 frames/s           seed
PRNU / DSNU                   0.5 % / 2 e⁻           assumed
hot / dead / nonlinear px     1e-4 / 1e-5 / 1e-3    assumed (nonlinearity rms 2 %: weak rings)
============================  ====================  ===========================================================

Effective pixel size. The seed lists 1.22 µm although 11 µm / 10 = 1.1 µm. A Mitutoyo objective is designed
for a 200 mm tube lens; with a 180 mm tube lens the magnification is 9× and 11 µm / 9 = 1.222 µm, which is
likely what the seed's set-up had (our reading, not stated in the seed). :func:`seed_detector` therefore uses
the listed, calibrated **1.22 µm** by default (``effective_pixel_size_m=1.22e-6``); pass
``effective_pixel_size_m=None`` for the nominal 1.1 µm. The magnification stays 10× (the objective's label).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from xrai.errors import ConfigError
from xrai.physics.detector.camera import Camera
from xrai.physics.detector.chain import Detector
from xrai.physics.detector.optics import Optics
from xrai.physics.detector.scintillator import Scintillator

__all__ = [
    "DETECTOR_PRESETS",
    "SEED_EFFECTIVE_PIXEL_SIZE_M",
    "get_detector",
    "ideal_detector",
    "pco_dimax",
    "seed_detector",
]

#: The effective pixel size the seed lists (m); see the module notes.
SEED_EFFECTIVE_PIXEL_SIZE_M = 1.22e-6

_DEFAULT = object()


def pco_dimax(*, shape: tuple[int, int] | None = None, defects: bool = True) -> Camera:
    """The seed's PCO.dimax (2016², 11 µm, QE 0.49, 10 e⁻/count, 1600:1, 25 frames/s), optionally cropped.

    Parameters
    ----------
    shape
        (rows, cols) of a region of interest (default the full 2016 × 2016 sensor).
    defects
        Include the assumed PRNU, DSNU, hot, dead and nonlinear pixels (``False`` = an ideal sensor with the
        same noise and saturation).
    """
    rows, cols = (2016, 2016) if shape is None else (int(shape[0]), int(shape[1]))
    extra: dict[str, Any] = {}
    if defects:
        extra = {
            "prnu": 0.005,
            "dsnu_electrons": 2.0,
            "hot_pixel_fraction": 1e-4,
            "hot_pixel_dark_current_e_per_s": 2e4,
            "dead_pixel_fraction": 1e-5,
            "nonlinear_pixel_fraction": 1e-3,
            "nonlinearity_rms": 0.02,
        }
    return Camera(
        name="PCO.dimax",
        n_rows=rows,
        n_cols=cols,
        pixel_size_m=11e-6,
        quantum_efficiency=0.49,
        electrons_per_count=10.0,
        full_well_electrons=36000.0,
        read_noise_electrons=36000.0 / 1600.0,
        dark_current_e_per_s=100.0,
        offset_counts=100.0,
        bit_depth=12,
        max_frame_rate_hz=25.0,
        **extra,
    )


def seed_detector(
    *,
    shape: tuple[int, int] | None = None,
    effective_pixel_size_m: Any = _DEFAULT,
    defects: bool = True,
) -> Detector:
    """The seed's indirect detector: LSO:Tb 12 µm, Mitutoyo Plan Apo 10× NA 0.28, PCO.dimax.

    Parameters
    ----------
    shape
        Region of interest (rows, cols) of the camera (default the full 2016²).
    effective_pixel_size_m
        Default 1.22 µm (the seed's listed value); ``None`` = nominal 11 µm / 10 = 1.1 µm; or any value (m).
    defects
        Camera fixed-pattern defects on (default) or off.

    Examples
    --------
    >>> det = seed_detector()
    >>> round(det.pixel_size_m * 1e6, 2), round(det.nominal_pixel_size_m * 1e6, 2)
    (1.22, 1.1)
    """
    pixel = SEED_EFFECTIVE_PIXEL_SIZE_M if effective_pixel_size_m is _DEFAULT else effective_pixel_size_m
    return Detector(
        name="seed: LSO:Tb 12 um + Mitutoyo Plan Apo 10x NA 0.28 + PCO.dimax",
        scintillator=Scintillator(
            material="LSO:Tb",
            thickness_m=12e-6,
            density_g_cm3=7.4,
            light_yield_per_kev=36.0,
            emission_wavelength_m=545e-9,
            refractive_index=1.82,
        ),
        optics=Optics(name="Mitutoyo Plan Apo 10x", magnification=10.0, numerical_aperture=0.28),
        camera=pco_dimax(shape=shape, defects=defects),
        effective_pixel_size_m=pixel,
    )


def ideal_detector(detector: Detector) -> Detector:
    """The same detector without camera defects, noise sources or blur (for ground truth and tests)."""
    camera = dataclasses.replace(
        detector.camera,
        prnu=0.0,
        dsnu_electrons=0.0,
        hot_pixel_fraction=0.0,
        dead_pixel_fraction=0.0,
        nonlinear_pixel_fraction=0.0,
        nonlinearity_rms=0.0,
    )
    return dataclasses.replace(detector, camera=camera, blur=False)


#: Preset name -> factory (keyword arguments: shape, effective_pixel_size_m, defects).
DETECTOR_PRESETS: dict[str, Callable[..., Detector]] = {"seed": seed_detector}


def get_detector(name: str, **overrides: Any) -> Detector:
    """A detector preset by name (``"seed"``), with keyword overrides passed to its factory."""
    try:
        factory = DETECTOR_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"detector preset = {name!r} is unknown; available: {sorted(DETECTOR_PRESETS)}"
        ) from None
    return factory(**overrides)
