"""xrai.physics: the virtual imaging experiment (materials, sources, filters, samples, propagation, detector).

Public names load lazily on first attribute access, so ``import xrai.physics`` imports neither scipy, xraylib
nor torch. ``xrai.physics.Material`` imports :mod:`xrai.physics.materials` the first time it is used.

To export a new public name, add one line to :data:`_LAZY` (``"Name": "submodule"``, the module relative to
``xrai.physics``); every submodule is also reachable as an attribute (``xrai.physics.materials``).

Examples
--------
>>> import xrai.physics as xp
>>> water = xp.get_material("water")
>>> bm = xp.BendingMagnet(ring_energy_gev=2.5, field_t=1.5, current_a=0.106, distance_m=30.0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> submodule of xrai.physics that defines it. Extend here (one line per name).
_LAZY: dict[str, str] = {
    # materials
    "ENERGY_RANGE_KEV": "materials",
    "LIBRARY": "materials",
    "MATERIALS_ENV_VAR": "materials",
    "Material": "materials",
    "available_materials": "materials",
    "compound": "materials",
    "get_material": "materials",
    "load_materials": "materials",
    "mixture": "materials",
    "register_material": "materials",
    # spectrum
    "KEV_TO_J": "spectrum",
    "Spectrum": "spectrum",
    "bin_edges": "spectrum",
    "bin_widths": "spectrum",
    "load_spectrum": "spectrum",
    # sources
    "ALPHA": "sources",
    "BendingMagnet": "sources",
    "DCM_BANDWIDTH": "sources",
    "DMM_BANDWIDTH": "sources",
    "ELECTRON_REST_ENERGY_GEV": "sources",
    "Monochromatic": "sources",
    "Source": "sources",
    "TabulatedSource": "sources",
    "Undulator": "sources",
    "Wiggler": "sources",
    "XRayTube": "sources",
    "energy_grid": "sources",
    "lorentz_factor": "sources",
    # filters
    "Filter": "filters",
    "MirrorCutoff": "filters",
    "Optic": "filters",
    "apply_filters": "filters",
    "transmission": "filters",
    # presets
    "Beamline": "presets",
    "PRESETS": "presets",
    "get_preset": "presets",
    "seed_beamline": "presets",
    "seed_spectrum": "presets",
    # bodies
    "Body": "bodies",
    "Box": "bodies",
    "Cone": "bodies",
    "Cylinder": "bodies",
    "Ellipsoid": "bodies",
    "Sphere": "bodies",
    "project_bodies": "bodies",
    "project_slices": "bodies",
    "wax_on_needle": "bodies",
    # volumes
    "MaterialLike": "volumes",
    "VoxelSample": "volumes",
    "project_fractions": "volumes",
    "projected_thickness": "volumes",
    "thickness_stack": "volumes",
    # meshes
    "MeshLike": "meshes",
    "load_mesh": "meshes",
    "mesh_thickness": "meshes",
    "voxelize_mesh": "meshes",
    # phantoms
    "SHEPP_LOGAN_3D": "phantoms",
    "SHEPP_LOGAN_LABELS": "phantoms",
    "SHEPP_LOGAN_MATERIALS": "phantoms",
    "fibres": "phantoms",
    "layered": "phantoms",
    "porous_foam": "phantoms",
    "random_blobs": "phantoms",
    "shepp_logan_3d": "phantoms",
    # specimens
    "FISH_LABELS": "specimens",
    "FISH_ORGANS": "specimens",
    "FishLine": "specimens",
    "PUPA_LABELS": "specimens",
    "PupaConfig": "specimens",
    "Specimen": "specimens",
    "fish_cohort": "specimens",
    "fish_phantom": "specimens",
    "label_attenuation_1_m": "specimens",
    "label_deltas": "specimens",
    "label_densities_g_cm3": "specimens",
    "pupa_phantom": "specimens",
    "smooth_random_field": "specimens",
    # motion
    "ComposedTrajectory": "motion",
    "DropletSequence": "motion",
    "LinearTrajectory": "motion",
    "Pose": "motion",
    "RotationTrajectory": "motion",
    "SplineTrajectory": "motion",
    "Trajectory": "motion",
    "droplet_sequence": "motion",
    "frame_times": "motion",
    "motion_blur": "motion",
    "n_subframes": "motion",
    "rotation_matrix": "motion",
    "subframe_times": "motion",
    # deformation
    "deform": "deformation",
    "deform_sample": "deformation",
    "deformation_sequence": "deformation",
    "jacobian_determinant": "deformation",
    "random_displacement_field": "deformation",
    "rigid_transform": "deformation",
    # propagation
    "HC_KEV_M": "propagation",
    "RefractiveMaterial": "propagation",
    "check_propagation_sampling": "propagation",
    "complex_transmission": "propagation",
    "depth_of_field_m": "propagation",
    "effective_distance_m": "propagation",
    "gaussian_blur": "propagation",
    "magnification": "propagation",
    "min_fft_shape": "propagation",
    "min_pixel_size_m": "propagation",
    "mollifier_cutoff_px": "propagation",
    "mollifier_sigma_px": "propagation",
    "multislice": "propagation",
    "polychromatic_intensity": "propagation",
    "propagate": "propagation",
    "propagator": "propagation",
    "slices_needed": "propagation",
    "source_blur_fwhm_m": "propagation",
    "wavelength_m": "propagation",
    "wavenumber_per_m": "propagation",
    # detector
    "Camera": "detector",
    "DETECTOR_PRESETS": "detector",
    "Detector": "detector",
    "Optics": "detector",
    "PixelMaps": "detector",
    "SEED_EFFECTIVE_PIXEL_SIZE_M": "detector",
    "Scintillator": "detector",
    "absorbed_fraction": "detector",
    "airy_fwhm_m": "detector",
    "apply_detector_blur": "detector",
    "bin_image": "detector",
    "camera_mean_counts": "detector",
    "camera_readout": "detector",
    "check_frame_timing": "detector",
    "collection_efficiency": "detector",
    "conversion_gain": "detector",
    "defocus_mtf": "detector",
    "detect": "detector",
    "detect_light": "detector",
    "detector_otf": "detector",
    "detector_psf": "detector",
    "diffraction_mtf": "detector",
    "emission_depths": "detector",
    "gaussian_mtf": "detector",
    "get_detector": "detector",
    "ideal_detector": "detector",
    "koch_resolution_m": "detector",
    "light_weights": "detector",
    "make_pixel_maps": "detector",
    "mean_counts": "detector",
    "pco_dimax": "detector",
    "seed_detector": "detector",
    "visible_photons_per_xray": "detector",
    "zinger_electrons": "detector",
    # acquisition
    "CineTomographyScan": "acquisition",
    "Frame": "acquisition",
    "FramePlan": "acquisition",
    "IMAGE_KEY_DARK": "acquisition",
    "IMAGE_KEY_FLAT": "acquisition",
    "IMAGE_KEY_PROJECTION": "acquisition",
    "Imperfections": "acquisition",
    "Propagation": "acquisition",
    "RadiographyScan": "acquisition",
    "Sample": "acquisition",
    "ScanConfig": "acquisition",
    "SimulatedScan": "acquisition",
    "TomographyScan": "acquisition",
    "beam_profile": "acquisition",
    "iter_frames": "acquisition",
    "plan_frames": "acquisition",
    "simulate_scan": "acquisition",
    "weighted_intensity": "acquisition",
    # experiment
    "BeamConfig": "experiment",
    "BodySample": "experiment",
    "DetectorConfig": "experiment",
    "EXPERIMENT_PRESETS": "experiment",
    "Experiment": "experiment",
    "SampleConfig": "experiment",
    "VolumeSample": "experiment",
    "build_detector": "experiment",
    "build_sample": "experiment",
    "build_spectrum": "experiment",
    "experiment_from_dict": "experiment",
    "experiment_to_dict": "experiment",
    "get_experiment": "experiment",
    "iter_experiment": "experiment",
    "label_volume": "experiment",
    "load_experiment": "experiment",
    "simulate_experiment": "experiment",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # for type checkers and IDEs; never executed. Keep in step with _LAZY.
    from xrai.physics.acquisition import (  # noqa: F401
        IMAGE_KEY_DARK,
        IMAGE_KEY_FLAT,
        IMAGE_KEY_PROJECTION,
        CineTomographyScan,
        Frame,
        FramePlan,
        Imperfections,
        Propagation,
        RadiographyScan,
        Sample,
        ScanConfig,
        SimulatedScan,
        TomographyScan,
        beam_profile,
        iter_frames,
        plan_frames,
        simulate_scan,
        weighted_intensity,
    )
    from xrai.physics.bodies import (  # noqa: F401
        Body,
        Box,
        Cone,
        Cylinder,
        Ellipsoid,
        Sphere,
        project_bodies,
        project_slices,
        wax_on_needle,
    )
    from xrai.physics.deformation import (  # noqa: F401
        deform,
        deform_sample,
        deformation_sequence,
        jacobian_determinant,
        random_displacement_field,
        rigid_transform,
    )
    from xrai.physics.detector import (  # noqa: F401
        DETECTOR_PRESETS,
        SEED_EFFECTIVE_PIXEL_SIZE_M,
        Camera,
        Detector,
        Optics,
        PixelMaps,
        Scintillator,
        absorbed_fraction,
        airy_fwhm_m,
        apply_detector_blur,
        bin_image,
        camera_mean_counts,
        camera_readout,
        check_frame_timing,
        collection_efficiency,
        conversion_gain,
        defocus_mtf,
        detect,
        detect_light,
        detector_otf,
        detector_psf,
        diffraction_mtf,
        emission_depths,
        gaussian_mtf,
        get_detector,
        ideal_detector,
        koch_resolution_m,
        light_weights,
        make_pixel_maps,
        mean_counts,
        pco_dimax,
        seed_detector,
        visible_photons_per_xray,
        zinger_electrons,
    )
    from xrai.physics.experiment import (  # noqa: F401
        EXPERIMENT_PRESETS,
        BeamConfig,
        BodySample,
        DetectorConfig,
        Experiment,
        SampleConfig,
        VolumeSample,
        build_detector,
        build_sample,
        build_spectrum,
        experiment_from_dict,
        experiment_to_dict,
        get_experiment,
        iter_experiment,
        label_volume,
        load_experiment,
        simulate_experiment,
    )
    from xrai.physics.filters import (  # noqa: F401
        Filter,
        MirrorCutoff,
        Optic,
        apply_filters,
        transmission,
    )
    from xrai.physics.materials import (  # noqa: F401
        ENERGY_RANGE_KEV,
        LIBRARY,
        MATERIALS_ENV_VAR,
        Material,
        available_materials,
        compound,
        get_material,
        load_materials,
        mixture,
        register_material,
    )
    from xrai.physics.meshes import (  # noqa: F401
        MeshLike,
        load_mesh,
        mesh_thickness,
        voxelize_mesh,
    )
    from xrai.physics.motion import (  # noqa: F401
        ComposedTrajectory,
        DropletSequence,
        LinearTrajectory,
        Pose,
        RotationTrajectory,
        SplineTrajectory,
        Trajectory,
        droplet_sequence,
        frame_times,
        motion_blur,
        n_subframes,
        rotation_matrix,
        subframe_times,
    )
    from xrai.physics.phantoms import (  # noqa: F401
        SHEPP_LOGAN_3D,
        SHEPP_LOGAN_LABELS,
        SHEPP_LOGAN_MATERIALS,
        fibres,
        layered,
        porous_foam,
        random_blobs,
        shepp_logan_3d,
    )
    from xrai.physics.presets import (  # noqa: F401
        PRESETS,
        Beamline,
        get_preset,
        seed_beamline,
        seed_spectrum,
    )
    from xrai.physics.propagation import (  # noqa: F401
        HC_KEV_M,
        RefractiveMaterial,
        check_propagation_sampling,
        complex_transmission,
        depth_of_field_m,
        effective_distance_m,
        gaussian_blur,
        magnification,
        min_fft_shape,
        min_pixel_size_m,
        mollifier_cutoff_px,
        mollifier_sigma_px,
        multislice,
        polychromatic_intensity,
        propagate,
        propagator,
        slices_needed,
        source_blur_fwhm_m,
        wavelength_m,
        wavenumber_per_m,
    )
    from xrai.physics.sources import (  # noqa: F401
        ALPHA,
        DCM_BANDWIDTH,
        DMM_BANDWIDTH,
        ELECTRON_REST_ENERGY_GEV,
        BendingMagnet,
        Monochromatic,
        Source,
        TabulatedSource,
        Undulator,
        Wiggler,
        XRayTube,
        energy_grid,
        lorentz_factor,
    )
    from xrai.physics.specimens import (  # noqa: F401
        FISH_LABELS,
        FISH_ORGANS,
        PUPA_LABELS,
        FishLine,
        PupaConfig,
        Specimen,
        fish_cohort,
        fish_phantom,
        label_attenuation_1_m,
        label_deltas,
        label_densities_g_cm3,
        pupa_phantom,
        smooth_random_field,
    )
    from xrai.physics.spectrum import (  # noqa: F401
        KEV_TO_J,
        Spectrum,
        bin_edges,
        bin_widths,
        load_spectrum,
    )
    from xrai.physics.volumes import (  # noqa: F401
        MaterialLike,
        VoxelSample,
        project_fractions,
        projected_thickness,
        thickness_stack,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"xrai.physics.{module}"), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    if name.isidentifier() and not name.startswith("__"):  # a submodule, e.g. xrai.physics.materials
        try:
            return importlib.import_module(f"xrai.physics.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"xrai.physics.{name}":
                raise
    raise AttributeError(f"module 'xrai.physics' has no attribute {name!r}")


def __dir__() -> list[str]:
    import pkgutil

    return sorted({*__all__, *(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))})
