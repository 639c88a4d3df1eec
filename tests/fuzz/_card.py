"""Fuzz target: model cards and their ONNX files (``load_card``, then the task's predictor).

Seeds are copies of the bundled ``models/amc`` and ``models/beam`` folders (card and ONNX
files). An input is one selector byte and the card.json bytes:

* bit 0: the bundle (0 = amc, 1 = beam);
* bits 1-2: damage to the first ONNX file the card lists (0 none, 1 cut in half,
  2 garbage, 3 empty), read with ``verify=False`` so the damage reaches onnxruntime;
* bit 3: ``verify=False`` also for an undamaged bundle.

An input runs as ``sdrkit classify --model`` uses a card: ``load_card``, ``check_stream`` at
the card's own rate, frame length and channels, the task's predictor, and one batch of two
frames. A card that ``load_card`` accepts with more than :data:`MAX_FRAME_SAMPLES` samples
per frame is a crash too (issue 11 item 7: every size field is bounded at load). Predictor
outcomes are cached by the card's content and the file damage, because building
onnxruntime sessions costs tens of milliseconds and most mutations do not touch what the
predictor reads.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import traceback
from pathlib import Path

import numpy as np

from tests.fuzz._core import NOT_JSON, dumps, loads_or_none, mutate_bytes, mutate_json

REPO = Path(__file__).resolve().parents[2]
BUNDLES = ("amc", "beam")
MAX_FRAME_SAMPLES = 1 << 22
EXTRA_KEYS = ["card_version", "task", "name", "classes", "input", "frame_len", "sample_rate", "channels",
              "representation", "spectrogram", "nfft", "hop", "window", "output", "kind", "shape", "files",
              "thresholds", "entropy", "architecture", "kwargs", "files_sha256", "sample_rate_tolerance",
              "extra", "variants", "deployed_variant", "stem", "rest", "full", "encoder"]


class CardTarget:
    name = "card"

    def __init__(self):
        self._tmp = None
        self._pristine: dict[str, dict[str, bytes]] = {}
        self._cache: dict[str, tuple | None] = {}

    def _setup(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="sdrkit-fuzz-card-")
        for b in BUNDLES:
            src, dst = REPO / "models" / b, Path(self._tmp.name) / b
            shutil.copytree(src, dst)
            self._pristine[b] = {p.name: p.read_bytes() for p in dst.iterdir() if p.suffix == ".onnx"}

    def dir(self, bundle: str) -> Path:
        if self._tmp is None:
            self._setup()
        return Path(self._tmp.name) / bundle

    # ---- inputs ----------------------------------------------------------------------------
    def seeds(self) -> list[bytes]:
        return [bytes([i]) + (REPO / "models" / b / "card.json").read_bytes() for i, b in enumerate(BUNDLES)]

    def mutate(self, data: bytes, rnd: random.Random) -> bytes:
        sel, card = (data[0], data[1:]) if data else (0, b"{}")
        if rnd.random() < 0.1:
            sel = rnd.randrange(16)
        r = rnd.random()
        if r < 0.8:
            obj = loads_or_none(card)
            card = mutate_bytes(card, rnd) if obj is NOT_JSON else dumps(mutate_json(obj, rnd, EXTRA_KEYS))
        elif r < 0.95:
            card = mutate_bytes(card, rnd)
        return bytes([sel]) + card

    # ---- running ---------------------------------------------------------------------------
    def execute(self, data: bytes) -> None:
        from sdrkit.runtime import load_card

        sel, card_bytes = (data[0], data[1:]) if data else (0, b"")
        bundle, damage, verify = BUNDLES[sel & 1], (sel >> 1) & 3, not (sel & 8) and not (sel >> 1) & 3
        d = self.dir(bundle)
        (d / "card.json").write_bytes(card_bytes)
        onnx = self._damage(bundle, card_bytes, damage)
        try:
            card = load_card(d, verify=verify)
            frame = card.input.frame_len * card.input.channels
            assert frame <= MAX_FRAME_SAMPLES, (f"load_card accepted frame_len {card.input.frame_len} x "
                                                f"{card.input.channels} channels: sizes must be bounded at load")
            key = json.dumps([damage, onnx, card.path, _content(card_bytes)], sort_keys=True, default=repr)
            if key not in self._cache:
                if len(self._cache) > 2000:        # entries hold tracebacks: keep it small
                    self._cache.clear()
                self._cache[key] = _run_predictor(card)
            outcome = self._cache[key]
            if outcome is not None:
                exc, tb = outcome
                raise exc.with_traceback(tb)
        finally:
            if onnx:
                (d / onnx).write_bytes(self._pristine[bundle][onnx])

    def _damage(self, bundle: str, card_bytes: bytes, damage: int) -> str | None:
        """Damage the first ONNX file the card names; returns its name (None: nothing damaged)."""
        if not damage:
            return None
        obj = loads_or_none(card_bytes)
        files = obj.get("files") if isinstance(obj, dict) else None
        names = sorted(f for f in (files.values() if isinstance(files, dict) else ())
                       if isinstance(f, str) and f in self._pristine[bundle])
        if not names:
            return None
        good = self._pristine[bundle][names[0]]
        bad = {1: good[: len(good) // 2], 2: bytes(range(256)) * 64, 3: b""}[damage]
        (self.dir(bundle) / names[0]).write_bytes(bad)
        return names[0]

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _content(card_bytes: bytes) -> dict:
    """What the predictor can read of an accepted card: all of its JSON but ``metrics`` (large,
    read by no predictor). load_card accepted it, so it parses."""
    d = json.loads(card_bytes)
    d.pop("metrics", None)
    return d


def _run_predictor(card):
    """None, or (exception, its traceback) of what the predictor path raised (re-raised per
    input, so a cached outcome counts like a fresh one under the crash rule)."""
    from sdrkit.runtime import check_stream
    from sdrkit.runtime.predict import PredictorOptions
    from sdrkit.tasks import get_task

    try:
        check_stream(card, card.input.sample_rate, card.input.frame_len, card.input.channels)
        shape = (2, card.input.frame_len) if card.input.channels == 1 else \
            (2, card.input.channels, card.input.frame_len)
        rng = np.random.default_rng(0)
        frames = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
        if card.task == "beam" and "encoder" in card.files:
            # the beam predictor needs a calibration file; its encoder opens and runs as the predictor's does
            from sdrkit.runtime.session import card_session

            sess = card_session(card, "encoder")
            x = np.stack([frames.real, frames.imag], axis=-2).astype(np.float32).reshape(2, -1, card.input.frame_len)
            sess.run(None, {sess.get_inputs()[0].name: x})
        else:
            get_task(card.task).predictor(card, PredictorOptions()).predict(frames)
    except Exception as exc:  # noqa: BLE001 - kept and re-raised under the crash rule
        traceback.clear_frames(exc.__traceback__)     # keep the lines, not the sessions in their locals
        return exc, exc.__traceback__
    return None
