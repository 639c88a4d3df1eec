"""Small card_version 1 fixtures with real (tiny) ONNX graphs, written the way card format 1 was:
no ``output``/``architecture``/``input.channels``; an encoder's architecture and learned block in
``extra``. Used by the v1-compatibility tests (test_card_v2.py) and the upgrade tests
(test_card_upgrade.py), so neither depends on what format the bundled cards are in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sdrkit.runtime.card import sha256_file

FRAME_LEN = 16
CLASSES = ["a", "b", "c"]


def write_graph(path: Path, inputs, outputs, nodes, inits=()) -> None:
    """One tiny ONNX graph (opset 13) saved at ``path``."""
    import onnx
    from onnx import helper

    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


def _card(folder: Path, task: str, files: dict, classes: list, extra: dict, training: dict) -> Path:
    d = {"task": task, "name": f"tiny-{task}-v1", "classes": classes,
         "input": {"sample_rate": 1e6, "frame_len": FRAME_LEN, "representation": "iq",
                   "layout": "(batch, 2, frame_len) float32: row 0 = I, row 1 = Q",
                   "normalization": "none", "sample_rate_tolerance": 0.0},
         "files": files, "thresholds": {"entropy": 0.5}, "metrics": {"val_acc": 0.9, "test": {"command": "eval x"}},
         "training": training, "files_sha256": {f: sha256_file(folder / f) for f in set(files.values())},
         "extra": extra, "card_version": 1}
    p = folder / "card.json"
    p.write_text(json.dumps(d, indent=2))
    return p


def early_exit_graphs(folder, frame_len: int, n_classes: int, stem: str = "stem.onnx", rest: str = "rest.onnx",
                      full: str = "full.onnx") -> None:
    """Tiny but real early-exit graphs in ``folder``: stem (x -> exit_logits, features), rest (f -> logits),
    full (x -> logits), for frames of ``frame_len`` and ``n_classes`` classes."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [2, n_classes], np.ones(2 * n_classes, np.float32))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, frame_len])
    f_in = helper.make_tensor_value_info("f", TensorProto.FLOAT, ["batch", 2])
    feats = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 2])
    mean = helper.make_node("ReduceMean", ["x"], ["features"], axes=[2], keepdims=0)

    def logits(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", n_classes])

    folder = Path(folder)
    write_graph(folder / stem, [x], [logits("exit_logits"), feats],
                [mean, helper.make_node("MatMul", ["features", "w"], ["exit_logits"])], [w])
    write_graph(folder / rest, [f_in], [logits("logits")], [helper.make_node("MatMul", ["f", "w"], ["logits"])], [w])
    write_graph(folder / full, [x], [logits("logits")],
                [mean, helper.make_node("MatMul", ["features", "w"], ["logits"])], [w])


def v1_classes_card(folder, n_classes: int = len(CLASSES), graph_classes: int | None = None) -> Path:
    """A v1 early-exit classes card: stem (x -> exit_logits, features), rest (f -> logits), full."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    early_exit_graphs(folder, FRAME_LEN, graph_classes or n_classes, stem="stem_e1.onnx", rest="rest_e1.onnx")
    files = {"full": "full.onnx", "stem_e1": "stem_e1.onnx", "rest_e1": "rest_e1.onnx",
             "stem": "stem_e1.onnx", "rest": "rest_e1.onnx"}
    return _card(folder, "amc", files, [f"c{i}" for i in range(n_classes)],
                 {"variants": {"V0": {"exit_after": 1}}, "deployed_variant": "V0"},
                 {"command": "sdrkit train amc --out x --seed 3", "seed": 3,
                  "stages": [{"command": "sdrkit train amc --out y", "seed": 0}]})


def v1_encoder_card(folder, emb: int = 5, learned: int = 3, rows: int = 2) -> Path:
    """A v1 encoder-only (embedding) card: x (batch, rows, frame_len) -> emb (batch, emb); the first
    ``learned`` values are the learned block (``extra.learned_dims``, ``extra.architecture.kwargs.emb_dim``)."""
    from onnx import TensorProto, helper

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    w = helper.make_tensor("w", TensorProto.FLOAT, [rows, emb], np.ones(rows * emb, np.float32))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", rows, FRAME_LEN])
    y = helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", emb])
    write_graph(folder / "encoder.onnx", [x], [y],
           [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2], keepdims=0),
            helper.make_node("MatMul", ["m", "w"], ["emb"])], [w])
    return _card(folder, "beam", {"encoder": "encoder.onnx"}, ["b0", "b1"],
                 {"embedding_dim": emb, "learned_dims": learned, "proto_norm": False,
                  "output": "emb: (batch, embedding_dim) float32",
                  "architecture": {"name": "protobeam_encoder", "kwargs": {"emb_dim": learned, "template": True},
                                   "note": "preamble at run time"}},
                 {"command": "sdrkit train beam --out x --seed 0", "seed": 0})
