"""What every fuzz harness shares: the crash rule, saving crashing inputs, and the mutators.

The crash rule (issue 11): running one input through a parser may

* succeed, or raise an :class:`~sdrkit.errors.SdrkitError` (a refusal: the input was bad
  and sdrkit said so) -- both fine;
* raise anything else -- a **crash**;
* take longer than :data:`HANG_S` seconds -- a **hang** (interrupted with SIGALRM where the
  code is Python; a C call that overruns is still counted when it returns). The seconds are
  the process's CPU seconds, so that a loaded machine (other jobs, ``nice -n 19``) does not make
  false hangs out of starved inputs; an input that waits without working (a deadlock, a socket
  that never answers) is a hang after :data:`HANG_WALL_S` seconds of wall time;
* for a server: leave it dead or unable to answer a valid command -- a **crash** too
  (the target raises :class:`ServerDown`).

A crash or hang saves the input under ``$SDRKIT_FUZZ_CRASHES`` (default
``out/fuzz-crashes/``) as ``<target>/<kind>-<sha1>.bin``, with a ``.txt`` beside it holding
the signature and the traceback. ``python -m tests.fuzz.run --target T --replay FILE``
runs a saved input again.

Inputs are bytes, so the same target runs under hypothesis (CI), the seeded random
mutator (:mod:`tests.fuzz.run`) and atheris (coverage-guided, where it installs). A target
is an object with ``name``, ``seeds()`` (valid inputs), ``mutate(data, rnd)`` (a structured
mutation of one input, driven by a :class:`random.Random`) and ``execute(data)``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pickle
import random
import signal
import struct
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from sdrkit.errors import SdrkitError

HANG_S = 2.0          # CPU seconds of one input (this process, all threads)
HANG_WALL_S = 20.0    # wall seconds of one input, whatever its CPU time


class Hang(BaseException):
    """Raised by the alarm when one input runs past HANG_S (a BaseException, so that a
    parser's own ``except Exception`` cannot swallow it)."""


class ServerDown(Exception):
    """A server died or stopped answering valid commands after an input."""


@dataclass
class Result:
    kind: str                 # "ok", "refused" (an SdrkitError), "crash" or "hang"
    seconds: float
    signature: str = ""       # crash/hang: "Type at file:line: message"
    saved: Path | None = None

    @property
    def bad(self) -> bool:
        return self.kind in ("crash", "hang")


def crash_dir() -> Path:
    return Path(os.environ.get("SDRKIT_FUZZ_CRASHES", "out/fuzz-crashes"))


def signature(exc: BaseException) -> str:
    """``Type at file:line (function): message``, the line being the innermost frame in sdrkit
    (else the innermost one): two inputs with one signature are one bug."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "/sdrkit/" in f.filename.replace("\\", "/")] or list(tb)
    where = ""
    if frames:
        f = frames[-1]
        name = f.filename.replace("\\", "/")
        name = name[name.rfind("/sdrkit/") + 1:] if "/sdrkit/" in name else Path(name).name
        where = f" at {name}:{f.lineno} ({f.name})"
    msg = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}{where}: {msg}"


def save(target: str, kind: str, data: bytes, sig: str, tb: str = "") -> Path:
    d = crash_dir() / target
    d.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-{hashlib.sha1(data).hexdigest()[:16]}"
    (d / f"{stem}.bin").write_bytes(data)
    (d / f"{stem}.txt").write_text(f"{sig}\n\nreplay: python -m tests.fuzz.run --target {target} --replay "
                                   f"{d / (stem + '.bin')}\n\n{tb}")
    return d / f"{stem}.bin"


_started = [0.0, 0.0]     # wall and CPU clocks when the current input started


def _alarm(signum, frame):
    wall, cpu = time.perf_counter() - _started[0], time.process_time() - _started[1]
    if cpu < HANG_S and wall < HANG_WALL_S:   # starved, not working: look again when it could be over
        signal.setitimer(signal.ITIMER_REAL, max(0.05, min(HANG_S - cpu, HANG_WALL_S - wall)))
        return
    raise Hang()


def run_one(target, data: bytes, save_bad: bool = True) -> Result:
    """Run one input through ``target.execute`` under the crash rule."""
    use_alarm = threading.current_thread() is threading.main_thread()
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
    t0, c0 = time.perf_counter(), time.process_time()
    _started[:] = [t0, c0]
    kind, sig, tb = "ok", "", ""
    try:
        try:
            target.execute(data)
        finally:
            if use_alarm:             # disarmed inside the try: an alarm that fires just now is a Hang here
                signal.setitimer(signal.ITIMER_REAL, 0)
    except SdrkitError:
        kind = "refused"
    except Hang:
        # the process CPU time says whether it worked or was starved (a loaded machine, nice 19)
        kind, sig = "hang", (f"Hang: more than {HANG_S:g} s of CPU or {HANG_WALL_S:g} s ({time.process_time() - c0:.2f} "
                             f"s of CPU in {time.perf_counter() - t0:.2f} s)")
        tb = traceback.format_exc()
    except BaseException as exc:  # noqa: BLE001 - the crash rule: anything else is a crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        kind, sig, tb = "crash", signature(exc), traceback.format_exc()
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if kind in ("ok", "refused") and (cpu > HANG_S or dt > HANG_WALL_S):     # a C call that overran
        kind, sig = "hang", f"Hang: {cpu:.2f} s of CPU in {dt:.2f} s (more than {HANG_S:g} s of CPU or {HANG_WALL_S:g} s)"
    if kind in ("hang", "crash") and hasattr(target, "recover"):
        target.recover()          # a stateful target starts clean: one bug, one saved input
    res = Result(kind, dt, sig)
    if res.bad and save_bad:
        res.saved = save(target.name, kind, data, sig, tb)
    return res


def prepare(target) -> None:
    """Start what the target serves (a server, a socket pair) and run its seeds once, outside
    the 2 s rule: first imports and startup are not the parser's time."""
    if hasattr(target, "start"):
        target.start()
    for s in target.seeds():
        try:
            target.execute(s)
        except SdrkitError:
            pass


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary directory for the files a harness writes per input: in RAM (``/dev/shm``)
    where there is one, since a disk write costs ~10x more (0.4 ms vs 0.04 ms for 25 kB here);
    ``$SDRKIT_FUZZ_TMP`` overrides."""
    base = os.environ.get("SDRKIT_FUZZ_TMP")
    if base is None and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        base = "/dev/shm"
    return tempfile.TemporaryDirectory(prefix=prefix, dir=base)


def rss_bytes() -> int:
    """Resident set size of this process, bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- containers: several byte strings in one input ------------------------------------------

def pack(parts: list[bytes]) -> bytes:
    """Parts as ``count(u8) + (len(u32 le) + bytes)*``."""
    out = [struct.pack("<B", len(parts))]
    for p in parts:
        out.append(struct.pack("<I", len(p)) + p)
    return b"".join(out)


def unpack(data: bytes, max_parts: int = 255) -> list[bytes]:
    """Inverse of :func:`pack`, forgiving: whatever bytes there are make the parts (a
    coverage-guided fuzzer hands over arbitrary bytes)."""
    if not data:
        return []
    count, i, parts = min(data[0], max_parts), 1, []
    for _ in range(count):
        if i + 4 > len(data):
            break
        n = struct.unpack_from("<I", data, i)[0]
        i += 4
        parts.append(data[i:i + n])
        i += n
    return parts


# ---- JSON mutation -----------------------------------------------------------------------------

class Raw:
    """JSON text spliced in verbatim (what ``json.dumps`` refuses to write: 5000-digit
    integers, NaN, 10^5-deep nesting)."""

    def __init__(self, text: str):
        self.text = text


def _nasty() -> tuple:
    deep = [Raw("[" * d + "]" * d) for d in (9, 50, 1000, 100_000)] + \
        [Raw('{"a":' * d + "1" + "}" * d) for d in (9, 50, 1000, 100_000)] + [Raw("[" * 100_000)]
    return (
        0, -1, 1, 2, 7, 2 ** 31, 2 ** 32 + 1, 2 ** 63, 2 ** 64, -(2 ** 63), 10 ** 20, 10 ** 300,
        *(Raw("9" * n) for n in (41, 4301, 5000, 20000)), Raw("-" + "9" * 4400),
        Raw("1e999"), Raw("-1e999"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1" + "0" * 400 + ".5"),
        1e308, -1e308, 5e-324, 0.5, -0.0, 1e9, 1e10, 6.144e7, 3.0e11,
        True, False, None, "", "x", "\udcff", "\x00", "../../etc/passwd", "A" * 100, "A" * 100_000,
        "cf32_le", "ci16_le", "ci8", "cu8", "ri16_le", "cf64_be", "gap", "manual",
        [], {}, [1, 2], [None], {"a": 1}, [0] * 10, [0] * 10_000, *deep,
    )


NASTY = _nasty()


def nasty_values(rnd: random.Random):
    """One hostile JSON value (a fresh copy of a list or object: later mutations edit it in place)."""
    v = rnd.choice(NASTY)
    return list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:20]):
            yield from _paths(v, prefix + (i,))


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def mutate_json(obj, rnd: random.Random, extra_keys=(), rounds: int | None = None):
    """A copy of ``obj`` with one to a few structural mutations: a value replaced by a hostile
    one, a key deleted, a key (from ``extra_keys`` or random) added, a value wrapped in a list
    or object, a value's type changed."""
    known = _PATHS.get(id(obj))              # obj came from loads_or_none's cache: its paths are known
    obj = pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))     # a deep copy (10x json's round trip)
    first = True
    for _ in range(rounds or rnd.choice([1, 1, 1, 2, 3])):
        paths = known if first and known is not None else list(_paths(obj))
        first = False
        path = rnd.choice(paths)
        op = rnd.randrange(7)
        if not path:
            if op == 0:
                obj = nasty_values(rnd)
                break
            path = ()
        parent = _get(obj, path[:-1]) if path else None
        key = path[-1] if path else None
        target = _get(obj, path)
        if op <= 2 and parent is not None:                       # replace with a hostile value
            parent[key] = nasty_values(rnd)
        elif op == 3 and parent is not None:                     # delete
            del parent[key]
        elif op == 4 and isinstance(target, dict):               # add a key
            k = rnd.choice(list(extra_keys) or ["x"]) if extra_keys and rnd.random() < 0.8 else \
                rnd.choice(["", "x", "core:x", "sdrkit:x", "\x00"])
            target[k] = nasty_values(rnd)
        elif op == 5 and parent is not None:                     # wrap
            parent[key] = [target] if rnd.random() < 0.5 else {"value": target}
        elif parent is not None:                                 # change type
            parent[key] = rnd.choice([str(target)[:50], [target], None, bool(target) if not
                                      isinstance(target, (dict, list)) else 0])
    return obj


