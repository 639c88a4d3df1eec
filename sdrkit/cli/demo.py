"""``sdrkit demo``: the main job on the embedded default.

Replays a bundled capture through the simulated radio in real time, shows live stream
health and writes a spectrogram PNG (with the recording's labels drawn on it). When the
bundled demo model exists (``sdrkit.resources.DEMO``), the demo classifies the stream live
with it instead (see ``sdrkit classify``).

The streaming loop (:func:`stream_and_plot`) takes an ``on_block`` hook that sees every
block and may add text to the live status line: live classification plugs in there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable



def default_capture() -> Path | None:
    """The bundled capture the demo replays: ``DEMO["capture"]`` if present, else the first
    bundled capture (None when there is none)."""
    from sdrkit.resources import DEMO, names, resolve

    found = names("captures")
    if DEMO["capture"] in found:
        return resolve("captures", DEMO["capture"])
    return resolve("captures", found[0]) if found else None


def default_model() -> Path | None:
    """The bundled demo model's card, or None when it is not installed."""
    from sdrkit.errors import ConfigError
    from sdrkit.resources import DEMO, resolve

    try:
        return resolve("models", DEMO["model"])
    except ConfigError:
        return None


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: live stream of a bundled capture (classified when a model exists)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--capture", help="SigMF recording to replay (default: captures/demo_mixed, else the first "
                                     "captures/*.sigmf-meta)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds to stream (default 5)")
    p.add_argument("--out", default="out/demo",
                   help="output folder for PNGs (spectrogram.png), or a .png path (default out/demo)")
    p.add_argument("--model", help="model card for live classification (default: the bundled demo model)")
    p.add_argument("--no-model", action="store_true", help="stream and plot only, even if a model exists")
    p.add_argument("--front-end", help="impair the replay with a named front end (e.g. fe-b)")
    p.add_argument("--view", choices=["terminal", "web"], default="terminal",
                   help="live view when classifying: terminal panel, or also a local web page (see classify)")
    p.add_argument("--view-port", type=int, default=8050, help="web view port (default 8050; 0: any free port)")
    p.set_defaults(func=run)


def _uri(capture, front_end: str | None) -> str:
    uri = f"sim:{capture}?loop=1&realtime=1"
    if front_end:
        uri += f"&front_end={front_end}"
    return uri


def _out_paths(out: str) -> tuple[Path, Path]:
    """(folder, spectrogram PNG path) from ``--out``."""
    p = Path(out)
    if p.suffix.lower() == ".png":
        return p.parent, p
    return p, p / "spectrogram.png"


def run(args) -> int:
    from sdrkit.errors import CaptureError, ConfigError

    if args.seconds <= 0:
        raise ConfigError(f"--seconds {args.seconds} must be > 0")
    capture = args.capture or default_capture()
    if capture is None:
        raise CaptureError("no bundled capture found; pass --capture PATH or make one with "
                           "'sdrkit synth --out captures/demo_mixed'")
    if not Path(capture).exists():
        raise CaptureError(f"{capture}: capture not found; pass --capture PATH or run 'sdrkit synth' to make one")
    out_dir, png = _out_paths(args.out)
    uri = _uri(capture, args.front_end)
    model = args.model or default_model()
    if not args.no_model and model is not None:
        from sdrkit.cli import classify

        if not args.model:
            print(f"demo: classifying with the bundled live model {model} (fp32 reference: --model amc)", flush=True)
        return classify.live(radio_uri=uri, card_path=model, seconds=args.seconds, out_dir=out_dir,
                             view=getattr(args, "view", "terminal"),
                             view_options={"port": getattr(args, "view_port", 8050)})
    return stream_and_plot(uri, args.seconds, png)


def _labels_in_window(radio, start: int, count: int) -> list[tuple[int, int, str]]:
    """Recording labels overlapping stream samples ``[start, start+count)``, relative to
    ``start`` (only when the replay runs at the recording's own rate and frequency)."""
    rec = getattr(radio, "recording", None)
    if rec is None or radio.sample_rate != rec.sample_rate or radio.rx_lo != rec.center_frequency:
        return []
    n = rec.num_samples
    out = []
    for s, c, label, _ in rec.labels():
        if label is None or label == "gap":
            continue
        for k in range(start // n - 1, (start + count) // n + 1):
            a = s + k * n
            if a < start + count and a + c > start:
                out.append((a - start, c, str(label)))
    return out


def stream_and_plot(uri: str, seconds: float, png: Path,
                    on_block: Callable | None = None) -> int:
    """Stream ``uri`` for ``seconds`` with a live health line, then write a spectrogram PNG.

    Args:
        uri: radio URI (normally ``sim:...?realtime=1``).
        seconds: wall-clock seconds to stream.
        png: spectrogram PNG path (its folder is created).
        on_block: called with every RxBlock; may return a short text shown in the status
            line (e.g. the current prediction).

    Returns:
        0.
    """
    import numpy as np

    from sdrkit.sinks.terminal import StatusLine
    from sdrkit.dsp.plot import save_spectrogram_png
    from sdrkit.radio import open_radio

    status = StatusLine()
    keep: list = []
    kept = 0
    with open_radio(uri) as radio:
        fs, fc = radio.sample_rate, radio.rx_lo
        max_keep = int(2 * fs)
        t0 = time.perf_counter()
        n = blocks = 0
        end = 0
        while time.perf_counter() - t0 < seconds:
            try:
                b = radio.rx()
            except EOFError:
                break
            blocks += 1
            n += len(b)
            end = b.start + len(b)
            keep.append(b)
            kept += len(b)
            while kept - len(keep[0]) >= max_keep:
                kept -= len(keep.pop(0))
            extra = on_block(b) if on_block is not None else None
            power = 10 * np.log10(np.mean(np.abs(b.samples) ** 2) + 1e-20)
            dt = time.perf_counter() - t0
            status.update(f"{dt:5.1f}s  {n / dt / 1e6:6.3f} MS/s (nominal {fs / 1e6:g})  blocks {blocks}  "
                          f"power {power:6.1f} dBFS  gaps {radio.overflows}  dropped {radio.samples_lost}"
                          + (f"  {extra}" if extra else ""))
        status.close()
        lost = radio.samples_lost
        if not keep:
            from sdrkit.errors import CaptureError

            raise CaptureError(f"{uri}: the radio delivered no samples to plot")
        x = np.concatenate([b.samples for b in keep])[-max_keep:]
        w0 = end - len(x)
        labels = _labels_in_window(radio, w0, len(x)) if radio.samples_lost == 0 else []
    out = save_spectrogram_png(x, fs, fc, png, title=f"sdrkit demo: {uri}", annotations=labels,
                               t0=w0 / fs)
    print(f"streamed {n} samples in {blocks} blocks ({n / fs:.2f} s of signal), {lost} lost; wrote {out}")
    return 0
