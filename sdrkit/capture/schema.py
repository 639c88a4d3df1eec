"""Validation of SigMF metadata from outside: the SigMF schema, then every field sdrkit reads.

Two steps, both run by :class:`~sdrkit.capture.Recording` before it reads any field:

1. :func:`validate_sigmf`: the SigMF JSON schema (as ``sigmf.SigMFFile.validate`` checks it,
   with sigmf's defaults for ``core:num_channels`` and ``core:offset``), plus sigmf's rule that
   captures and annotations are sorted by ``core:sample_start``. The schema is a constant, so
   its validator is built and the schema itself checked once per process (re-checking it cost
   about 20 ms per recording opened). Annotations, whose item schema is flat, are checked by an
   equivalent fast check of that item schema (jsonschema took 30 s for 100k annotations).
2. :func:`check_sdrkit_fields`: :data:`FIELDS` says, as data, what each field sdrkit uses must
   be: counts are integers in ``[0, 2**63)``, frequencies finite, ``sdrkit:radio_config`` an
   object of settings, and so on. The schema leaves these open (NaN passes its bounds, and
   ``sdrkit:`` fields are not in it); checked here, the code that reads them later can call
   ``int()`` and ``float()`` on them without a second guard.

Every refusal is a :class:`~sdrkit.errors.CaptureError` naming the file, the field, the value
and what it must be.
"""

from __future__ import annotations

import functools
import itertools
import math

from sdrkit.errors import CaptureError

META_MAX_BYTES = 64 << 20        # a SigMF meta with a million annotations is ~100 MiB; 64 MiB is plenty
INT64_MAX = 2 ** 63 - 1
MAX_CHANNELS = 1024              # interleaved channels per sample (core:num_channels)
MAX_FRAME_LEN = 1 << 24          # samples per frame (sdrkit:frame_len of an AMC split)

_FIX = "the file is corrupt or was written by a broken tool; correct the field or re-record"


def _show(v, limit: int = 60) -> str:
    r = v if isinstance(v, str) and limit > 60 else repr(v)
    return r if len(r) <= limit else r[:limit] + "..."


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_whole(v) -> bool:
    t = type(v)                 # json gives exact int/float; bool is its own type, so not a count
    return t is int or (t is float and v.is_integer())


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool)) or (_is_number(v) and math.isfinite(v))


def _count(v) -> bool:
    return _is_whole(v) and 0 <= v <= INT64_MAX


def _finite(v) -> bool:
    return _is_number(v) and math.isfinite(v)


def _settings(v) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and (_is_scalar(x) or (isinstance(x, list) and all(_is_scalar(y) for y in x)))
        for k, x in v.items())


# section -> field -> (check, what it must be)
FIELDS: dict[str, dict[str, tuple]] = {
    "global": {
        "sdrkit:sample_count": (_count, f"an integer sample count in [0, {INT64_MAX}]"),
        "sdrkit:lost_samples": (_count, f"an integer sample count in [0, {INT64_MAX}]"),
        "sdrkit:timeouts": (_count, f"an integer count in [0, {INT64_MAX}]"),
        "sdrkit:complete": (lambda v: isinstance(v, bool), "true or false"),
        "sdrkit:radio_config": (_settings, "an object of radio settings (name -> finite number, text, "
                                           "true/false, null, or a list of these)"),
        "sdrkit:frame_len": (lambda v: _is_whole(v) and 1 <= v <= MAX_FRAME_LEN,
                             f"an integer number of samples in [1, {MAX_FRAME_LEN}]"),
        "sdrkit:classes": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
                           "a list of class names"),
    },
    # inside global sdrkit:radio_config (RadioConfig.to_dict(); the numbers sdrkit reads back)
    "radio_config": {
        **{k: (_finite, "a finite number") for k in ("rx_lo", "sample_rate", "rx_hardwaregain", "tx_hardwaregain",
                                                    "rx_buffer_size")},
        **{k: (lambda v: v is None or _finite(v), "a finite number or null") for k in ("rx_rf_bandwidth", "tx_lo")},
    },
    # core:sample_start, core:sample_count, core:header_bytes: integers in [0, 2**63) by the SigMF schema
    "captures": {
        "core:frequency": (_finite, "a finite frequency in Hz"),        # the schema lets NaN through
    },
    "annotations": {
        "sdrkit:lost_samples": (_count, f"an integer sample count in [0, {INT64_MAX}]"),
        "sdrkit:frames": (_count, f"an integer frame count in [0, {INT64_MAX}]"),
        "sdrkit:snr_db": (_is_number, "a number (dB)"),
    },
}


