"""Long fuzz runs on demand (not in CI).

Seeded random mutation::

    python -m tests.fuzz.run --target wire --inputs 1000000 --seed 0
    python -m tests.fuzz.run --target all --seconds 600

Coverage-guided with atheris (``pip install atheris``; it installs from a wheel on CPython 3.11
x86-64 Linux)::

    python -m tests.fuzz.run --target card --atheris -- -runs=1000000

Replay a saved crash: ``python -m tests.fuzz.run --target sigmf --replay out/fuzz-crashes/sigmf/crash-....bin``.

Every run prints inputs, inputs/s, crashes and hangs (and the distinct signatures), and the
process RSS after warm-up and at the end (the IIOD server runs in this process, so its growth
is the server's). A loaded machine makes false hangs, so each hang input is run once more,
alone, at the end, and the report says how many hang again. Crashing inputs are saved under
``$SDRKIT_FUZZ_CRASHES`` (default ``out/fuzz-crashes/``). Ctrl-C stops the current target and
reports. Exit status 1 when there was a crash or a hang that repeats.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time

from tests.fuzz._core import crash_dir, prepare, rss_bytes, run_one

TARGETS = ("sigmf", "wire", "iiod", "card")


def make_target(name: str):
    if name == "sigmf":
        from tests.fuzz._sigmf import SigmfTarget
        return SigmfTarget()
    if name == "wire":
        from tests.fuzz._wire import WireTarget
        return WireTarget(transport="mixed")
    if name == "iiod":
        from tests.fuzz._iiod import IiodTarget
        return IiodTarget()
    if name == "card":
        from tests.fuzz._card import CardTarget
        return CardTarget()
    raise SystemExit(f"unknown target {name!r}; choose from {', '.join(TARGETS)} or all")


def key(sig: str) -> str:
    """A signature without its message: ``Type at file:line (function)``."""
    return sig.split(": ", 1)[0]


_stop = []          # set by Ctrl-C: the current target stops and reports


def _interrupt(signum, frame):
    _stop.append(signum)


def fuzz(name: str, inputs: int, seconds: float | None, seed: int, warmup: int, report_s: float = 30.0) -> dict:
    target = make_target(name)
    rnd = random.Random(seed)
    corpus = list(target.seeds())
    prepare(target)
    kinds = collections.Counter()
    sigs: dict[str, list] = {}
    t0 = last = time.monotonic()
    rss_warm = None
    hangs: list[bytes] = []
    prev = corpus[0]
    n = 0
    try:
        while n < inputs and (seconds is None or time.monotonic() - t0 < seconds) and not _stop:
            base = prev if rnd.random() < 0.25 else rnd.choice(corpus)
            data = target.mutate(base, rnd)
            res = run_one(target, data)
            n += 1
            kinds[res.kind] += 1
            prev = data if not res.bad else rnd.choice(corpus)
            if res.bad:
                entry = sigs.setdefault(key(res.signature), [0, res.signature, res.saved])
                entry[0] += 1
                if res.kind == "hang":
                    hangs.append(data)
            if n == warmup:
                rss_warm = rss_bytes()
            now = time.monotonic()
            if now - last >= report_s:
                last = now
                print(f"[{name}] {n} inputs, {n / (now - t0):.0f}/s, crashes {kinds['crash']}, "
                      f"hangs {kinds['hang']}, rss {rss_bytes() / 2**20:.0f} MiB", flush=True)
        dt = time.monotonic() - t0
        rss_end = rss_bytes()
        # a loaded machine makes false hangs: each hang input runs once more, alone
        confirmed = sum(run_one(target, h, save_bad=False).kind == "hang" for h in hangs[:50])
    finally:
        if hasattr(target, "close"):
            target.close()
    out = {"target": name, "inputs": n, "seconds": dt, "rate": n / dt if dt else 0.0, "ok": kinds["ok"],
           "refused": kinds["refused"], "crashes": kinds["crash"], "hangs": kinds["hang"],
           "hangs_confirmed": confirmed, "hangs_rerun": min(len(hangs), 50), "rss_warm": rss_warm,
           "rss_end": rss_end, "signatures": sigs}
    growth = f"{100 * (rss_end - rss_warm) / rss_warm:+.1f}%" if rss_warm else "n/a (not warmed up)"
    print(f"[{name}] done: {n} inputs in {dt:.0f} s ({out['rate']:.0f}/s); ok {kinds['ok']}, refused "
          f"{kinds['refused']}, crashes {kinds['crash']}, hangs {kinds['hang']} ({confirmed} of "
          f"{out['hangs_rerun']} again when re-run alone); RSS after {warmup} inputs "
          f"{(rss_warm or 0) / 2**20:.1f} MiB, at the end {rss_end / 2**20:.1f} MiB ({growth})", flush=True)
    for k, (count, sig, saved) in sorted(sigs.items(), key=lambda kv: -kv[1][0]):
        print(f"    {count:7d}  {sig}\n             e.g. {saved}")
    return out


def replay(name: str, path: str) -> int:
    target = make_target(name)
    try:
        prepare(target)              # start-up (a server, first imports) is not the input's time
        res = run_one(target, open(path, "rb").read(), save_bad=False)
    finally:
        if hasattr(target, "close"):
            target.close()
    print(f"{res.kind} in {res.seconds:.3f} s {res.signature}")
    return 1 if res.bad else 0


def run_atheris(name: str, argv: list[str]) -> None:
    import inspect
    import os
    import tempfile

    import atheris

    target = make_target(name)
    prepare(target)                  # imports every sdrkit module the target reaches
    # sdrkit is imported already (tests.fuzz._core needs sdrkit.errors), so its loaded
    # functions are instrumented in place rather than at import
    for mod in [m for n, m in list(sys.modules.items()) if n == "sdrkit" or n.startswith("sdrkit.")]:
        for obj in list(vars(mod).values()):
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            funcs = [f for f in vars(obj).values() if inspect.isfunction(f)] if inspect.isclass(obj) else \
                [obj] if inspect.isfunction(obj) else []
            for f in funcs:
                atheris.instrument_func(f)
    corpus = tempfile.mkdtemp(prefix=f"sdrkit-fuzz-{name}-corpus-")
    for i, s in enumerate(target.seeds()):
        with open(os.path.join(corpus, f"seed{i}"), "wb") as fh:
            fh.write(s)
    counts = collections.Counter()

    def one(data: bytes) -> None:
        res = run_one(target, data)
        counts[res.kind] += 1
        if res.bad:
            print(f"[{name}] {res.kind}: {res.signature} -> {res.saved}", flush=True)

    atheris.Setup([sys.argv[0], *argv, corpus], one)
    try:
        atheris.Fuzz()
    finally:
        print(f"[{name}] atheris: {dict(counts)}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help=f"{', '.join(TARGETS)} or all")
    p.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target (default 1000000)")
    p.add_argument("--seconds", type=float, default=None, help="stop each target after this long")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=2000, help="inputs before the RSS baseline")
    p.add_argument("--replay", metavar="FILE", help="run one saved input and print its outcome")
    p.add_argument("--atheris", action="store_true", help="coverage-guided with atheris; args after -- go to it")
    args, rest = p.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    if args.replay:
        return replay(args.target, args.replay)
    if args.atheris:
        run_atheris(args.target, rest)
        return 0
    import signal

    signal.signal(signal.SIGINT, _interrupt)
    names = TARGETS if args.target == "all" else (args.target,)
    print(f"crashing inputs go to {crash_dir()}/")
    results = [fuzz(n, args.inputs, args.seconds, args.seed, args.warmup) for n in names]
    return 1 if any(r["crashes"] or r["hangs_confirmed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
