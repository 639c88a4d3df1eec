"""Task verbs: ``sdrkit <verb> <task> ...``, built from every registered task's declarations.

A verb's sub-command exists for each task that declares it; its arguments are the fields of
the verb's config dataclass (:func:`sdrkit.tasks.base.add_config_arguments`). Nothing here
names a task: a new task appears in the CLI by being registered in ``TASKS``.
"""

from __future__ import annotations

# a line for the verb itself, where the verb is a common one; a new verb uses its first task's line
VERB_HELP = {
    "dataset": "build a task's labelled SigMF data set (seeded splits)",
    "train": "train a task's model; writes ONNX + model card",
    "calibrate-threshold": "pick a model's decision threshold on validation data",
    "evaluate": "evaluate a model on held-out data: targets as data (JSON table) + PNG plots",
    "calibrate": "few-shot calibration session for a new RF front end: labelled shots -> prototypes file",
}


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
            for action in tp._actions:
                if action.help:
                    action.help = _escape(action.help)
            tp.set_defaults(func=_runner(v))
        p.set_defaults(func=lambda args, p=p: (p.print_help(), 2)[1])


def _escape(text: str) -> str:
    """A task's help text as argparse help: argparse %-formats help, so a bare "90%" would crash
    ``--help``; ``%(default)s`` and ``%%`` are kept."""
    import re

    return re.sub(r"%%|%\(\w+\)[a-z]|%", lambda m: m.group(0) if len(m.group(0)) > 1 else "%%", str(text))


def _runner(verb):
    def run(args) -> int:
        from sdrkit.tasks.base import config_from_args

        return verb(config_from_args(verb.config, args, getattr(args, "command_line", "")))

    return run
