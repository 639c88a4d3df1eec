"""A task defined outside sdrkit reaches the CLI, the live pipeline and the sinks through the task
contract alone: registered in TASKS, nothing else changed. Its output is a per-sample mask (no
classes), so this also runs a non-class output end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sdrkit.cli import main
from sdrkit.runtime.predict import Prediction
from sdrkit.tasks import TASKS
from sdrkit.tasks.base import Task, Verb, option

N = 128


@dataclass(frozen=True)
class TrainCfg:
    out: str = option(help="model folder")
    level: float = option(0.5, help="detection level, linear power")
    command_line: str = option("", cli=False)


def _train(cfg: TrainCfg) -> int:
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec

    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    ModelCard(task="energy", name="energy-detector", classes=(), input=InputSpec(sample_rate=1e6, frame_len=N),
              files={}, output=OutputSpec("mask", shape=(N,), description="sample power above the level"),
              thresholds={"level": cfg.level}, training={"command": cfg.command_line}).save(Path(cfg.out) / "card.json")
    return 0


class EnergyPredictor:
    def __init__(self, card):
        self.card, self.level = card, float(card.thresholds["level"])

    def reset(self):
        pass

    def predict(self, frames):
        mask = np.abs(frames[:, 0]) ** 2 > self.level
        return Prediction(n=len(frames), outputs={"mask": mask}, stats={"occupied": int(mask.any(axis=1).sum())})


class EnergyTask(Task):
    name = "energy"
    summary = "energy detection (a baseline segmenter)"
    verbs = (Verb("train", "write the detector's card", TrainCfg, _train),)

    def predictor(self, card, options):
        self.refuse_options(options)
        return EnergyPredictor(card)


@pytest.fixture()
def energy_task(monkeypatch):
    monkeypatch.setitem(TASKS._items, "energy", EnergyTask)
    yield


def test_a_registered_task_gets_its_verbs_and_runs_live_with_every_sink(energy_task, tmp_path, capsys):
    from sdrkit.capture import open_recording, write_recording

    assert main(["train", "energy", "--out", str(tmp_path / "m"), "--level", "0.25"]) == 0
    x = np.zeros(8 * N, np.complex64)
    x[3 * N + 10: 3 * N + 20] = 1.0                       # a burst in frame 3
    rec = write_recording(tmp_path / "burst", x, sample_rate=1e6, center_frequency=1e9)
    assert main(["classify", "--model", str(tmp_path / "m" / "card.json"), "--radio", f"sim:{rec}?loop=0",
                 "--jsonl", str(tmp_path / "p.jsonl"), "--record", str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    assert "12.5% occupied" in out                           # 1 of 8 frames, the task's own counter
    lines = [json.loads(l) for l in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and all(l["mask_shape"] == [N] for l in lines)
    assert open_recording(tmp_path / "copy").num_samples == 8 * N
    assert main(["classify", "--model", str(tmp_path / "m" / "card.json"), "--radio", f"sim:{rec}?loop=0",
                 "--threshold", "3"]) == 1
    assert "has no use for --threshold" in capsys.readouterr().err
