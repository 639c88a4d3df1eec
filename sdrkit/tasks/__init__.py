"""Tasks: one registry; each task declares its verbs and its live predictor (:mod:`sdrkit.tasks.base`).

``sdrkit <verb> <task> ...`` is built from the declarations, and ``sdrkit classify --model
CARD`` runs ``TASKS.get(card.task).predictor(card, options)``. A task is registered here with
one lazy line (its module is imported on first lookup; task modules import torch only inside
their verbs, so ``sdrkit --help`` stays fast).
"""

from __future__ import annotations

from sdrkit.registry import Registry

TASKS = Registry("task")
TASKS.register_lazy("amc", "sdrkit.tasks.amc.task:AmcTask")
TASKS.register_lazy("beam", "sdrkit.tasks.beam.task:BeamTask")


def get_task(name: str):
    """The registered task ``name`` (an instance of its :class:`~sdrkit.tasks.base.Task` class).

    Raises:
        ConfigError: unknown task (the message lists the registered ones).
    """
    obj = TASKS.get(name)
    return obj() if isinstance(obj, type) else obj
