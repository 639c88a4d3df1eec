"""``sdrkit stream --radio URI --publish ENDPOINT``: a capture process that publishes I/Q.

The radio is read as fast as it delivers; each block goes out as one message. With the
``pub`` pattern a slow subscriber loses whole messages (counted on its side) and never slows
the capture; with ``push`` delivery is lossless and back-pressure reaches the radio.
"""

from __future__ import annotations

import math
import time

from sdrkit.cli._common import add_radio_options, open_radio_from_args, replay_mode
from sdrkit.sinks.terminal import StatusLine


def register(sub) -> None:
    p = sub.add_parser("stream", help="publish a radio's I/Q over ZeroMQ (capture process)",
                       description=__doc__.split("\n\n")[1])
    add_radio_options(p, radio_required=False)
    p.add_argument("--publish", default="tcp://127.0.0.1:5555", help="endpoint to bind (default tcp://127.0.0.1:5555)")
    p.add_argument("--pattern", choices=["pub", "push"], default="pub", help="pub (fan-out) or push (lossless)")
    p.add_argument("--stream-name", default="iq", help="stream name (subscribers must use the same)")
    p.add_argument("--raw", action="store_true", help="bare complex64 payloads (GNU Radio gr-zeromq, itemsize 8)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--blocks", type=int, help="stop after this many blocks")
    p.add_argument("--allow-remote", action="store_true", help="allow binding all interfaces (use with --curve-keys)")
    p.add_argument("--curve-keys", help="folder with CURVE keys (server.key_secret): encrypt, and let in only "
                                        "authorized subscribers")
    p.add_argument("--curve-clients", metavar="DIR",
                   help="folder of the subscribers' public keys (*.key) to let in (default CURVE_KEYS/authorized_clients)")
    p.add_argument("--make-keys", metavar="DIR", help="write a CURVE server/client key pair to DIR (secrets 0600), "
                                                      "authorize the client, and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.errors import ConfigError, RadioTimeout
    from sdrkit.stream import Publisher

    if args.make_keys:
        from sdrkit.stream.endpoints import CLIENTS_DIR, make_keys

        make_keys(args.make_keys)
        print(f"wrote server.key, server.key_secret, client.key, client.key_secret (secrets 0600) to "
              f"{args.make_keys}, and authorized client.key in {CLIENTS_DIR}/; give a subscriber client.key_secret "
              f"and server.key; for more subscribers, add their client.key files to {CLIENTS_DIR}/")
        return 0
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ConfigError(f"--seconds {args.seconds} must be a finite number of seconds > 0 (or leave it out to "
                          f"publish until interrupted)")
    if args.blocks is not None and args.blocks < 1:
        raise ConfigError(f"--blocks {args.blocks} must be >= 1 (or leave it out to publish until interrupted)")
    if not args.radio:
        raise ConfigError("--radio URI is required (e.g. --radio sim:captures/demo_mixed.sigmf-meta?realtime=1)")
    if args.radio.startswith("sim:"):
        import sys

        print(replay_mode(args.radio), file=sys.stderr)
    status = StatusLine()
    with open_radio_from_args(args) as radio, \
            Publisher(args.publish, stream=args.stream_name, pattern=args.pattern, raw=args.raw,
                      curve_keys=args.curve_keys, curve_clients=args.curve_clients,
                      allow_remote=args.allow_remote) as pub:
        print(f"publishing {radio!r} on {pub.endpoint} ({args.pattern}{', raw' if args.raw else ''}, "
              f"stream {args.stream_name!r})", flush=True)
        t0 = time.perf_counter()
        blocks = 0
        try:
            while (args.blocks is None or blocks < args.blocks) and \
                    (args.seconds is None or time.perf_counter() - t0 < args.seconds):
                try:
                    b = radio.rx()
                except RadioTimeout:
                    continue
                except EOFError:
                    break
                pub.send(b.samples, b.start, radio.sample_rate, radio.rx_lo, lost=b.lost, overflow=b.overflow)
                blocks += 1
                dt = time.perf_counter() - t0
                status.update(f"{blocks} blocks  {pub.sent_samples / dt / 1e6:7.2f} MS/s  lost at radio "
                              f"{radio.samples_lost}")
        except KeyboardInterrupt:
            pass
        status.close()
        dt = time.perf_counter() - t0
        print(f"published {blocks} blocks, {pub.sent_samples} samples in {dt:.1f} s; radio lost {radio.samples_lost}")
    return 0
