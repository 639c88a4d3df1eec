"""``sdrkit card upgrade``: card_version 1 -> 2 from the graphs' facts, every field kept, the command
recorded, the ONNX files untouched; refusals are typed errors (no traceback)."""

from __future__ import annotations

import json

import pytest

from sdrkit.cli import main
from sdrkit.runtime import load_card
from sdrkit.runtime.card import learned_dims, sha256_file

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from tests.runtime._v1_cards import v1_classes_card, v1_encoder_card  # noqa: E402


def _onnx_bytes(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.glob("*.onnx")}


def test_v1_classes_card_round_trip_keeps_every_field(tmp_path, capsys):
    from sdrkit.runtime.session import card_session

    p = v1_classes_card(tmp_path)
    old, graphs = json.loads(p.read_text()), _onnx_bytes(tmp_path)
    assert main(["card", "upgrade", str(p)]) == 0
    assert "card_version 2" in capsys.readouterr().out
    new = json.loads(p.read_text())
    assert new["card_version"] == 2 and new["input"] == {**old["input"], "channels": 1}
    assert new["output"] == {"kind": "classes"} and "architecture" not in new     # the card names no network
    for key in ("task", "name", "classes", "files", "thresholds", "metrics", "files_sha256", "extra"):
        assert new[key] == old[key], key
    rec = new["training"].pop("card_upgrades")
    assert new["training"] == old["training"]                                    # command, seed, stages kept
    assert rec[-1]["command"] == f"sdrkit card upgrade {p}" and rec[-1]["from_version"] == 1
    assert "architecture" in rec[-1]["sources"] and "--architecture" in rec[-1]["sources"]["architecture"]
    assert _onnx_bytes(tmp_path) == graphs                                       # graphs only read
    card = load_card(p)
    assert card.output.kind == "classes" and card.input.channels == 1
    for key in card.files:
        card_session(card, key)


def test_v1_encoder_card_gets_shape_channels_architecture_and_drops_learned_dims(tmp_path, capsys):
    p = v1_encoder_card(tmp_path, emb=5, learned=3, rows=4)                     # 4 rows: 2 I/Q channels
    old = json.loads(p.read_text())
    out = tmp_path / "card.v2.json"
    assert main(["card", "upgrade", str(p), "--out", str(out)]) == 0
    assert json.loads(p.read_text()) == old                                      # --out: the v1 card stays
    new = json.loads(out.read_text())
    assert new["output"] == {"kind": "embedding", "shape": [5], "description": old["extra"]["output"]}
    assert new["input"]["channels"] == 2 and new["architecture"] == old["extra"]["architecture"]
    assert {k: v for k, v in new["extra"].items()} == \
        {k: v for k, v in old["extra"].items() if k not in ("architecture", "output", "learned_dims")}
    rec = new["training"]["card_upgrades"][-1]
    assert rec["dropped"] and rec["moved"] == ["extra.architecture -> architecture", "extra.output -> output.description"]
    card = load_card(out)
    assert learned_dims(card) == 3 and card.output.shape == (5,)                 # same block, from v2 fields
    assert card.files_sha256 == {"encoder.onnx": sha256_file(tmp_path / "encoder.onnx")}


def test_refuses_a_v2_card_and_the_bundled_cards_are_v2(tmp_path, capsys):
    p = v1_classes_card(tmp_path)
    assert main(["card", "upgrade", str(p)]) == 0
    before = p.read_bytes()
    capsys.readouterr()
    assert main(["card", "upgrade", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ModelError: ") and "already card_version 2" in err and "Traceback" not in err
    assert p.read_bytes() == before
    for name in ("amc", "beam"):
        assert main(["card", "upgrade", f"models/{name}/card.json"]) == 1
        assert "already card_version 2" in capsys.readouterr().err
    beam = load_card("beam")
    assert beam.output.kind == "embedding" and learned_dims(beam) == 64 and "learned_dims" not in beam.extra
    assert load_card("amc").architecture["name"] == "amc_earlyexit"


@pytest.mark.parametrize("case, match", [
    ("garbage", "is not UTF-8|not valid JSON"),
    ("list", "is not a model card"),
    ("no-version", "is not a model card"),
    ("missing-graph", "is missing beside the card"),
    ("class-count", r"gives 'logits' of shape \(\?, 5\), but the card lists 3 classes"),
    ("out-elsewhere", "must be in"),
    ("arch-not-json", "ConfigError: --architecture"),
    ("arch-contradicts", "contradicts the card's extra.architecture"),
])
def test_refuses_bad_input_with_a_typed_error(tmp_path, capsys, case, match):
    args = []
    if case in ("garbage", "list", "no-version"):
        p = tmp_path / "card.json"
        p.write_bytes({"garbage": b"\xff\x00{", "list": b"[1, 2]", "no-version": b'{"task": "amc"}'}[case])
    elif case == "class-count":
        p = v1_classes_card(tmp_path, n_classes=3, graph_classes=5)
    elif case == "arch-contradicts":
        p = v1_encoder_card(tmp_path)
        args = ["--architecture", '{"name": "other_net", "kwargs": {}}']
    else:
        p = v1_classes_card(tmp_path)
        if case == "missing-graph":
            (tmp_path / "rest_e1.onnx").unlink()
        args = {"out-elsewhere": ["--out", str(tmp_path / "sub" / "card.json")],
                "arch-not-json": ["--architecture", "{name"]}.get(case, [])
    before = p.read_bytes()
    assert main(["card", "upgrade", str(p), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.split(":")[0] in ("ModelError", "ConfigError")
    assert __import__("re").search(match, err), err
    assert p.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))
