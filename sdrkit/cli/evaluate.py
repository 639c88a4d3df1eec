"""``sdrkit evaluate TASK``: measure a model on its held-out test split (JSON + PNG plots)."""

from __future__ import annotations

from sdrkit.cli._tasks import register_task_verb


def register(sub) -> None:
    register_task_verb(sub, "evaluate", "evaluate a model on held-out data (JSON + PNG plots)")
