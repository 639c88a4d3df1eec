"""AoA data sets: seeded splits of the planar-array simulator, written as multi-channel SigMF.

One recording per split, ``core:num_channels`` = array elements; every frame of
``frame_len`` samples is one annotation: ``core:label`` = the coarse direction cell
(:func:`sdrkit.tasks.aoa.cell_names`), and ``sdrkit:azimuth_deg``, ``elevation_deg``,
``snr_db``, ``temp_c``, ``waveform``. The global fields record the array, the front end, the
scene, the split's seed and the command. Split ``k`` draws from the stream ``(seed, k)``.

Splits: ``train``, ``val`` (held out: int8 calibration, pruning sensitivity, early choice),
``test`` (cold front end, the accuracy figures), ``hot`` (the same front end 30..40 degC
above its calibration temperature), ``calib_hot`` (known-direction shots at the hot
temperature for a calibration session: SNR 20 dB, a tone or a modulation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrkit.dsp.array import COLD_C, HOT_C, ArrayGeometry, Scene, get_front_end, simulate
from sdrkit.errors import DatasetError
from sdrkit.tasks.aoa import CENTER_FREQUENCY, SAMPLE_RATE, cell_index, cell_names

SPLIT_IDS = {"train": 0, "val": 1, "test": 2, "hot": 3, "calib_hot": 4, "calib_cold": 5}
#: the hot split's temperature, and the calibration shots' (one session: one temperature)
HOT_SESSION_C = 35.0


@dataclass(frozen=True)
class Split:
    """Frames of one split and their truth."""

    x: np.ndarray                      # complex64 (n, elements, frame_len)
    az: np.ndarray                     # (n,) degrees
    el: np.ndarray
    snr_db: np.ndarray
    temp_c: np.ndarray
    waveform: tuple = ()
    path: str = ""


def scene_for(split: str, geometry: ArrayGeometry, frame_len: int) -> Scene:
    """The scene a split is drawn from."""
    base = Scene(geometry=geometry, frame_len=frame_len)
    if split == "hot":
        return base.replace(temp_c=HOT_C)
    if split == "calib_hot":
        return base.replace(temp_c=(HOT_SESSION_C, HOT_SESSION_C), snr_db=(20.0, 20.0), reflectors=(0, 0),
                            waveforms=("tone", "modulation"))
    if split == "calib_cold":
        return base.replace(snr_db=(20.0, 20.0), reflectors=(0, 0), waveforms=("tone", "modulation"))
    return base.replace(temp_c=COLD_C)


def make_split(split: str, n: int, seed: int, geometry: ArrayGeometry, front_end: str, frame_len: int) -> Split:
    """Simulate ``n`` frames of ``split`` (stream ``(seed, SPLIT_IDS[split])``)."""
    fe = get_front_end(front_end, geometry.elements)
    rng = np.random.default_rng([seed, SPLIT_IDS[split]])
    x, t = simulate(scene_for(split, geometry, frame_len), fe, n, rng)
    return Split(x=x, az=t["az"][:, 0], el=t["el"][:, 0], snr_db=t["snr_db"], temp_c=t["temp_c"],
                 waveform=tuple(t["waveform"]))


def write_split(path, s: Split, *, split: str, geometry: ArrayGeometry, front_end: str, seed: int,
                command: str = "", frame_len: int | None = None) -> Path:
    """Write a split as one multi-channel SigMF recording (module docstring); returns the meta path."""
    from sdrkit.capture import write_recording

    n, E, N = s.x.shape
    names = cell_names()
    cells = cell_index(s.az, s.el)
    ann = [{"start": i * N, "count": N, "label": names[cells[i]], "azimuth_deg": round(float(s.az[i]), 4),
            "elevation_deg": round(float(s.el[i]), 4), "snr_db": round(float(s.snr_db[i]), 3),
            "temp_c": round(float(s.temp_c[i]), 3), "waveform": s.waveform[i] if s.waveform else ""}
           for i in range(n)]
    data = np.ascontiguousarray(s.x.transpose(1, 0, 2).reshape(E, n * N))
    return write_recording(Path(path), data, sample_rate=SAMPLE_RATE, center_frequency=CENTER_FREQUENCY,
                           annotations=ann, overwrite=True,
                           description=f"aoa {split}: {n} frames of {N} samples, {geometry.rows}x{geometry.cols} "
                                       f"URA, front end {front_end}",
                           extra_global={"front_end": front_end, "split": split, "seed": seed, "frame_len": N,
                                         "array": geometry.to_dict(), "command": command,
                                         "radio_uri": "sim:aoa"})


def read_split(path, frame_len: int | None = None) -> Split:
    """Frames and truth of a recording written by :func:`write_split` (or any multi-channel
    recording whose annotations carry ``sdrkit:azimuth_deg`` and ``sdrkit:elevation_deg``).

    Raises:
        DatasetError: no frames with angles.
    """
    from sdrkit.capture import open_recording

    with open_recording(path) as rec:
        N = int(frame_len or rec.global_info.get("sdrkit:frame_len") or 0)
        labs = [(s, c, f) for s, c, _, f in rec.labels() if "azimuth_deg" in f and "elevation_deg" in f and c >= N > 0]
        if not labs:
            raise DatasetError(f"recording {path} has no frames annotated with sdrkit:azimuth_deg/elevation_deg of "
                               f">= {N} samples; write one with 'sdrkit dataset aoa'")
        data = rec.read()
        if data.ndim == 1:
            data = data[None]
    starts = np.array([s for s, _, _ in labs])
    idx = starts[:, None] + np.arange(N)[None, :]
    x = data[:, idx].transpose(1, 0, 2)
    f = [f for _, _, f in labs]
    g = lambda k: np.array([float(d.get(k, np.nan)) for d in f])  # noqa: E731
    return Split(x=np.ascontiguousarray(x, np.complex64), az=g("azimuth_deg"), el=g("elevation_deg"),
                 snr_db=g("snr_db"), temp_c=g("temp_c"), waveform=tuple(str(d.get("waveform", "")) for d in f),
                 path=str(path))


def data_hash(path) -> str:
    """SHA-256 of a recording's data file (first 16 hex digits)."""
    p = Path(str(path).replace(".sigmf-meta", ".sigmf-data"))
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def split_path(data_dir, split: str) -> Path:
    """``<data>/<split>.sigmf-meta``; refuses a missing one with the command that makes it.

    Raises:
        DatasetError: the file is missing.
    """
    p = Path(data_dir) / f"{split}.sigmf-meta"
    if not p.exists():
        raise DatasetError(f"{p} not found; make the data set first: sdrkit dataset aoa --out {data_dir}")
    return p
