"""``sdrkit emulate pluto --replay REC``: a virtual ADALM-Pluto on the libiio network protocol."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("emulate", help="run a virtual radio (pluto) that real drivers can talk to",
                       description="Serve a virtual ADALM-Pluto over IIOD so adi.Pluto('ip:127.0.0.1') "
                                   "and sdrkit's pluto: backend work without hardware.")
    p.add_argument("kind", choices=["pluto"], help="radio to emulate")
    p.add_argument("--replay", help="SigMF recording to serve as RX (default: noise only)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=30431, help="TCP port (default 30431, libiio's)")
    p.add_argument("--profile", default="pluto-ad9363", help="firmware profile for setting validation")
    p.add_argument("--front-end", help="impair RX with a named front end")
    p.add_argument("--loopback-snr", type=float, default=30.0, help="TX->RX channel SNR, dB")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-connections", type=int, default=16,
                   help="TCP connections served at once (a libiio client uses 1-3; default 16)")
    p.add_argument("--as-fast-as-possible", action="store_true",
                   help="serve RX/TX as fast as possible (default: paced at the sample rate, with the profile's "
                        "host-rate ceiling; a client that falls behind loses samples, counted)")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.radio.emulator import PlutoEmulator
    from sdrkit.radio.sim import LoopbackChannel

    import logging
    import sys

    class _Stderr(logging.Handler):             # retunes, refusals, overflows: one line each on stderr
        def emit(self, record):
            try:
                print(self.format(record), file=sys.stderr, flush=True)
            except Exception:  # noqa: BLE001
                self.handleError(record)

    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("sdrkit.emulator")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return _serve(args, PlutoEmulator, LoopbackChannel)
    finally:
        logger.removeHandler(handler)


def _serve(args, PlutoEmulator, LoopbackChannel) -> int:
    emu = PlutoEmulator(args.replay, host=args.host, port=args.port, profile=args.profile,
                        front_end=args.front_end, seed=args.seed, loopback=LoopbackChannel(snr_db=args.loopback_snr),
                        max_connections=args.max_connections, pace=not args.as_fast_as_possible)
    print(f"virtual Pluto on {emu.uri} (replaying {args.replay or 'noise'}, profile {args.profile}); "
          f"connect with adi.Pluto('{emu.uri}') or --radio pluto:{emu.uri}. Ctrl-C stops.", flush=True)
    print(f"  {emu.pluto.describe()}", flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emu.server.server_close()
    return 0
