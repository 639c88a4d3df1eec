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
      "encoder": {"card": "/abs/path/models/beam/card.json", "resource": "beam/card.json",
                  "name": "...", "sha256": "<encoder ONNX sha256>",
                  "embedding_dim": 64, "frame_len": 1024, "sample_rate": 1e6},
      "source": {"kind": "capture" | "rig", "path": "/abs/path/rec.sigmf-meta",
                 "select": {...}, "used": [[start, count], ...], "test": [[start, count], ...]}
    }

``sdrkit calibrate <task>`` writes it; ``sdrkit classify --calibration`` reads it and refuses an
encoder whose hash differs from the one the prototypes were made with. The encoder is found
from any working directory (:func:`calibration_card`): its absolute path, the bundled resource
name (``models/<resource>``), the path relative to the calibration file, each checked against
the hash; files written before, with a relative ``card``, keep loading. ``source.used`` lists the
sample ranges of the recording the calibration read (shots, and any unlabeled frames it refined
on); ``classify`` replaying the same recording does not score those frames.

The session itself is generic over tasks: any model card whose ``files`` has an ``encoder``
ONNX mapping ``(batch, 2, frame_len)`` float32 I/Q to ``(batch, d)`` embeddings can be
calibrated (:func:`calibrate_capture`: k labelled shots per class -> prototypes) and run live
by nearest prototype (:class:`PrototypePredictor`).
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError, DatasetError, ModelError, ModelInputMismatch
from sdrkit.runtime.card import learned_dims, load_card, sha256_file
from sdrkit.runtime.predict import Prediction, softmax

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
    weights: np.ndarray | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d["classes"] = list(self.classes)
        d["prototypes"] = np.asarray(self.prototypes, float).round(7).tolist()
        if self.weights is None:
            d.pop("weights")
        else:
            d["weights"] = np.asarray(self.weights, float).round(7).tolist()
        d["calibration_version"] = CALIBRATION_VERSION
        return d

    def save(self, path) -> Path:
        from sdrkit.capture.safejson import write_json

        return write_json(path, self.to_dict())

    def head(self):
        """A :class:`sdrkit.nn.proto.PrototypeHead` over these prototypes."""
        from sdrkit.nn.proto import PrototypeHead

        return PrototypeHead(self.prototypes, self.classes, self.proto_norm, weights=self.weights)

    def check_encoder(self, card) -> None:
        """Refuse an encoder other than the one these prototypes were computed with.

        Raises:
            ModelError: naming both hashes and the fix.
        """
        got = sha256_file(card.file("encoder"))
        if got != self.encoder.get("sha256"):
            raise ModelError(
                f"calibration {self.path or '(unsaved)'} was made with encoder sha256 "
                f"{str(self.encoder.get('sha256'))[:12]}..., but {card.file('encoder')} has {got[:12]}...; "
                f"re-run 'sdrkit calibrate {self.task}' with this model")


def load_calibration(path) -> Calibration:
    """Read and validate a calibration file.

    Raises:
        ModelError: unreadable, wrong version, missing or malformed fields, non-finite prototypes.
    """
    p = Path(path)
    where = f"calibration {p}"
    if not p.exists():
        raise ModelError(f"{where} not found; create one with 'sdrkit calibrate <task> ...'")
    from sdrkit.capture.safejson import load_json

    d = load_json(p, error=ModelError, where=where, fix="re-run 'sdrkit calibrate <task> ...'")
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
    weights = d.get("weights")
    if weights is not None:
        try:
            weights = np.asarray(weights, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}: weights must be a list of numbers ({exc})") from exc
        if weights.shape != (protos.shape[1],) or not np.all(np.isfinite(weights)):
            raise ModelError(f"{where}: weights of shape {weights.shape} must be {protos.shape[1]} finite numbers")
    return Calibration(task=d["task"], front_end=d["front_end"], classes=classes, prototypes=protos,
                       shots=int(d["shots"]), encoder=dict(d["encoder"]), date=d["date"],
                       radio=dict(d.get("radio") or {}), proto_norm=bool(d.get("proto_norm", True)),
                       source=dict(d.get("source") or {}), path=str(p), weights=weights)


