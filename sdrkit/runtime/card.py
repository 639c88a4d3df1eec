"""Model cards: a small JSON file beside the ONNX file(s) that says what a model is.

Example (``models/amc/card.json``)::

    {
      "card_version": 1,
      "task": "amc",
      "name": "amc-earlyexit-v1",
      "classes": ["bpsk", ...],
      "input": {"sample_rate": 1e6, "frame_len": 1024, "representation": "iq",
                "layout": "(batch, 2, frame_len) float32: row 0 = I, row 1 = Q",
                "normalization": "per-frame unit RMS, inside the graph",
                "sample_rate_tolerance": 0.0},
      "files": {"stem": "stem.onnx", "rest": "rest.onnx", "full": "full.onnx"},
      "thresholds": {"entropy": 0.25},
      "metrics": {...},
      "training": {"command": "sdrkit train amc ...", "seed": 0, "data_sha256": "...", ...},
      "files_sha256": {"stem.onnx": "..."}
    }

Cards come from outside, so :func:`load_card` validates every field it uses and the hashes
of the files it points to.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sdrkit.errors import ModelError

CARD_VERSION = 1
REPRESENTATIONS = ("iq", "spectrogram")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


@dataclass(frozen=True)
class InputSpec:
    """What a model expects from a stream.

    Attributes:
        sample_rate: samples/s the model was trained at.
        frame_len: samples per frame.
        representation: "iq" or "spectrogram".
        layout: text description of the tensor layout.
        normalization: text description of the normalization.
        sample_rate_tolerance: allowed relative mismatch of a stream's rate (0 = exact).
    """

    sample_rate: float
    frame_len: int
    representation: str = "iq"
    layout: str = "(batch, 2, frame_len) float32: row 0 = I, row 1 = Q"
    normalization: str = "per-frame unit RMS, inside the graph"
    sample_rate_tolerance: float = 0.0


@dataclass(frozen=True)
class ModelCard:
    """A model card (see the module docstring)."""

    task: str
    name: str
    classes: tuple[str, ...]
    input: InputSpec
    files: dict
    thresholds: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    files_sha256: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    path: str = ""

    @property
    def directory(self) -> Path:
        return Path(self.path).parent

    def file(self, key: str) -> Path:
        """Path of the file registered under ``key`` (e.g. "stem")."""
        if key not in self.files:
            raise ModelError(f"{self.path}: the card lists no {key!r} file (has: {sorted(self.files)})")
        return self.directory / self.files[key]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d["classes"] = list(self.classes)
        d["card_version"] = CARD_VERSION
        return d

    def save(self, path) -> Path:
        """Write the card as JSON (file hashes are computed now)."""
        path = Path(path)
        hashes = {f: sha256_file(path.parent / f) for f in self.files.values() if (path.parent / f).exists()}
        d = self.to_dict()
        d["files_sha256"] = hashes
        path.write_text(json.dumps(d, indent=2) + "\n")
        return path

    def replace(self, **changes) -> "ModelCard":
        import dataclasses

        return dataclasses.replace(self, **changes)


def load_card(path, verify: bool = True) -> ModelCard:
    """Read and validate a model card.

    Args:
        path: the card's JSON file, or a directory holding ``card.json``.
        verify: check the SHA-256 of every listed file.

    Raises:
        ModelError: missing or malformed card, missing files, hash mismatch.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "card.json"
    if not p.exists():
        raise ModelError(f"model card {p} not found; train one with 'sdrkit train <task>' or pass --model PATH")
    try:
        d = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model card {p} is not readable JSON: {exc}") from exc
    where = f"model card {p}"
    if not isinstance(d, dict):
        raise ModelError(f"{where}: must be a JSON object")
    if d.get("card_version") != CARD_VERSION:
        raise ModelError(f"{where}: card_version {d.get('card_version')!r} is not {CARD_VERSION}; "
                         f"re-export it with this sdrkit")
    for key, typ in (("task", str), ("name", str), ("classes", list), ("input", dict), ("files", dict)):
        if not isinstance(d.get(key), typ):
            raise ModelError(f"{where}: field {key!r} must be a {typ.__name__}")
    inp = d["input"]
    try:
        spec = InputSpec(sample_rate=float(inp["sample_rate"]), frame_len=int(inp["frame_len"]),
                         representation=str(inp.get("representation", "iq")),
                         layout=str(inp.get("layout", "")), normalization=str(inp.get("normalization", "")),
                         sample_rate_tolerance=float(inp.get("sample_rate_tolerance", 0.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{where}: input spec needs numeric sample_rate and frame_len ({exc})") from exc
    if spec.representation not in REPRESENTATIONS or spec.frame_len < 1 or not math.isfinite(spec.sample_rate) \
            or spec.sample_rate <= 0 or spec.frame_len != float(inp["frame_len"]) \
            or not 0 <= spec.sample_rate_tolerance < 1:
        raise ModelError(f"{where}: invalid input spec {inp}: need a finite sample_rate > 0, an integer "
                         f"frame_len >= 1, representation in {REPRESENTATIONS}, 0 <= sample_rate_tolerance < 1")
    classes = [str(c) for c in d["classes"]]
    if not classes or len(set(classes)) != len(classes):
        raise ModelError(f"{where}: classes {classes} must be a non-empty list of distinct names")
    for key, val in (d.get("thresholds") or {}).items():
        if isinstance(val, (int, float)) and not isinstance(val, bool) and not math.isfinite(val):
            raise ModelError(f"{where}: threshold {key!r} = {val!r} is not finite")
    if "entropy" in (d.get("thresholds") or {}) and not (isinstance(d["thresholds"]["entropy"], (int, float))
                                                         and not isinstance(d["thresholds"]["entropy"], bool)):
        raise ModelError(f"{where}: thresholds.entropy {d['thresholds']['entropy']!r} must be a number (nats); "
                         f"re-run 'sdrkit calibrate-threshold'")
    for f in d["files"].values():
        if not isinstance(f, str) or "/" in f or "\\" in f or f.startswith("."):
            raise ModelError(f"{where}: file entry {f!r} must be a plain file name beside the card")
    card = ModelCard(task=d["task"], name=d["name"], classes=tuple(str(c) for c in d["classes"]), input=spec,
                     files=dict(d["files"]), thresholds=dict(d.get("thresholds") or {}),
                     metrics=dict(d.get("metrics") or {}), training=dict(d.get("training") or {}),
                     files_sha256=dict(d.get("files_sha256") or {}), extra=dict(d.get("extra") or {}), path=str(p))
    for key, f in card.files.items():
        fp = card.directory / f
        if not fp.exists():
            raise ModelError(f"{where}: file {f!r} ({key}) is missing beside the card")
        if verify and f in card.files_sha256 and sha256_file(fp) != card.files_sha256[f]:
            raise ModelError(f"{where}: {f} does not match the SHA-256 recorded in the card; the file was "
                             f"changed or corrupted, re-export the model")
    return card
