"""``sdrkit classify --radio URI --model CARD``: run any task's model live on any radio.

Pipeline: radio -> framer (the card's frame length and channels) -> the task's predictor
(looked up from the card's task: a gated classifier, nearest prototypes, a segmenter, ...) -> sinks:
the live terminal view, and optionally JSONL (``--jsonl``), a SigMF recording with the
predictions as annotations (``--record``) and a ZeroMQ feed of predictions (``--publish``).
The card is checked against the stream (sample rate, channels) before any sample flows.
When the radio replays a labelled recording (``sim:``), each prediction is scored against
the annotation under its frame; the confusion matrix and score PNGs and ``score.json``
(accuracy overall, per class and per SNR) are written to ``--out``. Frames a calibration
read from the same recording (its shots) are not scored. With ``--calibration`` and no
``--model``, the model is the one the calibration names (found by hash from any folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sdrkit.cli._common import add_radio_options, radio_settings, replay_defaults, resolve_bundled, split_settings


def register(sub) -> None:
    p = sub.add_parser("classify", help="run a model live on a radio's stream (any task)",
                       description=__doc__.split("\n\n")[1])
    add_radio_options(p, radio_required=False)
    p.add_argument("--subscribe", metavar="ENDPOINT", help="an sdrkit stream (same as --radio zmq:ENDPOINT)")
    p.add_argument("--model", metavar="CARD",
                   help="model card (path, or the name of a bundled model: models/NAME/card.json); "
                        "optional with --calibration (the calibration's encoder, found by hash)")
    p.add_argument("--calibration", metavar="FILE", help="calibration file (sdrkit calibrate): nearest prototype")
    p.add_argument("--threshold", type=float, help="the task's decision threshold (what it means: the card's thresholds)")
    p.add_argument("--corrector", metavar="NAME", dest="corrector",
                   help="a signal-processing step the task runs on each frame before its model, e.g. cfo or "
                        "cfo-refine (blind carrier-offset correction, for a receiver whose raw offset exceeds the "
                        "card's envelope); default none. Which names a task offers: its guide (docs/); a task "
                        "without any refuses it. Recorded in --record's metadata and score.json")
    p.add_argument("--task", help="refuse the card unless it is for this task")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--frames", type=int, help="stop once this many frames have arrived (whole radio blocks)")
    p.add_argument("--batch", type=int, default=64, help="max frames per model call (default 64)")
    p.add_argument("--jsonl", help="write one JSON line per frame here")
    p.add_argument("--publish", metavar="ENDPOINT", help="publish predictions as JSON on a ZeroMQ PUB socket")
    p.add_argument("--allow-remote", action="store_true", help="allow --publish on a wildcard address")
    p.add_argument("--out", default="out/classify",
                   help="folder for the scores of a labelled replay: confusion.png, score.png, score.json")
    p.add_argument("--record", metavar="PATH", help="also record the stream to SigMF, predictions as annotations")
    p.add_argument("--view", choices=["terminal", "web", "none"], default="terminal",
                   help="live view: a terminal panel (default), a local web page (spectrum, waterfall, "
                        "predictions, health; also the terminal panel), or none")
    p.add_argument("--view-host", default="127.0.0.1", help="web view address (default 127.0.0.1: this machine only)")
    p.add_argument("--view-port", type=int, default=8050, help="web view port (default 8050; 0: any free port)")
    p.add_argument("--view-rate", type=float, default=10.0, help="web view updates per second (default 10)")
    p.add_argument("--waterfall", metavar="PATH",
                   help="segmentation models whose task draws one: write a waterfall PNG here (grey dB, the mask in "
                        "colour over it, per-label occupancy, the forecast above with --forecast), refreshed while "
                        "the run goes on and once at its end; written atomically (the task's guide in docs/, Live)")
    p.add_argument("--waterfall-every", type=float, default=1.0, metavar="S",
                   help="seconds between waterfall renders, at least (default 1)")
    p.add_argument("--forecast", metavar="CARD",
                   help="with --waterfall: a forecast card of the same task and grid, run on the newest input at "
                        "each render; its predicted next rows are drawn above the waterfall")
    p.add_argument("--fast", action="store_true",
                   help="a sim: radio as fast as possible (default: real time, ?realtime=1)")
    p.add_argument("--loop", action="store_true", help="a sim: radio loops its recording (default: one-shot, ?loop=0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.errors import ConfigError

    import math

    if bool(args.radio) == bool(args.subscribe):
        raise ConfigError("give exactly one of --radio URI or --subscribe ENDPOINT")
    if not args.model and not args.calibration:
        raise ConfigError("give --model CARD (or --calibration FILE, whose encoder is then the model)")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ConfigError(f"--seconds {args.seconds} must be a finite number > 0")
    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames {args.frames} must be >= 1")
    if args.batch < 1:
        raise ConfigError(f"--batch {args.batch} must be >= 1 frame per model call")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is a file; it must be a folder (for confusion.png)")
    uri, settings = split_settings(args.radio or f"zmq:{args.subscribe}")
    settings.update(radio_settings(args))
    uri = replay_defaults(uri, loop=args.loop, fast=args.fast)
    return live(uri, args.model, seconds=args.seconds, frames=args.frames,
                settings=settings,
                batch=args.batch, threshold=args.threshold, calibration=args.calibration, task=args.task,
                corrector=args.corrector, waterfall=args.waterfall, waterfall_every=args.waterfall_every,
                forecast=args.forecast,
                jsonl=args.jsonl, out_dir=args.out, record=args.record, publish=args.publish,
                allow_remote=args.allow_remote, view=args.view,
                view_options={"host": args.view_host, "port": args.view_port, "rate": args.view_rate})


def live(radio_uri: str, card_path, seconds: float | None = None, frames: int | None = None, batch: int = 64,
         threshold: float | None = None, calibration: str | None = None, task: str | None = None, jsonl=None,
         out_dir="out/classify", record=None, publish=None, allow_remote: bool = False,
         settings: dict | None = None, view: str = "terminal", view_options: dict | None = None,
         corrector: str | None = None, waterfall=None, waterfall_every: float | None = None,
         forecast=None) -> int:
    """Run a card's predictor live on ``radio_uri``; returns 0. Used by ``classify`` and ``demo``.

    Args:
        settings: radio settings to apply first (pyadi-iio names: ``sample_rate``, ``rx_lo``, ...).
        view: ``terminal`` (the live panel), ``web`` (:class:`~sdrkit.sinks.web.WebView` and the
            panel) or ``none``.
        view_options: the web view's ``host``, ``port``, ``rate``.
        corrector: the task's corrector run on each frame before its model (``PredictorOptions.corrector``; None or
            ``"none"``: the raw frames); written into ``record``'s global metadata and score.json as
            ``corrector``.
        waterfall, waterfall_every, forecast: a waterfall PNG path, seconds between renders and a forecast
            card, for a predictor that draws a waterfall (``waterfall_options`` / ``waterfall_sink``).

    Raises:
        ModelInputMismatch: the stream's rate or channels do not fit the card.
        ConfigError: ``task`` differs from the card's, an option the task has no use for, or a corrector
            the task does not offer.
    """
    from sdrkit.dsp.framing import Framer
    from sdrkit.errors import ConfigError
    from sdrkit.radio import open_radio
    from sdrkit.runtime import check_stream, load_card
    from sdrkit.runtime.predict import PredictorOptions
    from sdrkit.sinks import JsonlSink, ScoreSink, SigMFSink, TerminalView, ZmqSink
    from sdrkit.sinks.score import Truth
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks import get_task

    if card_path is None:
        from sdrkit.runtime.calibration import calibration_card, load_calibration

        card = calibration_card(load_calibration(calibration))
    else:
        card = load_card(resolve_bundled("models", card_path))
    if task and task != card.task:
        raise ConfigError(f"--task {task} but the card {card.path} is a model of task {card.task!r}; drop --task or "
                          f"pass a "
                          f"{task} card")
    options = PredictorOptions(threshold=threshold, calibration=calibration, corrector=corrector)
    the_task = get_task(card.task)
    options.check_corrector(card.task, getattr(the_task, "correctors", ()))
    predictor = the_task.predictor(card, options)
    corrector_used = options.corrector or "none"
    waterfall_opts = None
    if waterfall or forecast:
        if not hasattr(predictor, "waterfall_options"):
            flag = "--waterfall" if waterfall else "--forecast"
            raise ConfigError(f"{flag} needs a segmentation model that draws a waterfall, but --model {card.path} is "
                              f"a model of task {card.task!r} with output {card.output.kind!r}; pass --model "
                              f"{' or '.join(_waterfall_cards()) or 'a segmentation card'} (or drop {flag})")
        waterfall_opts = predictor.waterfall_options(waterfall, waterfall_every, forecast)
    if getattr(predictor, "note", ""):
        print(predictor.note)
    with open_radio(radio_uri) as radio:
        if settings:
            radio.configure(**settings)
        channels = check_stream(card, radio.sample_rate, card.input.frame_len,
                                channels=len(getattr(radio, "rx_enabled_channels", None) or [0]))
        framer = Framer(card.input.frame_len, channels=channels)
        truth = Truth(radio)
        _exclude_calibration_frames(truth, radio, getattr(predictor, "exclude_ranges", None))
        score = ScoreSink(truth, getattr(predictor, "classes", None) or card.classes, out_dir) \
            if truth.ok and (getattr(predictor, "classes", None) or card.classes) else None
        pipe = Pipeline(radio, predictor, framer, batch=batch)
        sinks = [ZmqSink(publish, card.name, allow_remote=allow_remote)] if publish else []   # may refuse its bind
        web = None
        if view == "web":
            from sdrkit.sinks.web import WebView

            opts = dict(view_options or {})
            web = WebView(pipe.stats, radio, score=score, queue=lambda: pipe.queued, title=card.name,
                          allow_remote=allow_remote, **opts)
            print(f"live view: {web.url} (Ctrl-C stops)", flush=True)
            sinks.append(web)
        if view in ("terminal", "web"):
            sinks += [TerminalView(pipe.stats, score=score, queue=lambda: pipe.queued, nominal=radio.sample_rate)]
        sinks += [score] if score else []
        sinks += [JsonlSink(jsonl, truth=truth)] if jsonl else []
        if record:
            rec_sink = SigMFSink(record, radio, card.name, radio_uri)
            # not 'front_end': recordings use sdrkit:front_end for the receiver's identity (calibrate reads it)
            rec_sink.writer.set_global(corrector=corrector_used)
            sinks.append(rec_sink)
        if waterfall_opts is not None:
            sinks.append(predictor.waterfall_sink(waterfall_opts, radio.rx_lo, radio.sample_rate, pipe.stats,
                                                  title=radio_uri))
        pipe.sinks = sinks
        try:
            st = pipe.run(seconds=seconds, frames=frames)
        finally:
            if web is not None:
                web.shutdown()
    print(st.summary())
    for line in pipe.summary:
        print(line)
    fe_cpu = getattr(predictor, "front_end_cpu_seconds", None)
    if options.corrector and fe_cpu is not None and st.frames_analyzed:
        print(f"corrector {options.corrector}: {fe_cpu / st.frames_analyzed * 1e6:.1f} us CPU/frame")
    if score is not None and score.scored:
        path = write_score_json(score, Path(out_dir) / "score.json", model=str(card.path), radio=radio_uri,
                                calibration=calibration, corrector=corrector_used)
        print(f"wrote {path}")
    return 0


def _waterfall_cards() -> list[str]:
    """Bundled cards with a mask output (segmentation models), as models/.../card.json paths."""
    import json

    from sdrkit.errors import ConfigError
    from sdrkit.resources import bundled_dir

    try:
        root = bundled_dir("models")
    except ConfigError:                  # no bundled models/ folder
        return []
    out = []
    for p in sorted(root.glob("*/*/card.json")) + sorted(root.glob("*/card.json")):
        try:
            kind = json.loads(p.read_text()).get("output", {}).get("kind")
        except (OSError, ValueError, AttributeError):
            continue
        if kind == "mask" and "scratch" not in p.parent.name:
            out.append(f"models/{p.relative_to(root).as_posix()}")
    return out


def _exclude_calibration_frames(truth, radio, ranges) -> None:
    """Make ``truth`` skip the sample ranges a calibration read from this very recording."""
    rec = getattr(radio, "recording", None)
    if not ranges or not truth.ok or rec is None:
        return
    import numpy as np

    mine = ranges.get(str(Path(rec.meta_path).resolve()))
    if not mine:
        return
    a = np.array([r[0] for r in mine], np.int64)
    b = a + np.array([r[1] for r in mine], np.int64)
    i = np.searchsorted(a, truth.starts, side="right") - 1
    inside = (i >= 0) & (truth.ends <= b[np.maximum(i, 0)])
    if inside.all():
        print("note: every labelled frame of this recording was a calibration shot, so the accuracy below is on "
              "the shots themselves; calibrate with --split 0.5 (or --offset/--time-range) to keep frames for a "
              "clean test", file=sys.stderr)
        return
    lookup = truth.lookup

    def skip_calibration(start: int, length: int):
        t = lookup(start, length)
        if t is None:
            return None
        i = np.searchsorted(a, t[2], side="right") - 1
        return None if i >= 0 and t[2] < b[i] else t

    truth.lookup = skip_calibration
    truth.excluded_frames = int(((b - a).sum()))


def write_score_json(score, path, **info) -> Path:
    """The scores of a labelled replay as JSON: accuracy overall, per class and per SNR (dB)."""
    from sdrkit.capture.safejson import write_json

    per_snr, per_class = score.tables()
    return write_json(path, {
        **info, "frames": score.scored, "distinct_frames": score.distinct, "accuracy": score.accuracy,
        "per_class": {k: {"accuracy": c / n, "correct": c, "frames": n} for k, (c, n) in per_class.items()},
        "per_snr": {f"{s:g}": {"accuracy": c / n, "correct": c, "frames": n} for s, (c, n) in per_snr.items()}})
