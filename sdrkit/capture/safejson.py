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
max_int_digits    64          counts and sample indices fit in 20 digits (uint64)
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

# a JSON string literal (escapes included); unambiguous alternation, so no catastrophic backtracking
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_CHUNK = 1 << 22


class _Refused(Exception):
    """Raised inside the parser hooks; turned into the caller's error with the file name."""


def nesting_depth(text: str, stop_above: int | None = None) -> int:
    """Deepest ``[``/``{`` nesting of JSON ``text`` (brackets inside strings do not count).

    Args:
        stop_above: return as soon as the depth exceeds this (hostile input stops early).
    """
    raw = np.frombuffer(_STRING.sub('""', text).encode("utf-8", "surrogatepass"), np.uint8)
    depth = top = 0
    for i in range(0, len(raw), _CHUNK):       # chunks bound the temporary arrays
        c = raw[i:i + _CHUNK]
        step = ((c == 0x5B) | (c == 0x7B)).astype(np.int64) - ((c == 0x5D) | (c == 0x7D))
        level = np.cumsum(step) + depth
        if len(level):
            top = max(top, int(level.max()))
            depth = int(level[-1])
        if stop_above is not None and top > stop_above:
            break
    return top


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
    depth = nesting_depth(text, stop_above=max_depth)
    if depth > max_depth:
        raise error(f"{where} nests more than {max_depth} levels of arrays/objects (the limit); {fix}")

    def parse_int(s: str) -> int:
        digits = len(s) - (s[0] == "-")
        if digits > max_int_digits:
            raise _Refused(f"an integer of {digits} digits, more than the limit of {max_int_digits} digits")
        return int(s)

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
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
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
