"""One JSON loader for files that come from outside: bounded size, nesting depth and numbers.

``json.loads`` on hostile text fails in ways no caller expects: a 5000-digit integer raises
``ValueError`` (Python's 4300-digit limit), ten thousand ``[`` raise ``RecursionError``, and a
document just under the recursion limit parses but then overflows the stack of whatever walks
it next (``copy.deepcopy``, jsonschema). :func:`load_json` refuses all of these before or
while parsing and raises the caller's typed error (a :class:`~sdrkit.errors.SdrkitError`
subclass) naming the file, what was over which limit, and the fix.

Used by the SigMF reader (:mod:`sdrkit.capture.reader`) and the model-card loader
(:mod:`sdrkit.runtime.card`); any other reader of outside JSON should use it too.

Limits (defaults; each reader may pass its own):

================  ==========  ===========================================================
limit             default     why
================  ==========  ===========================================================
max_bytes         16 MiB      a SigMF meta with 100k annotations is a few MiB
max_depth         64          sdrkit's own files nest 6 deep; stack-safe for any walker
max_int_digits    64          digits in one number; counts and indices need 20 (uint64)
================  ==========  ===========================================================

A float literal too large for a double (``1e999``) is refused too, rather than read as inf.
``NaN`` / ``Infinity`` (not JSON, but written by Python's ``json`` and many tools) are read as
floats unless ``allow_nan=False``; readers check the fields they use for finiteness.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from sdrkit.errors import SdrkitError

MAX_BYTES = 16 << 20
MAX_DEPTH = 64
MAX_INT_DIGITS = 64

# a JSON string literal (escapes included), "unrolled" so that runs of plain characters match in
# one step; no nested quantifier can backtrack
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


class _Refused(Exception):
    """Raised inside the parser hooks; turned into the caller's error with the file name."""


def nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of JSON ``text`` (brackets inside strings do not count)."""
    return _scan(_STRING.sub('""', text))[0]


def _scan(text: str) -> tuple[int, int]:
    """(deepest bracket nesting, longest run of digits) of ``text``, strings not excluded (vectorized:
    a Python loop over a 16 MiB file would take seconds)."""
    c = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    if not len(c):
        return 0, 0
    step = ((c == 0x5B) | (c == 0x7B)).astype(np.int32) - ((c == 0x5D) | (c == 0x7D))
    depth = int(np.cumsum(step, dtype=np.int32).max())
    edges = np.diff(np.concatenate(([0], ((c >= 0x30) & (c <= 0x39)).astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return max(depth, 0), int((ends - starts).max()) if len(starts) else 0


def parse_json(text: str | bytes, *, where: str, error: type[SdrkitError],
               fix: str = "the file is corrupt or not what it claims to be; restore or re-create it",
               max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
               max_int_digits: int = MAX_INT_DIGITS, allow_nan: bool = True):
    """Parse JSON from outside within bounds.

    Args:
        text: the document (bytes are decoded as UTF-8).
        where: the subject of every message: what the document is and where it is from
            (``"model card /x/card.json"``, ``"/x/r.sigmf-meta: SigMF metadata"``).
        error: the SdrkitError subclass to raise (CaptureError, ModelError, StreamError, ...).
        fix: how to fix a refused document, ending every message.
        max_bytes, max_depth, max_int_digits: the limits (see the module docstring).
        allow_nan: accept the ``NaN``/``Infinity`` constants (as floats).

    Returns:
        the parsed value.

    Raises:
        error: over a limit, not UTF-8, or not valid JSON; the message names ``where``, the
            limit and the value that broke it.
    """
    if len(text) > max_bytes:
        raise error(f"{where} is {len(text)} bytes, more than the limit of {max_bytes} bytes; {fix}")
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{where} is not UTF-8 text (byte {exc.start}); {fix}") from exc
    # Both checks first run on the raw text, where brackets and digits inside strings count too:
    # an upper bound, so a document within it is within the limits. Only one that is not gets
    # its strings blanked out (a regex pass as costly as parsing) for the exact answer.
    depth, digits = _scan(text)
    if depth > max_depth or digits > max_int_digits:
        depth, digits = _scan(_STRING.sub('""', text))    # outside strings: structure and numbers only
    if depth > max_depth:
        raise error(f"{where} nests {depth} levels of arrays/objects, more than the limit of {max_depth}; {fix}")
    # a run of digits outside strings is a number (or its fraction / exponent): checked here, in
    # one vectorized pass, rather than per integer in a parse_int hook (4x slower on big files)
    if digits > max_int_digits:
        raise error(f"{where} holds a number of {digits} digits, more than the limit of {max_int_digits} "
                    f"digits; {fix}")

    def parse_float(s: str) -> float:
        v = float(s)
        if math.isinf(v):
            raise _Refused(f"a number too large for a double ({s[:40]}{'...' if len(s) > 40 else ''})")
        return v

    def parse_constant(s: str) -> float:
        if not allow_nan:
            raise _Refused(f"the constant {s} (not a JSON number)")
        return float(s)

    try:
        return json.loads(text, parse_float=parse_float, parse_constant=parse_constant)
    except _Refused as exc:
        raise error(f"{where} holds {exc}; {fix}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                    f"{fix}") from exc
    except RecursionError as exc:   # depth was checked; a very small recursion limit can still hit this
        raise error(f"{where} nests too deeply to parse; {fix}") from exc


def load_json(path, *, error: type[SdrkitError], where: str | None = None, max_bytes: int = MAX_BYTES, **kw):
    """Read and parse a JSON file from outside within bounds (see :func:`parse_json`).

    Only ``max_bytes + 1`` bytes are ever read, so a huge file costs no memory.

    Args:
        where: the subject of messages (default: the path).

    Raises:
        error: unreadable, over a limit, not UTF-8 or not valid JSON, naming ``path``.
    """
    path = Path(path)
    where = str(path) if where is None else where
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{where} cannot be read: {exc.strerror or exc}") from exc
    return parse_json(data, where=where, error=error, max_bytes=max_bytes, **kw)


def write_json(path, doc, *, indent: int = 1, default=None) -> Path:
    """Write ``doc`` to ``path`` atomically (a ``.tmp`` file renamed over it), creating the folder.

    A reader never sees a half-written file, and a crash leaves the old one in place.

    Returns:
        the path written.
    """
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=indent, default=default) + "\n")
    tmp.replace(path)
    return path
