"""``sdrkit replay --radio URI``: stream a radio and report stream health."""

from __future__ import annotations

import time

from sdrkit.cli._common import add_radio_options, open_radio_from_args
from sdrkit.sinks.terminal import StatusLine


def register(sub) -> None:
    p = sub.add_parser("replay", help="stream a radio (e.g. a recording via sim:) and print stream health",
                       description="Read blocks from any radio and report rate, gaps and lost samples.")
    add_radio_options(p)
    p.add_argument("--blocks", type=int, help="stop after this many blocks (default: until the end or Ctrl-C)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--realtime", action="store_true",
                   help="pace a sim: radio at its sample rate (real radios always stream in real time)")
    p.set_defaults(func=run)


def with_option(uri: str, key: str, value: str) -> str:
    """``uri`` with ``key=value`` appended to its query (replacing an earlier one)."""
    base, _, query = uri.partition("?")
    parts = [q for q in query.split("&") if q and q.partition("=")[0] != key]
    return f"{base}?{'&'.join(parts + [f'{key}={value}'])}"


def run(args) -> int:
    import sys

    from sdrkit.errors import RadioTimeout

    if args.realtime:
        if args.radio.startswith("sim:"):
            args.radio = with_option(args.radio, "realtime", "1")
        else:
            print(f"note: --realtime only paces sim: radios; {args.radio.partition(':')[0]}: radios always "
                  f"stream in real time", file=sys.stderr)
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
