"""Calibration files: class prototypes for a frozen encoder on one RF front end.

A calibration is plain JSON (no pickle), versioned, and validated on load::

    {
      "calibration_version": 1,
      "task": "beam",
      "front_end": "fe-b",
      "radio": {"uri": "sim:...", "serial": "..."},
      "date": "2026-11-24T13:40:00Z",
      "shots": 8,                                  # labelled shots per class used
      "classes": ["beam00", ...],
      "prototypes": [[...], ...],                  # (classes, embedding_dim) float
      "proto_norm": true,
      "encoder": {"card": "models/beam/card.json", "name": "...", "sha256": "<encoder ONNX sha256>",
                  "embedding_dim": 64, "frame_len": 1024, "sample_rate": 1e6},
      "source": {"kind": "capture" | "rig", "path": "...", ...}
    }

``sdrkit calibrate`` writes it; ``sdrkit classify --calibration`` reads it and refuses an
encoder whose hash differs from the one the prototypes were made with.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sdrkit.errors import ModelError

CALIBRATION_VERSION = 1


@dataclass(frozen=True)
class Calibration:
    """Prototypes of one front end for one encoder (see the module docstring)."""

    task: str
    front_end: str
    classes: tuple
    prototypes: np.ndarray
    shots: int
    encoder: dict
    date: str
    radio: dict = field(default_factory=dict)
    proto_norm: bool = True
    source: dict = field(default_factory=dict)
    path: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d["classes"] = list(self.classes)
        d["prototypes"] = np.asarray(self.prototypes, float).round(7).tolist()
        d["calibration_version"] = CALIBRATION_VERSION
        return d

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        tmp.replace(path)
        return path

    def head(self):
        """A :class:`sdrkit.nn.proto.PrototypeHead` over these prototypes."""
        from sdrkit.nn.proto import PrototypeHead

        return PrototypeHead(self.prototypes, self.classes, self.proto_norm)

    def check_encoder(self, card) -> None:
        """Refuse an encoder other than the one these prototypes were computed with.

        Raises:
            ModelError: naming both hashes and the fix.
        """
        from sdrkit.runtime.card import sha256_file

        got = sha256_file(card.file("encoder"))
        if got != self.encoder.get("sha256"):
            raise ModelError(
                f"calibration {self.path or '(unsaved)'} was made with encoder sha256 "
                f"{str(self.encoder.get('sha256'))[:12]}..., but {card.file('encoder')} has {got[:12]}...; "
                f"re-run 'sdrkit calibrate --task {self.task}' with this model")


def load_calibration(path) -> Calibration:
    """Read and validate a calibration file.

    Raises:
        ModelError: unreadable, wrong version, missing or malformed fields, non-finite prototypes.
    """
    p = Path(path)
    where = f"calibration {p}"
    if not p.exists():
        raise ModelError(f"{where} not found; create one with 'sdrkit calibrate --task beam ...'")
    try:
        d = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{where} is not readable JSON: {exc}") from exc
    if not isinstance(d, dict):
        raise ModelError(f"{where}: must be a JSON object")
    if d.get("calibration_version") != CALIBRATION_VERSION:
        raise ModelError(f"{where}: calibration_version {d.get('calibration_version')!r} is not "
                         f"{CALIBRATION_VERSION}; re-run 'sdrkit calibrate'")
    for key, typ in (("task", str), ("front_end", str), ("classes", list), ("prototypes", list),
                     ("shots", int), ("encoder", dict), ("date", str)):
        if not isinstance(d.get(key), typ) or isinstance(d.get(key), bool):
            raise ModelError(f"{where}: field {key!r} must be a {typ.__name__} (got {d.get(key)!r:.60})")
    classes = tuple(str(c) for c in d["classes"])
    if not classes or len(set(classes)) != len(classes):
        raise ModelError(f"{where}: classes must be a non-empty list of distinct names")
    try:
        protos = np.asarray(d["prototypes"], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{where}: prototypes must be a numeric matrix ({exc})") from exc
    if protos.ndim != 2 or protos.shape[0] != len(classes) or protos.shape[1] < 1:
        raise ModelError(f"{where}: prototypes have shape {protos.shape}, need ({len(classes)}, embedding_dim)")
    if not np.all(np.isfinite(protos)):
        raise ModelError(f"{where}: prototypes contain NaN or inf")
    dim = d["encoder"].get("embedding_dim")
    if dim is not None and dim != protos.shape[1]:
        raise ModelError(f"{where}: prototypes have dimension {protos.shape[1]} but the encoder's is {dim}")
    if not isinstance(d["encoder"].get("sha256"), str):
        raise ModelError(f"{where}: encoder.sha256 is missing; re-run 'sdrkit calibrate'")
    if d["shots"] < 1 or not math.isfinite(d["shots"]):
        raise ModelError(f"{where}: shots {d['shots']} must be >= 1")
    return Calibration(task=d["task"], front_end=d["front_end"], classes=classes, prototypes=protos,
                       shots=int(d["shots"]), encoder=dict(d["encoder"]), date=d["date"],
                       radio=dict(d.get("radio") or {}), proto_norm=bool(d.get("proto_norm", True)),
                       source=dict(d.get("source") or {}), path=str(p))
