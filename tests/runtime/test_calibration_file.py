"""Calibration files and the generic prototype head."""

import json

import numpy as np
import pytest

from sdrkit.errors import ConfigError, ModelError
from sdrkit.nn.proto import PrototypeHead, make_prototypes
from sdrkit.runtime.calibration import Calibration, load_calibration


def _cal(**kw):
    d = dict(task="beam", front_end="fe-b", classes=("a", "b"), prototypes=np.eye(2, 3, dtype=np.float32), shots=8,
             encoder={"sha256": "ab" * 32, "embedding_dim": 3}, date="2026-11-24T00:00:00Z", radio={"uri": "sim:"})
    d.update(kw)
    return Calibration(**d)


def test_roundtrip(tmp_path):
    p = _cal().save(tmp_path / "c.json")
    c = load_calibration(p)
    assert c.classes == ("a", "b") and c.shots == 8 and c.front_end == "fe-b"
    np.testing.assert_allclose(c.prototypes, np.eye(2, 3))
    assert list(c.head().predict(np.array([[0.1, 0.9, 0.0], [2.0, 0.1, 0.0]]))) == [1, 0]


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(calibration_version=9), "calibration_version"),
    (lambda d: d.update(prototypes=[[1.0, 0.0, 0.0]]), "shape"),
    (lambda d: d.update(prototypes=[[float("nan"), 0, 0], [0, 1, 0]]), "NaN"),
    (lambda d: d["encoder"].pop("sha256"), "sha256"),
    (lambda d: d.update(classes=["a", "a"]), "distinct"),
    (lambda d: d.update(shots="8"), "shots"),
    (lambda d: d["encoder"].update(embedding_dim=5), "dimension"),
])
def test_invalid_files_are_refused(tmp_path, mutate, match):
    p = _cal().save(tmp_path / "c.json")
    d = json.loads(p.read_text())
    mutate(d)
    p.write_text(json.dumps(d))
    with pytest.raises(ModelError, match=match):
        load_calibration(p)


def test_not_json_and_missing(tmp_path):
    (tmp_path / "x.json").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelError, match="not UTF-8 text|not valid JSON"):
        load_calibration(tmp_path / "x.json")
    with pytest.raises(ModelError, match="not found"):
        load_calibration(tmp_path / "nope.json")


def test_prototypes_need_enough_shots():
    emb = np.random.default_rng(0).normal(size=(5, 4))
    with pytest.raises(ConfigError, match="fewer than the 3 required"):
        make_prototypes(emb, ["a", "a", "a", "b", "b"], min_shots=3)


def test_head_new_classes_without_training():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(6, 8)) * 5
    y = np.repeat(np.arange(6), 10)
    emb = centers[y] + rng.normal(size=(60, 8)) * 0.1
    h = PrototypeHead.fit(emb, y)
    assert np.mean(np.asarray(h.classes)[h.predict(emb)] == y) == 1.0
    h2 = PrototypeHead.fit(emb, y, normalize=False)
    assert np.mean(np.asarray(h2.classes)[h2.predict(emb)] == y) == 1.0


def test_hostile_calibration_json_is_a_model_error(tmp_path):
    from sdrkit.runtime.calibration import load_calibration

    for text, match in (("[" * 5000, "nests 5000 levels"), ("[" + "9" * 5000 + "]", "digits")):
        (tmp_path / "h.json").write_text(text)
        with pytest.raises(ModelError, match=match):
            load_calibration(tmp_path / "h.json")
