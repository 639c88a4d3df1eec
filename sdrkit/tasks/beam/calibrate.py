"""Calibration sessions: k labelled shots per class from a new front end -> prototypes.

Generic over tasks: any model card whose ``files`` has an ``encoder`` ONNX mapping
``(batch, 2, frame_len)`` float32 I/Q to ``(batch, d)`` embeddings can be calibrated
(``beam``: the ProtoBeam encoder; ``amc``: the AMC model's penultimate features).
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError, DatasetError

MIN_SHOTS = 2


class Embedder:
    """onnxruntime session of a card's ``encoder`` graph."""

    def __init__(self, card, threads: int = 2):
        from sdrkit.runtime.session import onnx_session

        self.card = card
        self.sess = onnx_session(card.file("encoder"), threads=threads)
        self.input = self.sess.get_inputs()[0].name
        self.frame_len = card.input.frame_len

    def __call__(self, frames: np.ndarray, batch: int = 512) -> np.ndarray:
        """complex (n, frame_len) -> float32 (n, d)."""
        from sdrkit.errors import ModelInputMismatch

        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != self.frame_len:
            raise ModelInputMismatch(f"frames of shape {frames.shape} do not match the encoder's frame_len "
                                     f"{self.frame_len} (card {self.card.path}); frame the stream in "
                                     f"{self.frame_len}-sample frames")
        out = []
        for i in range(0, len(frames), batch):
            f = frames[i:i + batch]
            x = np.stack([f.real, f.imag], axis=1).astype(np.float32)
            out.append(self.sess.run(None, {self.input: x})[0])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def frames_from_capture(path, frame_len: int):
    """Whole ``frame_len`` frames under each labelled annotation of a SigMF recording.

    Returns:
        (frames complex64 (n, frame_len), labels list[str], recording global info dict).

    Raises:
        DatasetError: the recording has no labelled annotations.
    """
    from sdrkit.capture import open_recording

    with open_recording(path) as rec:
        labs = [(s, c, l) for s, c, l, _ in rec.labels() if l and l != "gap" and c >= frame_len]
        if not labs:
            raise DatasetError(f"recording {path} has no labelled annotations of >= {frame_len} samples; a "
                               f"calibration needs labelled shots (core:label = class name per frame), e.g. a "
                               f"rig sweep recorded by 'sdrkit calibrate --rig ...' or 'sdrkit dataset beam'")
        data = rec.read()
        frames, labels = [], []
        for s, c, l in labs:
            for j in range(c // frame_len):
                a = s + j * frame_len
                if a + frame_len <= len(data):
                    frames.append(data[a:a + frame_len])
                    labels.append(str(l))
        info = dict(rec.global_info)
    return np.asarray(frames, np.complex64).reshape(-1, frame_len), labels, info


def calibrate(card, frames: np.ndarray, labels, *, shots: int, front_end: str, radio: dict | None = None,
              source: dict | None = None, classes=None, embedder: Embedder | None = None,
              min_shots: int = MIN_SHOTS, proto_norm: bool | None = None):
    """Prototypes from the first ``shots`` labelled frames of each class.

    Raises:
        ConfigError: ``shots`` below ``min_shots``, or a class with fewer than ``shots`` frames.
    """
    from sdrkit.nn.proto import make_prototypes
    from sdrkit.runtime.calibration import Calibration
    from sdrkit.runtime.card import sha256_file

    if shots < min_shots:
        raise ConfigError(f"--shots {shots} is too few: a calibration needs at least {min_shots} labelled shots "
                          f"per class (8 recommended)")
    labels = np.asarray(labels)
    classes = tuple(classes) if classes is not None else tuple(dict.fromkeys(labels.tolist()))
    pick = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) < shots:
            raise ConfigError(f"class {c!r} has only {len(idx)} labelled frames, fewer than --shots {shots}; "
                              f"record more frames per class or lower --shots")
        pick.extend(idx[:shots].tolist())
    pick = np.asarray(pick)
    emb = (embedder or Embedder(card))(frames[pick])
    pn = bool(card.extra.get("proto_norm", True)) if proto_norm is None else proto_norm
    protos, classes = make_prototypes(emb, labels[pick], classes, normalize=pn, min_shots=shots)
    return Calibration(
        task=card.task, front_end=front_end, classes=classes, prototypes=protos, shots=int(shots),
        encoder={"card": str(card.path), "name": card.name, "sha256": sha256_file(card.file("encoder")),
                 "embedding_dim": int(protos.shape[1]), "frame_len": card.input.frame_len,
                 "sample_rate": card.input.sample_rate},
        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        radio=dict(radio or {}), proto_norm=pn, source=dict(source or {}))


def calibrate_capture(card_path, capture, *, shots: int, front_end: str | None = None, out=None,
                      classes=None, radio: dict | None = None):
    """Read a labelled capture, calibrate, and (when ``out``) write the file. Returns (Calibration, seconds)."""
    from sdrkit.runtime.card import load_card

    t0 = time.perf_counter()
    card = load_card(card_path)
    if "encoder" not in card.files:
        raise ConfigError(f"model card {card.path} has no 'encoder' ONNX (embedding graph); prototypes need an "
                          f"embedding model, e.g. models/beam/card.json")
    frames, labels, info = frames_from_capture(capture, card.input.frame_len)
    fe = front_end or info.get("sdrkit:front_end") or "unknown"
    radio = radio or {"uri": info.get("sdrkit:radio_uri", ""), "serial": info.get("sdrkit:serial", "")}
    cal = calibrate(card, frames, labels, shots=shots, front_end=fe, radio=radio, classes=classes,
                    source={"kind": "capture", "path": str(capture)})
    if out:
        cal.save(out)
        cal = cal.__class__(**{**cal.__dict__, "path": str(out)})
    return cal, time.perf_counter() - t0
