"""``sdrkit bench``: run benchmarks, print a table, write JSON.

Every figure is printed beside the ceiling measured in the same run and the target the
issue sets, so a number can be judged without leaving the terminal.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("bench", help="run benchmarks (JSON + table)",
                       description="Run sdrkit's benchmarks; each figure is shown beside a ceiling "
                                   "measured in the same run and its target.")
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all); see --list")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds, for smoke tests)")
    p.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement, s (default 1)")
    p.add_argument("--json", dest="json_out", default="out/bench.json", help="JSON output path (default out/bench.json)")
    p.set_defaults(func=run)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def run(args) -> int:
    from sdrkit.bench import BENCHMARKS, OPT_IN, BenchContext, load_all
    from sdrkit.errors import ConfigError

    load_all()
    if args.list:
        for n in BENCHMARKS.names():
            fn = BENCHMARKS.get(n)
            doc = (fn.__doc__ or "").strip().splitlines()
            print(f"{n:16s} {doc[0] if doc else ''}{'  (only when named)' if n in OPT_IN else ''}")
        return 0
    names = args.names or [n for n in BENCHMARKS.names() if n not in OPT_IN]
    for n in names:
        if n not in BENCHMARKS:
            raise ConfigError(f"unknown benchmark {n!r}; known: {', '.join(BENCHMARKS.names())}")
    ctx = BenchContext(quick=args.quick, seconds=args.seconds)
    results = []
    for n in names:
        t0 = time.perf_counter()
        print(f"running {n} ...", file=sys.stderr, flush=True)
        rows = BENCHMARKS.get(n)(ctx)
        for r in rows:
            r.extra.setdefault("benchmark", n)
        results.extend(rows)
        print(f"  {n} took {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    header = ("benchmark", "figure", "unit", "ceiling", "ceiling is", "ratio", "target", "pass", "notes")
    table = [(r.extra["benchmark"], r.name, r.unit, r.ceiling, r.ceiling_name, r.ratio, r.target,
              {True: "yes", False: "NO", None: "-"}[r.passed], r.notes) for r in results]
    rows = [(r[0], f"{r[1]} = {_fmt(results[k].value)}", r[2], _fmt(r[3]), r[4], _fmt(r[5]), _fmt(r[6]), r[7], r[8])
            for k, r in enumerate(table)]
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    doc = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg": load},
        "quick": args.quick,
        "results": [r.to_dict() for r in results],
    }
    if args.json_out:
        os.makedirs(os.path.dirname(args.json_out) or ".", exist_ok=True)
        with open(args.json_out, "w") as fh:
            json.dump(doc, fh, indent=2)
        print(f"wrote {args.json_out}", file=sys.stderr)
    return 0
