"""``sdrkit spectrogram REC --out PNG``: plot a recording's spectrogram."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("spectrogram", help="write a spectrogram PNG of a recording",
                       description="Spectrogram of a SigMF recording (annotation labels drawn at the right edge).")
    p.add_argument("recording", help="path to a .sigmf-meta")
    p.add_argument("--out", required=True, help="PNG path")
    p.add_argument("--nfft", type=int, default=1024, help="FFT length (default 1024)")
    p.add_argument("--start", type=float, default=0.0, help="start time, s (default 0)")
    p.add_argument("--duration", type=float, help="seconds to plot (default: all, at most 20e6 samples)")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.capture import open_recording
    from sdrkit.dsp.plot import save_spectrogram_png
    from sdrkit.errors import ConfigError

    with open_recording(args.recording) as rec:
        start = int(args.start * rec.sample_rate)
        if not 0 <= start < rec.num_samples:
            raise ConfigError(f"--start {args.start} s is outside the recording's {rec.duration:.3f} s")
        count = rec.num_samples - start if args.duration is None else int(args.duration * rec.sample_rate)
        count = min(count, rec.num_samples - start, 20_000_000)
        x = rec.read(start, count)
        ann = [(s - start, c, l, f.get("snr_db")) for s, c, l, f in rec.labels()]
        out = save_spectrogram_png(x, rec.sample_rate, rec.center_frequency, args.out, nfft=args.nfft,
                                   annotations=ann, t0=args.start, title=rec.meta_path.name)
    print(f"wrote {out}")
    return 0