def check_sdrkit_fields(meta: dict, where: str) -> None:
    """Check every field sdrkit reads against :data:`FIELDS` (run after :func:`validate_sigmf`).

    Args:
        meta: the parsed metadata (``global`` is an object, ``captures``/``annotations`` lists of objects).
        where: ``"<meta path>: "``, the start of every message.

    Raises:
        CaptureError: naming the field, its value and what it must be.
    """
    g = meta["global"]
    nch = g.get("core:num_channels", 1)
    if not _is_whole(nch) or not 1 <= nch <= MAX_CHANNELS:
        raise CaptureError(f"{where}core:num_channels={_show(nch)} must be an integer >= 1 and <= {MAX_CHANNELS}; "
                           f"{_FIX}")
    rc = g.get("sdrkit:radio_config")
    sections = [("global", [g]), ("global sdrkit:radio_config", [rc] if isinstance(rc, dict) else [])] + [
        (name, meta.get(name) or []) for name in ("captures", "annotations")]
    for label, objs in sections:
        rules = FIELDS[label.rpartition(":")[2]]
        for i, obj in enumerate(objs):
            for key, v in obj.items():     # an item has a few fields; loop over those, not the rules
                rule = rules.get(key)
                if rule is not None and not rule[0](v):
                    at = label if label.startswith("global") else f"{label}[{i}]"
                    raise CaptureError(f"{where}{at} {key}={_show(v)} must be {rule[1]}; {_FIX}")


@functools.lru_cache(maxsize=1)
def _sigmf_validator():
    """The SigMF schema's validator, its schema checked once (the schema is a constant)."""
    import jsonschema
    from sigmf import schema

    ref = schema.get_schema()
    cls = jsonschema.validators.validator_for(ref)
    cls.check_schema(ref)
    return cls(ref)


# jsonschema's type names; bool is not a number, and an integral float is an integer
_TYPES = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool), "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: _is_whole(v),
}
_FLAT_KEYWORDS = {"type", "minimum", "maximum", "pattern", "format", "default", "description", "examples", "title"}
MAX_EXTENSIONS = 256             # core:extensions entries (a real recording declares a handful)
MAX_CAPTURES = 10_000            # capture segments (sdrkit writes one and reads the first)
MAX_ERRORS = 100                 # schema errors looked at to pick the one reported


