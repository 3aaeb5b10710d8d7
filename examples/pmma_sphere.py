"""The seed's syris example in xrai: a PMMA sphere, 10–29 keV, unit flat spectrum, 0.4 µm pixels, 2 m.

python examples/pmma_sphere.py --n 1024 --out image.npy [--mollified]
"""

import argparse

import numpy as np

from xrai.physics.bodies import Sphere, project_bodies
from xrai.physics.propagation import polychromatic_intensity

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--n", type=int, default=1024)
parser.add_argument("--out", default="image.npy")
parser.add_argument("--mollified", action="store_true", help="syris's Gaussian mollifier on the propagator")
args = parser.parse_args()

energies = np.arange(10, 30)  # keV
n, pixel_size, distance = args.n, 0.4e-6, 2.0  # m
sample = Sphere(radius_m=n / 4 * pixel_size, material="pmma")  # xraylib C5H8O2, 1.18 g/cm³
thickness = project_bodies([sample], (n, n), pixel_size_m=pixel_size)
image = polychromatic_intensity(
    thickness, energies_kev=energies, distance_m=distance, pixel_size_m=pixel_size, mollified=args.mollified
)
np.save(args.out, image.astype(np.float32))
