"""``sdrkit train TASK``: train a task's model and export it (ONNX + model card)."""

from __future__ import annotations

from sdrkit.cli._tasks import register_task_verb


def register(sub) -> None:
    register_task_verb(sub, "train", "train a task's model; writes ONNX + model card")
