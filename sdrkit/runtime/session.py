"""onnxruntime sessions for model cards, and the stream/model compatibility check."""

from __future__ import annotations

from sdrkit.errors import DriverMissing, ModelError, ModelInputMismatch
from sdrkit.runtime.card import ModelCard


def onnx_session(path, threads: int = 1):
    """An onnxruntime CPU InferenceSession with ``threads`` intra-op threads.

    Raises:
        DriverMissing: onnxruntime is not installed. ModelError: the file is not a valid model.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DriverMissing("onnxruntime is not installed; pip install onnxruntime (./setup.sh does)") from exc
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc


def check_stream(card: ModelCard, sample_rate: float, frame_len: int | None = None,
                 channels: int | None = None) -> tuple[int, ...]:
    """Refuse a stream the model was not made for, before any sample flows.

    Args:
        channels: the stream's channel count (None: not checked).

    Returns:
        the stream channel indices the model takes, in order: all of them when the counts
        match; only channel 0 when the card says one channel (a single-receiver model on one
        element of an array).

    Raises:
        ModelInputMismatch: naming the stream's value, the card's, and the fix.
    """
    want = card.input.sample_rate
    tol = card.input.sample_rate_tolerance
    if abs(sample_rate - want) > tol * want + 1e-9:
        raise ModelInputMismatch(
            f"stream sample rate {sample_rate:g} S/s does not match model {card.name!r} "
            f"({want:g} S/s, tolerance {tol:.1%}, card {card.path}); set the radio's sample_rate to {want:g} "
            f"(e.g. --sample-rate {want:g}) or use a model trained at this rate")
    if frame_len is not None and frame_len != card.input.frame_len:
        raise ModelInputMismatch(
            f"frame length {frame_len} does not match model {card.name!r} (frame_len {card.input.frame_len}, "
            f"card {card.path}); frame the stream in {card.input.frame_len}-sample frames")
    want_ch = card.input.channels
    if channels is None or channels == want_ch:
        return tuple(range(want_ch))
    if want_ch == 1:
        return (0,)
    raise ModelInputMismatch(
        f"stream has {channels} channel(s) but model {card.name!r} takes {want_ch} (card {card.path}); "
        f"enable exactly {want_ch} channels on the radio (rx_enabled_channels, e.g. "
        f"?rx_enabled_channels={','.join(map(str, range(want_ch)))} on a sim: URI) or use a {channels}-channel model")
