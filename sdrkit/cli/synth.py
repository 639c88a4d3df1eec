"""``sdrkit synth``: write a labelled SigMF recording from the synthesizer.

The recording is a sequence of segments, one per (modulation, SNR) pair, each a continuous
signal of ``--frames-per-segment x --frame-len`` samples with random symbol rate, roll-off,
carrier offset and phase, passed through AWGN at the segment's SNR (and optionally
multipath and a named front end). Every segment is annotated with ``core:label`` = the
modulation and ``sdrkit:`` fields (snr_db, sps, rolloff, cfo_hz, front_end). The exact
command line and seed are stored in the global metadata, so the file can be remade.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("synth", help="write a labelled SigMF recording from the synthesizer",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--out", required=True, help="output base path (writes OUT.sigmf-meta and OUT.sigmf-data)")
    p.add_argument("--mods", default="all", help="comma list of modulations, 'all', 'tone' or 'ofdm' (default all)")
    p.add_argument("--snr", default="20", help="comma list of SNRs in dB (default 20)")
    p.add_argument("--frames-per-segment", type=int, default=16, help="frames per (modulation, SNR) segment")
    p.add_argument("--frame-len", type=int, default=1024, help="samples per frame (default 1024)")
    p.add_argument("--sample-rate", type=float, default=1e6, help="samples/s (default 1e6)")
    p.add_argument("--center-frequency", type=float, default=915e6, help="Hz (default 915e6)")
    p.add_argument("--datatype", default="cf32_le", choices=["cf32_le", "ci16_le", "ci8", "cu8"])
    p.add_argument("--multipath", action="store_true", help="add random multipath fading per segment")
    p.add_argument("--max-cfo", type=float, default=0.002, help="max |CFO| as a fraction of fs (default 0.002)")
    p.add_argument("--front-end", help="apply a named front end (sdrkit.radio.frontends)")
    p.add_argument("--shuffle", action="store_true", help="shuffle segment order")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing recording")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from sdrkit.capture import RecordingWriter
    from sdrkit.dsp import MODULATIONS, channel, modulate, ofdm_burst, tone
    from sdrkit.errors import ConfigError

    if args.mods == "all":
        mods = list(MODULATIONS)
    else:
        mods = [m.strip() for m in args.mods.split(",") if m.strip()]
    for m in mods:
        if m not in MODULATIONS and m not in ("tone", "ofdm"):
            raise ConfigError(f"unknown modulation {m!r}; known: {', '.join(MODULATIONS)}, tone, ofdm")
    try:
        snrs = [float(s) for s in args.snr.split(",")]
    except ValueError:
        raise ConfigError(f"--snr {args.snr!r} must be a comma list of numbers, e.g. 0,10,20") from None
    if args.frames_per_segment < 1 or args.frame_len < 16:
        raise ConfigError("--frames-per-segment must be >= 1 and --frame-len >= 16")
    rng = np.random.default_rng(args.seed)
    segs = [(m, s) for m in mods for s in snrs]
    if args.shuffle:
        rng.shuffle(segs)
    n = args.frames_per_segment * args.frame_len
    fe_state = None
    if args.front_end:
        from sdrkit.radio.frontends import get_front_end

        fe_state = get_front_end(args.front_end).state(args.sample_rate, args.seed)
    extra = {"command": getattr(args, "command_line", " ".join(sys.argv)), "seed": args.seed,
             "frame_len": args.frame_len, "generator": "sdrkit.dsp.synth"}
    if args.front_end:
        extra["front_end"] = args.front_end
    with RecordingWriter(args.out, sample_rate=args.sample_rate, center_frequency=args.center_frequency,
                         datatype=args.datatype, hw="sdrkit synthesizer", overwrite=args.overwrite,
                         description=f"sdrkit synth: {len(mods)} signal types x {len(snrs)} SNRs",
                         extra_global=extra) as w:
        start = 0
        for mod, snr in tqdm(segs, desc="synth", unit="seg", disable=None):
            sps = float(rng.integers(4, 17)) / 2  # 2.0 .. 8.0 samples/symbol in half steps
            rolloff = float(rng.choice([0.2, 0.25, 0.35, 0.5]))
            cfo = float(rng.uniform(-args.max_cfo, args.max_cfo))
            if mod == "tone":
                x = tone(n, float(rng.uniform(-0.25, 0.25)))
            elif mod == "ofdm":
                x = ofdm_burst(n, rng=rng)
            else:
                x = modulate(mod, n, rng=rng, sps=sps, rolloff=rolloff)
            if args.multipath:
                x = channel.multipath(x, rng, n_taps=int(rng.integers(1, 5)))
            x = channel.apply_cfo(x, cfo, rng.uniform(0, 2 * np.pi))
            x = channel.awgn(x, snr, rng)
            if fe_state is not None:
                x = fe_state.apply(x)
            # keep integer datatypes from clipping: scale so the peak sits at -1 dBFS
            if args.datatype != "cf32_le":
                x = x * np.float32(0.89 / max(float(np.max(np.abs(x.view(np.float32)))), 1e-9))
            w.write(x)
            fields = dict(snr_db=snr, cfo_hz=cfo * args.sample_rate, frame_len=args.frame_len)
            if mod not in ("tone", "ofdm", "wbfm", "am-dsb", "am-ssb"):
                fields.update(sps=sps, rolloff=rolloff)
            if args.front_end:
                fields["front_end"] = args.front_end
            w.annotate(start, n, mod, **fields)
            start += n
    print(f"wrote {w.meta_path} ({start} samples, {len(segs)} segments)")
    return 0
