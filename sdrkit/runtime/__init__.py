"""Model runtime shared by every task: model cards, ONNX export, onnxruntime sessions,
and the check that a stream matches what a model expects."""

from sdrkit.runtime.card import InputSpec, ModelCard, load_card, sha256_file
from sdrkit.runtime.session import check_stream, onnx_session

__all__ = ["InputSpec", "ModelCard", "check_stream", "load_card", "onnx_session", "sha256_file"]
