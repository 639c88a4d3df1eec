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
:data:`OUTPUT_KINDS`; ``output.shape`` is the per-frame shape of that output (``classes`` need
none: the class list gives it; ``embedding`` may give ``[embedding_dim]``). ``classes`` is required for ``classes`` outputs and optional
otherwise. ``input.channels`` is the number of I/Q channels per frame (array elements);
``input.spectrogram`` (``nfft``, ``hop``, ``window``) is required when the representation is
``spectrogram``.

Version 1 cards (no ``architecture``/``output``/``channels``) still load: they read as a
one-channel ``classes`` model (an ``embedding`` model when the card lists only an ``encoder``
graph). ``sdrkit card upgrade CARD`` (:func:`sdrkit.runtime.card_upgrade.upgrade_card`) rewrites
one as version 2, reading the output and channels from its ONNX graphs.

Cards come from outside, so :func:`load_card` reads them through the bounded JSON loader
(:mod:`sdrkit.capture.safejson`), validates every field it uses, bounds every size (``frame_len``,
``channels``, the class count, spectrogram ``nfft``/``hop``, ``output.shape``: the ``MAX_*``
constants below) and checks the hashes of the files it points to. The graphs themselves are
checked against the card when they are opened (:func:`sdrkit.runtime.session.card_session`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sdrkit.capture.safejson import load_json
from sdrkit.errors import ModelError

# Bounds on every size a card sets: a card comes from outside, and frame_len 10**9 would make
# the stream buffer frames without limit. Each is far above any bundled or planned model.
CARD_MAX_BYTES = 4 << 20         # card.json (the bundled AMC card, with its training history, is 25 KB)
MAX_FRAME_LEN = 1 << 20          # samples per frame (8 MiB of complex64 per frame and channel)
MAX_CHANNELS = 64                # I/Q channels per frame (array elements)
MAX_CLASSES = 4096
MAX_NAME_LEN = 256               # characters per class name
MAX_OUTPUT_RANK = 8
MAX_OUTPUT_SIZE = 1 << 22        # values per frame of a non-class output
MAX_SAMPLE_RATE = 1e12           # samples/s (SigMF's own limit)
MAX_FILE_NAME = 255              # bytes per file name (the usual file-system limit)

# thresholds the runtime reads as numbers (the others may be text, e.g. "calibrated_on")
NUMERIC_THRESHOLDS = ("entropy", "break_even_exit_fraction", "budget", "val_exit_fraction", "val_worst_gap")

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
        shape: per-frame shape of the output named ``kind`` in a Prediction (None: not fixed;
            always None for ``classes``; for ``embedding``, ``(embedding_dim,)`` when the card says).
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
        path: the card's JSON file, a directory holding ``card.json``, or the name of a bundled
            model (``amc``, ``models/amc/card.json``: found from any working directory).
        verify: check the SHA-256 of every listed file.

    Raises:
        ModelError: missing or malformed card, missing files, hash mismatch.
    """
    from sdrkit.resources import names, resolve

    p = resolve("models", path, must_exist=False)
    if p.is_dir():
        p = p / "card.json"
    if not p.exists():
        raise ModelError(f"model card {p} not found (bundled models: {', '.join(names('models')) or 'none'}); "
                         f"train one with 'sdrkit train <task>' or pass --model PATH")
    where = f"model card {p}"
    d = load_json(p, error=ModelError, where=where, max_bytes=CARD_MAX_BYTES,
                  fix="restore the card or re-export the model ('sdrkit train <task>')")
    if not isinstance(d, dict):
        raise ModelError(f"{where}: must be a JSON object")
    version = d.get("card_version")
    if version is None and ("global" in d or "captures" in d or "annotations" in d):
        raise ModelError(f"{p} is a SigMF recording's metadata, not a model card: pass it as the radio "
                         f"(--radio sim:{p}) and a model with --model (e.g. --model amc)")
    if version is None and not {"task", "files"} & set(d):
        raise ModelError(f"{where}: not a model card (no card_version, task or files); pass a card.json "
                         f"written by 'sdrkit train' (bundled models: {', '.join(names('models')) or 'none'})")
    if version not in READABLE_VERSIONS:
        raise ModelError(f"{where}: card_version {version!r} is not one of {READABLE_VERSIONS}; "
                         f"re-export it with this sdrkit")
    for key, typ in (("task", str), ("name", str), ("input", dict), ("files", dict)):
        if not isinstance(d.get(key), typ):
            raise ModelError(f"{where}: field {key!r} must be a {typ.__name__}")
    spec = _input_spec(d["input"], where)
    if version == 1:
        v2_only = sorted(k for k in ("output", "architecture") if k in d) + \
            (["input.channels"] if "channels" in d["input"] else []) + \
            (["input.spectrogram"] if "spectrogram" in d["input"] else [])
        if v2_only:
            raise ModelError(f"{where}: card_version 1 has no {', '.join(v2_only)}; set \"card_version\": 2 "
                             f"to use them")
        # a version 1 card with only an encoder graph is an embedding model (classes by prototypes)
        v1_kind = "embedding" if set(d["files"]) == {"encoder"} else "classes"
    output = _output_spec(d.get("output", {"kind": "classes"}) if version >= 2 else {"kind": v1_kind}, where)
    raw_classes = d.get("classes", [])
    if not isinstance(raw_classes, list):
        raise ModelError(f"{where}: field 'classes' must be a list of names")
    if len(raw_classes) > MAX_CLASSES or not all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                                 and len(str(c)) <= MAX_NAME_LEN for c in raw_classes):
        raise ModelError(f"{where}: field 'classes' has {len(raw_classes)} entries; it must be at most "
                         f"{MAX_CLASSES} class names of at most {MAX_NAME_LEN} characters; fix the card")
    classes = [str(c) for c in raw_classes]
    if len(set(classes)) != len(classes) or (output.kind == "classes" and not classes):
        raise ModelError(f"{where}: classes {classes} must be a list of distinct names"
                         f"{' (non-empty for a classes output)' if output.kind == 'classes' else ''}")
    arch = d.get("architecture") or {}
    if not isinstance(arch, dict) or (arch and not isinstance(arch.get("name"), str)) \
            or not isinstance(arch.get("kwargs", {}), dict):
        raise ModelError(f"{where}: architecture {arch!r} must be {{'name': str, 'kwargs': {{...}}}}")
    n = (arch.get("kwargs") or {}).get("n_classes")
    if output.kind == "classes" and n is not None and n != len(classes):
        raise ModelError(f"{where}: architecture.kwargs.n_classes={_show(n)} but the card lists {len(classes)} "
                         f"classes; the network and its class names must agree, re-export the model")
    for key in ("thresholds", "metrics", "training", "files_sha256", "extra"):
        if d.get(key) is not None and not isinstance(d[key], dict):
            raise ModelError(f"{where}: field {key!r} = {_show(d[key])} must be an object; fix the card or "
                             f"re-export the model")
    bad = [f for f, h in (d.get("files_sha256") or {}).items() if not isinstance(h, str)]
    if bad:
        raise ModelError(f"{where}: files_sha256[{bad[0]!r}] = {_show(d['files_sha256'][bad[0]])} must be a hex "
                         f"SHA-256 string; re-export the model")
    for key, val in (d.get("thresholds") or {}).items():
        number = _number(val)
        if key in NUMERIC_THRESHOLDS and not number:
            raise ModelError(f"{where}: thresholds.{key} {_show(val)} must be a finite number"
                             f"{' (nats)' if key == 'entropy' else ''}; re-run 'sdrkit calibrate-threshold'")
        if not (number or isinstance(val, str)):
            raise ModelError(f"{where}: threshold {key!r} = {_show(val)} is not finite (a threshold is a finite "
                             f"number, or text that describes one); fix the card")
    for f in d["files"].values():
        if not isinstance(f, str) or "/" in f or "\\" in f or f.startswith(".") or "\0" in f \
                or not 0 < len(f.encode("utf-8", "surrogatepass")) <= MAX_FILE_NAME:
            raise ModelError(f"{where}: file entry {_show(f)} must be a plain file name beside the card "
                             f"(1 to {MAX_FILE_NAME} bytes)")
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


def learned_dims(card: ModelCard) -> int | None:
    """How many leading values of an ``embedding`` output the network learned, when it appends fixed
    features after them (the channel-estimate encoder's template block); None when the card does not say.

    Version 2: ``architecture.kwargs.emb_dim`` when ``output.shape`` is ``(D,)`` with ``D`` larger
    than it (the network gives ``emb_dim`` learned values, then ``D - emb_dim`` others). Version 1
    (no output shape): ``extra.learned_dims``.
    """
    if card.output.kind != "embedding":
        return None
    emb = (card.architecture.get("kwargs") or {}).get("emb_dim")
    shape = card.output.shape
    if shape is not None and len(shape) == 1 and _whole(emb) and 0 < emb < shape[0]:
        return int(emb)
    dims = card.extra.get("learned_dims")
    return int(dims) if _whole(dims) and dims > 0 else None


def _whole(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bounded(inp: dict, key: str, default, low: int, high: int, where: str, unit: str) -> int:
    """``inp[key]`` as an int in ``[low, high]``, or a ModelError naming the field, value and range."""
    v = inp.get(key, default)
    if not _whole(v) or not low <= v <= high:
        raise ModelError(f"{where}: input.{key}={_show(v)} must be an integer in [{low}, {high}] {unit} "
                         f"(the limit bounds the memory a card can ask for); fix the card or re-export the model")
    return int(v)


def _show(v, limit: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + "..."


def _input_spec(inp: dict, where: str) -> InputSpec:
    if "sample_rate" not in inp or "frame_len" not in inp or not _number(inp["sample_rate"]) \
            or not isinstance(inp["frame_len"], (int, float)) or isinstance(inp["frame_len"], bool):
        raise ModelError(f"{where}: input spec needs numeric sample_rate and frame_len (got sample_rate="
                         f"{_show(inp.get('sample_rate'))}, frame_len={_show(inp.get('frame_len'))}); fix the card")
    if not 0 < inp["sample_rate"] <= MAX_SAMPLE_RATE:
        raise ModelError(f"{where}: input.sample_rate={inp['sample_rate']:g} must be a finite sample_rate > 0 and "
                         f"<= {MAX_SAMPLE_RATE:g} samples/s; fix the card")
    frame_len = _bounded(inp, "frame_len", None, 1, MAX_FRAME_LEN, where, "samples")
    channels = inp.get("channels", 1)
    if not _whole(channels) or not 1 <= channels <= MAX_CHANNELS:
        raise ModelError(f"{where}: input.channels={_show(channels)} must be integer channels >= 1 and "
                         f"<= {MAX_CHANNELS}; fix the card")
    tol = inp.get("sample_rate_tolerance", 0.0)
    rep = inp.get("representation", "iq")
    if not _number(tol) or not 0 <= tol < 1 or rep not in REPRESENTATIONS:
        raise ModelError(f"{where}: invalid input spec: representation={_show(rep)} must be one of "
                         f"{REPRESENTATIONS} and sample_rate_tolerance={_show(tol)} a number with "
                         f"0 <= sample_rate_tolerance < 1; fix the card")
    spec = InputSpec(sample_rate=float(inp["sample_rate"]), frame_len=frame_len, representation=rep,
                     layout=str(inp.get("layout", "")), normalization=str(inp.get("normalization", "")),
                     sample_rate_tolerance=float(tol), channels=int(channels), spectrogram=inp.get("spectrogram"))
    if spec.representation == "spectrogram":
        sp = spec.spectrogram
        ok = isinstance(sp, dict) and all(isinstance(sp.get(k), int) and not isinstance(sp.get(k), bool)
                                          and 1 <= sp[k] <= spec.frame_len for k in ("nfft", "hop"))
        if not ok:
            raise ModelError(f"{where}: a spectrogram input needs input.spectrogram = {{'nfft': int, 'hop': int, "
                             f"'window': 'hann'}} with 1 <= nfft <= frame_len and 1 <= hop <= frame_len "
                             f"({spec.frame_len}); got {_show(sp)}")
    elif spec.spectrogram is not None:
        raise ModelError(f"{where}: input.spectrogram is set but the representation is {spec.representation!r}")
    return spec


def _output_spec(out, where: str) -> OutputSpec:
    if not isinstance(out, dict) or out.get("kind") not in OUTPUT_KINDS:
        raise ModelError(f"{where}: output {out!r} must be {{'kind': one of {OUTPUT_KINDS}, 'shape': [...]}}")
    shape = out.get("shape")
    if shape is not None:
        if not isinstance(shape, list) or len(shape) > MAX_OUTPUT_RANK \
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_OUTPUT_SIZE
                           for v in shape) or math.prod(shape) > MAX_OUTPUT_SIZE:
            raise ModelError(f"{where}: output.shape {_show(shape)} must be a list of at most {MAX_OUTPUT_RANK} "
                             f"positive integers with a product <= {MAX_OUTPUT_SIZE} (values per frame); fix the card")
        shape = tuple(shape)
    return OutputSpec(kind=out["kind"], shape=shape, description=str(out.get("description", "")))