NOT_JSON = object()


JSON_CACHE_SIZE = 16
_JSON_CACHE: "collections.OrderedDict[bytes, object]" = collections.OrderedDict()
_PATHS: dict[int, list] = {}       # id of a value in _JSON_CACHE -> list(_paths(value))


def loads_or_none(raw: bytes):
    """The JSON value of ``raw`` for a mutator to work on, or ``NOT_JSON`` when it is not
    (already-mutated inputs may be too deep, too long or not text).

    The value is shared (the last :data:`JSON_CACHE_SIZE` documents are kept, so the seeds a
    run mutates again and again are parsed once): read it or hand it to :func:`mutate_json`,
    which copies it, never edit it in place."""
    hit = _JSON_CACHE.get(raw, _JSON_CACHE)
    if hit is not _JSON_CACHE:
        _JSON_CACHE.move_to_end(raw)
        return hit
    if len(raw) > 200_000:
        return NOT_JSON
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return NOT_JSON
    _JSON_CACHE[raw] = obj
    _PATHS[id(obj)] = list(_paths(obj))
    if len(_JSON_CACHE) > JSON_CACHE_SIZE:
        _, old = _JSON_CACHE.popitem(last=False)
        if not any(v is old for v in _JSON_CACHE.values()):
            _PATHS.pop(id(old), None)
    return obj


