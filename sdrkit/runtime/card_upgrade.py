"""Upgrade a model card from card format 1 to format 2 (``sdrkit card upgrade CARD``).

A version 2 card adds ``output`` (kind, per-frame shape), ``input.channels`` and
``architecture`` (:mod:`sdrkit.runtime.card`). :func:`upgrade_card` fills them from facts only:

* ``output.kind`` and ``output.shape``: from the ONNX graphs' declared output shapes and their
  roles (:data:`sdrkit.runtime.session.GRAPH_ROLES`: ``full``/``stem``/``rest`` give class
  logits ``(batch, len(classes))``, ``encoder`` an embedding ``(batch, D)``: shape ``[D]``);
* ``input.channels``: from the frame input of every graph that takes frames,
  ``(batch, 2 * channels, frame_len)``;
* ``architecture``: from the card's own ``extra.architecture`` (where format 1 kept it), or
  from ``--architecture`` when the card does not say; an architecture given so is checked
  against the card's torch weights (a ``.pt`` file it lists: every tensor must load, strictly)
  when the card has them and torch is installed. When neither says, ``architecture`` stays
  absent (format 2 allows it; ``create_model(card.architecture)`` then cannot rebuild the net).

Every other field is kept as it is (metrics, hashes, training record and command history);
format-1 stand-ins that format 2 has a field for move there (``extra.architecture`` ->
``architecture``, an ``extra.output`` text -> ``output.description``, ``extra.learned_dims``
is dropped when the v2 fields give the same number, :func:`sdrkit.runtime.card.learned_dims`).
The upgrade is recorded like the card's other commands, as an entry of
``training.card_upgrades`` (``command``, what each field was read from). The ONNX files are
only read; their hashes are checked before and are unchanged after.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sdrkit.errors import ModelError
from sdrkit.runtime.card import CARD_MAX_BYTES, OutputSpec, learned_dims, load_card


def _resolve(path) -> Path:
    from sdrkit.resources import resolve

    p = resolve("models", path, must_exist=False)
    return p / "card.json" if p.is_dir() else p


def graph_io(path) -> tuple[list, list]:
    """``(inputs, outputs)`` of an ONNX file as ``(name, dims, is_float)``; a dim is an int or None
    (symbolic). Read with ``onnx`` when installed (no session is built), else onnxruntime.

    Raises:
        ModelError: the file is not a readable ONNX model.
    """
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        try:
            m = onnx.load(str(path), load_external_data=False)
        except Exception as exc:    # onnx raises DecodeError and others of its own
            raise ModelError(f"cannot read ONNX model {path}: {exc}") from exc
        inits = {i.name for i in m.graph.initializer}

        def info(v):
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            return v.name, dims, t.elem_type == onnx.TensorProto.FLOAT

        return [info(v) for v in m.graph.input if v.name not in inits], [info(v) for v in m.graph.output]
    from sdrkit.runtime.session import onnx_session

    s = onnx_session(path)

    def ort_info(v):
        return v.name, [d if isinstance(d, int) else None for d in (v.shape or [])], v.type == "tensor(float)"

    return [ort_info(v) for v in s.get_inputs()], [ort_info(v) for v in s.get_outputs()]


def _show_dims(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _read_v1(p: Path) -> dict:
    from sdrkit.capture.safejson import load_json

    if not p.exists():
        raise ModelError(f"card {p} not found; give the card.json beside the model's ONNX files")
    d = load_json(p, error=ModelError, where=f"card {p}", max_bytes=CARD_MAX_BYTES,
                  fix="give the model's card.json (a JSON object with card_version, task, input, files)")
    if not isinstance(d, dict) or "card_version" not in d or not all(k in d for k in ("task", "input", "files")):
        what = f"an object with keys {sorted(d)[:8]}" if isinstance(d, dict) else f"a JSON {type(d).__name__}"
        raise ModelError(f"{p} is not a model card (it is {what}; a card is an object with card_version, task, "
                         f"input and files); give the card.json beside the model's ONNX files")
    v = d["card_version"]
    if v == 2:
        raise ModelError(f"card {p} is already card_version 2; nothing to upgrade (card upgrade reads "
                         f"card_version 1 cards)")
    if v != 1:
        raise ModelError(f"card {p} has card_version {v!r}; card upgrade reads card_version 1 cards only")
    return d


def _from_graphs(card, where: str) -> tuple[dict, int, dict]:
    """``(output, channels, sources)`` read from the card's ONNX graphs."""
    from sdrkit.runtime.session import GRAPH_ROLES, graph_role

    kinds, channels, out, sources = {}, {}, {}, {}
    graphs = {k: f for k, f in card.files.items() if f.endswith(".onnx")}
    if not graphs:
        raise ModelError(f"{where}: the card lists no .onnx file (files: {card.files}); output.kind and "
                         f"input.channels are read from the graphs, so the upgrade needs them")
    for key, f in graphs.items():
        try:
            role = graph_role(key)
        except ModelError as exc:
            raise ModelError(f"{where}: cannot tell output.kind of {f}: {exc}; rename the key in 'files' to its "
                             f"role, or re-export the model with this sdrkit") from None
        in_name, takes_frames, kind = GRAPH_ROLES[role]
        inputs, outputs = graph_io(card.directory / f)
        if not inputs or not outputs:
            raise ModelError(f"{where}: graph {f} has {len(inputs)} input(s) and {len(outputs)} output(s)")
        kinds[f] = kind
        if takes_frames:
            names = [i[0] for i in inputs]
            name, dims, is_float = inputs[names.index(in_name)] if in_name in names else inputs[0]
            if len(dims) != 3 or dims[1] is None or dims[1] % 2 or not is_float \
                    or dims[2] not in (None, card.input.frame_len):
                raise ModelError(f"{where}: graph {f} takes {name!r} of shape {_show_dims(dims)}; input.channels is "
                                 f"read from a fixed (batch, 2 * channels, frame_len={card.input.frame_len}) float "
                                 f"input, which this graph does not state; re-export the model")
            channels[f] = dims[1] // 2
        name, dims, _ = outputs[0]
        if kind == "classes":
            if len(dims) != 2 or dims[1] != len(card.classes):
                raise ModelError(f"{where}: graph {f} gives {name!r} of shape {_show_dims(dims)}, but the card lists "
                                 f"{len(card.classes)} classes; a {role} graph gives (batch, {len(card.classes)}) "
                                 f"logits; the card and its graphs disagree, re-export the model")
        else:
            if len(dims) != 2:
                raise ModelError(f"{where}: encoder graph {f} gives {name!r} of shape {_show_dims(dims)}; an "
                                 f"encoder gives (batch, embedding_dim); re-export the model")
            out[f] = dims[1]
    if len(set(kinds.values())) != 1:
        raise ModelError(f"{where}: the graphs give different output kinds ({kinds}); a card has one output.kind")
    if len(set(channels.values())) > 1:
        raise ModelError(f"{where}: the graphs take different channel counts ({channels}); input.channels is one "
                         f"number; re-export the model")
    kind = next(iter(kinds.values()))
    if not channels:
        raise ModelError(f"{where}: no graph takes the card's frames, so input.channels cannot be read")
    n_ch = next(iter(channels.values()))
    output = {"kind": kind}
    sources["output.kind"] = f"graph roles of {sorted(graphs)} ({kind})"
    sources["input.channels"] = (f"frame input of {', '.join(sorted(channels))}: "
                                 f"(batch, {2 * n_ch}, {card.input.frame_len}) = {n_ch} channel(s)")
    if kind == "embedding":
        dims = set(out.values())
        if len(dims) == 1 and None not in dims:
            output["shape"] = [dims.pop()]
            sources["output.shape"] = f"output of {', '.join(sorted(out))}: (batch, {output['shape'][0]})"
            said = card.extra.get("embedding_dim")
            if said is not None and said != output["shape"][0]:
                raise ModelError(f"{where}: extra.embedding_dim={said!r} but the encoder graph gives "
                                 f"(batch, {output['shape'][0]}); the card and its graph disagree, re-export the model")
        else:
            sources["output.shape"] = f"absent: the graphs give no one fixed embedding size ({out})"
    return output, n_ch, sources


