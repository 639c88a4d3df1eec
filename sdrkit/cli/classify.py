"""``sdrkit classify --radio URI --model CARD``: live classification of any radio's stream.

Pipeline: radio -> framer (non-overlapping ``frame_len`` frames) -> batched, entropy-gated
onnxruntime model -> live terminal view (rolling prediction, frames/s, fraction exiting
early, latency) and optional JSONL. The model card is checked against the stream's sample
rate before any sample flows. When the radio replays a labelled recording (``sim:``), each
prediction is scored against the annotation under its frame, accuracy is reported and a
confusion matrix PNG is written.
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("classify", help="classify a radio's stream live with a model card",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--radio", metavar="URI", help="radio URI (sim:, pluto:, usrp:, zmq:, ...)")
    p.add_argument("--subscribe", metavar="ENDPOINT", help="classify an sdrkit stream (same as --radio zmq:ENDPOINT)")
    p.add_argument("--model", default="models/amc/card.json", help="model card (default models/amc/card.json)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--batch", type=int, default=64, help="max frames per model call (default 64)")
    p.add_argument("--threshold", type=float, help="override the card's entropy threshold (nats)")
    p.add_argument("--jsonl", help="write one JSON line per frame here")
    p.add_argument("--out", default="out/classify", help="folder for the confusion matrix PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.errors import ConfigError

    if bool(args.radio) == bool(args.subscribe):
        raise ConfigError("give exactly one of --radio URI or --subscribe ENDPOINT")
    return live(args.radio or f"zmq:{args.subscribe}", args.model, seconds=args.seconds, frames=args.frames, batch=args.batch,
                threshold=args.threshold, jsonl=args.jsonl, out_dir=args.out)


class _Truth:
    """Label of a frame from the replayed recording's annotations (sim: radios only)."""

    def __init__(self, radio):
        self.ok = False
        rec = getattr(radio, "recording", None)
        if rec is None or radio.sample_rate != rec.sample_rate or radio.rx_lo != rec.center_frequency:
            return
        lab = [(s, s + c, l) for s, c, l, _ in rec.labels() if l and l != "gap" and c > 0]
        if not lab:
            return
        self.starts = np.array([a for a, _, _ in lab])
        self.ends = np.array([b for _, b, _ in lab])
        self.labels = [l for _, _, l in lab]
        self.n = rec.num_samples
        self.loop = radio.loop
        self.ok = True

    def label(self, start: int, length: int):
        s = start % self.n if self.loop else start
        e = s + length
        i = np.searchsorted(self.starts, s, side="right") - 1
        if i < 0 or e > self.ends[i]:
            return None          # frame spans a label boundary or the loop point
        return self.labels[i]


def live(radio_uri: str, card_path, seconds: float | None = None, frames: int | None = None, batch: int = 64,
         threshold: float | None = None, jsonl=None, out_dir="out/classify") -> int:
    """Run the live classifier; returns 0. Used by ``sdrkit classify`` and ``sdrkit demo``."""
    from sdrkit.cli._common import StatusLine
    from sdrkit.radio import open_radio
    from sdrkit.runtime import check_stream, load_card
    from sdrkit.tasks.amc.gated import GatedClassifier

    card = load_card(card_path)
    clf = GatedClassifier(card, threshold=threshold, threads=1)
    n = card.input.frame_len
    status = StatusLine()
    jf = open(jsonl, "w") if jsonl else None
    recent = collections.deque(maxlen=16)
    stats = dict(frames=0, exited=0, batches=0, model_s=0.0)
    y_true, y_pred = [], []
    with open_radio(radio_uri) as radio:
        check_stream(card, radio.sample_rate, n)
        truth = _Truth(radio)
        buf = np.zeros(0, np.complex64)
        buf_start = None
        t0 = time.perf_counter()
        while True:
            el = time.perf_counter() - t0
            if (seconds is not None and el >= seconds) or (frames is not None and stats["frames"] >= frames):
                break
            try:
                b = radio.rx()
            except EOFError:
                break
            x = b.samples if b.samples.ndim == 1 else b.samples[0]
            if b.lost or buf_start is None:
                buf, buf_start = x, b.start       # a gap: never build a frame across lost samples
            else:
                buf = np.concatenate([buf, x])
            k = len(buf) // n
            if k == 0:
                continue
            starts = buf_start + n * np.arange(k)
            fr = buf[: k * n].reshape(k, n)
            buf, buf_start = buf[k * n:], buf_start + k * n
            for i in range(0, k, batch):
                r = clf.predict(fr[i:i + batch])
                stats["frames"] += len(r.pred)
                stats["exited"] += int(r.exited.sum())
                stats["batches"] += 1
                stats["model_s"] += r.seconds
                for j, (p, e) in enumerate(zip(r.pred, r.exited)):
                    name = card.classes[p]
                    recent.append(name)
                    st = int(starts[i + j])
                    t = truth.label(st, n) if truth.ok else None
                    if t is not None:
                        y_true.append(t)
                        y_pred.append(name)
                    if jf:
                        jf.write(json.dumps({"start": st, "pred": name, "p": float(r.prob[j, p]),
                                             "exited": bool(e), "truth": t}) + "\n")
            el = time.perf_counter() - t0
            top = collections.Counter(recent).most_common(1)[0][0]
            acc = f"  acc {np.mean(np.array(y_true) == np.array(y_pred)):.1%}" if y_true else ""
            status.update(f"{el:5.1f}s  now: {top:7s} | {stats['frames'] / el:7.0f} frames/s  "
                          f"early exit {stats['exited'] / max(stats['frames'], 1):5.1%}  "
                          f"model {stats['model_s'] / max(stats['frames'], 1) * 1e3:.3f} ms/frame  "
                          f"lost {radio.samples_lost}{acc}")
        status.close()
        lost = radio.samples_lost
    if jf:
        jf.close()
    el = time.perf_counter() - t0
    print(f"{stats['frames']} frames in {el:.1f} s ({stats['frames'] / max(el, 1e-9):.0f} frames/s), "
          f"{stats['exited'] / max(stats['frames'], 1):.1%} exited early, model "
          f"{stats['model_s'] / max(stats['frames'], 1) * 1e3:.3f} ms/frame, {lost} samples lost")
    if y_true:
        acc = float(np.mean(np.array(y_true) == np.array(y_pred)))
        png = _confusion_png(y_true, y_pred, list(card.classes), Path(out_dir) / "confusion.png", acc)
        print(f"accuracy against the recording's labels: {acc:.1%} over {len(y_true)} frames; wrote {png}")
    return 0


def _confusion_png(y_true, y_pred, classes, path: Path, acc: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = classes + sorted(set(y_true) - set(classes))
    ix = {c: i for i, c in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(y_true, y_pred):
        cm[ix[t], ix[p]] += 1
    cmn = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if cmn[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true (annotation)", title=f"live classification, accuracy {acc:.1%}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
