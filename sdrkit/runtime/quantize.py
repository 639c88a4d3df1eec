"""onnxruntime static int8 quantization (QDQ) of an sdrkit graph.

Per-channel int8 weights, uint8 activations, MinMax ranges calibrated on held-out inputs the
caller gives (never test data). Dynamic quantization is not an option for these models: it leaves
convolutions in float, or makes them slow.

Not every node pays for int8: a convolution with a handful of channels costs more as
``QLinearConv`` plus its quantize/dequantize pairs than in float. ``keep_float`` names the nodes
(by the exporter's node names, e.g. ``/hist/Conv_1``) that stay in float; measure the graph
both ways before choosing (``sdrkit compress amc`` does).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np


def quantize_qdq(fp32_path, out_path, feeds: Iterable[dict], keep_float: Callable[[str, str], bool] | None = None) -> Path:
    """Write the static QDQ int8 version of ``fp32_path`` to ``out_path``.

    Args:
        feeds: calibration batches, each ``{input name: float32 array}``.
        keep_float: ``keep_float(node_name, op_type) -> True`` for nodes that stay in float.

    Returns:
        ``out_path``.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    model = onnx.load(str(fp32_path))
    for i, node in enumerate(model.graph.node):      # the quantizer excludes nodes by name; every node needs one
        if not node.name:
            node.name = f"n{i}"
    exclude = [n.name for n in model.graph.node if keep_float and keep_float(n.name, n.op_type)]
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.stem + ".named.onnx")
    onnx.save(model, str(tmp))
    onnxruntime.set_default_logger_severity(3)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)          # its "consider pre-processing" advice: BN is folded at export
    try:
        quantize_static(str(tmp), str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=exclude)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
    return out_path


def name_matcher(patterns: Iterable[str]) -> Callable[[str, str], bool]:
    """``keep_float`` for :func:`quantize_qdq`: nodes whose name matches any regex of ``patterns``."""
    rx = [re.compile(p) for p in patterns]
    return lambda name, op: any(r.search(name) for r in rx)


def batches(x: np.ndarray, name: str = "x", batch: int = 64) -> list[dict]:
    """``x`` as calibration feeds of ``batch`` rows for input ``name``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return [{name: x[i:i + batch]} for i in range(0, len(x), batch)]
