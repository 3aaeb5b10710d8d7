"""The indirect X-ray detector: scintillator, light optics, camera, and the chain that joins them.

>>> import numpy as np
>>> from xrai.physics.detector import seed_detector, mean_counts
>>> det = seed_detector(shape=(16, 16), defects=False)
>>> counts = mean_counts(np.full((1, 16, 16), 1e4), det, energies_kev=[20.0], exposure_s=0.02)
>>> bool(counts.min() > det.camera.offset_counts)
True
"""

from __future__ import annotations

from xrai.physics.detector.camera import (
    Camera,
    PixelMaps,
    bin_image,
    camera_mean_counts,
    camera_readout,
    check_frame_timing,
    make_pixel_maps,
    zinger_electrons,
)
from xrai.physics.detector.chain import (
    Detector,
    apply_detector_blur,
    conversion_gain,
    detect,
    detect_light,
    detector_otf,
    detector_psf,
    light_weights,
    mean_counts,
)
from xrai.physics.detector.optics import (
    Optics,
    airy_fwhm_m,
    collection_efficiency,
    defocus_mtf,
    diffraction_mtf,
    gaussian_mtf,
    koch_resolution_m,
)
from xrai.physics.detector.presets import (
    DETECTOR_PRESETS,
    SEED_EFFECTIVE_PIXEL_SIZE_M,
    get_detector,
    ideal_detector,
    pco_dimax,
    seed_detector,
)
from xrai.physics.detector.scintillator import (
    Scintillator,
    absorbed_fraction,
    emission_depths,
    visible_photons_per_xray,
)

__all__ = [
    "DETECTOR_PRESETS",
    "SEED_EFFECTIVE_PIXEL_SIZE_M",
    "Camera",
    "Detector",
    "Optics",
    "PixelMaps",
    "Scintillator",
    "absorbed_fraction",
    "airy_fwhm_m",
    "apply_detector_blur",
    "bin_image",
    "camera_mean_counts",
    "camera_readout",
    "check_frame_timing",
    "collection_efficiency",
    "conversion_gain",
    "defocus_mtf",
    "detect",
    "detect_light",
    "detector_otf",
    "detector_psf",
    "diffraction_mtf",
    "emission_depths",
    "gaussian_mtf",
    "get_detector",
    "ideal_detector",
    "koch_resolution_m",
    "light_weights",
    "make_pixel_maps",
    "mean_counts",
    "pco_dimax",
    "seed_detector",
    "visible_photons_per_xray",
    "zinger_electrons",
]
