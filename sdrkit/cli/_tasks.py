"""Task verbs: ``sdrkit <verb> <task> ...``, built from every registered task's declarations.

A verb's sub-command exists for each task that declares it; its arguments are the fields of
the verb's config dataclass (:func:`sdrkit.tasks.base.add_config_arguments`). Nothing here
names a task: a new task appears in the CLI by being registered in ``TASKS``.
"""

from __future__ import annotations

from contextlib import contextmanager

# a line for the verb itself, where the verb is a common one; a new verb uses its first task's line
VERB_HELP = {
    "dataset": "build a task's labelled SigMF data set (seeded splits)",
    "train": "train a task's model; writes ONNX + model card",
    "calibrate-threshold": "pick a model's decision threshold on validation data",
    "evaluate": "evaluate a model on held-out data: targets as data (JSON table) + PNG plots",
    "calibrate": "few-shot calibration session for a new RF front end: labelled shots -> prototypes file",
    "compress": "make a task's model cheaper to run (pruning, static int8), measured against the original",
}


# where sdrkit.tasks.targets.write_report logs each report it wrote (kept equal by a test)
REPORT_LOGGER, REPORT_RECORD_ATTR = "sdrkit.targets", "sdrkit_report"
# `evaluate --strict`: the exit status when a measured target missed (1 = SdrkitError, 2 = usage,
# 130 = interrupted, 141 = closed pipe are taken by sdrkit.cli.main)
EXIT_TARGET_MISSED = 3
STRICT_HELP = (f"exit with status {EXIT_TARGET_MISSED} (after the report is written in full) when a measured "
               "target misses; targets not measured are listed but do not fail it")


def task_verbs() -> dict[str, list]:
    """verb name -> [(task, Verb)], verbs in :data:`~sdrkit.tasks.base.VERB_ORDER` then by name."""
    from sdrkit.tasks import TASKS, get_task
    from sdrkit.tasks.base import VERB_ORDER

    found: dict[str, list] = {}
    for name in TASKS.names():
        task = get_task(name)
        for v in task.verbs:
            found.setdefault(v.name, []).append((task, v))
    order = [v for v in VERB_ORDER if v in found] + sorted(set(found) - set(VERB_ORDER))
    return {v: found[v] for v in order}


def register_task_verbs(sub) -> None:
    """Add one parser per task verb, with one sub-command per task that declares it."""
    from sdrkit.tasks.base import add_config_arguments

    for verb, entries in task_verbs().items():
        text = VERB_HELP.get(verb, entries[0][1].help)
        p = sub.add_parser(verb, help=_escape(text), description=text)
        tsub = p.add_subparsers(dest="task", metavar="TASK")
        for task, v in entries:
            tp = tsub.add_parser(task.name, help=_escape(v.help), description=f"{v.help}. Task: {task.summary}")
            add_config_arguments(tp, v.config)
            strict = verb == "evaluate" and "--strict" not in tp._option_string_actions
            if strict:
                tp.add_argument("--strict", action="store_true", dest="strict_targets", help=STRICT_HELP)
            for action in tp._actions:
                if action.help:
                    action.help = _escape(action.help)
            tp.set_defaults(func=_runner(v, strict=strict))
        p.set_defaults(func=lambda args, p=p: (p.print_help(), 2)[1])


def _escape(text: str) -> str:
    """A task's help text as argparse help: argparse %-formats help, so a bare "90%" would crash
    ``--help``; ``%(default)s`` and ``%%`` are kept."""
    import re

    return re.sub(r"%%|%\(\w+\)[a-z]|%", lambda m: m.group(0) if len(m.group(0)) > 1 else "%%", str(text))


def _runner(verb, strict: bool = False):
    def run(args) -> int:
        from sdrkit.tasks.base import config_from_args

        cfg = config_from_args(verb.config, args, getattr(args, "command_line", ""))
        if not (strict and getattr(args, "strict_targets", False)):
            return verb(cfg)
        with collect_reports() as reports:
            rc = verb(cfg)
        return strict_exit_code(rc, reports)

    return run


@contextmanager
def collect_reports():
    """The targets reports written inside the ``with`` block, as a list of their JSON documents
    (plus ``"path"``). :func:`sdrkit.tasks.targets.write_report` logs each one (DEBUG) on the
    ``sdrkit.targets`` logger; the cli listens there rather than import a task-side module."""
    import logging

    reports: list = []

    class _Collect(logging.Handler):
        def emit(self, record):
            doc = getattr(record, REPORT_RECORD_ATTR, None)
            if isinstance(doc, dict):
                reports.append(doc)

    logger = logging.getLogger(REPORT_LOGGER)
    handler, level = _Collect(logging.DEBUG), logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.DEBUG)
    try:
        yield reports
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def strict_exit_code(rc: int, reports, stream=None) -> int:
    """``evaluate --strict``: :data:`EXIT_TARGET_MISSED` when the run succeeded (``rc`` 0) and a
    target of a report it wrote was measured and missed; prints one line naming the missed
    targets and one naming those not measured (which do not fail ``--strict``)."""
    import sys

    out = stream or sys.stderr
    if rc:
        return rc
    targets = [t for r in reports for t in r.get("targets", [])]
    missed = [t["name"] for t in targets if t.get("pass") is False and t.get("measured") is not None]
    unmeasured = [t["name"] for t in targets if t.get("measured") is None]
    if not reports:
        print("--strict: the run wrote no targets report; nothing to check", file=out)
    if unmeasured:
        print(f"--strict: {len(unmeasured)} target(s) not measured (not counted): " + "; ".join(unmeasured),
              file=out)
    if missed:
        print(f"--strict: {len(missed)} target(s) missed (exit {EXIT_TARGET_MISSED}): " + "; ".join(missed),
              file=out)
        return EXIT_TARGET_MISSED
    return rc
