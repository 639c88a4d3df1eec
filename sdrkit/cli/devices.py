"""``sdrkit devices``: list reachable radios (libiio scan, UHD find)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("devices", help="list reachable radios (libiio scan, uhd_find_devices)")
    p.add_argument("--ip", action="append", default=[], help="also probe a libiio network URI (ip:HOST[:PORT])")
    p.set_defaults(func=run)


def run(args) -> int:
    found = 0
    try:
        import iio

        try:
            ctxs = iio.scan_contexts()
        except OSError as exc:      # e.g. no avahi daemon for the network (ip:) scan
            print(f"libiio scan incomplete ({exc}); probe a Pluto directly with --ip ip:192.168.2.1")
            ctxs = {}
        for uri, desc in ctxs.items():
            print(f"pluto:{uri:30s} {desc}")
            found += 1
        for uri in args.ip:
            try:
                c = iio.Context(uri)
                print(f"pluto:{uri:30s} {c.attrs.get('hw_model', c.description)}")
                found += 1
            except OSError as exc:
                print(f"pluto:{uri:30s} not reachable ({exc})")
    except (ImportError, OSError) as exc:
        print(f"libiio not available ({exc}); install libiio0 and pylibiio==0.25 (./setup.sh)")
    from sdrkit.errors import DriverMissing
    from sdrkit.radio.usrp import find_devices

    try:
        usrps = find_devices()
        for u in usrps:
            print("usrp:" + " ".join(line.strip() for line in u.splitlines() if ":" in line))
        found += len(usrps)
    except DriverMissing as exc:
        print(f"UHD not available ({exc})")
    if not found:
        print("no radios found (use sim: URIs, or 'sdrkit emulate pluto' for a virtual Pluto)")
    return 0
