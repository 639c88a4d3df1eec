"""Tasks: one registry, the same CLI verbs for each.

A task (``amc`` now; ``beam``, ``spectrum``, ``aoa`` later) is a class registered in
:data:`TASKS` that provides, for each verb it supports, ``add_<verb>_arguments(parser)``
and ``<verb>(args) -> int``; verbs are ``dataset``, ``train``, ``evaluate`` and
``calibrate_threshold``. ``sdrkit <verb> <task> ...`` dispatches here.

Task modules are registered lazily so that ``sdrkit --help`` imports no torch.
"""

from __future__ import annotations

from sdrkit.registry import Registry

TASKS = Registry("task")
TASKS.register_lazy("amc", "sdrkit.tasks.amc.task:AmcTask")
TASKS.register_lazy("beam", "sdrkit.tasks.beam.task:BeamTask")

VERBS = ("dataset", "train", "evaluate", "calibrate_threshold")


def task_supports(task_cls, verb: str) -> bool:
    """Whether ``task_cls`` implements ``verb``."""
    return callable(getattr(task_cls, verb, None))
