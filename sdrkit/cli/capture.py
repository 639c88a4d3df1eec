"""``sdrkit capture --radio URI --duration S --out PATH``: record a radio to SigMF.

Every block the radio reports as following a gap becomes a ``gap`` annotation with the
number of samples lost, so a recording never hides a drop. Every enabled channel is recorded
(a multi-channel radio gives a multi-channel SigMF recording, ``core:num_channels``, with the
radio's channel indices in ``sdrkit:channels``). The writer is crash-safe: a capture killed
midway is still a readable recording (see sdrkit.capture.writer).
"""

from __future__ import annotations

import math
import sys
import time

from sdrkit.cli._common import add_radio_options, open_radio_from_args, replay_mode
from sdrkit.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("capture", help="record a radio to a SigMF recording (with progress)",
                       description=__doc__.split("\n\n")[1])
    add_radio_options(p, radio_required=False)
    p.add_argument("--subscribe", metavar="ENDPOINT",
                   help="record an sdrkit stream instead of a radio (same as --radio zmq:ENDPOINT)")
    p.add_argument("--duration", type=float, required=True, help="seconds of samples to record")
    p.add_argument("--out", required=True, help="output base path")
    p.add_argument("--datatype", default="cf32_le", choices=["cf32_le", "ci16_le", "ci8", "cu8"])
    p.add_argument("--overwrite", action="store_true", help="replace an existing recording")
    p.set_defaults(func=run)


MAX_CAPTURE_SAMPLES = 1 << 48      # 2 PiB of cf32 per channel: beyond it a duration is a mistake, not a plan


def samples_for(duration: float, sample_rate: float) -> int:
    """How many samples ``duration`` seconds are at ``sample_rate`` samples/s.

    Raises:
        ConfigError: the product is not finite or exceeds :data:`MAX_CAPTURE_SAMPLES`.
    """
    n = duration * sample_rate
    if not (math.isfinite(n) and 0 <= n <= MAX_CAPTURE_SAMPLES):
        raise ConfigError(f"--duration {duration:g} s at {sample_rate:g} samples/s is {n:g} samples, more than "
                          f"the {MAX_CAPTURE_SAMPLES} one capture can record; give a shorter --duration")
    return int(round(n))


def run(args) -> int:
    from tqdm import tqdm

    from sdrkit.capture import RecordingWriter

    if bool(args.radio) == bool(args.subscribe):
        raise ConfigError("give exactly one of --radio URI or --subscribe ENDPOINT")
    if args.subscribe:
        args.radio = f"zmq:{args.subscribe}"
    if not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(f"--duration {args.duration} must be a finite number of seconds > 0")
    if args.radio.startswith("sim:"):
        import sys

        print(replay_mode(args.radio), file=sys.stderr)
    with open_radio_from_args(args) as radio:
        cfg = radio.config
        total = samples_for(args.duration, cfg.sample_rate)
        hw = getattr(radio, "hw_description", None) or repr(radio)
        channels = list(cfg.rx_enabled_channels)
        nch = len(channels)
        extra = {"radio_config": cfg.to_dict(), "radio_uri": args.radio, "command": args.command_line,
                 "channels": channels}
        if getattr(radio, "front_end", None) is not None:
            extra["front_end"] = radio.front_end.name
        t0 = time.perf_counter()
        with RecordingWriter(args.out, sample_rate=cfg.sample_rate, center_frequency=cfg.rx_lo, hw=hw,
                             datatype=args.datatype, extra_global=extra, overwrite=args.overwrite,
                             num_channels=nch) as w, \
                tqdm(total=total, unit="S", unit_scale=True, desc="capture", disable=None) as bar:
            try:
                got, gaps, timeouts, stop = _record(radio, w, bar, args, total, channels, nch)
            except BaseException as e:      # disconnect, SIGINT, a bad block: say why the file ends here
                stop = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                w.set_global(lost_samples=radio.samples_lost, stopped_by=stop, requested_samples=total)
                raise
            w.set_global(lost_samples=radio.samples_lost, timeouts=timeouts, stopped_by=stop,
                         requested_samples=total)
        dt = time.perf_counter() - t0
    ch = f" x {nch} channels" if nch > 1 else ""
    print(f"wrote {w.meta_path}: {got} samples{ch} ({got / cfg.sample_rate:.3f} s) in {dt:.2f} s; "
          f"{gaps} gaps, {radio.samples_lost} samples lost, {timeouts} timeouts ({stop})")
    return 1 if stop.startswith("stopped:") else 0


MAX_TIMEOUTS_IN_A_ROW = 5


def _record(radio, w, bar, args, total: int, channels: list, nch: int):
    """Read blocks into the writer until ``total`` samples; (got, gaps, timeouts, why it stopped)."""
    from sdrkit.errors import DeviceError, RadioTimeout

    got = gaps = timeouts = 0
    run = 0                      # timeouts in a row: a stream that stopped delivering is given up on
    stop = "duration reached"
    while got < total:
        try:
            b = radio.rx()
        except RadioTimeout as exc:
            timeouts += 1
            run += 1
            if run == 1:
                print(f"warning: {exc} (retrying; the capture stops after {MAX_TIMEOUTS_IN_A_ROW} in a row)",
                      file=sys.stderr)
            if run >= MAX_TIMEOUTS_IN_A_ROW:
                stop = (f"stopped: {run} rx() timeouts in a row at sample {got} of {total} (the radio stopped "
                        f"delivering; at sample_rate={radio.sample_rate / 1e6:g} MS/s check the link's sustainable "
                        f"rate ('sdrkit profiles') or lower --sample-rate)")
                break
            continue
        except EOFError:
            stop = "end of stream"
            break
        run = 0
        if b.lost:
            gaps += 1
            w.add_gap(got, b.lost)
        x = b.samples
        got_ch = 1 if x.ndim == 1 else x.shape[0]
        if got_ch != nch:
            raise DeviceError(f"{args.radio} delivered a block of {got_ch} channel(s) at sample {b.start}, "
                              f"but rx_enabled_channels={channels} says {nch}; the recording would "
                              f"mix channels, so the capture stops here ({got} samples written)")
        x = x[..., : total - got]
        w.write(x)
        got += x.shape[-1]
        bar.update(x.shape[-1])
    return got, gaps, timeouts, stop
