"""Export torch modules to ONNX (opset 17, dynamic batch) and check them against torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_onnx(module, example, path, input_names=("x",), output_names=("y",), check: bool = True,
                atol: float = 1e-4) -> Path:
    """Export ``module`` (eval mode) with a dynamic batch dimension; verify with onnxruntime.

    Raises:
        ModelError: onnxruntime disagrees with torch beyond ``atol``.
    """
    import torch

    from sdrkit.errors import ModelError

    module = module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dyn = {n: {0: "batch"} for n in list(input_names) + list(output_names)}
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=dyn, opset_version=17, dynamo=False)
    if check:
        from sdrkit.runtime.session import onnx_session

        sess = onnx_session(path)
        with torch.no_grad():
            ref = module(example)
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        got = sess.run(None, {input_names[0]: example.numpy()})
        for r, g in zip(ref, got):
            err = float(np.max(np.abs(r.numpy() - g)))
            if err > atol:
                raise ModelError(f"{path}: onnxruntime output differs from torch by {err:.3g} (> {atol})")
    return path
