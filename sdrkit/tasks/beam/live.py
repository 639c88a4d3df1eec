"""Live nearest-prototype classification with a calibration file (any task with an encoder)."""

from __future__ import annotations

import collections
import json
import time

import numpy as np


def classify_calibrated(radio_uri: str, calibration, model=None, seconds: float | None = None,
                        frames: int | None = None, batch: int = 64, jsonl=None) -> int:
    """Frame the radio's stream, embed with the calibration's encoder, classify by nearest prototype.

    Raises:
        ModelError: the encoder differs from the one the calibration was made with.
        ModelInputMismatch: the stream's sample rate differs from the encoder's.
    """
    from sdrkit.cli._common import StatusLine
    from sdrkit.cli.classify import _Truth
    from sdrkit.radio import open_radio
    from sdrkit.runtime import check_stream, load_card
    from sdrkit.runtime.calibration import load_calibration
    from sdrkit.tasks.beam.calibrate import Embedder

    cal = load_calibration(calibration)
    card = load_card(model or cal.encoder.get("card") or f"models/{cal.task}/card.json")
    cal.check_encoder(card)
    head = cal.head()
    emb = Embedder(card, threads=1)
    n = card.input.frame_len
    status = StatusLine()
    jf = open(jsonl, "w") if jsonl else None
    recent = collections.deque(maxlen=16)
    y_true, y_pred = [], []
    done = 0
    t0 = time.perf_counter()
    buf = np.zeros(0, np.complex64)
    buf_start = 0
    with open_radio(radio_uri) as radio:
        check_stream(card, radio.sample_rate, n)
        truth = _Truth(radio)
        for blk in radio.stream():
            s = blk.samples if blk.samples.ndim == 1 else blk.samples[0]
            if blk.lost or not len(buf):
                buf, buf_start = s, blk.start
            else:
                buf = np.concatenate([buf, s])
            m = len(buf) // n
            if m == 0:
                continue
            fr = buf[: m * n].reshape(m, n)
            starts = buf_start + n * np.arange(m)
            buf, buf_start = buf[m * n:], buf_start + m * n
            pred = head.predict(emb(fr, batch=batch))
            for st, p in zip(starts, pred):
                name = head.classes[p]
                recent.append(name)
                t = truth.label(int(st), n) if truth.ok else None
                if t is not None:
                    y_true.append(t)
                    y_pred.append(name)
                if jf:
                    jf.write(json.dumps({"start": int(st), "pred": name, "truth": t}) + "\n")
            done += m
            el = time.perf_counter() - t0
            acc = f"  acc {np.mean(np.array(y_true) == np.array(y_pred)):.1%}" if y_true else ""
            status.update(f"{el:5.1f}s  now: {collections.Counter(recent).most_common(1)[0][0]:8s} | "
                          f"{done / el:6.0f} frames/s  front end {cal.front_end}{acc}")
            if (frames and done >= frames) or (seconds and el >= seconds):
                break
    status.close()
    if jf:
        jf.close()
    if y_true:
        print(f"accuracy {np.mean(np.array(y_true) == np.array(y_pred)):.1%} over {len(y_true)} labelled frames")
    return 0
