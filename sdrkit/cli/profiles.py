"""``sdrkit profiles``: list the bundled firmware profiles or show one."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("profiles", help="list firmware profiles, or show one in full",
                       description="List the bundled firmware profiles (firmware_profiles/*.yaml) or show one.")
    p.add_argument("name", nargs="?", help="profile name or path to a profile .yaml; omit to list all")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(func=run)


def _fmt_range(r) -> str:
    return f"{r.min:g} .. {r.max:g} {r.unit}".rstrip()


def run(args) -> int:
    from sdrkit.profiles import load_profile, profile_names

    if not args.name:
        rows = []
        for name in profile_names():
            prof = load_profile(name)
            lo = prof.ranges.get("rx_lo")
            fs = prof.ranges.get("sample_rate")
            host = prof.host_streaming_rate.get("value")
            rows.append((name, prof.radio,
                         f"{lo.min / 1e6:g}-{lo.max / 1e6:g} MHz" if lo else "-",
                         f"{fs.max / 1e6:g} MS/s" if fs else "-",
                         f"{float(host) / 1e6:g} MS/s" if host else "-"))
        header = ("name", "radio", "tuning", "max rate", "host stream")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        return 0
    prof = load_profile(args.name)
    if args.json:
        print(json.dumps(prof.raw, indent=2, default=str))
        return 0
    print(f"{prof.name}: {prof.radio}\n  file: {prof.path}")
    print(f"  rx channels: {prof.rx_channels}; gain modes: {', '.join(prof.gain_modes)}")
    for k, r in prof.ranges.items():
        print(f"  {k:16s} {_fmt_range(r)}")
    if prof.sample_format:
        print("  sample format: " + ", ".join(f"{k}={v}" for k, v in prof.sample_format.items()))
    if prof.host_streaming_rate:
        print("  host streaming rate: " + ", ".join(f"{k}={v}" for k, v in prof.host_streaming_rate.items()))
    if prof.defaults:
        print("  defaults: " + ", ".join(f"{k}={v}" for k, v in prof.defaults.items()))
    for s in prof.sources:
        print(f"  source: {s}")
    return 0
