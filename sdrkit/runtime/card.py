"""Model cards: a small JSON file beside the ONNX file(s) that says what a model is.

Example (version 2)::

    {
      "card_version": 2,
      "task": "amc",
      "name": "amc-earlyexit-v1",
      "architecture": {"name": "amc_earlyexit", "kwargs": {"n_classes": 11}},
      "output": {"kind": "classes"},
      "classes": ["bpsk", ...],
      "input": {"sample_rate": 1e6, "frame_len": 1024, "channels": 1, "representation": "iq",
                "layout": "(batch, 2, frame_len) float32: row 0 = I, row 1 = Q",
                "normalization": "per-frame unit RMS, inside the graph",
                "sample_rate_tolerance": 0.0},
      "files": {"stem": "stem.onnx", "rest": "rest.onnx", "full": "full.onnx"},
      "thresholds": {"entropy": 0.25},
      "metrics": {...},
      "training": {"command": "sdrkit train amc ...", "seed": 0, "data_sha256": "...", ...},
      "files_sha256": {"stem.onnx": "..."}
    }

``architecture`` names a network in :data:`sdrkit.nn.MODELS` with its constructor arguments
(``create_model(card.architecture)`` rebuilds it). ``output.kind`` is one of
:data:`OUTPUT_KINDS`; ``output.shape`` is the per-frame shape of that output (``classes`` and
``embedding`` need none). ``classes`` is required for ``classes`` outputs and optional
otherwise. ``input.channels`` is the number of I/Q channels per frame (array elements);
``input.spectrogram`` (``nfft``, ``hop``, ``window``) is required when the representation is
``spectrogram``.

Version 1 cards (no ``architecture``/``output``/``channels``) still load: they read as a
one-channel ``classes`` model.

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

CARD_VERSION = 2
READABLE_VERSIONS = (1, 2)
REPRESENTATIONS = ("iq", "spectrogram")
OUTPUT_KINDS = ("classes", "embedding", "mask", "forecast", "reconstruction", "angles", "bits", "samples")


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
        channels: I/Q channels per frame (array elements; 1 for a single receiver).
        spectrogram: for ``representation="spectrogram"``: ``{"nfft", "hop", "window"}``.
    """

    sample_rate: float
    frame_len: int
    representation: str = "iq"
    layout: str = "(batch, 2, frame_len) float32: row 0 = I, row 1 = Q"
    normalization: str = "per-frame unit RMS, inside the graph"
    sample_rate_tolerance: float = 0.0
    channels: int = 1
    spectrogram: dict | None = None


@dataclass(frozen=True)
class OutputSpec:
    """What a model produces per frame.

    Attributes:
        kind: one of :data:`OUTPUT_KINDS`.
        shape: per-frame shape of the output named ``kind`` in a Prediction (None: not fixed,
            and always None for ``classes`` and ``embedding``).
        description: one line: units and meaning (e.g. "degrees, broadside = 0").
    """

    kind: str = "classes"
    shape: tuple | None = None
    description: str = ""


@dataclass(frozen=True)
class ModelCard:
    """A model card (see the module docstring)."""

    task: str
    name: str
    classes: tuple[str, ...]
    input: InputSpec
    files: dict
    output: OutputSpec = field(default_factory=OutputSpec)
    architecture: dict = field(default_factory=dict)
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
        if self.output.shape is not None:
            d["output"]["shape"] = list(self.output.shape)
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
    version = d.get("card_version")
    if version not in READABLE_VERSIONS:
        raise ModelError(f"{where}: card_version {version!r} is not one of {READABLE_VERSIONS}; "
                         f"re-export it with this sdrkit")
    for key, typ in (("task", str), ("name", str), ("input", dict), ("files", dict)):
        if not isinstance(d.get(key), typ):
            raise ModelError(f"{where}: field {key!r} must be a {typ.__name__}")
    spec = _input_spec(d["input"], where)
    output = _output_spec(d.get("output", {"kind": "classes"}) if version >= 2 else {"kind": "classes"}, where)
    raw_classes = d.get("classes", [])
    if not isinstance(raw_classes, list):
        raise ModelError(f"{where}: field 'classes' must be a list of names")
    classes = [str(c) for c in raw_classes]
    if len(set(classes)) != len(classes) or (output.kind == "classes" and not classes):
        raise ModelError(f"{where}: classes {classes} must be a list of distinct names"
                         f"{' (non-empty for a classes output)' if output.kind == 'classes' else ''}")
    arch = d.get("architecture") or {}
    if not isinstance(arch, dict) or (arch and not isinstance(arch.get("name"), str)) \
            or not isinstance(arch.get("kwargs", {}), dict):
        raise ModelError(f"{where}: architecture {arch!r} must be {{'name': str, 'kwargs': {{...}}}}")
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
    card = ModelCard(task=d["task"], name=d["name"], classes=tuple(classes), input=spec,
                     files=dict(d["files"]), output=output, architecture=dict(arch),
                     thresholds=dict(d.get("thresholds") or {}),
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


def _input_spec(inp: dict, where: str) -> InputSpec:
    try:
        spec = InputSpec(sample_rate=float(inp["sample_rate"]), frame_len=int(inp["frame_len"]),
                         representation=str(inp.get("representation", "iq")),
                         layout=str(inp.get("layout", "")), normalization=str(inp.get("normalization", "")),
                         sample_rate_tolerance=float(inp.get("sample_rate_tolerance", 0.0)),
                         channels=int(inp.get("channels", 1)), spectrogram=inp.get("spectrogram"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{where}: input spec needs numeric sample_rate and frame_len ({exc})") from exc
    if spec.representation not in REPRESENTATIONS or spec.frame_len < 1 or not math.isfinite(spec.sample_rate) \
            or spec.sample_rate <= 0 or spec.frame_len != float(inp["frame_len"]) \
            or not 0 <= spec.sample_rate_tolerance < 1 or spec.channels < 1 \
            or spec.channels != float(inp.get("channels", 1)):
        raise ModelError(f"{where}: invalid input spec {inp}: need a finite sample_rate > 0, an integer "
                         f"frame_len >= 1, integer channels >= 1, representation in {REPRESENTATIONS}, "
                         f"0 <= sample_rate_tolerance < 1")
    if spec.representation == "spectrogram":
        sp = spec.spectrogram
        ok = isinstance(sp, dict) and all(isinstance(sp.get(k), int) and not isinstance(sp.get(k), bool)
                                          and sp[k] >= 1 for k in ("nfft", "hop"))
        if not ok or sp["nfft"] > spec.frame_len:
            raise ModelError(f"{where}: a spectrogram input needs input.spectrogram = {{'nfft': int, 'hop': int, "
                             f"'window': 'hann'}} with 1 <= nfft <= frame_len ({spec.frame_len}); got {sp!r}")
    elif spec.spectrogram is not None:
        raise ModelError(f"{where}: input.spectrogram is set but the representation is {spec.representation!r}")
    return spec


def _output_spec(out, where: str) -> OutputSpec:
    if not isinstance(out, dict) or out.get("kind") not in OUTPUT_KINDS:
        raise ModelError(f"{where}: output {out!r} must be {{'kind': one of {OUTPUT_KINDS}, 'shape': [...]}}")
    shape = out.get("shape")
    if shape is not None:
        if not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                                  for v in shape):
            raise ModelError(f"{where}: output.shape {shape!r} must be a list of positive integers")
        shape = tuple(shape)
    return OutputSpec(kind=out["kind"], shape=shape, description=str(out.get("description", "")))
