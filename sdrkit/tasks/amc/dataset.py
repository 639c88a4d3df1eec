"""AMC data sets as labelled SigMF recordings.

``sdrkit dataset amc --out DIR`` writes ``DIR/{train,val,test}.sigmf-{meta,data}``: frames
of ``frame_len`` samples back to back, sorted by (class, SNR) so that one annotation per
block carries ``core:label`` and ``sdrkit:snr_db`` (286 annotations instead of one per frame).
Samples are ci16 with ``sdrkit:full_scale`` 4096 (18 dB of headroom over the frames' unit
RMS). ``DIR/splits.json`` records sizes, seeds, the generator spec and each file's SHA-256.
Training shuffles frames itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sdrkit.dsp.framing import to_model_input as to_input  # the one complex -> model-input converter
from sdrkit.errors import DatasetError

FULL_SCALE = 4096.0


def write_split(out_dir: Path, split: str, n_frames: int, seed: int, spec, workers=None, command: str = "") -> dict:
    """Generate and write one split; returns its entry for splits.json."""
    from sdrkit.runtime.card import sha256_file
    from sdrkit.tasks.amc.data import make_split

    x, labels, snrs = make_split(n_frames, split, seed, spec, workers=workers)
    base = out_dir / split
    write_frames(base, x, labels, snrs, spec.classes, spec.frame_len,
                 extra_global={"command": command, "seed": seed, "split": split, "spec": spec.to_dict()})
    return {"frames": int(n_frames), "seed": seed, "file": f"{split}.sigmf-data", "family": spec.family,
            "sha256": sha256_file(base.with_name(split + ".sigmf-data"))}


def write_frames(base, x: np.ndarray, labels: np.ndarray, snrs: np.ndarray, classes, frame_len: int,
                 hw: str = "sdrkit AMC synthesizer", extra_global: dict | None = None) -> Path:
    """Write labelled frames as an AMC split recording ``base.sigmf-{meta,data}`` (module
    docstring: sorted by (class, SNR), one annotation per block, ci16); returns the meta path."""
    from sdrkit.capture import RecordingWriter

    base = Path(base)
    order = np.lexsort((snrs, labels))
    with RecordingWriter(base, sample_rate=1e6, center_frequency=0.0, datatype="ci16_le", full_scale=FULL_SCALE,
                         hw=hw, overwrite=True,
                         extra_global={**(extra_global or {}), "frame_len": frame_len, "classes": list(classes)}) as w:
        for i in range(0, len(order), 4096):
            w.write(x[order[i:i + 4096]].ravel())
        ls, ss = labels[order], snrs[order]
        keys = ls * 1000 + (ss + 100).astype(np.int64)
        edges = np.flatnonzero(np.diff(keys)) + 1
        starts = np.r_[0, edges]
        ends = np.r_[edges, len(keys)]
        for a, b in zip(starts, ends):
            w.annotate(int(a) * frame_len, int(b - a) * frame_len, classes[ls[a]],
                       snr_db=float(ss[a]), frames=int(b - a))
    return w.meta_path


class AmcSplit:
    """A split read back: frames are memory-mapped; labels and SNRs expanded per frame."""

    def __init__(self, path):
        from sdrkit.capture import open_recording

        self.rec = open_recording(path)
        g = self.rec.global_info
        try:
            self.frame_len = int(g["sdrkit:frame_len"])
            self.classes = tuple(g["sdrkit:classes"])
        except KeyError as exc:
            raise DatasetError(f"{self.rec.meta_path}: not an sdrkit AMC split (missing {exc}); "
                               f"make one with 'sdrkit dataset amc'") from exc
        n = self.rec.num_samples // self.frame_len
        self.labels = np.full(n, -1, np.int64)
        self.snrs = np.zeros(n, np.float32)
        for start, count, label, fields in self.rec.labels():
            if label not in self.classes:
                raise DatasetError(f"{self.rec.meta_path}: label {label!r} is not one of the split's classes")
            a, b = start // self.frame_len, (start + count) // self.frame_len
            self.labels[a:b] = self.classes.index(label)
            self.snrs[a:b] = fields.get("snr_db", np.nan)
        if (self.labels < 0).any():
            raise DatasetError(f"{self.rec.meta_path}: {int((self.labels < 0).sum())} frames carry no label")

    def __len__(self) -> int:
        return len(self.labels)

    def frames(self, idx) -> np.ndarray:
        """complex64 frames for an index array (sorted internally for locality)."""
        return self.rec.read_frames(idx, self.frame_len)


def _make_hint(data_dir) -> str:
    """How to make ``data_dir``: README's layout is ``data/amc`` = the base family (the AirNet student and
    the base-family target), any other folder (``data/amc_wide``) = the wide family, the training default."""
    fam = "base" if Path(data_dir).name == "amc" else "wide"
    return (f"make the data set with 'sdrkit dataset amc --family {fam} --out {data_dir}' (README: data/amc is the "
            f"base family, data/amc_wide the wide one that 'sdrkit evaluate amc --data data/amc_wide --base-data "
            f"data/amc' scores)")


def load_split(data_dir, split: str) -> AmcSplit:
    """Open ``DIR/<split>.sigmf-meta``.

    Raises:
        DatasetError: missing or not an AMC split.
    """
    p = Path(data_dir) / f"{split}.sigmf-meta"
    if not p.exists():
        raise DatasetError(f"{p} not found; {_make_hint(data_dir)}")
    return AmcSplit(p)


def read_manifest(data_dir) -> dict:
    p = Path(data_dir) / "splits.json"
    if not p.exists():
        raise DatasetError(f"{p} not found; {_make_hint(data_dir)}")
    return json.loads(p.read_text())
