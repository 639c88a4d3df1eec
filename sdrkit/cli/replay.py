"""``sdrkit replay --radio URI``: stream a radio and report stream health."""

from __future__ import annotations

import time

from sdrkit.cli._common import add_radio_options, open_radio_from_args, replay_defaults, with_option  # noqa: F401
from sdrkit.sinks.terminal import StatusLine


def register(sub) -> None:
    p = sub.add_parser("replay", help="stream a radio (e.g. a recording via sim:) and print stream health",
                       description="Read blocks from any radio and report rate, gaps and lost samples.")
    add_radio_options(p)
    p.add_argument("--blocks", type=int, help="stop after this many blocks (default: until the end or Ctrl-C)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--realtime", action="store_true",
                   help="pace a sim: radio at its sample rate (the default; real radios always stream in real time)")
    p.add_argument("--fast", action="store_true", help="a sim: radio as fast as possible (not paced; realtime=0)")
    p.add_argument("--loop", action="store_true", help="a sim: radio replays its recording forever (default one-shot)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from sdrkit.errors import RadioTimeout

    from sdrkit.errors import ConfigError

    if args.realtime and args.fast:
        raise ConfigError("give --realtime or --fast, not both")
    if args.radio.startswith("sim:"):
        args.radio = replay_defaults(args.radio, loop=args.loop, fast=args.fast, realtime=args.realtime)
    elif args.realtime or args.fast or args.loop:
        print(f"note: --realtime/--fast/--loop only apply to sim: radios; {args.radio.partition(':')[0]}: radios "
              f"always stream in real time", file=sys.stderr)
    status = StatusLine()
    n = blocks = gaps = timeouts = 0
    with open_radio_from_args(args) as radio:
        t0 = time.perf_counter()     # after opening: the rate is the stream's, not the setup's
        try:
            while args.blocks is None or blocks < args.blocks:
                if args.seconds is not None and time.perf_counter() - t0 >= args.seconds:
                    break
                try:
                    b = radio.rx()
                except RadioTimeout as exc:
                    timeouts += 1
                    status.update(f"timeout: {exc}", force=True)
                    continue
                except EOFError:
                    break
                blocks += 1
                n += len(b)
                gaps += b.gap
                dt = time.perf_counter() - t0
                status.update(f"{blocks} blocks  {n / max(dt, 1e-9) / 1e6:8.2f} MS/s  gaps {gaps}  "
                              f"lost {radio.samples_lost}")
        except KeyboardInterrupt:
            pass
        dt = time.perf_counter() - t0
        status.close()
        print(f"{blocks} blocks, {n} samples in {dt:.3f} s ({n / max(dt, 1e-9) / 1e6:.2f} MS/s), "
              f"{gaps} gaps, {radio.samples_lost} samples lost, {timeouts} timeouts")
    return 0
