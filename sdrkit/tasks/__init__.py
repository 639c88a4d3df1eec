"""Tasks: one registry; each task declares its verbs and its live predictor (:mod:`sdrkit.tasks.base`).

``sdrkit <verb> <task> ...`` is built from the declarations, and ``sdrkit classify --model
CARD`` runs ``TASKS.get(card.task).predictor(card, options)``. A task is a sub-package
``sdrkit/tasks/<name>/`` whose ``task.py`` defines ``TASK`` (its :class:`~sdrkit.tasks.base.Task`
class); it is found here without editing this file, and registered lazily (its module is
imported on first lookup; task modules import torch only inside their verbs, so
``sdrkit --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path

from sdrkit.registry import Registry

TASKS = Registry("task")


def _discover() -> None:
    for task_py in sorted(Path(__file__).parent.glob("*/task.py")):
        name = task_py.parent.name
        if name.isidentifier() and not name.startswith("_"):
            TASKS.register_lazy(name, f"sdrkit.tasks.{name}.task:TASK")


_discover()


def get_task(name: str):
    """The registered task ``name`` (an instance of its :class:`~sdrkit.tasks.base.Task` class).

    Raises:
        ConfigError: unknown task (the message lists the registered ones).
    """
    obj = TASKS.get(name)
    return obj() if isinstance(obj, type) else obj
