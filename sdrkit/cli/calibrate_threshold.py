"""``sdrkit calibrate-threshold TASK``: pick a model's decision threshold on validation data."""

from __future__ import annotations

from sdrkit.cli._tasks import register_task_verb


def register(sub) -> None:
    register_task_verb(sub, "calibrate_threshold", "pick the early-exit threshold for an accuracy budget",
                       cli_name="calibrate-threshold")