def dumps(obj) -> bytes:
    """JSON bytes of ``obj``, splicing :class:`Raw` texts and keeping lone surrogates."""
    raws: list[str] = []

    def default(o):
        if isinstance(o, Raw):
            raws.append(o.text)
            return f"\u0001RAW{len(raws) - 1}\u0001"
        raise TypeError(type(o).__name__)

    text = json.dumps(obj, default=default)        # ensure_ascii: surrogates become \udcff
    for i, r in enumerate(raws):
        text = text.replace(f'"\\u0001RAW{i}\\u0001"', r, 1)
    return text.encode()


def mutate_bytes(data: bytes, rnd: random.Random) -> bytes:
    """A byte-level mutation: truncate, flip, insert, delete, duplicate a range, or not UTF-8."""
    b = bytearray(data)
    op = rnd.randrange(6)
    if op == 0:
        return bytes(b[:rnd.randrange(len(b) + 1)])
    if op == 1 and b:
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    elif op == 2:
        i = rnd.randrange(len(b) + 1)
        b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    elif op == 3 and b:
        i = rnd.randrange(len(b))
        del b[i:i + rnd.randint(1, 64)]
    elif op == 4 and b:
        i = rnd.randrange(len(b))
        b[i:i] = b[i:i + rnd.randint(1, 256)] * rnd.randint(1, 4)
    else:
        i = rnd.randrange(len(b) + 1)
        b[i:i] = rnd.choice([b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80"])
    return bytes(b)
