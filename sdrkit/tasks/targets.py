"""Evaluation targets as data, and the one report every ``sdrkit evaluate <task>`` writes.

A task's evaluation is a few ``measure_*`` functions that return measurements and
:class:`Target` rows; :func:`write_report` writes them (JSON) and prints one table::

    targets = [
        Target("backbone accuracy, mean over SNR >= 10 dB", acc, ">=", 0.95),
        Target("latency cut vs backbone, SNR >= 10 dB, batch 64", cut, ">=", 0.50, note="1 thread"),
    ]
    write_report(out / "evaluation.json", task="amc", targets=targets, results=res)

The JSON holds ``targets`` as a list of ``{name, measured, op, limit, unit, pass, note}`` and the
task's own ``results`` beside them, so every figure and its verdict come from the same run.
"""

from __future__ import annotations

import logging
import math
import operator
import sys
from dataclasses import dataclass
from pathlib import Path

# write_report logs each report it wrote (DEBUG) on this logger, the document (plus "path") in the
# record's REPORT_RECORD_ATTR attribute, so a caller can read the verdicts without importing task code
REPORT_LOGGER = "sdrkit.targets"
REPORT_RECORD_ATTR = "sdrkit_report"
_log = logging.getLogger(REPORT_LOGGER)

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """One target: ``measured op limit``.

    Attributes:
        name: what is measured, with its conditions ("accuracy, SNR >= 10 dB").
        measured: the measured value (NaN when it could not be measured: the target fails).
        op: one of ``>=``, ``<=``, ``>``, ``<``.
        limit: the target value, in the same unit as ``measured``.
        unit: unit of ``measured`` and ``limit`` ("", "ms", "x", "frames/s", ...).
        note: how it was measured (split, frames, repeats), shown in the table.
    """

    name: str
    measured: float
    op: str
    limit: float
    unit: str = ""
    note: str = ""

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"target {self.name!r}: op {self.op!r} must be one of {sorted(OPS)}")

    @property
    def passed(self) -> bool:
        m = float(self.measured)
        return math.isfinite(m) and bool(OPS[self.op](m, float(self.limit)))

    def to_dict(self) -> dict:
        m = float(self.measured)
        return {"name": self.name, "measured": m if math.isfinite(m) else None, "op": self.op,
                "limit": float(self.limit), "unit": self.unit, "pass": self.passed, "note": self.note}


def format_table(targets) -> str:
    """The targets as a plain-text table (one row each, PASS/MISS; a note column when any has one).

    A target that could not be measured (NaN) is not met, and says so: "MISS (not measured)";
    ``evaluate --strict`` lists those apart and does not fail on them.
    """
    targets = list(targets)
    notes = any(t.note for t in targets)
    rows = [("target", "measured", "limit", "result") + (("note",) if notes else ())]
    for t in targets:
        u = f" {t.unit}" if t.unit else ""
        verdict = "PASS" if t.passed else ("MISS" if math.isfinite(float(t.measured)) else "MISS (not measured)")
        rows.append((t.name, f"{_num(t.measured)}{u}", f"{t.op} {_num(t.limit)}{u}", verdict)
                    + ((t.note,) if notes else ()))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def write_report(path, task: str, targets, results: dict | None = None, stream=None, quick: bool = False) -> Path:
    """Write ``{"task", "quick", "targets": [...], "results": {...}}`` to ``path`` and print the table.

    Returns:
        the path written.
    """
    from sdrkit.capture.safejson import write_json

    doc = {"task": task, "quick": bool(quick), "targets": [t.to_dict() for t in targets],
           "all_pass": all(t.passed for t in targets), "results": results or {}}
    path = write_json(path, doc, indent=2, default=_jsonable)
    out = stream or sys.stdout
    print(f"{task} targets{' (quick run: smoke figures, not results)' if quick else ''}:", file=out)
    print(format_table(targets), file=out)
    print(f"wrote {path}", file=out)
    # the report as a log record too: `sdrkit evaluate --strict` collects these to set its exit status
    _log.debug("wrote targets report %s", path, extra={REPORT_RECORD_ATTR: {"path": str(path), **doc}})
    return path


def _num(v) -> str:
    v = float(v)
    if not math.isfinite(v):
        return "n/a"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4g}"


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")
