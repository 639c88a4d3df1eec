"""The ``aoa`` task: angle of arrival (azimuth, elevation) from the I/Q of a planar array.

A 1-D MobileNetV3-small regressor (:mod:`sdrkit.nn.aoa`), compressed by structured pruning
and int8 quantization, beside 2-D MUSIC and 2-D unitary ESPRIT (:mod:`sdrkit.dsp.doa`), all
behind one predictor contract; drift recalibration from known-direction shots.

Constants shared by the task's modules live here, below all of them.
"""

SAMPLE_RATE = 1e6
CENTER_FREQUENCY = 2.4e9
FRAME_LEN = 256
#: grid cells (degrees) of the coarse direction label a live view shows: centres every CELL_DEG
CELL_DEG = 20.0
ANGLE_MAX = 60.0


def cell_names() -> tuple:
    """Class names of the coarse direction cells: ``az+00_el-20`` ... (azimuth-major)."""
    import numpy as np

    c = np.arange(-ANGLE_MAX, ANGLE_MAX + 1e-9, CELL_DEG)
    return tuple(f"az{int(a):+03d}_el{int(e):+03d}" for a in c for e in c)


def cell_index(az, el):
    """Index into :func:`cell_names` of the cell nearest to each ``(az, el)`` (degrees)."""
    import numpy as np

    n = int(round(2 * ANGLE_MAX / CELL_DEG)) + 1
    ia = np.clip(np.rint((np.asarray(az) + ANGLE_MAX) / CELL_DEG), 0, n - 1).astype(np.int64)
    ie = np.clip(np.rint((np.asarray(el) + ANGLE_MAX) / CELL_DEG), 0, n - 1).astype(np.int64)
    return ia * n + ie
