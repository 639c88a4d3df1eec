"""`sdrkit compress amc`: a static int8 copy of the bundled AMC card that the live path runs unchanged."""

import json

import numpy as np
import pytest

from sdrkit.cli import main

pytest.importorskip("onnxruntime.quantization")


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    d = tmp_path_factory.mktemp("amcq")
    data, out = d / "data", d / "amc-int8"
    assert main(["dataset", "amc", "--out", str(data), "--train-per-cell", "1", "--val-per-cell", "2",
                 "--test-per-cell", "2", "--shifted-per-cell", "1", "--workers", "1"]) == 0
    assert main(["compress", "amc", "--model", "models/amc/card.json", "--data", str(data), "--out", str(out),
                 "--calib-frames", "256"]) == 0
    return data, out


def test_int8_card_is_complete_and_records_its_source(int8):
    from sdrkit.runtime import load_card

    _, out = int8
    src, card = load_card("models/amc/card.json"), load_card(out / "card.json")
    assert card.extra["precision"] == "int8" and card.name == src.name + "-int8"
    assert card.extra["quantized_from"]["files_sha256"] == src.files_sha256
    assert "torch" not in card.files and not (out / "model.pt").exists()
    rec = card.training["compress"]
    assert rec["command"].startswith("sdrkit compress amc") and rec["calib_split"] == "val"
    assert rec["calib_frames"] == 256 and len(rec["val_sha256"]) == 64
    assert set(rec["graphs"]) == {"full"} | {f"{k}_e{e}" for e in (1, 2, 3, 5) for k in ("stem", "rest")}
    assert card.metrics == {}                                  # fp32 figures are not carried over
    assert 0 < card.thresholds["entropy"] and "int8" not in json.dumps(src.to_dict())


def test_graphs_are_int8_with_the_statistics_front_end_left_in_float(int8):
    import onnx

    _, out = int8
    m = onnx.load(str(out / "full.onnx"))
    ops = [n.op_type for n in m.graph.node]
    int8_weights = [i for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert ops.count("DequantizeLinear") > 10 and len(int8_weights) >= 6      # the conv blocks and the head
    src = onnx.load("models/amc/full.onnx")
    hist = [n for n in src.graph.node if n.op_type == "Conv" and n.name.startswith("/hist")]
    assert len(hist) == 7
    # every Conv of the int8 graph reads its weight from a DequantizeLinear, except the /hist block's 7
    wq = {n.output[0] for n in m.graph.node if n.op_type == "DequantizeLinear"}
    assert sum(1 for n in m.graph.node if n.op_type == "Conv" and n.input[1] not in wq) == 7


def test_int8_agrees_with_fp32_and_runs_behind_the_live_predictor(int8):
    from sdrkit.runtime import load_card
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.dataset import load_split, to_input
    from sdrkit.tasks.amc.live import AmcPredictor

    data, out = int8
    te = load_split(data, "test")
    keep = np.flatnonzero(te.snrs >= 10)
    x = to_input(te.frames(keep))
    a = card_session(load_card("models/amc/card.json"), "full").run(None, {"x": x})[0].argmax(1)
    b = card_session(load_card(out / "card.json"), "full").run(None, {"x": x})[0].argmax(1)
    assert np.mean(a == b) >= 0.9, np.mean(a == b)
    p = AmcPredictor(load_card(out / "card.json"), threads=1)
    r = p.predict(te.frames(keep)[:, None, :])
    assert r.n == len(keep) and np.mean(np.asarray(r.labels) == b) >= 0.9


def test_compress_refusals_are_one_line_errors(int8, tmp_path, capsys):
    data, out = int8
    assert main(["compress", "amc", "--model", str(out / "card.json"), "--data", str(data),
                 "--out", str(tmp_path / "x")]) == 1
    assert "already an int8 card" in capsys.readouterr().err
    assert main(["compress", "amc", "--model", "models/amc/card.json", "--data", str(data),
                 "--out", "models/amc"]) == 1
    assert "folder of its own" in capsys.readouterr().err
    assert main(["compress", "amc", "--model", "models/amc/card.json", "--data", str(data),
                 "--out", str(tmp_path / "y"), "--calib-frames", "8"]) == 1
    assert "--calib-frames 8" in capsys.readouterr().err


def test_compress_keeps_an_existing_card_unless_forced_and_refuses_a_bad_regex(int8, tmp_path, capsys):
    data, out = int8
    before = (out / "card.json").read_bytes()
    assert main(["compress", "amc", "--model", "models/amc/card.json", "--data", str(data), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err and (out / "card.json").read_bytes() == before
    assert main(["compress", "amc", "--model", "models/amc/card.json", "--data", str(data),
                 "--out", str(tmp_path / "z"), "--keep-float", "(("]) == 1
    err = capsys.readouterr().err
    assert "--keep-float '(('" in err and "Traceback" not in err and not (tmp_path / "z").exists()


def test_validation_comparison_reads_val_splits_only(int8):
    from sdrkit.tasks.amc.compare import val_figures

    data, out = int8
    a = val_figures("models/amc/card.json", str(data), str(data))
    b = val_figures(out / "card.json", str(data), str(data))
    for f in (a, b):
        assert 0.0 <= f["val_backbone_hi"] <= 1.0 and np.isfinite(f["val_cfo_drop_points"])
        assert f["val_backbone_hi"] == f["val_base_backbone_hi"]          # the same split given twice
    # fp32 and its int8 copy agree on the tiny val split within a few frames
    assert abs(a["val_backbone_hi"] - b["val_backbone_hi"]) <= 0.1
