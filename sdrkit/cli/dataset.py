"""``sdrkit dataset TASK``: build a task's labelled SigMF data set."""

from __future__ import annotations

from sdrkit.cli._tasks import register_task_verb


def register(sub) -> None:
    register_task_verb(sub, "dataset", "build a task's labelled SigMF data set (seeded splits)")
