"""``sdrkit rig check RIG``: validate a rig file, open its radios, measure its loopback."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("rig", help="hardware-in-the-loop rigs: check one", description=__doc__.split(":", 1)[1])
    rs = p.add_subparsers(dest="rig_cmd", metavar="CMD")
    c = rs.add_parser("check", help="validate, open every radio, measure the TX->RX loopback")
    c.add_argument("rig", help="rig file (rigs/NAME.yaml) or name")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_check(args) -> int:
    from sdrkit.cli._common import resolve_bundled
    from sdrkit.rigs import check_rig, load_rig

    rig = load_rig(resolve_bundled("rigs", args.rig))
    print(f"rig {rig.name} ({rig.path}): {rig.description}")
    for l in rig.links:
        extra = ", ".join(f"{k}={v}" for k, v in l.params.items())
        print(f"  link {l.src} -> {l.dst}: {l.kind}{' (' + extra + ')' if extra else ''}")
    failures = check_rig(rig)
    if failures:
        print(f"rig {rig.name}: FAILED")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"rig {rig.name}: OK")
    return 0
