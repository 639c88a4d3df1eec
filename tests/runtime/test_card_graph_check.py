"""A card is checked against its ONNX graphs when they are opened, and every size field is bounded
(issue 11, item 7).

Before: a card whose frame_len or class count disagreed with its graphs loaded, and the first
batch failed inside onnxruntime with a traceback; frame_len 10**9 was accepted; a deep or
5000-digit card.json raised RecursionError / ValueError.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdrkit.errors import ModelError
from sdrkit.runtime import InputSpec, ModelCard, load_card

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from tests.runtime._v1_cards import early_exit_graphs, write_graph  # noqa: E402


def _amc_graphs(folder, frame_len: int, n_classes: int) -> dict:
    """stem (x -> exit_logits, features), rest (f -> logits), full (x -> logits), tiny but real."""
    early_exit_graphs(folder, frame_len, n_classes)
    return {"stem": "stem.onnx", "rest": "rest.onnx", "full": "full.onnx"}


def _amc_card(folder, frame_len=1024, n_classes=4, graph_frame_len=None, graph_classes=None):
    files = _amc_graphs(folder, graph_frame_len or frame_len, graph_classes or n_classes)
    card = ModelCard(task="amc", name="tiny", classes=tuple(f"c{i}" for i in range(n_classes)),
                     input=InputSpec(sample_rate=1e6, frame_len=frame_len), files=files,
                     thresholds={"entropy": 0.5})
    return load_card(card.save(folder / "card.json"))


def test_matching_graphs_load_and_classify(tmp_path):
    from sdrkit.tasks.amc.gated import GatedClassifier

    clf = GatedClassifier(_amc_card(tmp_path))
    r = clf.predict(np.ones((3, 1024), np.complex64))
    assert r.prob.shape == (3, 4)


def test_a_card_whose_frame_len_disagrees_with_its_graphs_is_refused_when_opened(tmp_path):
    from sdrkit.tasks.amc.gated import GatedClassifier

    card = _amc_card(tmp_path, frame_len=512, graph_frame_len=1024)
    with pytest.raises(ModelError, match=r"stem graph stem\.onnx takes input 'x' of shape \(batch, 2, 1024\) .*"
                                         r"input\.frame_len=512.* promises \(batch, 2, 512\)") as err:
        GatedClassifier(card)
    assert str(tmp_path / "card.json") in str(err.value) and "re-export the model" in str(err.value)


def test_a_card_whose_class_count_disagrees_with_its_graphs_is_refused_when_opened(tmp_path):
    from sdrkit.tasks.amc.gated import GatedClassifier

    card = _amc_card(tmp_path, n_classes=5, graph_classes=11)
    with pytest.raises(ModelError, match=r"stem graph stem\.onnx gives 'exit_logits' of shape \(batch, 11\), but "
                                         r"the card lists 5 classes .* must be \(batch, 5\)"):
        GatedClassifier(card)


def test_a_rest_graph_without_input_f_is_refused(tmp_path):
    from sdrkit.runtime.session import card_session

    card = _amc_card(tmp_path)
    card = card.replace(files={**card.files, "rest": "full.onnx"})
    with pytest.raises(ModelError, match=r"rest graph full\.onnx has inputs \['x'\] .* input 'f'"):
        card_session(card, "rest")


def test_encoder_frame_len_is_checked_by_the_embedder(tmp_path):
    from sdrkit.runtime.calibration import Embedder

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 256])
    emb = helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", 2])
    write_graph(tmp_path / "encoder.onnx", [x], [emb], [helper.make_node("ReduceMean", ["x"], ["emb"], axes=[2], keepdims=0)])
    card = load_card(ModelCard(task="beam", name="enc", classes=("a", "b"), input=InputSpec(sample_rate=1e6, frame_len=1024),
                               files={"encoder": "encoder.onnx"}).save(tmp_path / "card.json"))
    with pytest.raises(ModelError, match=r"encoder graph encoder\.onnx takes input 'x' of shape \(batch, 2, 256\)"):
        Embedder(card)
    ok = card.replace(input=InputSpec(sample_rate=1e6, frame_len=256))
    assert Embedder(ok)(np.ones((2, 256), np.complex64)).shape == (2, 2)


def test_an_encoder_whose_width_disagrees_with_the_cards_output_shape_is_refused(tmp_path):
    from sdrkit.runtime.card import OutputSpec
    from sdrkit.runtime.session import card_session

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 256])
    emb = helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", 2])
    write_graph(tmp_path / "encoder.onnx", [x], [emb], [helper.make_node("ReduceMean", ["x"], ["emb"], axes=[2], keepdims=0)])

    def card(width):
        return load_card(ModelCard(task="beam", name="enc", classes=("a", "b"),
                                   input=InputSpec(sample_rate=1e6, frame_len=256), files={"encoder": "encoder.onnx"},
                                   output=OutputSpec("embedding", shape=(width,))).save(tmp_path / "card.json"))

    card_session(card(2), "encoder")
    with pytest.raises(ModelError, match=r"gives 'emb' of shape \(batch, 2\), but the card's output.shape is \[85\]"):
        card_session(card(85), "encoder")


@pytest.mark.parametrize("task", ["amc", "beam"])
def test_every_graph_of_the_bundled_cards_agrees_with_its_card(task):
    from sdrkit.resources import resolve
    from sdrkit.runtime.session import GRAPH_ROLES, card_session

    card = load_card(resolve("models", task))
    keys = [k for k in card.files if k.split("_")[0] in GRAPH_ROLES]
    assert keys
    for key in keys:
        card_session(card, key)


# ---- every size field is bounded at load -------------------------------------------------------------

def _patched(tmp_path, **fields):
    (tmp_path / "m.onnx").write_bytes(b"x")
    p = ModelCard(task="amc", name="t", classes=("a", "b"), input=InputSpec(sample_rate=1e6, frame_len=1024),
                  files={"full": "m.onnx"}).save(tmp_path / "card.json")
    d = json.loads(p.read_text())
    for k, v in fields.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("fields, says", [
    ({"input": {"frame_len": 10 ** 9}}, r"input\.frame_len=1000000000 must be an integer in \[1, 1048576\] samples"),
    ({"input": {"frame_len": 1e300}}, r"input\.frame_len=1e\+300 must be an integer in \[1, 1048576\]"),
    ({"input": {"channels": 10 ** 6}}, r"input\.channels=1000000 must be integer channels >= 1 and <= 64"),
    ({"input": {"sample_rate": 1e15}}, r"input\.sample_rate=1e\+15 must be a finite sample_rate > 0 and <= 1e\+12"),
    ({"input": {"representation": "spectrogram", "spectrogram": {"nfft": 64, "hop": 10 ** 7}}},
     r"1 <= hop <= frame_len \(1024\)"),
    ({"classes": [f"c{i}" for i in range(5000)]}, r"'classes' has 5000 entries; it must be at most 4096"),
    ({"classes": ["x" * 10_000, "b"]}, r"at most 256 characters"),
    ({"card_version": 2, "output": {"kind": "mask", "shape": [100_000, 100_000]}, "classes": []},
     r"output\.shape \[100000, 100000\] must be .* product <= 4194304"),
    ({"card_version": 2, "architecture": {"name": "amc_earlyexit", "kwargs": {"n_classes": 11}}},
     r"architecture\.kwargs\.n_classes=11 but the card lists 2 classes"),
    ({"thresholds": [1]}, r"field 'thresholds' = \[1\] must be an object"),
    ({"files_sha256": [1]}, r"field 'files_sha256' = \[1\] must be an object"),
    ({"files_sha256": {"m.onnx": 5}}, r"files_sha256\['m.onnx'\] = 5 must be a hex SHA-256 string"),
    ({"extra": 5}, r"field 'extra' = 5 must be an object"),
    ({"files": {"full": "m" * 300 + ".onnx"}}, r"must be a plain file name beside the card \(1 to 255 bytes\)"),
    ({"thresholds": {"entropy": 0.4, "break_even_exit_fraction": [0.05]}},
     r"thresholds\.break_even_exit_fraction \[0\.05\] must be a finite number"),
    ({"thresholds": {"entropy": 0.4, "break_even_exit_fraction": "x"}},
     r"thresholds\.break_even_exit_fraction 'x' must be a finite number"),
    ({"thresholds": {"entropy": 0.4, "other": {"a": 1}}}, r"threshold 'other' = \{'a': 1\} is not finite"),
])
def test_every_size_field_is_bounded(tmp_path, fields, says):
    p = _patched(tmp_path, **fields)
    with pytest.raises(ModelError, match=says) as err:
        load_card(p)
    assert str(p) in str(err.value)


@pytest.mark.parametrize("text, says", [
    ('{"card_version": 1, "x": ' + "[" * 5000 + "]" * 5000 + "}", r"nests \d+ levels of arrays/objects, more than the limit of 64"),
    ('{"card_version": 1, "input": {"frame_len": ' + "9" * 5000 + "}}", "number of 5000 digits"),
    ('{"card_version": 1, "input": {"frame_len": 1e999}}', "too large for a double"),
])
def test_hostile_card_json_is_a_model_error_naming_the_file(tmp_path, text, says):
    p = tmp_path / "card.json"
    p.write_text(text)
    with pytest.raises(ModelError, match=says) as err:
        load_card(p)
    assert f"model card {p}" in str(err.value)