MIN_SHOTS = 2


class Embedder:
    """onnxruntime session of a card's ``encoder`` graph: complex frames -> embeddings."""

    def __init__(self, card, threads: int = 2):
        from sdrkit.runtime.session import card_session

        self.card = card
        self.sess = card_session(card, "encoder", threads=threads)      # shapes checked against the card
        self.input = self.sess.get_inputs()[0].name
        self.frame_len = card.input.frame_len

    def __call__(self, frames: np.ndarray, batch: int = 512) -> np.ndarray:
        """complex (n, frame_len) -> float32 (n, d)."""
        from sdrkit.dsp.framing import to_model_input

        frames = np.asarray(frames)
        if frames.ndim == 3 and frames.shape[1] == 1:
            frames = frames[:, 0]
        if frames.ndim != 2 or frames.shape[1] != self.frame_len:
            raise ModelInputMismatch(f"frames of shape {frames.shape} do not match the encoder's frame_len "
                                     f"{self.frame_len} (card {self.card.path}); frame the stream in "
                                     f"{self.frame_len}-sample frames")
        out = []
        for i in range(0, len(frames), batch):
            out.append(self.sess.run(None, {self.input: to_model_input(frames[i:i + batch])})[0])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def frames_from_capture(path, frame_len: int, with_starts: bool = False):
    """Whole ``frame_len`` frames under each labelled annotation of a SigMF recording.

    Returns:
        (frames complex64 (n, frame_len), labels list[str], recording global info dict), and with
        ``with_starts`` the first sample of each frame (int64 (n,)) as a fourth item.

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
        frames, labels, starts = [], [], []
        for s, c, l in labs:
            for j in range(c // frame_len):
                a = s + j * frame_len
                if a + frame_len <= len(data):
                    frames.append(data[a:a + frame_len])
                    labels.append(str(l))
                    starts.append(a)
        info = dict(rec.global_info)
        info.setdefault("core:sample_rate", getattr(rec, "sample_rate", None))
    out = np.asarray(frames, np.complex64).reshape(-1, frame_len), labels, info
    return (*out, np.asarray(starts, np.int64)) if with_starts else out


@dataclass(frozen=True)
class ShotSelection:
    """Which labelled frames of a recording a calibration may read.

    Attributes:
        offset: skip the first ``offset`` frames of each class (in recording order).
        time_range: (start, end) seconds of the recording; only frames starting inside it.
        split: the first ``split`` fraction of each class's frames (after ``offset`` and the
            time range) is the calibration part, the rest the test part; 1.0 = all.
        transductive: also refine the prototypes on the calibration part's other frames,
            unlabeled (soft k-means, :func:`sdrkit.nn.proto.refine_prototypes`).
        head: ``plain`` (prototype means) or ``loo`` (for an encoder whose card declares a
            learned block, :func:`sdrkit.runtime.card.learned_dims`: the weight of that block
            fitted leave-one-out on the shots, :func:`sdrkit.nn.proto.select_block_weight`).
    """

    offset: int = 0
    time_range: tuple | None = None
    split: float = 1.0
    transductive: bool = False
    head: str = "plain"

    def __post_init__(self):
        if self.head not in ("plain", "loo"):
            raise ConfigError(f"--head {self.head!r}: use plain or loo")
        if self.offset < 0:
            raise ConfigError(f"--offset {self.offset} must be >= 0 frames")
        if not 0 < self.split <= 1:
            raise ConfigError(f"--split {self.split} must be a fraction in (0, 1] (the calibration part of each class)")
        if self.time_range is not None:
            a, b = self.time_range
            if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
                raise ConfigError(f"--time-range {a}:{b} must be START:END seconds with 0 <= START < END")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["time_range"] = list(self.time_range) if self.time_range else None
        return d

    def apply(self, labels, starts, classes, shots: int, sample_rate: float | None):
        """(shot indices, calibration-part indices, test-part indices) into the frames.

        Raises:
            ConfigError: a class with fewer than ``shots`` frames in the selection.
        """
        labels = np.asarray(labels)
        starts = np.asarray(starts)
        shot, part, test = [], [], []
        for c in classes:
            idx = np.flatnonzero(labels == c)
            idx = idx[np.argsort(starts[idx], kind="stable")]
            if self.time_range is not None:
                if not sample_rate:
                    raise ConfigError("--time-range needs the recording's sample rate (core:sample_rate)")
                t = starts[idx] / float(sample_rate)
                idx = idx[(t >= self.time_range[0]) & (t < self.time_range[1])]
            idx = idx[self.offset:]
            n_cal = len(idx) if self.split >= 1 else int(math.floor(len(idx) * self.split))
            if n_cal < shots:
                raise ConfigError(f"class {c!r} has only {n_cal} labelled frames, fewer than --shots {shots} "
                                  f"(selection: {self.describe()}); record more frames per class, lower --shots "
                                  f"or widen the selection")
            shot.extend(idx[:shots].tolist())
            part.extend(idx[:n_cal].tolist())
            test.extend(idx[n_cal:].tolist())
        return np.asarray(shot, int), np.asarray(part, int), np.asarray(test, int)

    def describe(self) -> str:
        bits = [f"offset {self.offset}"]
        if self.time_range:
            bits.append(f"time {self.time_range[0]:g}-{self.time_range[1]:g} s")
        if self.split < 1:
            bits.append(f"first {self.split:g} of each class")
        return ", ".join(bits)


def parse_time_range(text: str | None):
    """``"0.5:2"`` -> (0.5, 2.0) seconds; None -> None."""
    if not text:
        return None
    a, sep, b = str(text).partition(":")
    try:
        if not sep:
            raise ValueError
        return float(a or 0.0), float(b)
    except ValueError:
        raise ConfigError(f"--time-range {text!r}: use START:END in seconds of the recording, e.g. 0:1.5") from None


def _ranges(starts: np.ndarray, frame_len: int) -> list:
    """Sorted sample starts -> merged [start, count] ranges."""
    out = []
    for a in np.sort(np.asarray(starts, np.int64)).tolist():
        if out and out[-1][0] + out[-1][1] == a:
            out[-1][1] += frame_len
        else:
            out.append([int(a), int(frame_len)])
    return out


def encoder_reference(card) -> dict:
    """How a calibration names its encoder: absolute card path, bundled resource name, hashes."""
    from sdrkit.resources import bundled_roots

    path = Path(card.path).resolve()
    ref = {"card": str(path), "name": card.name, "sha256": sha256_file(card.file("encoder")),
           "card_sha256": sha256_file(path)}
    for root in bundled_roots():
        try:
            ref["resource"] = str(path.relative_to((root / "models").resolve()).as_posix())
            break
        except ValueError:
            continue
    return ref


def calibration_card(cal: "Calibration"):
    """The model card a calibration was made with, from any working directory.

    Tries the recorded path (absolute, or relative: to the working directory, to the
    calibration file, and as a bundled model name), then the bundled ``resource`` name; the
    first whose encoder has the recorded sha256 wins.

    Raises:
        ModelError: no candidate found, or none with the recorded hash (naming what was tried).
    """
    from sdrkit.resources import resolve

    enc = cal.encoder
    cands = []
    for name in (enc.get("card"), enc.get("resource")):
        if not name:
            continue
        p = Path(name)
        cands.append(p)
        if not p.is_absolute() and cal.path:
            cands.append(Path(cal.path).resolve().parent / p)
        try:
            cands.append(resolve("models", name))
        except ConfigError:
            pass
    tried = []
    for p in cands:
        if str(p) in tried:
            continue
        tried.append(str(p))
        if not p.is_file():
            continue
        try:
            card = load_card(p)
        except Exception:   # noqa: BLE001 - a broken candidate is skipped, the next may be the one
            continue
        if "encoder" in card.files and card.file("encoder").is_file() and \
                sha256_file(card.file("encoder")) == enc.get("sha256"):
            return card
    raise ModelError(f"calibration {cal.path}: no model card with encoder sha256 {str(enc.get('sha256'))[:12]}... "
                     f"found (tried {', '.join(tried) or 'nothing: the file names no card'}); pass the model with "
                     f"--model CARD, or re-run 'sdrkit calibrate {cal.task}'")


def calibrate(card, frames: np.ndarray, labels, *, shots: int, front_end: str, radio: dict | None = None,
              source: dict | None = None, classes=None, embedder=None,
              min_shots: int = MIN_SHOTS, proto_norm: bool | None = None, starts=None,
              selection: ShotSelection | None = None, sample_rate: float | None = None):
    """Prototypes from the first ``shots`` labelled frames of each class (of ``selection``, by
    the frames' ``starts``; default: in the order given).

    ``embedder`` maps frames to embeddings (default: the card's encoder). With
    ``selection.transductive`` the prototypes are refined on the calibration part's other
    frames, without their labels.

    Raises:
        ConfigError: ``shots`` below ``min_shots``, or a class with fewer than ``shots`` frames.
    """
    from sdrkit.nn.proto import make_prototypes, refine_prototypes, select_block_weight

    if shots < min_shots:
        raise ConfigError(f"--shots {shots} is too few: a calibration needs at least {min_shots} labelled shots "
                          f"per class (8 recommended)")
    labels = np.asarray(labels)
    sel = selection or ShotSelection()
    classes = tuple(classes) if classes is not None else tuple(dict.fromkeys(labels.tolist()))
    order = np.arange(len(labels)) if starts is None else np.asarray(starts)
    pick, part, test = sel.apply(labels, order, classes, shots, sample_rate)
    embed = embedder or Embedder(card)
    emb = embed(frames[pick])
    pn = bool(card.extra.get("proto_norm", True)) if proto_norm is None else proto_norm
    protos, classes = make_prototypes(emb, labels[pick], classes, normalize=pn, min_shots=shots)
    weights, head_info = None, {}
    dims = learned_dims(card) if embedder is None else None
    if sel.head == "loo" and dims:
        weights, head_info = select_block_weight(emb, labels[pick], classes, slice(0, int(dims)))
    used = pick
    if sel.transductive:
        rest = np.setdiff1d(part, pick)
        if len(rest):
            protos = refine_prototypes(protos, emb, labels[pick], classes, embed(frames[rest]), normalize=pn,
                                       weights=weights)
        used = part
    src = dict(source or {})
    src["select"] = sel.to_dict()
    if head_info:
        src["head"] = head_info
    if starts is not None:
        fl = frames.shape[1]
        src["used"] = _ranges(order[used], fl)
        src["test"] = _ranges(order[test], fl)
    return Calibration(
        task=card.task, front_end=front_end, classes=classes, prototypes=protos, shots=int(shots),
        encoder={**encoder_reference(card), "embedding_dim": int(protos.shape[1]),
                 "frame_len": card.input.frame_len, "sample_rate": card.input.sample_rate},
        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        radio=dict(radio or {}), proto_norm=pn, source=src, weights=weights)


def calibrate_capture(card_path, capture, *, shots: int, front_end: str | None = None, out=None,
                      classes=None, radio: dict | None = None, selection: ShotSelection | None = None,
                      embedder=None, encoder_override: dict | None = None, proto_norm: bool | None = None):
    """Read a labelled capture, calibrate, and (when ``out``) write the file. Returns (Calibration, seconds).

    ``selection`` picks the shots (offset, time range, split; see :class:`ShotSelection`);
    ``embedder`` / ``encoder_override`` / ``proto_norm`` let a task calibrate another feature map
    (the beam task's classical baseline) behind the same file format.
    """
    t0 = time.perf_counter()
    card = load_card(card_path)
    if "encoder" not in card.files:
        raise ConfigError(f"model card {card.path} has no 'encoder' ONNX (embedding graph); prototypes need an "
                          f"embedding model, e.g. models/beam/card.json")
    frames, labels, info, starts = frames_from_capture(capture, card.input.frame_len, with_starts=True)
    fe = front_end or info.get("sdrkit:front_end") or "unknown"
    radio = radio or {"uri": info.get("sdrkit:radio_uri", ""), "serial": info.get("sdrkit:serial", "")}
    cal = calibrate(card, frames, labels, shots=shots, front_end=fe, radio=radio, classes=classes,
                    source={"kind": "capture", "path": str(Path(capture).resolve())}, starts=starts,
                    selection=selection, sample_rate=info.get("core:sample_rate"), embedder=embedder,
                    proto_norm=proto_norm)
    if encoder_override:
        cal = cal.__class__(**{**cal.__dict__, "encoder": {**cal.encoder, **encoder_override}})
    if out:
        cal.save(out)
        cal = cal.__class__(**{**cal.__dict__, "path": str(out)})
    return cal, time.perf_counter() - t0


def excluded_ranges(cal: "Calibration") -> dict:
    """``{recording path: [[start, count], ...]}``: the frames a calibration read (not to be scored)."""
    src = cal.source or {}
    if src.get("kind") == "capture" and src.get("path") and src.get("used"):
        return {str(Path(src["path"]).resolve()): [list(map(int, r)) for r in src["used"]]}
    return {}


def default_calibration_path(task: str, front_end: str | None) -> str:
    """``calibrations/<task>-<front end>-<UTC time>.json``."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"calibrations/{task}-{front_end or 'capture'}-{stamp}.json"


class PrototypePredictor:
    """Live nearest-prototype classification: a card's encoder + a calibration's prototypes.

    ``predict(frames)`` embeds ``(B, 1, N)`` complex frames and returns the nearest prototype's
    class; probabilities are the softmax of the negative squared distances (as in
    prototypical networks).

    Raises:
        ConfigError: the card has no ``encoder``. ModelError: the calibration was made with another
            encoder (hash) or another task.
    """

    def __init__(self, card, calibration, threads: int = 1):
        if "encoder" not in card.files:
            raise ConfigError(f"model card {card.path} has no 'encoder' graph; nearest-prototype classification "
                              f"needs an embedding model")
        self.cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
        if self.cal.task != card.task:
            raise ModelError(f"calibration {self.cal.path} is for task {self.cal.task!r}, the card {card.path} for "
                             f"{card.task!r}; calibrate this model with 'sdrkit calibrate {card.task} ...'")
        self.cal.check_encoder(card)
        self.card = card
        self.exclude_ranges = excluded_ranges(self.cal)
        self.head = self.cal.head()
        self.embed = Embedder(card, threads=threads)
        self.note = (f"nearest prototype of {len(self.head.classes)} classes, calibration {self.cal.path or '(unsaved)'} "
                     f"(front end {self.cal.front_end!r}, {self.cal.shots} shots, {self.cal.date})")

    @property
    def classes(self) -> tuple:
        return self.head.classes

    def reset(self) -> None:
        pass

    def predict(self, frames: np.ndarray) -> Prediction:
        t0 = time.perf_counter()
        f = np.asarray(frames)
        if f.ndim == 3 and f.shape[1] != 1:
            raise ModelInputMismatch(f"frames with {f.shape[1]} channels do not match encoder {self.card.name!r} "
                                     f"(1 channel, card {self.card.path})")
        logits = self.head.logits(self.embed(f, batch=max(len(f), 1)))
        labels = np.argmax(logits, axis=1)
        return Prediction(n=len(f), classes=self.head.classes, labels=labels, probs=softmax(logits),
                          seconds=time.perf_counter() - t0)
