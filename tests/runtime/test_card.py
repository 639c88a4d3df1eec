"""Model cards: round trip, validation of outside input, stream checks."""

import json

import pytest

from sdrkit.errors import ModelError, ModelInputMismatch
from sdrkit.runtime import InputSpec, ModelCard, check_stream, load_card


@pytest.fixture
def card(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"not really onnx")
    c = ModelCard(task="amc", name="t", classes=("a", "b"), input=InputSpec(sample_rate=1e6, frame_len=1024),
                  files={"full": "m.onnx"}, training={"command": "sdrkit train amc", "seed": 0})
    return load_card(c.save(tmp_path / "card.json"))


def test_round_trip(card):
    assert card.classes == ("a", "b") and card.input.frame_len == 1024
    assert card.files_sha256["m.onnx"] and card.training["seed"] == 0


def test_tampered_file_is_refused(card, tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"changed")
    with pytest.raises(ModelError, match="does not match the SHA-256"):
        load_card(tmp_path / "card.json")


@pytest.mark.parametrize("patch, match", [
    ({"card_version": 99}, "card_version 99"),
    ({"classes": "ab"}, "field 'classes' must be a list"),
    ({"files": {"full": "../../etc/passwd"}}, "must be a plain file name"),
    ({"input": {"sample_rate": "fast", "frame_len": 4}}, "input spec needs numeric"),
])
def test_malformed_cards_are_refused(card, tmp_path, patch, match):
    d = json.loads((tmp_path / "card.json").read_text())
    d.update(patch)
    (tmp_path / "card.json").write_text(json.dumps(d))
    with pytest.raises(ModelError, match=match):
        load_card(tmp_path / "card.json")


def test_missing_card(tmp_path):
    with pytest.raises(ModelError, match="not found.*train one"):
        load_card(tmp_path / "nope.json")


def test_stream_check(card):
    check_stream(card, 1e6, 1024)
    with pytest.raises(ModelInputMismatch, match=r"stream sample rate 2e\+06 S/s does not match .*--sample-rate 1e\+06"):
        check_stream(card, 2e6, 1024)
    with pytest.raises(ModelInputMismatch, match="frame length 512 does not match"):
        check_stream(card, 1e6, 512)
