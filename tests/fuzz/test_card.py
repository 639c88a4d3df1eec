"""Fuzz harness of model cards and their ONNX files (:mod:`tests.fuzz._card`): CI runs, and the
defects of issue 11 item 7."""

import json

import pytest

from tests.fuzz._card import CardTarget
from tests.fuzz._core import prepare, Raw, dumps, run_one
from tests.fuzz._hyp import check, mutated, property_test



@pytest.fixture(scope="module")
def target():
    t = CardTarget()
    prepare(t)
    yield t
    t.close()


def test_every_bundled_card_loads_and_predicts(target):
    for s in target.seeds():
        res = run_one(target, s)
        assert res.kind == "ok", res.signature


@property_test(max_examples=60)
def test_mutated_cards_load_or_are_refused(target, data):
    check(target, mutated(target, data), KNOWN)


def _edit(target, bundle: int, edit, selector: int | None = None) -> bytes:
    seed = target.seeds()[bundle]
    d = json.loads(seed[1:])
    edit(d)
    return bytes([bundle if selector is None else selector]) + dumps(d)


CASES = [
    ("huge-integer", 0, lambda d: d.update({"card_version": Raw("9" * 5000)}), None),
    ("deep-nesting", 0, lambda d: d.update({"extra": Raw("[" * 100_000 + "]" * 100_000)}), None),
    ("not-utf8", 0, None, None),
    ("frame-len-huge", 0, lambda d: d["input"].update({"frame_len": 10 ** 9}), None),
    ("frame-len-wrong", 0, lambda d: d["input"].update({"frame_len": 512}), None),
    ("frame-len-wrong-beam", 1, lambda d: d["input"].update({"frame_len": 2048}), None),
    ("class-count-wrong", 0, lambda d: d.update({"classes": d["classes"][:5]}), None),
    ("class-count-wrong-beam", 1, lambda d: d.update({"classes": d["classes"][:3]}), None),
    ("channels-huge", 0, lambda d: d["input"].update({"channels": 2 ** 40}), None),
    ("sample-rate-str", 0, lambda d: d["input"].update({"sample_rate": "fast"}), None),
    ("files-not-strings", 0, lambda d: d["files"].update({"stem": 5}), None),
    ("files-path-escape", 0, lambda d: d["files"].update({"stem": "../beam/encoder.onnx"}), None),
    ("thresholds-not-dict", 0, lambda d: d.update({"thresholds": [1]}), None),
    ("sha-not-dict", 0, lambda d: d.update({"files_sha256": [1]}), None),
    ("extra-not-dict", 0, lambda d: d.update({"extra": 5}), None),
    ("variants-broken", 0, lambda d: d["extra"].update({"variants": 5}), None),
    ("file-name-too-long", 0, lambda d: d["files"].update({"stem": "A" * 100_000}), None),
    ("threshold-list", 0, lambda d: d["thresholds"].update({"entropy": [0.5]}), None),
    ("variant-threshold-list", 0, lambda d: [v.update({"threshold": [0.5]}) for v in d["extra"]["variants"].values()],
     None),
    ("break-even-list", 0, lambda d: d["thresholds"].update({"break_even_exit_fraction": [0.05]}), None),
    ("break-even-str", 0, lambda d: d["thresholds"].update({"break_even_exit_fraction": "x"}), None),
    ("onnx-truncated", 0, lambda d: None, 0b0010),
    ("onnx-garbage", 1, lambda d: None, 0b0101),
    ("onnx-empty", 0, lambda d: None, 0b0110),
]
OPEN: dict[str, str] = {}      # case id -> signature; who fixes it, while the fix is not on main

# the property tests tolerate the open defects' signatures (type and file): each has a strict
# xfail case above, so the fix turns it into an XPASS, to be removed from OPEN with its fix
KNOWN = {sig.split(":")[0].split(" (")[0] for sig in OPEN.values() if not sig.startswith("Hang")}


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0], marks=[pytest.mark.xfail(
    strict=True, reason=OPEN[c[0]])] if c[0] in OPEN else []) for c in CASES])
def test_hostile_card_is_a_model_error(target, case):
    name, bundle, edit, selector = case
    if edit is None:
        data = bytes([bundle]) + target.seeds()[bundle][1:].replace(b'"name"', b'"n\xc3\x28me"', 1)
    else:
        data = _edit(target, bundle, edit, selector)
    res = run_one(target, data)
    assert res.kind in ("ok", "refused"), f"{res.kind}: {res.signature}"


def test_shared_sessions_still_check_every_card_against_its_graphs(target):
    """Sessions are shared by the graph's bytes (SessionCache), the card/graph check is not:
    after the bundled card has opened (and cached) its sessions, a card that differs only in
    frame_len is still refused, a damaged graph gets its own ModelError, and the pristine
    bundle still loads and predicts."""
    assert run_one(target, target.seeds()[0]).kind == "ok"
    before = target.sessions.misses
    wrong = _edit(target, 0, lambda d: d["input"].update({"frame_len": 512}))
    assert run_one(target, wrong).kind == "refused"
    for selector in (0b0010, 0b0100, 0b0110):      # cut in half, garbage, empty: other bytes
        assert run_one(target, _edit(target, 0, lambda d: None, selector)).kind == "refused"
    assert run_one(target, target.seeds()[0]).kind == "ok"
    assert target.sessions.misses - before <= 3     # only the damaged files built sessions
    import sdrkit.runtime.session as session_mod
    assert session_mod.onnx_session == target.sessions.onnx_session


def test_closing_the_target_restores_the_real_session_function():
    import sdrkit.runtime.card as card_mod
    import sdrkit.runtime.session as session_mod

    real = session_mod.onnx_session, card_mod.sha256_file
    t = CardTarget()
    prepare(t)
    assert session_mod.onnx_session != real[0]
    t.close()
    assert (session_mod.onnx_session, card_mod.sha256_file) == real
