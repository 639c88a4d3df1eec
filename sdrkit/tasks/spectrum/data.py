"""Spectrum data: scene recordings (``sdrkit dataset spectrum``) and sentences from any SigMF folder.

Geometry (the one setting of the bundled models; the card records it): a sentence is
``ROWS`` x ``NFFT`` on the :class:`sdrkit.dsp.masks.Grid` with ``nfft = NFFT`` and
``average = AVERAGE``, i.e. ``FRAME_LEN = ROWS * NFFT * AVERAGE`` samples (6.55 ms at 20 MS/s),
cut into ``ROWS / TOKEN_ROWS`` tokens. Values are normalized dB: ``(P - q05(P)) / 10`` per
sentence, ``q05`` the 5th percentile (the noise-floor estimate: a median would sit on the signal
when a Wi-Fi or LTE carrier fills most of the band), so the floor sits near 0 whatever the gain.

Splits written by the dataset command (``<out>/<split>/scene_NNNN.sigmf-*``):

* ``train``, ``val``, ``test``: seed family ``seed``, impairment set "default"; a quarter of the
  scenes hold only LTE and NR (the paper's 3-class setting), the rest every emitter kind;
* ``lte_nr``: test scenes with only LTE and NR, for the 3-class figures;
* ``low_snr``: test scenes whose emitters all have an in-band SNR of 0-5 dB;
* ``family``: a different seed family (``seed + 1000``) and the "harsh" impairment set.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from sdrkit.dsp.masks import CLASSES, Grid, mask_from_annotations, recording_boxes, sentence_power
from sdrkit.errors import ConfigError

NFFT = 64
AVERAGE = 32
ROWS = 64
TOKEN_ROWS = 4
FRAME_LEN = ROWS * NFFT * AVERAGE
SAMPLE_RATE = 20e6
CENTER_FREQUENCY = 2.45e9
HORIZON_TOKENS = 4                      # forecasting: the next 4 tokens (16 rows) after 64 past rows
#: split -> (seed offset, impairment set, in-band SNR range dB)
SPLITS = {"train": (0, "default", (0.0, 25.0)), "val": (1, "default", (0.0, 25.0)),
          "test": (2, "default", (0.0, 25.0)), "lte_nr": (3, "default", (0.0, 25.0)),
          "low_snr": (4, "default", (0.0, 5.0)), "family": (1000, "harsh", (0.0, 25.0))}


FLOOR_PERCENTILE = 5.0


def normalize(p: np.ndarray) -> np.ndarray:
    """Normalized dB of a sentence (or a batch of them, last two axes): ``(P - q05) / 10``."""
    med = np.percentile(p.reshape(*p.shape[:-2], -1), FLOOR_PERCENTILE, axis=-1)[..., None, None]
    return ((p - med) / np.float32(10.0)).astype(np.float32)


def write_split(out: Path, split: str, scenes: int, seed: int, duration: float, rates=(SAMPLE_RATE,),
                command: str = "", progress: bool = True) -> list[Path]:
    """Write ``scenes`` labelled scene recordings of one split; returns the meta paths."""
    from tqdm import tqdm

    from sdrkit.capture import write_recording
    from sdrkit.dsp.scene import LABELS, SceneConfig, make_scene, to_annotations

    if split not in SPLITS:
        raise ConfigError(f"split {split!r} must be one of {sorted(SPLITS)}")
    family, imp, snr = SPLITS[split]
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(scenes), desc=f"scenes {split}", disable=not progress, leave=False):
        rng = np.random.default_rng([seed + family, 0 if split == "family" else family, i])
        labels = ("lte", "nr") if split == "lte_nr" or (split != "family" and i % 4 == 3) else LABELS
        fs = float(rates[i % len(rates)])
        cfg = SceneConfig(sample_rate=fs, duration=duration, labels=labels, impairments=imp, snr_db=snr)
        x, em, desc = make_scene(cfg, rng)
        paths.append(write_recording(folder / f"scene_{i:04d}", x, sample_rate=fs, center_frequency=CENTER_FREQUENCY,
                                     annotations=to_annotations(em, CENTER_FREQUENCY), overwrite=True,
                                     description=f"sdrkit busy-band scene ({split}, {imp} impairments)",
                                     extra_global={"command": command, "seed": [seed + family, family, i],
                                                   "scene": desc}))
    return paths


def write_demo(path, seed: int, rate: float = SAMPLE_RATE, command: str = "", frames: int = 5) -> Path:
    """One busy-band scene of ``frames`` live frames as ci16 (peak I/Q at 0.9 of full scale), labelled."""
    from sdrkit.capture import write_recording
    from sdrkit.dsp.scene import SceneConfig, make_scene, to_annotations

    rng = np.random.default_rng([seed, 77])
    x, em, desc = make_scene(SceneConfig(sample_rate=rate, duration=frames * FRAME_LEN / rate), rng)
    peak = float(np.max(np.abs(x.view(np.float32))))
    return write_recording(path, x * np.float32(0.9 / peak), sample_rate=rate, center_frequency=CENTER_FREQUENCY,
                           datatype="ci16_le", annotations=to_annotations(em, CENTER_FREQUENCY), overwrite=True,
                           description="sdrkit busy-band demo scene (LTE/NR/Wi-Fi/BT/narrowband)",
                           extra_global={"command": command, "seed": [seed, 77], "scene": desc})


def recordings(folder) -> list[Path]:
    """Every ``.sigmf-meta`` under ``folder`` (recursively), sorted; a single recording path works too.

    Raises:
        ConfigError: nothing found.
    """
    p = Path(folder)
    found = [p] if p.suffix == ".sigmf-meta" and p.exists() else sorted(p.rglob("*.sigmf-meta")) if p.is_dir() else []
    if not found:
        raise ConfigError(f"no SigMF recordings (*.sigmf-meta) in {folder}; run 'sdrkit dataset spectrum' or pass a "
                          f"folder of recordings")
    return found


def sentences(folder, rows: int = ROWS, stride: int | None = None, labelled: bool = True,
              max_sentences: int | None = None, classes=CLASSES):
    """Sentences (and masks) of every recording under ``folder``.

    Args:
        rows: rows per sentence (80 for forecasting: 64 past + 16 future).
        stride: rows between sentence starts (default ``rows // 2``).
        labelled: also derive masks from the annotations (:mod:`sdrkit.dsp.masks`); False reads
            any recording (unlabelled pretraining).

    Returns:
        ``(X, M, info)``: ``X`` float32 ``(n, 1, rows, NFFT)`` normalized, ``M`` uint8
        ``(n, rows, NFFT)`` or None, ``info`` dict (files, their SHA-256 over metadata, snr per sentence).
    """
    from sdrkit.capture import open_recording

    stride = stride or rows // 2
    xs, ms, snrs, names = [], [], [], []
    h = hashlib.sha256()
    for path in recordings(folder):
        rec = open_recording(path)
        g = Grid(NFFT, AVERAGE, rec.sample_rate)
        h.update(Path(rec.meta_path).read_bytes())
        x = rec.read(0, None, channels=[0] if rec.num_channels > 1 else None)
        x = x[0] if x.ndim > 1 else x
        p = sentence_power(x, g)
        boxes = recording_boxes(rec) if labelled else []
        for r0 in range(0, p.shape[0] - rows + 1, stride):
            xs.append(normalize(p[r0:r0 + rows]))
            if labelled:
                ms.append(mask_from_annotations(boxes, g, r0 * g.row_samples, rows, classes))
                s0, s1 = r0 * g.row_samples, (r0 + rows) * g.row_samples
                vals = [b.priority for b in boxes if b.start < s1 and b.start + b.count > s0]
                snrs.append(min(vals) if vals else np.nan)
            if max_sentences and len(xs) >= max_sentences:
                break
        names.append(Path(rec.meta_path).name)
        rec.close()
        if max_sentences and len(xs) >= max_sentences:
            break
    X = np.stack(xs)[:, None]
    M = np.stack(ms) if labelled else None
    return X, M, {"files": len(names), "meta_sha256": h.hexdigest(), "snr_db": np.array(snrs)}


def describe_geometry() -> dict:
    """The sentence layout as card data."""
    return {"nfft": NFFT, "average": AVERAGE, "rows": ROWS, "token_rows": TOKEN_ROWS, "frame_len": FRAME_LEN,
            "layout": f"(batch, 1, {ROWS} rows, {NFFT} bins) float32: row t = mean linear power of {AVERAGE} "
                      f"{NFFT}-point Hann FFTs (hop {NFFT}), then dB; bins fftshifted (bin {NFFT // 2} = DC)",
            "normalization": "(P_dB - 5th percentile of P_dB) / 10 per sentence (noise-floor estimate), in the "
                             "predictor (numpy)"}


def save_json(path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1, default=float))
