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
per frame is a crash too (issue 11 item 7: every size field is bounded at load).

Speed (an input costs ~1-3 ms instead of ~15-60 ms), without skipping a check:

* onnxruntime sessions are shared by the graph's bytes: while the target is open,
  ``sdrkit.runtime.session.onnx_session`` is wrapped by :class:`SessionCache`, keyed by the
  file's path, thread count and SHA-1 of its bytes (a damaged file is other bytes, so it gets
  its own session or its own ``ModelError``). Building a session is what cost ~10 ms per graph
  (9 graphs for an AMC card); everything a card decides -- ``card_session``'s check of the
  graph's shapes against the card, the predictor's construction and its first batch -- still
  runs for every distinct card;
* predictor outcomes are cached by the card's content (all but ``metrics``, which no predictor
  reads) and the file damage: the same card on the same files gives the same outcome;
* ``load_card``'s SHA-256 of an unchanged file (same path, size, mtime, inode) is remembered:
  ``verify`` still compares every listed file's hash with the card's.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import traceback
from pathlib import Path

import numpy as np

from tests.fuzz._core import NOT_JSON, dumps, loads_or_none, mutate_bytes, mutate_json, scratch_dir

REPO = Path(__file__).resolve().parents[2]
BUNDLES = ("amc", "beam")
MAX_FRAME_SAMPLES = 1 << 22
EXTRA_KEYS = ["card_version", "task", "name", "classes", "input", "frame_len", "sample_rate", "channels",
              "representation", "spectrogram", "nfft", "hop", "window", "output", "kind", "shape", "files",
              "thresholds", "entropy", "architecture", "kwargs", "files_sha256", "sample_rate_tolerance",
              "extra", "variants", "deployed_variant", "stem", "rest", "full", "encoder"]


class SessionCache:
    """``onnx_session`` shared by the graph's bytes (see the module docstring); installed in
    ``sdrkit.runtime.session`` while a :class:`CardTarget` is open, and ``sha256_file`` in
    ``sdrkit.runtime.card`` remembered by (path, size, mtime, inode)."""

    MAX = 256

    def __init__(self):
        import sdrkit.runtime.card as card_mod
        import sdrkit.runtime.session as session_mod

        self._session_mod, self._card_mod = session_mod, card_mod
        self._real_session, self._real_sha = session_mod.onnx_session, card_mod.sha256_file
        self.sessions: dict[tuple, object] = {}
        self.hashes: dict[tuple, str] = {}
        self.misses = 0

    def onnx_session(self, path, threads: int = 1):
        data = Path(path).read_bytes()
        key = (str(path), int(threads), hashlib.sha1(data).hexdigest())
        if key not in self.sessions:
            if len(self.sessions) >= self.MAX:
                self.sessions.clear()
            self.misses += 1
            try:
                self.sessions[key] = self._real_session(path, threads)
            except Exception as exc:  # noqa: BLE001 - the same bytes fail the same way
                traceback.clear_frames(exc.__traceback__)
                self.sessions[key] = exc
        got = self.sessions[key]
        if isinstance(got, BaseException):
            raise got.with_traceback(None)     # a fresh traceback each time, not a growing one
        return got

    def sha256_file(self, path, *args, **kw):
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in self.hashes:
            if len(self.hashes) >= 4 * self.MAX:
                self.hashes.clear()
            self.hashes[key] = self._real_sha(path, *args, **kw)
        return self.hashes[key]

    def install(self) -> None:
        self._session_mod.onnx_session = self.onnx_session
        self._card_mod.sha256_file = self.sha256_file

    def uninstall(self) -> None:
        if self._session_mod.onnx_session == self.onnx_session:
            self._session_mod.onnx_session = self._real_session
        if self._card_mod.sha256_file == self.sha256_file:
            self._card_mod.sha256_file = self._real_sha


class CardTarget:
    name = "card"

    def __init__(self):
        self._tmp = None
        self._pristine: dict[str, dict[str, bytes]] = {}
        self._cache: dict[str, tuple | None] = {}
        self.sessions: SessionCache | None = None

    def _setup(self) -> None:
        self.sessions = SessionCache()
        self.sessions.install()
        self._tmp = scratch_dir("sdrkit-fuzz-card-")
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
            key = _outcome_key(card, damage, onnx)
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
        if self.sessions is not None:
            self.sessions.uninstall()
            self.sessions = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _outcome_key(card, damage: int, onnx: str | None) -> str:
    """What decides the predictor's outcome: the damage, and every field of the loaded card
    but ``metrics`` (large, read by no predictor). ``repr`` keeps 1, 1.0 and True apart."""
    import dataclasses

    return repr((damage, onnx, [(f.name, getattr(card, f.name)) for f in dataclasses.fields(card)
                                if f.name != "metrics"]))


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
