"""``sdrkit demo``: the main job on the embedded default.

Replays a bundled capture through the simulated radio in real time, shows live stream
health and writes a spectrogram PNG. When a bundled AMC model exists (``models/amc/``), the
demo classifies the stream live with it instead (see ``sdrkit classify``).
"""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CAPTURE = ROOT / "captures" / "demo_mixed.sigmf-meta"
DEFAULT_MODEL = ROOT / "models" / "amc" / "card.json"


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: live stream of a bundled capture (classified when a model exists)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--capture", default=str(DEFAULT_CAPTURE), help="SigMF recording to replay")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds to stream (default 5)")
    p.add_argument("--out", default="out/demo", help="output folder for PNGs (default out/demo)")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="model card for live classification")
    p.add_argument("--no-model", action="store_true", help="stream and plot only, even if a model exists")
    p.add_argument("--front-end", help="impair the replay with a named front end (e.g. fe-b)")
    p.set_defaults(func=run)


def _uri(args) -> str:
    uri = f"sim:{args.capture}?loop=1&realtime=1"
    if args.front_end:
        uri += f"&front_end={args.front_end}"
    return uri


def run(args) -> int:
    from sdrkit.errors import CaptureError

    if not Path(args.capture).exists():
        raise CaptureError(f"{args.capture}: bundled capture not found; pass --capture PATH or run "
                           f"'sdrkit synth' to make one")
    if not args.no_model and Path(args.model).exists():
        from sdrkit.cli import classify

        return classify.live(radio_uri=_uri(args), card_path=args.model, seconds=args.seconds, out_dir=args.out)
    return stream_and_plot(_uri(args), args.seconds, Path(args.out))


def stream_and_plot(uri: str, seconds: float, out_dir: Path) -> int:
    """Stream ``uri`` for ``seconds`` with a live health line, then write a spectrogram PNG."""
    import numpy as np

    from sdrkit.cli._common import StatusLine
    from sdrkit.dsp.plot import save_spectrogram_png
    from sdrkit.radio import open_radio

    status = StatusLine()
    keep = []
    with open_radio(uri) as radio:
        fs, fc = radio.sample_rate, radio.rx_lo
        max_keep = int(2 * fs)
        t0 = time.perf_counter()
        n = blocks = 0
        power = -np.inf
        while time.perf_counter() - t0 < seconds:
            b = radio.rx()
            blocks += 1
            n += len(b)
            keep.append(b.samples)
            while sum(len(k) for k in keep) - len(keep[0]) >= max_keep:
                keep.pop(0)
            power = 10 * np.log10(np.mean(np.abs(b.samples) ** 2) + 1e-20)
            dt = time.perf_counter() - t0
            status.update(f"{dt:5.1f}s  {n / dt / 1e6:6.3f} MS/s (nominal {fs / 1e6:g})  blocks {blocks}  "
                          f"power {power:6.1f} dBFS  gaps {radio.overflows}  lost {radio.samples_lost}")
        status.close()
        lost = radio.samples_lost
    x = np.concatenate(keep)[-max_keep:]
    png = save_spectrogram_png(x, fs, fc, out_dir / "spectrogram.png", title=f"sdrkit demo: {uri}")
    print(f"streamed {n} samples in {blocks} blocks ({n / fs:.2f} s of signal), {lost} lost; wrote {png}")
    return 0
