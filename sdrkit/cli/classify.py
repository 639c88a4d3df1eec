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
    p.add_argument("--record", metavar="PATH", help="also record the stream to SigMF, predictions as annotations")
    # beam engineer: nearest-prototype classification with a calibration file (sdrkit calibrate)
    p.add_argument("--task", help="task of --calibration (e.g. beam); informational, the file names its task")
    p.add_argument("--calibration", metavar="FILE", help="calibration file: classify by nearest prototype")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.errors import ConfigError

    if getattr(args, "calibration", None):
        from sdrkit.tasks.beam.live import classify_calibrated

        if bool(args.radio) == bool(args.subscribe):
            raise ConfigError("give exactly one of --radio URI or --subscribe ENDPOINT")
        return classify_calibrated(args.radio or f"zmq:{args.subscribe}", args.calibration,
                                   model=None if args.model == "models/amc/card.json" else args.model,
                                   seconds=args.seconds, frames=args.frames, batch=args.batch, jsonl=args.jsonl)

    if bool(args.radio) == bool(args.subscribe):
        raise ConfigError("give exactly one of --radio URI or --subscribe ENDPOINT")
    return live(args.radio or f"zmq:{args.subscribe}", args.model, seconds=args.seconds, frames=args.frames, batch=args.batch,
                threshold=args.threshold, jsonl=args.jsonl, out_dir=args.out, record=args.record)


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
         threshold: float | None = None, jsonl=None, out_dir="out/classify", record=None) -> int:
    """Run the live classifier; returns 0. Used by ``sdrkit classify`` and ``sdrkit demo``."""
    from sdrkit.cli._common import StatusLine
    from sdrkit.radio import open_radio
    from sdrkit.runtime import check_stream, load_card
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks.amc.gated import GatedClassifier

    card = load_card(card_path)
    clf = GatedClassifier(card, threshold=threshold, threads=1)
    n = card.input.frame_len
    status = StatusLine()
    jf = open(jsonl, "w") if jsonl else None
    recent = collections.deque(maxlen=16)
    y_true, y_pred = [], []
    predictions = []
    t0 = time.perf_counter()
    with open_radio(radio_uri) as radio:
        check_stream(card, radio.sample_rate, n)        # refuse a mismatched stream before any sample
        truth = _Truth(radio)
        recorder = None
        if record:
            from sdrkit.capture import RecordingWriter

            recorder = RecordingWriter(record, sample_rate=radio.sample_rate, center_frequency=radio.rx_lo,
                                       hw=getattr(radio, "hw_description", repr(radio)),
                                       extra_global={"radio_uri": radio_uri, "model": card.name,
                                                     "radio_config": radio.config.to_dict()})

        def on_result(starts, r, lat):
            st = pipe.stats
            for st_i, p, e, pr in zip(starts, r.pred, r.exited, r.prob):
                name = card.classes[p]
                recent.append(name)
                t = truth.label(st_i, n) if truth.ok else None
                if t is not None:
                    y_true.append(t)
                    y_pred.append(name)
                if recorder is not None:
                    predictions.append((st_i, name, float(pr[p]), bool(e)))
                if jf:
                    jf.write(json.dumps({"start": int(st_i), "pred": name, "p": float(pr[p]), "exited": bool(e),
                                         "truth": t}) + "\n")
            el = time.perf_counter() - t0
            top = collections.Counter(recent).most_common(1)[0][0]
            acc = f"  acc {np.mean(np.array(y_true) == np.array(y_pred)):.1%}" if y_true else ""
            status.update(f"{el:5.1f}s  now: {top:7s} | {st.frames_analyzed / el:6.0f} frames/s  "
                          f"analyzed {st.analyzed_fraction:5.1%}  early exit "
                          f"{st.frames_exited / max(st.frames_analyzed, 1):5.1%}  latency p50 "
                          f"{np.median(lat) * 1e3:5.1f} ms  queue {len(pipe._q):4d}  lost {st.samples_lost}{acc}")

        pipe = Pipeline(radio, clf, n, batch=batch, on_result=on_result, recorder=recorder)
        try:
            st = pipe.run(seconds=seconds, frames=frames)
        finally:
            if recorder is not None:
                for st_i, name, p, e in predictions:
                    recorder.annotate(pipe.recording_index(st_i), n, name, probability=p,
                                      exited_early=e, source=f"prediction by {card.name}")
                recorder.close()
        status.close()
    if jf:
        jf.close()
    el = time.perf_counter() - t0
    print(f"{st.frames_in} frames in {el:.1f} s; analyzed {st.frames_analyzed} ({st.analyzed_fraction:.1%}), "
          f"{st.frames_exited / max(st.frames_analyzed, 1):.1%} exited early, model "
          f"{st.model_seconds / max(st.frames_analyzed, 1) * 1e3:.3f} ms/frame, latency p50 {st.latency_ms(50):.1f} ms "
          f"p99 {st.latency_ms(99):.1f} ms, {st.samples_lost} samples lost")
    if record:
        print(f"recorded the stream with {len(predictions)} prediction annotations to {record}")
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
