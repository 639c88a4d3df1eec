"""Export torch modules to ONNX (opset 17, dynamic batch) and check them against torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_onnx(module, example, path, input_names=("x",), output_names=("y",), check: bool = True,
                atol: float = 1e-4, rtol: float = 1e-5) -> Path:
    """Export ``module`` (eval mode) with a dynamic batch dimension; verify with onnxruntime.

    Each output must agree within ``atol + rtol * max|torch output|`` (float32 rounding grows
    with the magnitude of the values).

    Raises:
        ModelError: onnxruntime disagrees with torch beyond that tolerance.
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
            r = r.numpy()
            err = float(np.max(np.abs(r - g)))
            tol = atol + rtol * float(np.max(np.abs(r)))
            if err > tol:
                raise ModelError(f"{path}: onnxruntime output differs from torch by {err:.3g} (> {tol:.3g})")
    return path