@functools.lru_cache(maxsize=None)
def _flat_item_check(section: str):
    """A fast check of one ``section`` item, equivalent to jsonschema on the SigMF item schema, or None.

    jsonschema costs ~0.3 ms per item (100k annotations: 30 s). An item schema that is an object
    of typed, bounded, patterned fields is checked here in microseconds per item; a field whose
    schema uses more (a nested object: the captures' ``core:geolocation``) is checked by
    jsonschema on that field's value only, when present. An item schema using anything else
    returns None and is left to jsonschema. ``format`` is not enforced, as jsonschema does not
    enforce it by default; ``pattern`` applies to strings only, with ``re.search``, as in jsonschema.
    """
    import re

    validator = _sigmf_validator()
    item = validator.schema["properties"][section].get("items")
    if not isinstance(item, dict) or item.get("type") != "object" or item.get("additionalProperties", True) is not True \
            or set(item) - {"type", "title", "required", "additionalProperties", "properties", "description"}:
        return None
    props = {}
    for k, p in item.get("properties", {}).items():
        if set(p) - _FLAT_KEYWORDS or p.get("type") not in _TYPES:
            props[k] = (None, validator.evolve(schema=p), None, None, None)     # nested: jsonschema, this field
        else:
            props[k] = (_TYPES[p["type"]], p["type"], p.get("minimum"), p.get("maximum"),
                        re.compile(p["pattern"]) if "pattern" in p else None)
    required = tuple(item.get("required", ()))

    def check(obj) -> tuple[str, str] | None:
        """(what is wrong, field) or None."""
        if not isinstance(obj, dict):
            return f"{_show(obj)} is not of type 'object'", ""
        for k in required:
            if k not in obj:
                return f"{k!r} is a required property", ""
        for k, v in obj.items():           # an item has a few fields; the schema names more
            rule = props.get(k)
            if rule is None:
                continue
            is_type, name, lo, hi, pattern = rule
            if is_type is None:
                err = next(iter(name.iter_errors(v)), None)
                if err is not None:
                    return _show(err.message, 200), k
                continue
            if not is_type(v):
                return f"{_show(v)} is not of type {name!r}", k
            if lo is not None and v < lo:
                return f"{_show(v)} is less than the minimum of {lo}", k
            if hi is not None and v > hi:
                return f"{_show(v)} is greater than the maximum of {hi}", k
            if pattern is not None and not pattern.search(v):
                return f"{_show(v)} does not match {pattern.pattern[:40]!r}...", k
        return None

    return check


def validate_sigmf(meta: dict, where: str) -> None:
    """Validate against the SigMF schema as ``sigmf.SigMFFile(metadata=meta).validate()`` does.

    Raises:
        CaptureError: ``invalid SigMF metadata: <what> (at <field path>)``.
    """
    import jsonschema
    from sigmf import __specification__

    g = dict(meta["global"])
    for key, default in (("core:num_channels", 1), ("core:offset", 0)):   # sigmf's parsing defaults
        if g.get(key) is None:
            g[key] = default
    g["core:version"] = __specification__                                 # sigmf validates as current
    ext = g.get("core:extensions")
    if isinstance(ext, list) and len(ext) > MAX_EXTENSIONS:
        raise CaptureError(f"{where}global core:extensions has {len(ext)} entries, more than the limit of "
                           f"{MAX_EXTENSIONS}; {_FIX}")
    caps = meta.get("captures")
    if isinstance(caps, list) and len(caps) > MAX_CAPTURES:
        raise CaptureError(f"{where}captures has {len(caps)} segments, more than the limit of {MAX_CAPTURES}; "
                           f"{_FIX}")
    doc = {**meta, "global": g}
    fast = [(key, check) for key in ("annotations", "captures")
            if isinstance(meta.get(key), list) and (check := _flat_item_check(key)) is not None]
    for key, check in fast:      # items checked below, the rest of the document by jsonschema
        doc[key] = []
    # best_match ranks every error it is given: a 100k-item array of wrong items yields 100k
    err = jsonschema.exceptions.best_match(itertools.islice(_sigmf_validator().iter_errors(doc), MAX_ERRORS))
    if err is not None:
        at = "/".join(map(str, err.absolute_path)) or "(top level)"
        raise CaptureError(f"{where}invalid SigMF metadata: {_show(err.message, 200)} (at {at}); {_FIX}") from err
    for key, check in fast:
        for i, item in enumerate(meta[key]):
            bad = check(item)
            if bad is not None:
                at = f"{key}/{i}" + (f"/{bad[1]}" if bad[1] else "")
                raise CaptureError(f"{where}invalid SigMF metadata: {bad[0]} (at {at}); {_FIX}")
    for key in ("captures", "annotations"):
        starts = [item["core:sample_start"] for item in meta[key]]
        if any(b < a for a, b in zip(starts, starts[1:])):
            raise CaptureError(f"{where}invalid SigMF metadata: {key} are not sorted by core:sample_start, as SigMF "
                               f"requires; sort them or re-record")
