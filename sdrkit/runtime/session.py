"""onnxruntime sessions for model cards, the card/graph check, and the stream/model check.

A card says what its graphs take and give (``input.frame_len``, ``input.channels``, the class
list); the graphs say it too, in their input and output shapes. :func:`check_graph` compares
the two when a session is opened for a card (:func:`card_session` does both), so a card whose
``frame_len`` or class count disagrees with its ONNX files is refused at load, naming both
values, instead of failing inside onnxruntime at the first batch.

Graph roles (what sdrkit feeds each graph and reads from it):

=========  ==============================  ===========================================
role       input                           first output
=========  ==============================  ===========================================
full       ``x``: the card's frame input   ``(batch, len(classes))`` logits
stem       ``x``: the card's frame input   ``(batch, len(classes))`` exit logits
rest       ``f``: the stem's features      ``(batch, len(classes))`` logits
encoder    the card's frame input          ``(batch, embedding_dim)``
=========  ==============================  ===========================================

The frame input is ``(batch, 2 * channels, frame_len)`` float32 for ``iq`` cards and
``(batch, channels, T, nfft)`` with ``T = 1 + (frame_len - nfft) // hop`` for ``spectrogram``
cards. A dimension the graph leaves symbolic (the batch, or a dynamic length) matches anything.
"""

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


# role -> (input name or None for "the first input", input is the card's frames, output kind)
GRAPH_ROLES: dict[str, tuple[str | None, bool, str]] = {
    "full": ("x", True, "classes"),
    "stem": ("x", True, "classes"),
    "rest": ("f", False, "classes"),
    "encoder": (None, True, "embedding"),
}


def graph_role(key: str) -> str:
    """The role of the card file registered under ``key`` (``stem_e3`` -> ``stem``).

    Raises:
        ModelError: the key names no known role.
    """
    role = key.split("_", 1)[0]
    if role not in GRAPH_ROLES:
        raise ModelError(f"card file key {key!r} has no graph role; the roles are {sorted(GRAPH_ROLES)} "
                         f"(a key may add a suffix: stem_e1)")
    return role


def frame_input_shape(card: ModelCard) -> tuple[int | None, ...]:
    """The model input the card promises, batch first (None = any batch)."""
    inp = card.input
    if inp.representation == "spectrogram":
        nfft, hop = inp.spectrogram["nfft"], inp.spectrogram["hop"]
        return None, inp.channels, 1 + (inp.frame_len - nfft) // hop, nfft
    return None, 2 * inp.channels, inp.frame_len


def _fixed(dims) -> list:
    return [d if isinstance(d, int) and not isinstance(d, bool) and d >= 0 else None for d in dims]


def _agree(got, want) -> bool:
    """Shapes agree where both are fixed; ranks must agree when the graph states one."""
    if got is None:
        return True
    got = _fixed(got)
    return len(got) == len(want) and all(g is None or w is None or g == w for g, w in zip(got, want))


def _fmt(dims) -> str:
    return "(" + ", ".join("batch" if d is None else str(d) for d in dims) + ")"


def check_graph(card: ModelCard, session, role: str, name: str = "") -> None:
    """Refuse a graph whose input or output shape disagrees with its card.

    Args:
        card: the loaded card.
        session: an onnxruntime InferenceSession of one of the card's files.
        role: one of :data:`GRAPH_ROLES` (see the module docstring).
        name: the graph's file name, for messages.

    Raises:
        ModelError: naming the card, the graph, the graph's shape, the card's field and value, and the fix.
    """
    if role not in GRAPH_ROLES:
        raise ModelError(f"graph role {role!r} is not one of {sorted(GRAPH_ROLES)}")
    in_name, takes_frames, out_kind = GRAPH_ROLES[role]
    where = f"model card {card.path}: {role} graph {name or '(unnamed)'}"
    fix = "the card and its ONNX files are from different models; re-export the model (sdrkit train)"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = [i.name for i in inputs]
    if not inputs or not outputs or (in_name is not None and in_name not in names):
        raise ModelError(f"{where} has inputs {names} and {len(outputs)} output(s); sdrkit feeds a {role} graph "
                         f"input {in_name or 'one'!r} and reads its first output; {fix}")
    x = inputs[names.index(in_name)] if in_name is not None else inputs[0]
    if takes_frames:
        want = frame_input_shape(card)
        if x.type != "tensor(float)" or not _agree(x.shape, want):
            inp = card.input
            said = (f"input.frame_len={inp.frame_len}, input.channels={inp.channels}"
                    + (f", input.spectrogram={inp.spectrogram}" if inp.representation == "spectrogram" else ""))
            raise ModelError(f"{where} takes input {x.name!r} of shape {_fmt(_fixed(x.shape or []))} {x.type}, but "
                             f"the card ({said}) promises {_fmt(want)} tensor(float); {fix}, or correct the card's "
                             f"input fields to match the graph")
    y = outputs[0]
    if out_kind == "classes" and card.output.kind == "classes":
        want = (None, len(card.classes))
        if not _agree(y.shape, want):
            raise ModelError(f"{where} gives {y.name!r} of shape {_fmt(_fixed(y.shape or []))}, but the card lists "
                             f"{len(card.classes)} classes (field 'classes'), so it must be {_fmt(want)}; {fix}")
    elif out_kind == "embedding" and y.shape is not None:
        if len(y.shape) != 2:
            raise ModelError(f"{where} gives {y.name!r} of shape {_fmt(_fixed(y.shape))}; an encoder must give "
                             f"(batch, embedding_dim); {fix}")
        shape = tuple(card.output.shape or ())
        if card.output.kind == "embedding" and len(shape) == 1 and not _agree(y.shape, (None, shape[0])):
            raise ModelError(f"{where} gives {y.name!r} of shape {_fmt(_fixed(y.shape))}, but the card's "
                             f"output.shape is {list(shape)}, so it must be {_fmt((None, shape[0]))}; {fix}, or "
                             f"correct output.shape to match the graph")


def card_session(card: ModelCard, key: str, threads: int = 1, role: str | None = None):
    """An onnxruntime session of the card's ``key`` file, checked against the card (:func:`check_graph`).

    Args:
        key: a key of ``card.files`` (``stem``, ``rest_e2``, ``encoder``, ...).
        role: the graph's role; None = from the key (:func:`graph_role`).

    Raises:
        ModelError: the card lists no such file, the file is not ONNX, or its shapes disagree with the card.
        DriverMissing: onnxruntime is not installed.
    """
    path = card.file(key)
    session = onnx_session(path, threads)
    check_graph(card, session, role or graph_role(key), path.name)
    return session


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