def _check_weights(card, arch: dict, where: str) -> str:
    """Check ``arch`` against the card's torch weights; returns what was checked, for the record."""
    from sdrkit.nn import create_model, list_models

    known = list_models()
    if arch["name"] not in known:
        raise ModelError(f"{where}: --architecture names {arch['name']!r}, which is not a registered network "
                         f"(sdrkit.nn.MODELS: {', '.join(known)}); give one of those")
    pts = sorted(f for f in card.files.values() if f.endswith(".pt"))
    if not pts:
        return "given by --architecture (registered name; the card lists no .pt weights to check it against)"
    try:
        import torch
    except ImportError:
        return f"given by --architecture (registered name; not checked against {pts[0]}: torch is not installed)"
    try:
        net = create_model(arch)
        state = torch.load(card.directory / pts[0], map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    except Exception as exc:    # TypeError (kwargs), RuntimeError (keys/shapes), unpickling errors
        first = str(exc).strip().splitlines()
        raise ModelError(f"{where}: --architecture {json.dumps(arch)} does not fit the card's weights {pts[0]}: "
                         f"{' '.join(first[:2])[:300]}; give the network and constructor arguments the model was "
                         f"trained with") from exc
    return f"given by --architecture, checked: every tensor of {pts[0]} loads into it (strict)"


def upgrade_card(path, out=None, command: str = "", architecture: dict | None = None) -> tuple[Path, dict]:
    """Rewrite a card_version 1 card as card_version 2 (see the module docstring).

    Args:
        path: the card (a card.json, its folder, or a bundled model's name).
        out: where to write the new card (default: over ``path``); it must be in the card's own
            folder, since a card names its files beside it.
        command: the command line, recorded in ``training.card_upgrades``.
        architecture: ``{"name", "kwargs"}`` for a card that does not say its architecture.

    Returns:
        (the written card's path, the record appended to ``training.card_upgrades``).

    Raises:
        ModelError: not a card, not version 1, a missing or changed graph, graphs that disagree
            with the card or each other, an architecture that contradicts the card or its weights.
    """
    p = _resolve(path)
    d = _read_v1(p)
    where = f"card {p}"
    card = load_card(p, verify=True)        # validates the v1 card; files present, hashes match
    dest = p if out is None else Path(out)
    if dest.is_dir():
        dest = dest / "card.json"
    if dest.resolve().parent != p.resolve().parent:
        raise ModelError(f"--out {dest}: a card names its ONNX files beside it, so the upgraded card must be "
                         f"in {p.parent} (e.g. --out {p.parent / 'card.v2.json'}); copy the model folder first to "
                         f"upgrade it elsewhere")
    output, channels, sources = _from_graphs(card, where)
    extra = dict(d.get("extra") or {})
    moved, dropped = [], []
    arch = extra.get("architecture")
    said_in = "extra.architecture"
    if arch is None and isinstance((d.get("training") or {}).get("architecture"), dict):
        arch, said_in = dict(d["training"]["architecture"]), "training.architecture"
    if architecture is not None:
        if not isinstance(architecture, dict) or not isinstance(architecture.get("name"), str) \
                or not isinstance(architecture.get("kwargs", {}), dict):
            raise ModelError(f"--architecture {architecture!r} must be {{\"name\": str, \"kwargs\": {{...}}}}")
        if arch is not None and {k: arch.get(k) for k in ("name", "kwargs")} != \
                {k: architecture.get(k) for k in ("name", "kwargs")}:
            raise ModelError(f"{where}: --architecture {json.dumps(architecture)} contradicts the card's "
                             f"{said_in} {json.dumps(arch)}; drop --architecture (the card says it)")
    if arch is not None:
        if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
            raise ModelError(f"{where}: {said_in} {arch!r} must be {{\"name\": str, \"kwargs\": {{...}}}}")
        if said_in == "extra.architecture":
            sources["architecture"] = "moved from extra.architecture (where card format 1 kept it)"
            moved.append("extra.architecture -> architecture")
            del extra["architecture"]
        else:
            sources["architecture"] = "copied from training.architecture"
    elif architecture is not None:
        arch = dict(architecture)
        sources["architecture"] = _check_weights(card, arch, where)
    else:
        sources["architecture"] = ("absent: neither the card nor its training record names the network; "
                                   "rerun with --architecture '{\"name\": ..., \"kwargs\": {...}}' to add it")
    if isinstance(extra.get("output"), str):
        output["description"] = extra.pop("output")
        moved.append("extra.output -> output.description")
    if "learned_dims" in extra:
        v1_dims = extra["learned_dims"]
        v2 = card.replace(output=OutputSpec(output["kind"], tuple(output.get("shape") or ()) or None),
                          architecture=dict(arch or {}), extra={k: x for k, x in extra.items() if k != "learned_dims"})
        v2_dims = learned_dims(v2)
        if v2_dims is not None and v2_dims != v1_dims:
            raise ModelError(f"{where}: extra.learned_dims={v1_dims!r} but the v2 fields give {v2_dims} "
                             f"(architecture.kwargs.emb_dim within output.shape {output.get('shape')}); fix "
                             f"the card or re-export the model")
        if v2_dims is not None:
            del extra["learned_dims"]
            dropped.append(f"extra.learned_dims ({v1_dims}: architecture.kwargs.emb_dim within output.shape "
                           f"{output['shape']} gives it, sdrkit.runtime.card.learned_dims)")
    record = {"command": command, "from_version": 1, "to_version": 2, "sources": sources}
    if moved:
        record["moved"] = moved
    if dropped:
        record["dropped"] = dropped
    training = dict(d.get("training") or {})
    training["card_upgrades"] = list(training.get("card_upgrades") or []) + [record]
    new = {}
    for k, v in {**d, "training": training, "extra": extra}.items():   # same key order, new fields after input
        if k == "card_version":
            continue
        new[k] = v
        if k == "input":
            new["input"] = {**v, "channels": channels}
            new["output"] = output
            if arch is not None:
                new["architecture"] = arch
    new["card_version"] = 2
    tmp = dest.with_name(f".{dest.name}.upgrade.tmp")
    try:
        _write(tmp, new, p)
        load_card(tmp, verify=True)         # the new card reads, its hashes still match
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest, record


def _write(path: Path, doc: dict, like: Path) -> None:
    """Write ``doc`` as JSON with the indent of the card at ``like`` (so a diff shows only the change)."""
    lines = like.read_text().splitlines()
    second = lines[1] if len(lines) > 1 else ""
    indent = (len(second) - len(second.lstrip(" "))) or 2
    path.write_text(json.dumps(doc, indent=indent) + "\n")
